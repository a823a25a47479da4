# distutils: language = c
"""A table's rows (Arrow-layout columns) as a packet source, so that they
are filtered, decoded and written as any batch is (``pyxring convert``)."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

from pyxring._core cimport Batch, Source, pkt_desc, PKT_TRUNCATED


cdef class TableSource(Source):
    """Rows of Arrow-layout columns as batches: ``load`` one table chunk's
    arrays, then ``batch()`` gives them as one batch whose frames point into
    the frame column (the arrays are held until the next ``load``)."""
    cdef object arrays              # the chunk's arrays, kept alive for its batch
    cdef const uint8_t *frames
    cdef const int32_t *frame_off
    cdef const uint64_t *ts_ns
    cdef const uint32_t *wirelen
    cdef const uint32_t *ifindex
    cdef const uint16_t *linktypes
    cdef const uint32_t *epb_flags
    cdef const uint16_t *queue
    cdef Py_ssize_t rows
    cdef bint loaded
    cdef Py_ssize_t out_batches
    cdef readonly object interfaces     # what the table's metadata says (for schema_metadata)

    def __init__(self, str name="table", int linktype=1, interfaces=None):
        self.name = name
        self.linktype = linktype
        self.interfaces = interfaces

    def load(self, frame_off, frames, ts_ns, wirelen, ifindex, linktype, epb_flags, queue):
        """The next chunk: ``frame_off`` (int32, rows + 1) and ``frames``
        (uint8) in Arrow's binary layout, then one array per row (uint64,
        uint32, uint32, uint16, uint32, uint16)."""
        cdef const int32_t[::1] fo = frame_off
        cdef const uint8_t[::1] fr = frames
        cdef const uint64_t[::1] ts = ts_ns
        cdef const uint32_t[::1] wl = wirelen, ix = ifindex, fl = epb_flags
        cdef const uint16_t[::1] lt = linktype, qu = queue
        cdef Py_ssize_t n = fo.shape[0] - 1
        if self.out_batches:
            raise ValueError("a batch of the previous chunk is still held")
        if n < 0 or ts.shape[0] != n or wl.shape[0] != n or ix.shape[0] != n \
                or lt.shape[0] != n or fl.shape[0] != n or qu.shape[0] != n:
            raise ValueError("the columns of a chunk differ in length")
        if n and (fo[0] < 0 or fo[n] > fr.shape[0]):
            raise ValueError("frame offsets outside the frame bytes")
        self.arrays = (frame_off, frames, ts_ns, wirelen, ifindex, linktype, epb_flags, queue)
        self.frame_off = &fo[0]
        self.frames = &fr[0] if fr.shape[0] else NULL
        self.ts_ns = &ts[0] if n else NULL
        self.wirelen = &wl[0] if n else NULL
        self.ifindex = &ix[0] if n else NULL
        self.linktypes = &lt[0] if n else NULL
        self.epb_flags = &fl[0] if n else NULL
        self.queue = &qu[0] if n else NULL
        self.rows = n
        self.loaded = True
        self.at_end = False

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef Py_ssize_t i, n = self.rows if self.loaded else 0
        cdef pkt_desc *d
        cdef int32_t a, b
        self.loaded = False
        if n == 0:
            self.at_end = True
            return 0
        for i in range(n):
            if self.frame_off[i + 1] < self.frame_off[i]:
                raise ValueError(f"row {i}: frame offsets go backwards")
        batch.reserve(n)
        with nogil:
            for i in range(n):
                d = batch.next_desc()
                a = self.frame_off[i]
                b = self.frame_off[i + 1]
                d.data = self.frames + a if self.frames != NULL else <const uint8_t *>""
                d.caplen = <uint32_t>(b - a)
                d.wirelen = self.wirelen[i]
                d.ts_ns = self.ts_ns[i]
                d.ifindex = self.ifindex[i]
                d.rxhash = 0
                d.vlan_tci = 0
                d.vlan_tpid = 0
                d.queue = self.queue[i]
                d.linktype = self.linktypes[i]
                d.epb_flags = self.epb_flags[i]
                d.ts_raw = 0
                d.reserved = 0
                d.flags = PKT_TRUNCATED if d.caplen < d.wirelen else 0
        self.out_batches += 1
        batch.cookie2 = 1
        return n

    cdef int release_batch(self, Batch batch) except -1:
        if batch.cookie2:
            batch.cookie2 = 0
            self.out_batches -= 1
        return 0

    def stats(self):
        return {"received": self.delivered, "dropped": 0}

    @property
    def timestamp_source(self):
        return "the table's ts_ns column"

    def close(self):
        self.closed = True
        self.arrays = None


