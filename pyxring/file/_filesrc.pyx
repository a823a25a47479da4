# distutils: language = c
"""Capture files (pcap and pcapng) as a packet source.

A regular file is mapped read-only once; the records are walked in C
without the GIL into the ``Batch`` of ``pkt_desc`` the live backends fill,
each descriptor pointing into the mapping, so iterating, filtering, printing
and writing work on files unchanged.  Standard input, pipes and other binary
file objects are read into chunks of memory: a chunk stays as it is while a
batch points into it (a batch never spans two chunks), and is reused only
after those batches are released.  Mappings and chunks are given back when
the source object goes away, never while a packet may still point into them.

Every length read from the file is checked against the end of the bytes
that are there before it is used.  The few blocks that are not packets
(pcapng section headers, interface descriptions, statistics) stop the walk
and are parsed in Python (``blocks.py``).  A damaged record ends the walk:
the good records before it are delivered first, then ``CaptureFileError``
names the file, the byte offset and what was wrong.

Threading: one thread uses a source at a time (as for every pyxring source).
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t, uintptr_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memmove

from pyxring._core cimport Source, Batch, pkt_desc, PKT_TS_RAW, PKT_TRUNCATED, PKT_VLAN
from pyxring.includes.posix_io cimport (
    errno, EINTR, close, mmap, munmap, MAP_FAILED, MAP_PRIVATE, PROT_READ, poll, pollfd, POLLIN)
from pyxring.includes.file_io cimport read, madvise, MADV_SEQUENTIAL

import io
import os
import stat
import sys
import warnings

from pyxring.errors import CaptureFileError
from pyxring.file import blocks
from pyxring.file.blocks import fail

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_WRITE

cdef enum:
    BT_IDB = 1
    BT_PB = 2
    BT_SPB = 3
    BT_ISB = 5
    BT_EPB = 6
    BT_SHB = 0x0A0D0D0A
    BYTE_ORDER_MAGIC = 0x1A2B3C4D
    PCAPNG_MIN_SHB = 28

# what the walk found (err_a, err_b: the numbers; libpcap's words where
# tcpdump prints them)
_WALK_ERRORS = {
    ERR_CAPLEN: "invalid packet capture length {a}, bigger than snaplen of {snapshot}",
    ERR_BLOCK_LEN: "corrupt block length {a} ({block})",
    ERR_BLOCK_BIG: "block length {a} larger than the maximum of {b}",
    ERR_TRAILER: "block lengths disagree: header says {a}, trailer {b}",
    ERR_SHORT: "{block} too short ({a} bytes)",
    ERR_BLOCK_CAPLEN: "{block}: caplen {a} exceeds the block",
    ERR_IFACE: "{block} refers to undefined interface {a}",
    ERR_BOM: "bad pcapng byte-order magic {a:#010x} in section header",
    ERR_SHB_LEN: "corrupt section header length {a}",
}

DEFAULT_BATCH_PACKETS = 4096
DEFAULT_BATCH_BYTES = 4 << 20
DEFAULT_BUFFER_SIZE = 4 << 20


cdef inline uint32_t pad4(uint32_t n) noexcept nogil:
    return (n + 3) & ~<uint32_t>3


cdef inline void mark_vlan(pkt_desc *d) noexcept nogil:
    # Ethernet frames keep their 802.1Q tag in files: report it as the live
    # backends do
    if d.linktype == 1 and d.caplen >= 16 and d.data[12] == 0x81 and d.data[13] == 0x00:
        d.flags |= PKT_VLAN
        d.vlan_tpid = 0x8100
        d.vlan_tci = (d.data[14] << 8) | d.data[15]
    else:
        d.vlan_tpid = 0
        d.vlan_tci = 0


def _decompressor():
    """The writer branch's hook for .gz/.zst/.lz4 files, when present."""
    try:
        from pyxring.compress import open_decompressed
    except ImportError:
        return None
    return open_decompressed


