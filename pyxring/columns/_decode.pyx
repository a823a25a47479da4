# distutils: language = c
# distutils: define_macros = NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
"""Header fields of a batch's frames, decoded in C into columns.

One pass over the batch's descriptors without the GIL.  Each frame is
parsed once, as deep as the requested columns need (link layer; IPv4/IPv6
with the IPv6 extension headers; TCP/UDP/SCTP/ICMP/ICMPv6), into a small
struct on the stack; then each requested column gets its value for that row
(0 where the packet doesn't have the field) and the row's ``valid`` word says
which fields the packet really has.  Every read is checked against the
captured length: a truncated frame gives the fields that were captured and no
more.

The columns of one decode share one block of memory (numpy arrays made
over it with numpy's C API, each holding the block), taken from a small
pool of blocks kept warm between batches: fresh pages would cost a page
fault per 4 KiB, which is more than the decoding of the packets in it.
``decode_batch`` decodes into arrays the caller already has instead.
"""
cimport cython
cimport numpy as cnp
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBuffer_FillInfo,
                             PyBUF_WRITABLE, PyBUF_STRIDES)
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

import numpy as np

from pyxring._core cimport Batch, pkt_desc
from pyxring.columns._headers cimport *
from pyxring.includes.byteorder cimport prefetch

cdef extern from "<stdlib.h>" nogil:
    int posix_memalign(void **ptr, size_t alignment, size_t size)

cnp.import_array()

# --- the batch loop ---
#
# Frames are parsed a chunk at a time into ``chunk_headers`` (a few KiB, in
# L1: one array per field), then each requested column gets the chunk's
# values in one copy (a memcpy where the column is contiguous, as the dict
# of arrays is), and the "was it asked for" test is made once per chunk.


ctypedef fused field_t:
    uint8_t
    uint16_t
    uint32_t
    uint64_t


cdef inline void copy_column(const column *c, Py_ssize_t row, const field_t *first, size_t step,
                             int m) noexcept nogil:
    """Rows ``row ..`` of column ``c`` from ``m`` values ``step`` bytes apart."""
    cdef char *dst
    cdef const char *src = <const char *>first
    cdef int j
    if c.base == NULL:
        return
    dst = c.base + row * c.stride
    if step == sizeof(field_t) and c.stride == <Py_ssize_t>sizeof(field_t):
        memcpy(dst, src, m * sizeof(field_t))
        return
    for j in range(m):
        (<field_t *>dst)[0] = (<const field_t *>(src + j * step))[0]
        dst += c.stride

cdef inline void copy_addr16(const column *c, Py_ssize_t row, const chunk_headers *hs,
                             bint dst_side, int m) noexcept nogil:
    cdef char *dst
    cdef const uint8_t *a
    cdef int j
    if c.base == NULL:
        return
    dst = c.base + row * c.stride
    for j in range(m):
        a = hs.dst6[j] if dst_side else hs.src6[j]
        if a != NULL:
            memcpy(dst, a, 16)
        else:
            memset(dst, 0, 16)
        dst += c.stride


