# distutils: language = c
"""The stored parts of a capture file's records, for ``pyxring convert``.

A packet record of a capture file is its columns (``pyxring.columns``:
times, lengths, interface, flags, the frame) plus what the columns don't
say about how it was stored.  ``extract`` takes that part from a file
source's batch: the stored timestamp (``ts_raw``), and the record's header
and tail (padding, options, bytes kept past the snapshot length) *only
where pyxring would not write them back identically from the columns*, so
that for a usual file those columns are all empty.  ``_recwriter`` writes
records back from them.

Where a record's stored parts are: a file source's descriptor points at the
frame inside the record as the file holds it, and the whole record stays in
memory while its batch is held (``pyxring/file/_filesrc.pyx``).  So a pcap
record's header is the ``hdr_len`` bytes before the frame; a pcapng block
starts 28 bytes before it (enhanced and obsolete packet blocks) or 12
(simple packet block).  A simple packet block carries no time (its
``ts_raw`` is 0) and has its type 12 bytes before the frame, where the other
two have the low word of their time: so ``ts_raw == 0`` and type 3 there
can only be a simple packet block.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp, memset

import numpy as np

from pyxring._core cimport Batch, pkt_desc
from pyxring.convert._layout cimport *
from pyxring.file._filesrc cimport fs_u16, fs_u32


ctypedef struct parts:
    const uint8_t *head
    uint32_t head_len       # 0: the header is the one pyxring writes from the columns
    const uint8_t *tail
    uint32_t tail_len       # 0: zero padding only (pcapng), nothing (pcap)


cdef void pcap_parts(const pkt_desc *d, const pcap_layout *L, parts *r) noexcept nogil:
    cdef const uint8_t *rec = d.data - L.hdr_len
    cdef uint32_t wirelen
    cdef uint32_t stored = pcap_stored(rec, L, &wirelen)
    cdef uint8_t canon[24]
    pcap_header(canon, L, d.ts_raw, stored, d.wirelen)
    r.head = rec
    r.head_len = 0 if memcmp(canon, rec, L.hdr_len) == 0 else L.hdr_len
    # bytes past the snapshot length (the file source cuts a record to it)
    r.tail = d.data + d.caplen
    r.tail_len = stored - d.caplen


cdef void pcapng_parts(const pkt_desc *d, int sw, parts *r) noexcept nogil:
    cdef const uint8_t *blk
    cdef uint32_t hl, total, pad
    if d.ts_raw == 0 and fs_u32(d.data - SPB_HEADER, sw) == BT_SPB:
        blk = d.data - SPB_HEADER
        hl = SPB_HEADER
    else:
        blk = d.data - EPB_HEADER
        hl = EPB_HEADER
    total = fs_u32(blk + 4, sw)
    r.head = blk
    # an enhanced packet block's header is all columns; the others are kept
    r.head_len = 0 if hl == EPB_HEADER and fs_u32(blk, sw) == BT_EPB else hl
    r.tail = d.data + d.caplen
    r.tail_len = <uint32_t>((blk + total - 4) - r.tail)
    pad = pad4(d.caplen) - d.caplen
    if r.tail_len == pad and all_zero(r.tail, pad):
        r.tail_len = 0


def number(Batch batch):
    """Mark each packet with its index in the batch (in the descriptor's
    ``rxhash``, unused by files and tables), so that the rows a filter keeps
    can be matched with the batch's other columns; see ``originals``."""
    cdef Py_ssize_t i
    for i in range(batch.count):
        batch.descs[i].rxhash = <uint32_t>i


def originals(Batch batch):
    """The indices ``number`` gave the packets still in the batch."""
    cdef Py_ssize_t i, n = batch.count
    out = np.empty(n, np.int64)
    cdef int64_t[::1] o = out
    for i in range(n):
        o[i] = batch.descs[i].rxhash
        batch.descs[i].rxhash = 0
    return out