cdef class FileSource(Source):
    """A pcap or pcapng file read as a packet source.  Use
    :func:`pyxring.file.open_file`.

    Iterate it per packet (``for pkt in src``) or per batch
    (``src.batches()``); ``pkt.data`` is a zero-copy view into the file's
    mapping (or a read buffer), valid until its batch is released.
    """

    def __cinit__(self, *args, **kwargs):
        self.base = NULL
        self.map = NULL
        self.fd = -1
        self.chunk = NULL
        self.chunks = NULL
        self.ifaces = NULL
        self.sec_map = NULL
        self.interfaces = []
        self.interface_stats = {}
        self.shb_options = {}
        self.kept = []
        self.max_block = blocks.INITIAL_MAX_BLOCK

    def __init__(self, source, *, Py_ssize_t batch_packets=DEFAULT_BATCH_PACKETS,
                 size_t batch_bytes=DEFAULT_BATCH_BYTES, size_t buffer_size=DEFAULT_BUFFER_SIZE,
                 bint keep_blocks=False):
        self.keep_blocks = keep_blocks
        if batch_packets < 1 or batch_bytes < 1 or buffer_size < 64:
            raise ValueError("batch_packets and batch_bytes must be positive, "
                             "buffer_size at least 64")
        self.batch_packets = batch_packets
        self.batch_bytes = batch_bytes
        self.buffer_size = buffer_size
        self.linktype = -1
        self.snaplen = 0
        if isinstance(source, (str, bytes, os.PathLike)):
            name = os.fsdecode(source)
            if name == "-":
                self.name = "<stdin>"
                self._open_fd(0, False)
            else:
                self.name = name
                self._open_path(name)
        else:
            name = getattr(source, "name", None)
            self.name = name if isinstance(name, str) else "<file object>"
            self._open_fileobj(source, False)
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------
    cdef _open_path(self, str path):
        hook = _decompressor()
        if hook is not None:
            try:
                f = hook(path)
            except OSError as exc:
                raise CaptureFileError(f"{path}: {exc.strerror or exc}") from None
            if f is not None:
                self._open_fileobj(f, True)
                return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise CaptureFileError(f"{path}: {exc.strerror}") from None
        self._open_fd(fd, True)

    cdef _open_fd(self, int fd, bint owns):
        try:
            st = os.fstat(fd)
        except OSError as exc:
            if owns:
                os.close(fd)
            raise CaptureFileError(f"{self.name}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            if owns:
                os.close(fd)
            raise CaptureFileError(f"{self.name}: is a directory")
        if stat.S_ISREG(st.st_mode):
            try:
                start = os.lseek(fd, 0, os.SEEK_CUR)
            except OSError:
                start = 0
            self._map(fd, st.st_size, start)
            if owns:
                os.close(fd)
            return
        self.fd = fd
        self.owns_file = owns

    cdef _open_fileobj(self, f, bint owns):
        self.owns_file = owns
        regular = False
        # only a plain file's descriptor holds the bytes the object reads
        # (a GzipFile's fileno() is the compressed file's)
        plain = type(f) is io.FileIO or (type(f) is io.BufferedReader and
                                         type(getattr(f, "raw", None)) is io.FileIO)
        if plain:
            try:
                fd = f.fileno()
                st = os.fstat(fd)
                regular = stat.S_ISREG(st.st_mode)
            except (OSError, ValueError):
                pass
        if regular:
            # the object's own position counts its buffered bytes
            self._map(fd, st.st_size, f.tell())
            if owns:
                f.close()
            return
        if not hasattr(f, "readinto") and not hasattr(f, "read"):
            raise TypeError(f"cannot read packets from {type(f).__name__}: not a binary file")
        self.fileobj = f

    cdef _map(self, int fd, size_t size, size_t start):
        cdef void *m
        if size > 0:
            with nogil:
                m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)
            if m == MAP_FAILED:
                err = errno
                raise CaptureFileError(f"{self.name}: cannot map the file: {os.strerror(err)}")
            self.map = m
            self.map_size = size
            madvise(m, size, MADV_SEQUENTIAL)
        self.base = <const uint8_t *>self.map
        self.avail = size
        self.pos = start if start <= size else size
        self.base_off = 0
        self.eof = True

    # -- the file header ---------------------------------------------------
    cdef _read_header(self):
        cdef const uint8_t *h
        if not self.need(4):
            if self.avail - self.pos == 0:
                raise CaptureFileError(f"{self.name}: empty or truncated file "
                                       f"(no capture file header)")
            raise fail(self.name, self.base_off + self.pos,
                       f"truncated file: {self.avail - self.pos} bytes, no capture file header")
        h = self.base + self.pos
        head = PyBytes_FromStringAndSize(<const char *>h, 4)
        magic_le = int.from_bytes(head, "little")
        magic_be = int.from_bytes(head, "big")
        if magic_le in blocks.PCAP_MAGICS or magic_be in blocks.PCAP_MAGICS:
            self._pcap_header()
        elif magic_le == blocks.PCAPNG_SHB:
            self.fmt = FMT_PCAPNG
            self.format = "pcapng"
            self.nanosecond = True
            self._prime_pcapng()
        else:
            raise CaptureFileError(f"{self.name}: not a pcap or pcapng file (magic {head.hex()})")

    cdef _pcap_header(self):
        if not self.need(24):
            raise fail(self.name, self.base_off + self.pos, "truncated pcap file header: "
                       f"{self.avail - self.pos} of 24 bytes")
        head = PyBytes_FromStringAndSize(<const char *>self.base + self.pos, 24)
        if self.keep_blocks:
            self.kept.append((0, head))
        (swapped, magic, major, minor, thiszone, sigfigs, snaplen,
         network) = blocks.parse_pcap_header(head, self.name)
        self.fmt = FMT_PCAP
        self.format = "pcap"
        self.swapped = swapped
        self.pcap_header = (major, minor, thiszone, sigfigs)
        self.nanosecond = magic == blocks.PCAP_MAGIC_NS
        self.pcap_ns_mul = 1 if self.nanosecond else 1000
        self.rec_hdr_len = 24 if magic == blocks.PCAP_MAGIC_KUZNETSOV else 16
        # version 2.3 and older swapped caplen and len (as libpcap reads them)
        if major == 543 or (major == 2 and minor < 3):
            self.lengths_swapped = 1
        elif major == 2 and minor == 3:
            self.lengths_swapped = 2
        iface = blocks.pcap_interface(network, snaplen, magic)
        self.max_caplen = blocks.max_snaplen(iface.linktype)
        self.snapshot = blocks.adjusted_snaplen(iface.linktype, snaplen)
        if self.rec_hdr_len == 24 and iface.linktype == 1:
            # libpcap: a Kuznetsov capture may be cooked, with 14 bytes added
            self.snapshot += 14
        self.add_iface(iface)
        self.pos += 24
        self.bytes_read = 24
        self.linktype = iface.linktype
        self.snaplen = self.snapshot

    cdef _prime_pcapng(self):
        """Read up to the first packet (as libpcap does at open), so that
        the first interface's link type and snapshot length are known."""
        cdef Batch b = self.new_batch()
        cdef int stop
        b.reserve(1)
        while True:
            stop = self.walk(b, 0)
            if stop == WALK_META:
                self._meta()
            elif stop == WALK_ERROR:
                # the packets before it are delivered first: none here
                self.pending_error = self._walk_error()
                break
            elif stop == WALK_MORE and not self.eof:
                self.refill(self._wanted(), -1)
            else:
                break
        if self.sections == 0 and self.pending_error is None:
            self.pending_error = self._truncation_error()
        if self.pending_error is not None and not self.interfaces:
            # nothing before the damage: fail at open, as libpcap does
            exc, self.pending_error = self.pending_error, None
            raise exc
        if self.interfaces:
            first = self.interfaces[0]
            self.linktype = first.linktype
            self.snaplen = blocks.adjusted_snaplen(first.linktype, first.snaplen)
        self._spare = b

    cdef int add_iface(self, object iface) except -1:
        cdef file_iface *f
        cdef uint32_t *m
        cdef Py_ssize_t gid = len(self.interfaces)
        if self.n_ifaces == self.cap_ifaces:
            f = <file_iface *>realloc(self.ifaces, (self.cap_ifaces * 2 + 4) * sizeof(file_iface))
            if f == NULL:
                raise MemoryError()
            self.ifaces = f
            self.cap_ifaces = self.cap_ifaces * 2 + 4
        if self.n_sec == self.cap_sec:
            m = <uint32_t *>realloc(self.sec_map, (self.cap_sec * 2 + 4) * sizeof(uint32_t))
            if m == NULL:
                raise MemoryError()
            self.sec_map = m
            self.cap_sec = self.cap_sec * 2 + 4
        f = &self.ifaces[self.n_ifaces]
        f.linktype = iface.linktype
        f.snaplen = iface.snaplen
        f.spb_caplen = blocks.adjusted_snaplen(iface.linktype, iface.snaplen)
        f.per_sec = fs_units_per_sec(iface.tsresol)
        f.tsoffset = iface.tsoffset
        f.ns_per_unit = 0
        if not iface.tsresol & 0x80 and iface.tsresol <= 9 and iface.tsoffset == 0:
            f.ns_per_unit = 10 ** (9 - iface.tsresol)
        self.n_ifaces += 1
        self.sec_map[self.n_sec] = gid
        self.n_sec += 1
        self.max_block = max(self.max_block, blocks.max_block_for(iface.linktype))
        self.interfaces.append(iface)
        return 0

    # -- the walk ----------------------------------------------------------
    cdef inline int set_error(self, int code, uint64_t a, uint64_t b) noexcept nogil:
        self.err_code = code
        self.err_a = a
        self.err_b = b
        return WALK_ERROR

    cdef int walk_pcap(self, Batch b, Py_ssize_t limit) noexcept nogil:
        cdef const uint8_t *h
        cdef size_t pos = self.pos, avail = self.avail, hl = self.rec_hdr_len
        cdef int sw = self.swapped, stop
        cdef uint32_t sec, frac, caplen, wirelen, t
        cdef uint64_t frac_ns
        cdef uint16_t linktype = <uint16_t>self.ifaces[0].linktype
        cdef pkt_desc *d
        cdef Py_ssize_t n = b.count
        cdef const uint8_t *end = self.base + avail
        cdef const uint8_t *ahead = self.base + pos
        while True:
            if n >= limit or self.fill_bytes >= self.batch_bytes:
                stop = WALK_FULL
                break
            if avail - pos < hl:
                stop = WALK_MORE
                break
            h = self.base + pos
            if ahead < end:
                ahead = fs_prefetch_to(ahead, h + FS_PREFETCH_AHEAD if
                                       avail - pos > FS_PREFETCH_AHEAD else end)
            sec = fs_u32(h, sw)
            frac = fs_u32(h + 4, sw)
            caplen = fs_u32(h + 8, sw)
            wirelen = fs_u32(h + 12, sw)
            if self.lengths_swapped == 1 or (self.lengths_swapped == 2 and caplen > wirelen):
                t = caplen
                caplen = wirelen
                wirelen = t
            if caplen > self.max_caplen:
                stop = self.set_error(ERR_CAPLEN, caplen, self.max_caplen)
                break
            if avail - pos - hl < caplen:
                stop = WALK_MORE
                break
            d = &b.descs[n]
            d.data = h + hl
            # as libpcap: a record longer than the snapshot is cut to it
            d.caplen = caplen if caplen <= self.snapshot else self.snapshot
            d.wirelen = wirelen
            d.ifindex = 0
            d.rxhash = 0
            d.queue = 0
            d.linktype = linktype
            d.reserved = 0
            d.epb_flags = 0
            d.ts_raw = (<uint64_t>sec << 32) | frac
            d.flags = 0
            frac_ns = <uint64_t>frac * self.pcap_ns_mul
            if <int32_t>sec >= 0:
                d.ts_ns = <uint64_t>sec * 1000000000ULL + frac_ns
                if frac_ns >= 1000000000ULL:
                    d.flags = PKT_TS_RAW
            else:
                # before 1970: tcpdump can't print it either
                d.ts_ns = 0
                d.flags = PKT_TS_RAW
            if d.caplen < wirelen:
                d.flags |= PKT_TRUNCATED
            mark_vlan(d)
            pos += hl + caplen
            self.fill_bytes += hl + caplen
            n += 1
        self.bytes_read += pos - self.pos
        self.records += n - b.count
        self.pos = pos
        b.count = n
        return stop

    cdef int walk_pcapng(self, Batch b, Py_ssize_t limit) noexcept nogil:
        cdef const uint8_t *h
        cdef const file_iface *ifc
        cdef size_t pos = self.pos, avail = self.avail, left
        cdef int sw = self.swapped, sw2, stop
        cdef uint32_t btype, total, blen, lid, caplen, wirelen, bom, o, olen, flags_opt
        cdef uint16_t code
        cdef uint64_t units, ns
        cdef pkt_desc *d
        cdef Py_ssize_t n = b.count
        cdef const uint8_t *end = self.base + avail
        cdef const uint8_t *ahead = self.base + pos
        while True:
            left = avail - pos
            if left < 8:
                stop = WALK_MORE
                break
            h = self.base + pos
            if ahead < end:
                ahead = fs_prefetch_to(ahead, h + FS_PREFETCH_AHEAD if
                                       left > FS_PREFETCH_AHEAD else end)
            btype = fs_u32(h, sw)
            if btype == BT_SHB:
                # the byte-order magic decides how to read the length
                if left < 12:
                    stop = WALK_MORE
                    break
                bom = fs_u32(h + 8, 0)
                if bom == BYTE_ORDER_MAGIC:
                    sw2 = 0
                elif fs_u32(h + 8, 1) == BYTE_ORDER_MAGIC:
                    sw2 = 1
                else:
                    stop = self.set_error(ERR_BOM, bom, 0)
                    break
                total = fs_u32(h + 4, sw2)
                if total < PCAPNG_MIN_SHB or total & 3 or total > self.max_block:
                    stop = self.set_error(ERR_SHB_LEN, total, 0)
                    break
                if left < total:
                    stop = WALK_MORE
                    break
                if fs_u32(h + total - 4, sw2) != total:
                    stop = self.set_error(ERR_TRAILER, total, fs_u32(h + total - 4, sw2))
                    break
                stop = WALK_META
                break
            total = fs_u32(h + 4, sw)
            if total < 12 or total & 3:
                stop = self.set_error(ERR_BLOCK_LEN, total, btype)
                break
            if total > self.max_block:
                stop = self.set_error(ERR_BLOCK_BIG, total, self.max_block)
                break
            if left < total:
                stop = WALK_MORE
                break
            if fs_u32(h + total - 4, sw) != total:
                stop = self.set_error(ERR_TRAILER, total, fs_u32(h + total - 4, sw))
                break
            blen = total - 12
            if btype == BT_EPB or btype == BT_PB or btype == BT_SPB:
                if blen < (4 if btype == BT_SPB else 20):
                    stop = self.set_error(ERR_SHORT, total, btype)
                    break
                flags_opt = 0
                if btype == BT_SPB:
                    lid = 0
                    wirelen = fs_u32(h + 8, sw)
                    caplen = wirelen if wirelen <= blen - 4 else blen - 4
                    units = 0
                else:
                    lid = fs_u32(h + 8, sw) if btype == BT_EPB else fs_u16(h + 8, sw)
                    units = (<uint64_t>fs_u32(h + 12, sw) << 32) | fs_u32(h + 16, sw)
                    caplen = fs_u32(h + 20, sw)
                    wirelen = fs_u32(h + 24, sw)
                    if caplen > blen - 20:
                        stop = self.set_error(ERR_BLOCK_CAPLEN, caplen, btype)
                        break
                    # epb_flags / pack_flags (option 2); a broken option list
                    # ends the search, as it does not make the packet unreadable
                    o = 28 + pad4(caplen)
                    while o + 4 <= total - 4:
                        code = fs_u16(h + o, sw)
                        olen = fs_u16(h + o + 2, sw)
                        if code == 0 or o + 4 + olen > total - 4:
                            break
                        if code == 2 and olen == 4:
                            flags_opt = fs_u32(h + o + 4, sw)
                        o += 4 + pad4(olen)
                if lid >= self.n_sec:
                    stop = self.set_error(ERR_IFACE, lid, btype)
                    break
                if n >= limit or self.fill_bytes >= self.batch_bytes:
                    stop = WALK_FULL
                    break
                ifc = &self.ifaces[self.sec_map[lid]]
                if btype == BT_SPB and ifc.spb_caplen and caplen > ifc.spb_caplen:
                    caplen = ifc.spb_caplen
                d = &b.descs[n]
                d.data = h + (12 if btype == BT_SPB else 28)
                d.caplen = caplen
                d.wirelen = wirelen
                d.ifindex = self.sec_map[lid]
                d.rxhash = 0
                d.queue = 0
                d.linktype = <uint16_t>ifc.linktype
                d.reserved = 0
                d.epb_flags = flags_opt
                d.ts_raw = units
                d.flags = 0
                if ifc.ns_per_unit and units <= 0xFFFFFFFFFFFFFFFFULL // ifc.ns_per_unit:
                    d.ts_ns = units * ifc.ns_per_unit
                elif fs_units_to_ns(units, ifc.per_sec, ifc.tsoffset, &ns):
                    d.ts_ns = ns
                else:
                    d.ts_ns = ns
                    d.flags = PKT_TS_RAW
                if caplen < wirelen:
                    d.flags |= PKT_TRUNCATED
                mark_vlan(d)
                n += 1
                self.fill_bytes += total
            elif btype == BT_IDB or btype == BT_ISB or self.keep_blocks:
                stop = WALK_META
                break
            # any other block (name resolution, decryption secrets, custom,
            # unknown) is skipped, as the format asks (or kept by _meta)
            pos += total
        self.bytes_read += pos - self.pos
        self.records += n - b.count
        self.pos = pos
        b.count = n
        return stop

    cdef int walk(self, Batch b, Py_ssize_t limit) except -1:
        cdef int stop
        with nogil:
            if self.fmt == FMT_PCAP:
                stop = self.walk_pcap(b, limit)
            else:
                stop = self.walk_pcapng(b, limit)
        return stop

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef int stop
        if self.base == NULL and self.map == NULL and self.fd < 0 and self.fileobj is None:
            raise ValueError(f"{self.name} is closed")
        if self.pending_error is not None:
            exc, self.pending_error = self.pending_error, None
            self.at_end = True
            raise exc
        if self.at_end:
            return 0
        batch.reserve(self.batch_packets)
        self.fill_bytes = 0
        while True:
            stop = self.walk(batch, self.batch_packets)
            if stop == WALK_FULL:
                break
            if stop == WALK_META or stop == WALK_ERROR:
                try:
                    if stop == WALK_META:
                        self._meta()
                        continue
                    raise self._walk_error()
                except CaptureFileError as exc:
                    if batch.count:
                        self.pending_error = exc
                        break
                    self.at_end = True
                    raise
            # WALK_MORE
            if batch.count:
                break
            if self.eof:
                if self.pos == self.avail:
                    self.at_end = True
                    break
                self.at_end = True
                raise self._truncation_error()
            if not self.refill(self._wanted(), timeout_ms):
                break       # nothing arrived within the timeout
        if batch.count:
            self.batches_out += 1
            batch.cookie = <uintptr_t>self.chunk
            batch.cookie2 = 1
            if self.chunk != NULL:
                self.chunk.refs += 1
        return batch.count

    cdef int release_batch(self, Batch batch) except -1:
        cdef file_chunk *c
        if batch.cookie2 == 0:
            return 0
        batch.cookie2 = 0
        self.batches_out -= 1
        c = <file_chunk *><uintptr_t>batch.cookie
        if c != NULL:
            c.refs -= 1
        return 0

    # -- the rare blocks -----------------------------------------------------
    cdef _meta(self):
        """Parse the SHB, IDB or ISB at ``pos`` (wholly in the buffer); with
        ``keep_blocks``, also keep it (and any other block) as it is."""
        cdef const uint8_t *h = self.base + self.pos
        cdef uint32_t btype = fs_u32(h, self.swapped)
        cdef uint32_t total
        offset = self.base_off + self.pos
        if btype == BT_SHB:
            total = fs_u32(h + 4, 0 if fs_u32(h + 8, 0) == BYTE_ORDER_MAGIC else 1)
        else:
            total = fs_u32(h + 4, self.swapped)
        block = PyBytes_FromStringAndSize(<const char *>h, total)
        if self.keep_blocks:
            self.kept.append((self.records, block))
        if btype == BT_SHB:
            swapped, opts = blocks.parse_shb(block, self.name, offset)
            self.swapped = swapped
            self.sections += 1
            self.n_sec = 0          # interface ids start again in each section
            if self.sections == 1:
                self.shb_options = opts
        elif btype == BT_IDB:
            self.add_iface(blocks.parse_idb(block, self.swapped, self.sections - 1, self.name,
                                            offset))
        elif btype == BT_ISB:
            lid, units, values = blocks.parse_isb(block, self.swapped, self.name, offset)
            if lid >= self.n_sec:
                raise fail(self.name, offset, f"interface statistics block refers to undefined "
                           f"interface {lid}")
            gid = self.sec_map[lid]
            iface = self.interfaces[gid]
            sec, frac = iface.parts(units)
            st = {"ts_ns": sec * 1_000_000_000 + frac}
            for key, v in values.items():
                if key in ("starttime", "endtime"):
                    sec, frac = iface.parts(v)
                    st[key + "_ns"] = sec * 1_000_000_000 + frac
                else:
                    st[key] = v
            self.interface_stats[gid] = st
        self.pos += total
        self.bytes_read += total

    def take_blocks(self):
        """With ``keep_blocks``: the blocks read since the last call that are
        not packets, as ``[(packets, raw bytes)]`` in file order, ``packets``
        being how many packet records come before the block (a pcap file's
        header is the one block of a pcap file); a convert writes them back."""
        kept, self.kept = self.kept, []
        return kept

    # -- errors ----------------------------------------------------------------
    cdef object _walk_error(self):
        cdef uint64_t a = self.err_a, b = self.err_b
        if self.err_code == ERR_CAPLEN and a <= self.snapshot:
            what = f"invalid packet capture length {a}, bigger than maximum of {b}"
        else:
            what = _WALK_ERRORS[self.err_code].format(
                a=a, b=b, snapshot=self.snapshot,
                block=blocks.block_name(b) if b <= 0xFFFFFFFF else "")
        return fail(self.name, self.base_off + self.pos, what)

    cdef object _truncation_error(self):
        """The file ends inside the record at ``pos``."""
        cdef size_t left = self.avail - self.pos
        cdef const uint8_t *h = self.base + self.pos
        cdef unsigned long long k = self.records + 1
        if self.fmt == FMT_PCAP:
            if left < self.rec_hdr_len:
                what = f"truncated record header of packet {k}: {left} of {self.rec_hdr_len} bytes"
            else:
                what = (f"truncated packet {k}: record says "
                        f"{self.record_size() - self.rec_hdr_len} bytes, "
                        f"file ends after {left - self.rec_hdr_len}")
        elif left < 8 or (left < 12 and fs_u32(h, 0) == BT_SHB):
            what = f"truncated block header: {left} of {8 if left < 8 else 12} bytes"
        else:
            btype = fs_u32(h, self.swapped)
            packet = f" (packet {k})" if btype in (BT_EPB, BT_SPB, BT_PB) else ""
            what = (f"truncated {blocks.block_name(btype)}{packet}: block says "
                    f"{self.record_size()} bytes, file ends after {left}")
        return fail(self.name, self.base_off + self.pos, what)

    cdef size_t record_size(self):
        """Bytes the record at ``pos`` needs, from its header (which must
        be in the buffer); 0 when the header is not."""
        cdef size_t left = self.avail - self.pos
        cdef const uint8_t *h = self.base + self.pos
        cdef uint32_t caplen, wirelen
        if self.fmt == FMT_PCAP:
            if left < self.rec_hdr_len:
                return 0
            caplen = fs_u32(h + 8, self.swapped)
            wirelen = fs_u32(h + 12, self.swapped)
            if self.lengths_swapped == 1 or (self.lengths_swapped == 2 and caplen > wirelen):
                caplen = wirelen
            return self.rec_hdr_len + caplen
        if left < 8:
            return 0
        if fs_u32(h, 0) == BT_SHB:
            if left < 12:
                return 0
            return fs_u32(h + 4, 0 if fs_u32(h + 8, 0) == BYTE_ORDER_MAGIC else 1)
        return fs_u32(h + 4, self.swapped)

    cdef size_t _wanted(self):
        cdef size_t size = self.record_size()
        cdef size_t have = self.avail - self.pos
        if size > have:
            return size
        return have + 1

    # -- streams ---------------------------------------------------------------
    cdef bint need(self, size_t n) except -1:
        """At least ``n`` bytes at ``pos``, reading a stream as needed."""
        while self.avail - self.pos < n and not self.eof:
            self.refill(n, -1)
        return self.avail - self.pos >= n

    cdef file_chunk *take_chunk(self, size_t cap) except NULL:
        cdef file_chunk *c = self.chunks
        while c != NULL:
            if c.refs == 0 and c != self.chunk and c.cap >= cap:
                return c
            c = c.next
        c = <file_chunk *>malloc(sizeof(file_chunk))
        if c == NULL:
            raise MemoryError()
        c.data = <uint8_t *>malloc(cap)
        if c.data == NULL:
            free(c)
            raise MemoryError(f"{self.name}: no memory for a {cap}-byte read buffer")
        c.cap = cap
        c.refs = 0
        c.next = self.chunks
        self.chunks = c
        return c

    cdef int refill(self, size_t want, int timeout_ms) except -1:
        """Read more of the stream so that ``want`` bytes follow ``pos``
        (or the stream ends).  Returns 0 if nothing came within
        ``timeout_ms`` (fd streams only; -1 waits)."""
        cdef size_t tail = self.avail - self.pos
        cdef size_t cap
        cdef file_chunk *c = self.chunk
        cdef ssize_t got
        cdef pollfd pfd
        cdef int r
        if self.eof:
            return 1
        if want > <size_t>self.max_block + 64:
            want = <size_t>self.max_block + 64     # the walk checks lengths before asking
        cap = want if want > self.buffer_size else self.buffer_size
        if self.fd >= 0 and timeout_ms >= 0:
            pfd.fd = self.fd
            pfd.events = POLLIN
            with nogil:
                r = poll(&pfd, 1, timeout_ms)
            if r == 0:
                return 0
            if r < 0 and errno == EINTR:
                PyErr_CheckSignals()
                return 0
        if c != NULL and c.refs == 0 and c.cap >= want and self.pos > 0:
            # nothing points into the current chunk: slide the tail down
            memmove(c.data, c.data + self.pos, tail)
        elif c == NULL or c.refs > 0 or c.cap < want:
            c = self.take_chunk(cap)
            if tail:
                memcpy(c.data, self.base + self.pos, tail)
            self.chunk = c
        self.base_off += self.pos
        self.base = c.data
        self.pos = 0
        self.avail = tail
        while self.avail < want:
            got = self._read_into(c.data + self.avail, c.cap - self.avail)
            if got == 0:
                self.eof = True
                break
            self.avail += got
        return 1

    cdef ssize_t _read_into(self, uint8_t *dst, size_t n) except -1:
        cdef ssize_t got
        if self.fd >= 0:
            while True:
                with nogil:
                    got = read(self.fd, dst, n)
                if got >= 0:
                    return got
                if errno == EINTR:
                    if PyErr_CheckSignals() < 0:
                        return -1
                    continue
                raise CaptureFileError(f"{self.name}: read error: {os.strerror(errno)}")
        f = self.fileobj
        try:
            if hasattr(f, "readinto"):
                got = f.readinto(PyMemoryView_FromMemory(<char *>dst, n, PyBUF_WRITE)) or 0
            else:
                data = f.read(n)
                got = len(data)
                if got > <ssize_t>n:
                    raise CaptureFileError(f"{self.name}: read() returned more than asked")
                memcpy(dst, <const char *>data, got)
        except OSError as exc:
            raise CaptureFileError(f"{self.name}: read error: {exc.strerror or exc}") from None
        return got

    # -- times -------------------------------------------------------------------
    cdef object exact_time(self, const pkt_desc *d):
        if self.fmt == FMT_PCAP:
            return (<int32_t>(d.ts_raw >> 32), (d.ts_raw & 0xFFFFFFFF) * self.pcap_ns_mul)
        return (<object>self.interfaces[d.ifindex]).parts(d.ts_raw)

    # -- the rest of the Source API ------------------------------------------------
    @property
    def timestamp_source(self):
        return f"the capture file {self.name}"

    def stats(self):
        """The statistics shape of every source (``received``: packets
        delivered so far, ``dropped``: 0, a file loses nothing), with
        ``packets`` (the same) and ``bytes_read`` of the file."""
        return {"received": self.delivered, "dropped": 0, "packets": self.delivered,
                "bytes_read": self.bytes_read}

    def fileno(self):
        if self.fd >= 0:
            return self.fd
        raise OSError(f"{self.name}: no file descriptor to poll (the file is mapped)")

    def close(self):
        """Close the file.  The mapping and read buffers are given back when
        the source object goes away, so packets never point into freed memory."""
        if self.closed:
            return
        self.closed = True
        if self.fd >= 0 and self.owns_file:
            close(self.fd)
        self.fd = -1
        if self.fileobj is not None and self.owns_file:
            try:
                self.fileobj.close()
            except OSError:
                pass
        self.fileobj = None
        self.at_end = True

    def __dealloc__(self):
        cdef file_chunk *c
        if not self.closed and self.name is not None:
            try:
                warnings.warn(f"unclosed capture file {self.name!r}", ResourceWarning)
            except Exception:
                pass
        if self.fd >= 0 and self.owns_file:
            close(self.fd)
        if self.map != NULL:
            munmap(self.map, self.map_size)
        while self.chunks != NULL:
            c = self.chunks
            self.chunks = c.next
            free(c.data)
            free(c)
        free(self.ifaces)
        free(self.sec_map)

    def __repr__(self):
        return (f"<FileSource {self.name!r} {self.format} linktype={self.linktype} "
                f"interfaces={len(self.interfaces)}>")