cdef void decode_descs(const pkt_desc *descs, Py_ssize_t n, Py_ssize_t first_row,
                       const column_set *cs) noexcept nogil:
    cdef Py_ssize_t k0, k
    cdef const pkt_desc *d
    cdef const column *c = &cs.col[0]
    cdef chunk_headers hs
    cdef int j, m
    cdef bint want_hash = c[COL_FLOW_HASH].base != NULL
    cdef size_t dstep = sizeof(pkt_desc)
    cdef Py_ssize_t row
    k0 = 0
    while k0 < n:
        m = CHUNK if n - k0 > CHUNK else <int>(n - k0)
        row = first_row + k0
        d = &descs[k0]
        copy_column(&c[COL_TS_NS], row, &d.ts_ns, dstep, m)
        copy_column(&c[COL_CAPLEN], row, &d.caplen, dstep, m)
        copy_column(&c[COL_WIRELEN], row, &d.wirelen, dstep, m)
        copy_column(&c[COL_IFINDEX], row, &d.ifindex, dstep, m)
        copy_column(&c[COL_QUEUE], row, &d.queue, dstep, m)
        copy_column(&c[COL_LINKTYPE], row, &d.linktype, dstep, m)
        copy_column(&c[COL_EPB_FLAGS], row, &d.epb_flags, dstep, m)
        memset(&hs, 0, sizeof(hs))
        if cs.depth != DEPTH_NONE:
            for j in range(m):
                k = k0 + j
                if k + PREFETCH_AHEAD < n:
                    # a frame's headers are a cache miss (the kernel just
                    # wrote them, or they lie far apart): start loading a
                    # later one's two first lines
                    prefetch(descs[k + PREFETCH_AHEAD].data)
                    prefetch(descs[k + PREFETCH_AHEAD].data + 64)
                # each packet's own link type (a file's interfaces may differ)
                parse_frame(d[j].data, d[j].caplen, d[j].wirelen, d[j].linktype, cs.depth,
                            want_hash, &hs, j)
                hs.valid[j] &= cs.valid_mask
        copy_column(&c[COL_VLAN_TCI], row, hs.vlan_tci, 2, m)
        copy_column(&c[COL_VLAN_TCI_INNER], row, hs.vlan_tci_inner, 2, m)
        copy_column(&c[COL_ETHERTYPE], row, hs.ethertype, 2, m)
        copy_column(&c[COL_IP_VERSION], row, hs.ip_version, 1, m)
        copy_column(&c[COL_SRC4], row, hs.src4, 4, m)
        copy_column(&c[COL_DST4], row, hs.dst4, 4, m)
        copy_addr16(&c[COL_SRC6], row, &hs, False, m)
        copy_addr16(&c[COL_DST6], row, &hs, True, m)
        copy_column(&c[COL_PROTO], row, hs.proto, 1, m)
        copy_column(&c[COL_TTL], row, hs.ttl, 1, m)
        copy_column(&c[COL_IP_ID], row, hs.ip_id, 4, m)
        copy_column(&c[COL_FRAG], row, hs.frag, 2, m)
        copy_column(&c[COL_SPORT], row, hs.sport, 2, m)
        copy_column(&c[COL_DPORT], row, hs.dport, 2, m)
        copy_column(&c[COL_TCP_FLAGS], row, hs.tcp_flags, 2, m)
        copy_column(&c[COL_TCP_SEQ], row, hs.tcp_seq, 4, m)
        copy_column(&c[COL_TCP_ACK], row, hs.tcp_ack, 4, m)
        copy_column(&c[COL_TCP_WIN], row, hs.tcp_win, 2, m)
        copy_column(&c[COL_ICMP_TYPE], row, hs.icmp_type, 1, m)
        copy_column(&c[COL_ICMP_CODE], row, hs.icmp_code, 1, m)
        copy_column(&c[COL_L4_OFFSET], row, hs.l4_offset, 4, m)
        copy_column(&c[COL_PAYLOAD_LEN], row, hs.payload_len, 4, m)
        copy_column(&c[COL_FLOW_HASH], row, hs.flow_hash, 8, m)
        copy_column(&c[COL_VALID], row, hs.valid, 4, m)
        k0 += m


cdef void copy_frames(const pkt_desc *descs, Py_ssize_t n, int32_t *offsets,
                      uint8_t *data) noexcept nogil:
    cdef Py_ssize_t k
    cdef int32_t pos = 0
    for k in range(n):
        offsets[k] = pos
        memcpy(data + pos, descs[k].data, descs[k].caplen)
        pos += descs[k].caplen
    offsets[n] = pos


# --- the Python entry points (pyxring.columns builds on these) ---

# (name, column id, depth, numpy dtype); the valid bit of a decoded field is
# 1 << (id - COL_VLAN_TCI)
COLUMNS = (
    ("ts_ns", COL_TS_NS, DEPTH_NONE, "u8"),
    ("caplen", COL_CAPLEN, DEPTH_NONE, "u4"),
    ("wirelen", COL_WIRELEN, DEPTH_NONE, "u4"),
    ("ifindex", COL_IFINDEX, DEPTH_NONE, "u4"),
    ("queue", COL_QUEUE, DEPTH_NONE, "u2"),
    ("linktype", COL_LINKTYPE, DEPTH_NONE, "u2"),
    ("epb_flags", COL_EPB_FLAGS, DEPTH_NONE, "u4"),
    ("vlan_tci", COL_VLAN_TCI, DEPTH_LINK, "u2"),
    ("vlan_tci_inner", COL_VLAN_TCI_INNER, DEPTH_LINK, "u2"),
    ("ethertype", COL_ETHERTYPE, DEPTH_LINK, "u2"),
    ("ip_version", COL_IP_VERSION, DEPTH_NETWORK, "u1"),
    ("src4", COL_SRC4, DEPTH_NETWORK, "u4"),
    ("dst4", COL_DST4, DEPTH_NETWORK, "u4"),
    ("src6", COL_SRC6, DEPTH_NETWORK, "16u1"),
    ("dst6", COL_DST6, DEPTH_NETWORK, "16u1"),
    ("proto", COL_PROTO, DEPTH_NETWORK, "u1"),
    ("ttl", COL_TTL, DEPTH_NETWORK, "u1"),
    ("ip_id", COL_IP_ID, DEPTH_NETWORK, "u4"),
    ("frag", COL_FRAG, DEPTH_NETWORK, "u2"),
    ("sport", COL_SPORT, DEPTH_TRANSPORT, "u2"),
    ("dport", COL_DPORT, DEPTH_TRANSPORT, "u2"),
    ("tcp_flags", COL_TCP_FLAGS, DEPTH_TRANSPORT, "u2"),
    ("tcp_seq", COL_TCP_SEQ, DEPTH_TRANSPORT, "u4"),
    ("tcp_ack", COL_TCP_ACK, DEPTH_TRANSPORT, "u4"),
    ("tcp_win", COL_TCP_WIN, DEPTH_TRANSPORT, "u2"),
    ("icmp_type", COL_ICMP_TYPE, DEPTH_TRANSPORT, "u1"),
    ("icmp_code", COL_ICMP_CODE, DEPTH_TRANSPORT, "u1"),
    ("l4_offset", COL_L4_OFFSET, DEPTH_TRANSPORT, "u4"),
    ("payload_len", COL_PAYLOAD_LEN, DEPTH_TRANSPORT, "u4"),
    ("flow_hash", COL_FLOW_HASH, DEPTH_TRANSPORT, "u8"),
    ("valid", COL_VALID, DEPTH_NONE, "u4"),
)
FIRST_DECODED = COL_VLAN_TCI