def extract(Batch batch, str format, const uint8_t[::1] iface_swapped=None, bint swapped=False,
            uint32_t hdr_len=16, int lengths=0):
    """The stored parts of the records of ``batch`` (a file source's):
    ``(ts_raw, head_offsets, head_bytes, tail_offsets, tail_bytes)``, the
    variable parts in Arrow's binary layout (an empty value is none).

    pcapng: ``iface_swapped[i]`` says whether interface ``i``'s section is
    in the other byte order.  pcap: the file's byte order, record header
    length and length order (see ``pcap_layout``)."""
    cdef Py_ssize_t i, n = batch.count
    cdef pcap_layout L
    cdef int fmt = FMT_PCAP if format == "pcap" else FMT_PCAPNG
    cdef parts *ps
    cdef const pkt_desc *d
    cdef int64_t hsum = 0, tsum = 0
    if batch.released:
        raise ValueError("the batch was released: its records are gone")
    if fmt == FMT_PCAPNG:
        for i in range(n):
            if iface_swapped is None or batch.descs[i].ifindex >= iface_swapped.shape[0]:
                raise ValueError(f"packet {i}: interface {batch.descs[i].ifindex} has no "
                                 "byte order")
    L.swapped = swapped
    L.hdr_len = hdr_len
    L.lengths = lengths
    L.ns_mul = 1
    ts_raw = np.empty(n, np.uint64)
    head_off = np.empty(n + 1, np.int32)
    tail_off = np.empty(n + 1, np.int32)
    cdef uint64_t[::1] tr = ts_raw
    cdef int32_t[::1] ho = head_off, to = tail_off
    ps = <parts *>malloc(max(n, 1) * sizeof(parts))
    if ps == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                d = &batch.descs[i]
                if fmt == FMT_PCAP:
                    pcap_parts(d, &L, &ps[i])
                else:
                    pcapng_parts(d, iface_swapped[d.ifindex], &ps[i])
                tr[i] = d.ts_raw
                ho[i] = <int32_t>hsum
                to[i] = <int32_t>tsum
                hsum += ps[i].head_len
                tsum += ps[i].tail_len
            ho[n] = <int32_t>hsum
            to[n] = <int32_t>tsum
        if hsum >= 2 ** 31 or tsum >= 2 ** 31:
            raise ValueError("a batch's stored record parts pass 2 GiB")
        head = np.empty(hsum, np.uint8)
        tail = np.empty(tsum, np.uint8)
        _copy_parts(ps, n, head, tail, ho, to)
    finally:
        free(ps)
    return ts_raw, head_off, head, tail_off, tail


cdef int _copy_parts(const parts *ps, Py_ssize_t n, uint8_t[::1] head, uint8_t[::1] tail,
                     const int32_t[::1] ho, const int32_t[::1] to) except -1:
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            if ps[i].head_len:
                memcpy(&head[ho[i]], ps[i].head, ps[i].head_len)
            if ps[i].tail_len:
                memcpy(&tail[to[i]], ps[i].tail, ps[i].tail_len)
    return 0


def scan_options(const int32_t[::1] off, const uint8_t[::1] data, const uint8_t[::1] swapped,
                 const uint32_t[::1] caplen):
    """For each row's stored pcapng tail (padding, then options): ``(flags,
    has_flags, has_comment, aligned)``: the epb_flags word the file source
    reads from it (the last 4-byte option 2), whether it has one and any
    opt_comment, and whether the tail still fits the frame (the frame and
    the tail end on a 4-byte boundary)."""
    cdef Py_ssize_t i, n = caplen.shape[0]
    cdef const uint8_t *p
    cdef uint32_t length, o, code, olen, sw
    flags = np.zeros(n, np.uint32)
    has_flags = np.zeros(n, np.bool_)
    has_comment = np.zeros(n, np.bool_)
    aligned = np.ones(n, np.bool_)
    cdef uint32_t[::1] fl = flags
    cdef uint8_t[::1] hf = has_flags.view(np.uint8), hc = has_comment.view(np.uint8)
    cdef uint8_t[::1] al = aligned.view(np.uint8)
    for i in range(n):
        length = off[i + 1] - off[i]
        if length == 0:
            continue
        p = &data[off[i]]
        sw = swapped[i]
        if (caplen[i] + length) & 3:
            al[i] = 0
            continue
        o = pad4(caplen[i]) - caplen[i]
        while o + 4 <= length:
            code = fs_u16(p + o, sw)
            olen = fs_u16(p + o + 2, sw)
            if code == 0 or o + 4 + olen > length:
                break
            if code == 2 and olen == 4:
                fl[i] = fs_u32(p + o + 4, sw)
                hf[i] = 1
            elif code == 1:
                hc[i] = 1
            o += 4 + pad4(olen)
    return flags, has_flags, has_comment, aligned


def take_var(const int32_t[::1] off, const uint8_t[::1] data, const int64_t[::1] rows):
    """Rows ``rows`` of a binary column in Arrow's layout: ``(offsets, bytes)``."""
    cdef Py_ssize_t i, n = rows.shape[0]
    cdef int64_t total = 0, r
    new_off = np.empty(n + 1, np.int32)
    cdef int32_t[::1] no = new_off
    for i in range(n):
        r = rows[i]
        no[i] = <int32_t>total
        total += off[r + 1] - off[r]
    no[n] = <int32_t>total
    new_data = np.empty(total, np.uint8)
    cdef uint8_t[::1] nd = new_data
    for i in range(n):
        r = rows[i]
        if off[r + 1] > off[r]:
            memcpy(&nd[no[i]], &data[off[r]], off[r + 1] - off[r])
    return new_off, new_data



def sub_batch(Batch batch not None, Py_ssize_t start, Py_ssize_t stop):
    """Packets ``start .. stop`` of ``batch`` as a batch of their own (the
    descriptors copied; the frames are still the parent's, so it must be
    released before the parent is)."""
    cdef Batch part
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    if not 0 <= start <= stop <= batch.count:
        raise IndexError(f"packets {start}..{stop} outside the batch of {batch.count}")
    part = Batch.__new__(Batch, batch.source)
    part.reserve(stop - start)
    if stop > start:
        memcpy(part.descs, batch.descs + start, (stop - start) * sizeof(pkt_desc))
    part.count = stop - start
    part.linktype = batch.linktype
    part.released = False
    part.cookie2 = 0            # nothing of the source's to give back
    return part

