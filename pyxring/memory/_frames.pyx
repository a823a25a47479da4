# distutils: language = c
"""A source over frames already in memory.

The frames are copied once, end to end (each start 16-byte aligned, as in a
TPACKET block), into one buffer the source owns; batches point into it, so
they behave exactly like a ring's: valid until released, walked in C.  The
buffer is an anonymous mapping, in 2 MiB pages where the kernel gives them
(transparent huge pages, ``madvise`` mode).

With ``guard_pages=True`` each frame ends where a page ends and the next
page is mapped with no access at all: code that reads one byte past a
frame's captured length crashes instead of reading what follows (how the
tests prove the column decoder never does).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from pyxring._core cimport Source, Batch, pkt_desc, PKT_TRUNCATED
from pyxring.includes.posix_io cimport (mmap, munmap, mprotect, MAP_FAILED, MAP_PRIVATE,
                                        MAP_ANONYMOUS, PROT_NONE, PROT_READ, PROT_WRITE)
from pyxring.includes.file_io cimport madvise, MADV_HUGEPAGE

from pyxring.errors import ConfigError

ctypedef struct frame_meta:
    uint64_t offset
    uint64_t ts_ns
    uint32_t caplen
    uint32_t wirelen
    uint32_t ifindex
    uint16_t queue
    uint16_t linktype


cdef class FrameSource(Source):
    """Frames in memory as a source.  Use :func:`pyxring.memory.open`."""
    cdef uint8_t *buf
    cdef size_t buf_size
    cdef bint guarded           # buf is an mmap with a guard page after each frame
    cdef frame_meta *meta
    cdef Py_ssize_t n_frames
    cdef Py_ssize_t pos
    cdef readonly Py_ssize_t batch_size
    cdef readonly object interface_linktypes

    def __cinit__(self, *args, **kwargs):
        self.buf = NULL
        self.meta = NULL

    def __init__(self, frames, *, int linktype=1, ts_ns=None, wirelen=None, ifindex=0,
                 queue=0, Py_ssize_t batch_size=4096, interface_linktypes=None,
                 str name="memory", unsigned int snaplen=262144, bint guard_pages=False):
        cdef Py_ssize_t i, n
        cdef uint64_t total = 0, off
        cdef const uint8_t[::1] view
        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size} must be positive")
        frames = [bytes(f) for f in frames]
        n = len(frames)
        ts = _per_frame(ts_ns, n, "ts_ns")
        wl = _per_frame(wirelen, n, "wirelen")
        ifs = _per_frame(ifindex, n, "ifindex")
        qs = _per_frame(queue, n, "queue")
        self.name = name
        self.linktype = linktype
        self.snaplen = snaplen
        self.batch_size = batch_size
        self.interface_linktypes = (tuple(int(x) for x in interface_linktypes)
                                    if interface_linktypes is not None else None)
        for f in frames:
            total += _slot(len(f), guard_pages)
        self.meta = <frame_meta *>malloc(max(n, 1) * sizeof(frame_meta))
        if self.meta == NULL:
            raise MemoryError()
        self.buf_size = max(total, 16)
        if guard_pages:
            self.buf = <uint8_t *>mmap(NULL, self.buf_size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if self.buf == <uint8_t *>MAP_FAILED:
                self.buf = NULL
                raise MemoryError()
            self.guarded = True
        else:
            # a decoder walking the frames touches a new 4 KiB page every few
            # of them, and on a VM each TLB miss is a two-level page walk:
            # measured here, 2 MiB pages cut a cold decode by a quarter
            self.buf = <uint8_t *>mmap(NULL, self.buf_size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if self.buf == <uint8_t *>MAP_FAILED:
                self.buf = NULL
                raise MemoryError()
            if self.buf_size >= HUGE_PAGE:
                madvise(self.buf, self.buf_size, MADV_HUGEPAGE)
        off = 0
        for i in range(n):
            f = frames[i]
            if guard_pages:
                # the frame's last byte is its slot's last readable byte
                off += _slot(len(f), True) - GUARD - len(f)
                if mprotect(self.buf + off + len(f), GUARD, PROT_NONE) != 0:
                    raise MemoryError()
            self.meta[i].offset = off
            self.meta[i].caplen = len(f)
            if len(f):
                view = f
                memcpy(self.buf + off, &view[0], len(f))
            self.meta[i].wirelen = _at(wl, i, len(f))
            if self.meta[i].wirelen < self.meta[i].caplen:
                raise ConfigError(f"frame {i}: wirelen {self.meta[i].wirelen} is less than "
                                  f"its {len(f)} bytes")
            self.meta[i].ts_ns = _at(ts, i, i * 1000)
            self.meta[i].ifindex = _at(ifs, i, 0)
            self.meta[i].queue = _at(qs, i, 0)
            self.meta[i].linktype = linktype
            if self.interface_linktypes is not None:
                if self.meta[i].ifindex >= len(self.interface_linktypes):
                    raise ConfigError(f"frame {i}: interface {self.meta[i].ifindex} has no "
                                      f"link type ({len(self.interface_linktypes)} given)")
                self.meta[i].linktype = self.interface_linktypes[self.meta[i].ifindex]
            off += len(f) + GUARD if guard_pages else _slot(len(f), False)
        self.n_frames = n
        self.pos = 0
        if n == 0:
            self.closed = True

    def __len__(self):
        return self.n_frames

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef Py_ssize_t k, n = min(self.batch_size, self.n_frames - self.pos)
        cdef pkt_desc *d
        cdef frame_meta *m
        if n <= 0:
            self.closed = True
            return 0
        batch.reserve(n)
        with nogil:
            for k in range(n):
                m = &self.meta[self.pos + k]
                d = batch.next_desc()
                d.data = self.buf + m.offset
                d.caplen = m.caplen
                d.wirelen = m.wirelen
                d.ts_ns = m.ts_ns
                d.ifindex = m.ifindex
                d.rxhash = 0
                d.vlan_tci = 0
                d.vlan_tpid = 0
                d.queue = m.queue
                d.linktype = m.linktype
                d.flags = PKT_TRUNCATED if m.caplen < m.wirelen else 0
        self.pos += n
        if self.pos >= self.n_frames:
            self.closed = True      # the last batch: batches() ends after it
        return n

    def rewind(self):
        """Start again from the first frame."""
        self.pos = 0
        self.closed = self.n_frames == 0

    def stats(self):
        return {"received": self.pos, "dropped": 0}

    @property
    def timestamp_source(self):
        return "given with the frames"

    def __dealloc__(self):
        # batches hold a reference to their source, so none can outlive this
        if self.buf != NULL:
            munmap(self.buf, self.buf_size)
        free(self.meta)


cdef enum:
    GUARD = 4096        # the page size on the machines pyxring runs on
    HUGE_PAGE = 2 << 20


cdef inline size_t _slot(size_t length, bint guarded) noexcept:
    """Bytes a frame takes in the buffer: 16-byte aligned, or (guarded) its
    pages plus one no-access page."""
    if guarded:
        return ((length + GUARD - 1) // GUARD + 1) * GUARD
    return (length + 15) & ~15


cdef inline object _at(object values, Py_ssize_t i, object default):
    if values is None:
        return default
    if isinstance(values, list):
        return values[i]
    return values


def _per_frame(value, Py_ssize_t n, str what):
    if value is None or isinstance(value, int):
        return value
    out = [int(x) for x in value]
    if len(out) != n:
        raise ConfigError(f"{what}: {len(out)} values for {n} frames")
    return out