@cython.final
cdef class ColumnBuffers:
    """The writable buffers of one decode: acquired from the arrays given
    (one per column id, or None), released when the decode is done."""
    cdef column_set cs
    cdef Py_buffer views[N_COLS]
    cdef bint held[N_COLS]

    def __cinit__(self):
        memset(&self.cs, 0, sizeof(self.cs))
        memset(self.held, 0, sizeof(self.held))

    cdef int take(self, list arrays, Py_ssize_t rows) except -1:
        cdef int i
        cdef object arr
        for i in range(N_COLS):
            arr = arrays[i]
            if arr is None:
                continue
            PyObject_GetBuffer(arr, &self.views[i], PyBUF_WRITABLE | PyBUF_STRIDES)
            self.held[i] = True
            if self.views[i].shape[0] < rows:
                raise ValueError(f"column {COLUMNS[i][0]} has room for "
                                 f"{self.views[i].shape[0]} rows, not {rows}")
            self.cs.col[i].base = <char *>self.views[i].buf
            self.cs.col[i].stride = self.views[i].strides[0]
        return 0

    def __dealloc__(self):
        cdef int i
        for i in range(N_COLS):
            if self.held[i]:
                PyBuffer_Release(&self.views[i])


def decode_batch(Batch batch, list arrays, int depth, uint32_t valid_mask,
                 Py_ssize_t first_row=0):
    """Decode ``batch`` into ``arrays`` (a list indexed by column id: a
    writable 1-D buffer, or None) from row ``first_row`` on.
    """
    cdef ColumnBuffers bufs = ColumnBuffers()
    cdef const int32_t[::1] table
    if len(arrays) != N_COLS:
        raise ValueError(f"{N_COLS} column slots expected, got {len(arrays)}")
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    bufs.take(arrays, first_row + batch.count)
    bufs.cs.depth = depth
    bufs.cs.valid_mask = valid_mask
    with nogil:
        decode_descs(batch.descs, batch.count, first_row, &bufs.cs)
    return batch.count


def frames_into(Batch batch, int32_t[::1] offsets, uint8_t[::1] data):
    """Copy the batch's frames end to end into ``data`` and their start
    offsets into ``offsets`` (len(batch) + 1 entries): Arrow's binary layout."""
    cdef Py_ssize_t i, total = 0
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    if offsets.shape[0] < batch.count + 1:
        raise ValueError("offsets too short")
    for i in range(batch.count):
        total += batch.descs[i].caplen
    if data.shape[0] < total or total >= 2 ** 31:
        raise ValueError(f"{total} bytes of frames don't fit")
    cdef uint8_t *dst = &data[0] if data.shape[0] else NULL
    with nogil:
        copy_frames(batch.descs, batch.count, &offsets[0], dst)
    return total


# --- memory for the columns: one block per decode, from a warm pool ---

cdef enum:
    ALIGN = 64                  # each column starts on a cache line
    MIN_CLASS_SHIFT = 16        # blocks of 64 KiB, 128 KiB, ... (powers of two)
    N_CLASSES = 24
    KEEP_PER_CLASS = 4

cdef size_t POOL_LIMIT = 64 << 20      # bytes kept in the pool at most
cdef void *pool[N_CLASSES][KEEP_PER_CLASS]
cdef int pool_count[N_CLASSES]
cdef size_t pool_bytes = 0


