# distutils: language = c
"""pcap and pcapng records written from batches and their stored parts.

``RecordWriter`` formats records straight into the writer's output stages
(``pyxring.writer._output``).  A stored part (see ``_extract``) is used when
it still agrees with the columns; where it doesn't (a user changed the time
or the frame), the columns win and the part is made as pyxring writes it:
an enhanced packet block, a 16-byte pcap record header, zero padding and
the epb_flags option.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp, memset

import numpy as np

from pyxring._core cimport Batch, pkt_desc
from pyxring.convert._layout cimport *
from pyxring.file._filesrc cimport fs_u16, fs_u32, fs_put16, fs_put32, fs_units_per_sec
from pyxring.writer._output cimport Output, output_mark

ROW_OK, ROW_NO_INTERFACE, ROW_LINKTYPE, ROW_TIME = R_OK, R_NO_INTERFACE, R_LINKTYPE, R_TIME


ctypedef struct var_col:
    const int32_t *off      # NULL: the column is absent (every value empty)
    const uint8_t *data


ctypedef struct rowplan:
    const uint8_t *head     # a stored header to copy, or NULL: made from the columns
    uint32_t head_len
    const uint8_t *tail     # a stored tail to copy, or NULL: zero padding (+ flags)
    uint32_t tail_len
    uint32_t pad
    bint flags_option
    uint64_t units          # pcapng: the time in the interface's units; pcap: sec << 32 | frac
    const iface_out *iface
    size_t size


cdef inline uint32_t var_len(const var_col *c, Py_ssize_t i) noexcept nogil:
    return 0 if c.off == NULL else <uint32_t>(c.off[i + 1] - c.off[i])


cdef class RecordWriter:
    """pcap or pcapng records from batches, into a writer output stage."""
    cdef Output out
    cdef int fmt
    cdef pcap_layout pcap
    cdef uint32_t pcap_linktype
    cdef iface_out *ifaces
    cdef Py_ssize_t n_ifaces
    cdef uint8_t *scratch
    cdef size_t scratch_cap
    cdef uint64_t records
    cdef readonly unsigned long long packets
    cdef readonly unsigned long long frame_bytes

    def __cinit__(self):
        self.ifaces = NULL
        self.scratch = NULL

    def __dealloc__(self):
        free(self.ifaces)
        free(self.scratch)

    def __init__(self, Output out not None, str format):
        self.out = out
        self.fmt = FMT_PCAP if format == "pcap" else FMT_PCAPNG
        self.pcap.hdr_len = 16
        self.pcap.ns_mul = 1

    @property
    def output(self):
        return self.out

    def set_pcap(self, bint swapped, uint32_t hdr_len, int lengths, bint nanosecond,
                 uint32_t linktype):
        """The layout of the pcap file's records (from its header)."""
        if hdr_len not in (16, 24):
            raise ValueError(f"pcap record header of {hdr_len} bytes")
        self.pcap.swapped = swapped
        self.pcap.hdr_len = hdr_len
        self.pcap.lengths = lengths
        self.pcap.ns_mul = 1 if nanosecond else 1000
        self.pcap_linktype = linktype

    def define_interface(self, Py_ssize_t ifindex, uint32_t local_id, bint swapped,
                         int tsresol, int64_t tsoffset):
        """Rows whose ifindex is ``ifindex`` go to interface ``local_id`` of
        the current section (whose byte order ``swapped`` says)."""
        cdef iface_out *p
        cdef Py_ssize_t k
        if ifindex < 0:
            raise ValueError("negative interface number")
        if ifindex >= self.n_ifaces:
            p = <iface_out *>realloc(self.ifaces, (ifindex + 1) * sizeof(iface_out))
            if p == NULL:
                raise MemoryError()
            for k in range(self.n_ifaces, ifindex + 1):
                memset(&p[k], 0, sizeof(iface_out))
            self.ifaces = p
            self.n_ifaces = ifindex + 1
        p = &self.ifaces[ifindex]
        p.local_id = local_id
        p.swapped = swapped
        p.per_sec = fs_units_per_sec(<uint8_t>tsresol)
        p.tsoffset = tsoffset
        p.ns_per_unit = 0
        if not tsresol & 0x80 and tsresol <= 9 and tsoffset == 0:
            p.ns_per_unit = 1
            for k in range(9 - tsresol):
                p.ns_per_unit *= 10
        p.defined = True

    def undefine_interfaces(self):
        """A new section: its interfaces are described again."""
        cdef Py_ssize_t k
        for k in range(self.n_ifaces):
            self.ifaces[k].defined = False

    def write_raw(self, const uint8_t[::1] data):
        """A file header or a block, as it is."""
        if data.shape[0]:
            self.out.write_bytes(&data[0], data.shape[0])
        output_mark(self.out, self.records)

    # -- one row ----------------------------------------------------------------------
    cdef int plan_pcap(self, const pkt_desc *d, const uint8_t *head, uint32_t head_len,
                       const uint8_t *tail, uint32_t tail_len, bint known, uint64_t ts_raw,
                       rowplan *p) noexcept nogil:
        cdef uint32_t wirelen, stored = d.caplen + tail_len
        cdef uint64_t sec
        if d.linktype != self.pcap_linktype:
            return R_LINKTYPE
        p.tail = tail
        p.tail_len = tail_len
        p.size = self.pcap.hdr_len + <size_t>stored
        p.head = NULL
        if head_len == self.pcap.hdr_len:
            # the stored header, if it says what the columns say
            if (pcap_stored(head, &self.pcap, &wirelen) == stored and wirelen == d.wirelen
                    and pcap_ts_ns((<uint64_t>fs_u32(head, self.pcap.swapped) << 32)
                                   | fs_u32(head + 4, self.pcap.swapped), &self.pcap)
                    == d.ts_ns):
                p.head = head
                p.head_len = head_len
                return R_OK
        if known and pcap_ts_ns(ts_raw, &self.pcap) == d.ts_ns:
            p.units = ts_raw
        else:
            sec = d.ts_ns // NS_PER_S
            if sec > 0x7FFFFFFF:
                return R_TIME
            p.units = (sec << 32) | ((d.ts_ns % NS_PER_S) // self.pcap.ns_mul)
        return R_OK

    cdef int plan_pcapng(self, const pkt_desc *d, const uint8_t *head, uint32_t head_len,
                         const uint8_t *tail, uint32_t tail_len, bint known, uint64_t ts_raw,
                         rowplan *p) noexcept nogil:
        cdef const iface_out *f
        cdef uint32_t caplen = d.caplen, btype, total, body
        cdef int sw
        if d.ifindex >= self.n_ifaces or not self.ifaces[d.ifindex].defined:
            return R_NO_INTERFACE
        f = &self.ifaces[d.ifindex]
        sw = f.swapped
        p.iface = f
        p.pad = pad4(caplen) - caplen
        p.flags_option = False
        if tail_len and (caplen + tail_len) & 3 == 0:
            p.tail = tail
            p.tail_len = tail_len
            body = tail_len
        else:
            # no stored tail, or one that no longer fits the frame
            p.tail = NULL
            p.tail_len = 0
            body = p.pad
        p.head = NULL
        if head_len == SPB_HEADER or head_len == EPB_HEADER:
            btype = fs_u32(head, sw)
            total = fs_u32(head + 4, sw)
            if total == head_len + caplen + body + 4:
                if (head_len == SPB_HEADER and btype == BT_SPB and f.local_id == 0
                        and fs_u32(head + 8, sw) == d.wirelen and d.epb_flags == 0
                        and d.ts_ns == units_ns(0, f) and (not known or ts_raw == 0)):
                    p.head = head
                elif (head_len == EPB_HEADER and btype == BT_PB
                        and fs_u16(head + 8, sw) == f.local_id
                        and fs_u32(head + 20, sw) == caplen
                        and fs_u32(head + 24, sw) == d.wirelen
                        and units_ns((<uint64_t>fs_u32(head + 12, sw) << 32)
                                     | fs_u32(head + 16, sw), f) == d.ts_ns
                        and (p.tail != NULL or d.epb_flags == 0)):
                    p.head = head
            if p.head != NULL:
                p.head_len = head_len
                p.size = head_len + caplen + body + 4
                return R_OK
        if p.tail == NULL and d.epb_flags:
            p.flags_option = True
            body += FLAGS_OPTION
        if known and units_ns(ts_raw, f) == d.ts_ns:
            p.units = ts_raw
        elif not ns_units(d.ts_ns, f, &p.units):
            return R_TIME
        p.size = EPB_HEADER + caplen + body + 4
        return R_OK

    cdef void emit(self, const pkt_desc *d, const rowplan *p, uint8_t *dst) noexcept nogil:
        cdef uint32_t caplen = d.caplen
        cdef uint8_t *q
        cdef int sw
        if self.fmt == FMT_PCAP:
            if p.head != NULL:
                memcpy(dst, p.head, p.head_len)
            else:
                pcap_header(dst, &self.pcap, p.units, caplen + p.tail_len, d.wirelen)
            q = dst + self.pcap.hdr_len
            memcpy(q, d.data, caplen)
            if p.tail_len:
                memcpy(q + caplen, p.tail, p.tail_len)
            return
        sw = p.iface.swapped
        if p.head != NULL:
            memcpy(dst, p.head, p.head_len)
            q = dst + p.head_len
        else:
            fs_put32(dst, BT_EPB, sw)
            fs_put32(dst + 4, <uint32_t>p.size, sw)
            fs_put32(dst + 8, p.iface.local_id, sw)
            fs_put32(dst + 12, <uint32_t>(p.units >> 32), sw)
            fs_put32(dst + 16, <uint32_t>p.units, sw)
            fs_put32(dst + 20, caplen, sw)
            fs_put32(dst + 24, d.wirelen, sw)
            q = dst + EPB_HEADER
        memcpy(q, d.data, caplen)
        q += caplen
        if p.tail != NULL:
            memcpy(q, p.tail, p.tail_len)
            q += p.tail_len
        else:
            memset(q, 0, p.pad)
            q += p.pad
            if p.flags_option:
                fs_put16(q, 2, sw)
                fs_put16(q + 2, 4, sw)
                fs_put32(q + 4, d.epb_flags, sw)
                memset(q + 8, 0, 4)
                q += FLAGS_OPTION
        fs_put32(q, <uint32_t>p.size, sw)

    cdef int plan(self, const pkt_desc *d, const var_col *heads, const var_col *tails,
                  Py_ssize_t i, const uint64_t *ts_raw, const uint8_t *known,
                  rowplan *p) noexcept nogil:
        cdef uint32_t hl = var_len(heads, i), tl = var_len(tails, i)
        cdef const uint8_t *h = heads.data + heads.off[i] if hl else NULL
        cdef const uint8_t *t = tails.data + tails.off[i] if tl else NULL
        cdef bint k = ts_raw != NULL and (known == NULL or known[i])
        cdef uint64_t raw = ts_raw[i] if k else 0
        if self.fmt == FMT_PCAP:
            return self.plan_pcap(d, h, hl, t, tl, k, raw, p)
        return self.plan_pcapng(d, h, hl, t, tl, k, raw, p)

    def write_batch(self, Batch batch not None, Py_ssize_t start=0, ts_raw=None, known=None,
                    head_off=None, head_data=None, tail_off=None, tail_data=None):
        """Write the rows of ``batch`` from ``start`` on, with their stored
        parts (each row's ``i``: ``ts_raw[i]`` where ``known[i]``, the
        header and tail in Arrow's binary layout; None: none).  Returns
        ``(index reached, why)``: ``why`` is ROW_OK at the end of the batch,
        or what Python must do before row ``index`` can be written."""
        cdef Py_ssize_t i = start, n = batch.count
        cdef var_col heads, tails
        cdef const uint64_t *raw = NULL
        cdef const uint8_t *kn = NULL
        cdef const uint64_t[::1] raw_v
        cdef const uint8_t[::1] kn_v, hd_v, td_v
        cdef const int32_t[::1] ho_v, to_v
        cdef rowplan p
        cdef int st = R_OK
        cdef Output out = self.out
        cdef uint8_t *dst
        cdef const pkt_desc *d
        cdef uint64_t nbytes = 0
        if batch.released:
            raise ValueError("the batch was released: its frames are gone")
        if start < 0 or start > n:
            raise IndexError(f"start {start} outside the batch of {n}")
        memset(&heads, 0, sizeof(heads))
        memset(&tails, 0, sizeof(tails))
        if ts_raw is not None:
            raw_v = ts_raw
            if raw_v.shape[0] < n:
                raise ValueError("ts_raw shorter than the batch")
            raw = &raw_v[0] if n else NULL
            if known is not None:
                kn_v = known.view(np.uint8) if isinstance(known, np.ndarray) else known
                kn = &kn_v[0] if n else NULL
        if head_off is not None and n:
            ho_v = head_off
            hd_v = head_data
            heads.off = &ho_v[0]
            heads.data = &hd_v[0] if hd_v.shape[0] else NULL
        if tail_off is not None and n:
            to_v = tail_off
            td_v = tail_data
            tails.off = &to_v[0]
            tails.data = &td_v[0] if td_v.shape[0] else NULL
        try:
            while i < n:
                with nogil:
                    while i < n:
                        d = &batch.descs[i]
                        st = self.plan(d, &heads, &tails, i, raw, kn, &p)
                        if st != R_OK:
                            break
                        if p.size > out.cap - out.fill:
                            st = R_FULL
                            break
                        self.emit(d, &p, out.buf + out.fill)
                        out.fill += p.size
                        self.records += 1
                        output_mark(out, self.records)
                        nbytes += d.caplen
                        i += 1
                if st != R_FULL:
                    break
                st = R_OK
                if out.fill and p.size <= out.cap and not out.splits_records:
                    out.commit()
                    continue
                # a record longer than what the buffer has room for: whole
                # in a scratch buffer, then across as many buffers as it takes
                if p.size > self.scratch_cap:
                    dst = <uint8_t *>realloc(self.scratch, p.size)
                    if dst == NULL:
                        raise MemoryError()
                    self.scratch = dst
                    self.scratch_cap = p.size
                self.emit(&batch.descs[i], &p, self.scratch)
                try:
                    out.write_bytes(self.scratch, p.size)
                finally:
                    self.records += 1
                    output_mark(out, self.records)
                    nbytes += batch.descs[i].caplen
                    i += 1
        finally:
            self.packets = self.records
            self.frame_bytes += nbytes
        return i, st

    def close(self):
        """Write out what is buffered and close the file."""
        self.out.finish()