@cython.final
cdef class Block:
    """Memory shared by one decode's columns (the numpy arrays' base);
    back to the pool when the last of them is gone."""
    cdef char *mem
    cdef size_t size
    cdef int size_class         # -1: too big for the pool

    def __cinit__(self):
        self.mem = NULL
        self.size_class = -1

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, self.mem, self.size, 0, flags)

    def __dealloc__(self):
        global pool_bytes
        cdef int c = self.size_class
        if self.mem == NULL:
            return
        if c >= 0 and pool_count[c] < KEEP_PER_CLASS and pool_bytes + self.size <= POOL_LIMIT:
            pool[c][pool_count[c]] = self.mem
            pool_count[c] += 1
            pool_bytes += self.size
        else:
            free(self.mem)


cdef Block new_block(size_t size):
    global pool_bytes
    cdef Block b = Block.__new__(Block)
    cdef int c = 0
    cdef void *mem = NULL
    while c < N_CLASSES and (<size_t>1 << (MIN_CLASS_SHIFT + c)) < size:
        c += 1
    if c < N_CLASSES:
        size = <size_t>1 << (MIN_CLASS_SHIFT + c)
        b.size_class = c
        if pool_count[c]:
            pool_count[c] -= 1
            mem = pool[c][pool_count[c]]
            pool_bytes -= size
    if mem == NULL and posix_memalign(&mem, ALIGN, size if size else ALIGN) != 0:
        raise MemoryError(f"{size} bytes for columns")
    b.mem = <char *>mem
    b.size = size
    return b


@cython.final
cdef class ColumnPlan:
    """What one set of fields needs, resolved once: the columns' ids, numpy
    types and widths, the parse depth and the valid bits."""
    cdef readonly tuple names
    cdef int n
    cdef int ids[N_COLS]
    cdef int typenums[N_COLS]
    cdef Py_ssize_t itemsizes[N_COLS]   # bytes of one row of the column
    cdef bint wide[N_COLS]              # a (rows, 16) address column
    cdef Py_ssize_t struct_offsets[N_COLS]
    cdef readonly int depth
    cdef readonly uint32_t valid_mask
    cdef readonly object struct_dtype

    def __init__(self, tuple names):
        cdef int j, cid
        by_name = {c[0]: c for c in COLUMNS}
        self.names = names
        self.n = len(names)
        self.depth = DEPTH_NONE
        self.valid_mask = 0
        fields = []
        for j, name in enumerate(names):
            _, cid, depth, code = by_name[name]
            self.ids[j] = cid
            self.wide[j] = code == "16u1"
            dt = np.dtype("u1" if self.wide[j] else code)
            self.typenums[j] = dt.num
            self.itemsizes[j] = dt.itemsize * (16 if self.wide[j] else 1)
            self.depth = max(self.depth, depth)
            if cid >= COL_VLAN_TCI and cid != COL_VALID:
                self.valid_mask |= 1 << (cid - COL_VLAN_TCI)
            fields.append((name, dt, (16,)) if self.wide[j] else (name, dt))
        self.struct_dtype = np.dtype(fields, align=True)
        for j, name in enumerate(names):
            self.struct_offsets[j] = self.struct_dtype.fields[name][1]


def decode_new(Batch batch, ColumnPlan plan, bint structured=False):
    """Decode ``batch`` into new columns: a dict of numpy arrays over one
    pooled block (or one structured array), in ``plan``'s order."""
    cdef column_set cs
    cdef Py_ssize_t n = batch.count, total = 0, off, j
    cdef cnp.npy_intp dims[2]
    cdef Block block
    cdef char *base
    cdef const int32_t[::1] table
    cdef cnp.ndarray arr
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    memset(&cs, 0, sizeof(cs))
    cs.depth = plan.depth
    cs.valid_mask = plan.valid_mask
    if structured:
        arr = np.empty(n, dtype=plan.struct_dtype)
        base = <char *>cnp.PyArray_DATA(arr)
        for j in range(plan.n):
            cs.col[plan.ids[j]].base = base + plan.struct_offsets[j]
            cs.col[plan.ids[j]].stride = plan.struct_dtype.itemsize
        out = arr
    else:
        for j in range(plan.n):
            total += (plan.itemsizes[j] * n + ALIGN - 1) & ~(<Py_ssize_t>ALIGN - 1)
        block = new_block(total)
        out = {}
        off = 0
        dims[0] = n
        dims[1] = 16
        for j in range(plan.n):
            arr = cnp.PyArray_SimpleNewFromData(2 if plan.wide[j] else 1, dims,
                                                plan.typenums[j], block.mem + off)
            cnp.set_array_base(arr, block)
            out[plan.names[j]] = arr
            cs.col[plan.ids[j]].base = block.mem + off
            cs.col[plan.ids[j]].stride = plan.itemsizes[j]
            off += (plan.itemsizes[j] * n + ALIGN - 1) & ~(<Py_ssize_t>ALIGN - 1)
    with nogil:
        decode_descs(batch.descs, n, 0, &cs)
    return out
