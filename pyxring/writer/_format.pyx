"""pcap and pcapng records, formatted a whole batch at a time in C.

A ``Writer`` is one capture file: it formats records without the GIL
straight into the buffer of its output stage (``_output.pxd``) and marks a
cut point after each record.  Byte order is the host's, as both formats
allow (readers swap by the magic number).  pcapng files hold any number of
interfaces (``add_interface``); each record names its interface, and
``write_stats`` appends an interface statistics block for one of them.

``size_limit`` (set by rotation) makes ``write_batch`` stop before a record
once the file is larger than the limit, as tcpdump's ``-C`` does; it
returns the index it reached so the rest goes to the next file.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

from pyxring._core cimport Batch, Packet, pkt_desc
from pyxring.includes.posix_io cimport now_realtime_ns
from pyxring.writer._output cimport Output, output_mark, record_walker

import platform
import struct

from pyxring.errors import PyxringError

cdef enum:
    FMT_PCAP = 0
    FMT_PCAPNG = 1
    MAX_SNAPLEN = 262144
    PCAPNG_SHB = 0x0A0D0D0A
    PCAPNG_IDB = 1
    PCAPNG_ISB = 5
    PCAPNG_EPB = 6
    MAX_RECORD = 32 + MAX_SNAPLEN + 4


cdef inline uint32_t pad4(uint32_t n) noexcept nogil:
    return (n + 3) & ~3u


cdef size_t walk_pcap(const uint8_t *p, size_t n, uint64_t *packets) noexcept nogil:
    """Whole pcap records at ``p`` within ``n`` bytes: their length."""
    cdef size_t off = 0, rec
    packets[0] = 0
    while off + 16 <= n:
        rec = 16 + (<const uint32_t *>(p + off))[2]
        if off + rec > n:
            break
        off += rec
        packets[0] += 1
    return off


cdef size_t walk_pcapng(const uint8_t *p, size_t n, uint64_t *packets) noexcept nogil:
    """Whole pcapng blocks at ``p`` within ``n`` bytes; packets counts EPBs."""
    cdef size_t off = 0, blen
    packets[0] = 0
    while off + 12 <= n:
        blen = (<const uint32_t *>(p + off))[1]
        if blen < 12 or off + blen > n:
            break
        if (<const uint32_t *>(p + off))[0] == PCAPNG_EPB:
            packets[0] += 1
        off += blen
    return off


def _opt(code, value):
    return struct.pack("=HH", code, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)


def _block(btype, body):
    total = 12 + len(body)
    return struct.pack("=II", btype, total) + body + struct.pack("=I", total)


def section_header():
    from pyxring import __version__
    opts = (_opt(3, f"{platform.system()} {platform.release()}".encode())
            + _opt(4, f"pyxring {__version__}".encode()) + _opt(0, b""))
    return _block(PCAPNG_SHB, struct.pack("=IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def interface_block(iface):
    opts = b""
    if iface.get("name"):
        opts += _opt(2, iface["name"].encode())
    if iface.get("description"):
        opts += _opt(3, iface["description"].encode())
    opts += _opt(9, bytes([9]))                     # if_tsresol: nanoseconds
    if iface.get("filter"):
        opts += _opt(11, b"\0" + iface["filter"].encode())
    if iface.get("os"):
        opts += _opt(12, iface["os"].encode())
    if iface.get("hardware"):
        opts += _opt(15, iface["hardware"].encode())
    opts += _opt(0, b"")
    return _block(PCAPNG_IDB, struct.pack("=HHI", iface["linktype"], 0, iface["snaplen"]) + opts)


def check_interface(linktype, snaplen):
    if not 0 <= linktype <= 0xFFFF:
        raise ValueError(f"link type {linktype} must be between 0 and 65535")
    if not 1 <= snaplen <= MAX_SNAPLEN:
        raise ValueError(f"snaplen {snaplen} must be between 1 and {MAX_SNAPLEN}")


cdef class Writer:
    """One pcap or pcapng file.  Use ``pyxring.open_writer``."""
    cdef Output out              # where records go (a codec or the file output)
    cdef readonly Output sink    # the stage that writes the file
    cdef int fmt
    cdef bint ns
    cdef uint32_t *snaplens      # per interface id
    cdef uint32_t n_ifaces
    cdef readonly list interfaces
    cdef uint8_t *scratch        # one record being split across buffers
    cdef readonly unsigned long long packets_accepted    # records handed to this file
    cdef readonly unsigned long long bytes_written        # captured bytes of those records
    cdef public unsigned long long size_limit             # 0: none
    cdef uint64_t records
    cdef readonly str path
    cdef readonly bint closed
    cdef uint64_t first_ts, last_ts
    cdef dict per_iface          # interface id -> records written (for isb_usrdeliv)

    def __cinit__(self):
        self.snaplens = NULL
        self.scratch = NULL

    def __dealloc__(self):
        free(self.snaplens)
        free(self.scratch)

    def __init__(self, Output out, Output sink, str format="pcapng", interfaces=(),
                 str precision="ns"):
        """``interfaces``: dicts with ``linktype``, ``snaplen`` and optional
        ``name``, ``description``, ``filter``, ``os``, ``hardware``; pcap
        takes exactly one."""
        if format not in ("pcap", "pcapng"):
            raise PyxringError(f"unknown file format {format!r} (choose pcap or pcapng)")
        if precision not in ("ns", "us"):
            raise PyxringError(f"unknown time precision {precision!r} (choose ns or us)")
        self.out = out
        self.sink = sink
        self.path = sink.path
        self.fmt = FMT_PCAP if format == "pcap" else FMT_PCAPNG
        self.ns = precision == "ns" or self.fmt == FMT_PCAPNG
        self.interfaces = []
        self.per_iface = {}
        self.sink.walker = <record_walker>(walk_pcap if self.fmt == FMT_PCAP else walk_pcapng)
        if out is not sink:
            out.walker = self.sink.walker
            self.sink.walker = NULL             # compressed bytes can't be walked
        if out.splits_records:
            self.scratch = <uint8_t *>malloc(MAX_RECORD)
            if self.scratch == NULL:
                raise MemoryError()
        ifaces = list(interfaces)
        if not ifaces:
            raise ValueError("a capture file needs at least one interface")
        if self.fmt == FMT_PCAP:
            if len(ifaces) != 1:
                raise PyxringError("a pcap file holds one interface; use pcapng for several")
            i = ifaces[0]
            check_interface(i["linktype"], i["snaplen"])
            self._add(i)
            self._put(struct.pack("=IHHiIII", 0xA1B23C4D if self.ns else 0xA1B2C3D4, 2, 4, 0, 0,
                                  i["snaplen"], i["linktype"]))
        else:
            self._put(section_header())
            for i in ifaces:
                self.add_interface(**i)

    cdef int _add(self, dict iface) except -1:
        cdef uint32_t *p = <uint32_t *>realloc(self.snaplens, (self.n_ifaces + 1) * sizeof(uint32_t))
        if p == NULL:
            raise MemoryError()
        self.snaplens = p
        self.snaplens[self.n_ifaces] = iface["snaplen"]
        self.n_ifaces += 1
        self.interfaces.append(dict(iface))
        return 0

    cdef int _put(self, bytes block) except -1:
        """Append header or statistics bytes (not packet records)."""
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        self.out.write_bytes(<const uint8_t *>block, len(block))
        output_mark(self.out, self.records)
        return 0

    def add_interface(self, int linktype, unsigned int snaplen=MAX_SNAPLEN, name=None,
                      description=None, filter=None, os=None, hardware=None):
        """Describe one more interface (pcapng); returns its id for
        ``write_batch(..., interface_id=)``."""
        if self.fmt == FMT_PCAP:
            raise PyxringError("a pcap file holds one interface; use pcapng for several")
        check_interface(linktype, snaplen)
        iface = {"linktype": linktype, "snaplen": snaplen, "name": name,
                 "description": description, "filter": filter, "os": os, "hardware": hardware}
        iface = {k: v for k, v in iface.items() if v is not None}
        self._put(interface_block(iface))
        self._add(iface)
        return self.n_ifaces - 1

    # -- records -------------------------------------------------------------
    cdef inline size_t record_size(self, uint32_t caplen) noexcept nogil:
        if self.fmt == FMT_PCAP:
            return 16 + caplen
        return 32 + pad4(caplen)

    cdef void put_record(self, uint8_t *p, const pkt_desc *d, uint32_t caplen,
                         uint32_t iface) noexcept nogil:
        cdef uint32_t *w = <uint32_t *>p
        cdef uint32_t total
        if self.fmt == FMT_PCAP:
            w[0] = <uint32_t>(d.ts_ns // 1000000000ULL)
            if self.ns:
                w[1] = <uint32_t>(d.ts_ns % 1000000000ULL)
            else:
                w[1] = <uint32_t>((d.ts_ns % 1000000000ULL) // 1000)
            w[2] = caplen
            w[3] = d.wirelen if d.wirelen >= caplen else caplen
            memcpy(p + 16, d.data, caplen)
        else:
            total = 32 + pad4(caplen)
            w[0] = PCAPNG_EPB
            w[1] = total
            w[2] = iface
            w[3] = <uint32_t>(d.ts_ns >> 32)           # if_tsresol = 9 (ns)
            w[4] = <uint32_t>(d.ts_ns & 0xffffffffu)
            w[5] = caplen
            w[6] = d.wirelen if d.wirelen >= caplen else caplen
            memcpy(p + 28, d.data, caplen)
            memset(p + 28 + caplen, 0, pad4(caplen) - caplen)
            (<uint32_t *>(p + total - 4))[0] = total
        if self.first_ts == 0:
            self.first_ts = d.ts_ns
        self.last_ts = d.ts_ns

    cdef Py_ssize_t _write_descs(self, const pkt_desc *descs, Py_ssize_t count,
                                 uint32_t iface) except -1:
        """Format records until done or past the size limit; returns how
        many were taken."""
        cdef Py_ssize_t i = 0
        cdef size_t need
        cdef uint32_t caplen, snaplen
        cdef unsigned long long nbytes = 0
        cdef Output out = self.out
        cdef uint64_t limit = self.size_limit
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        if iface >= self.n_ifaces:
            raise ValueError(f"interface {iface} is not in {self.path} "
                             f"(it has {self.n_ifaces}; see add_interface)")
        snaplen = self.snaplens[iface]
        try:
            while i < count:
                with nogil:
                    while i < count:
                        if limit and out.offset + out.fill > limit:
                            break
                        caplen = descs[i].caplen if descs[i].caplen <= snaplen else snaplen
                        need = self.record_size(caplen)
                        if need > out.cap - out.fill:
                            break
                        self.put_record(out.buf + out.fill, &descs[i], caplen, iface)
                        out.fill += need
                        self.records += 1
                        output_mark(out, self.records)
                        nbytes += caplen
                        i += 1
                if i == count or (limit and out.offset + out.fill > limit):
                    break
                caplen = descs[i].caplen if descs[i].caplen <= snaplen else snaplen
                need = self.record_size(caplen)
                if out.splits_records and out.cap:
                    # fill this buffer to the brim: the record continues in the
                    # next (or, after an interruption, waits in the overflow:
                    # either way it is written)
                    self.put_record(self.scratch, &descs[i], caplen, iface)
                    try:
                        out.write_bytes(self.scratch, need)
                    finally:
                        self.records += 1
                        output_mark(out, self.records)
                        nbytes += caplen
                        i += 1
                else:
                    out.commit()
        finally:
            self.packets_accepted += i
            self.bytes_written += nbytes
            self.per_iface[iface] = self.per_iface.get(iface, 0) + i
        return i

    def write_batch(self, Batch batch not None, unsigned int interface_id=0, Py_ssize_t start=0):
        """Append the packets of ``batch`` from ``start`` on (formatted
        without the GIL); returns the index reached: ``len(batch)``, or
        less when the file passed ``size_limit``."""
        if start < 0 or start > batch.count:
            raise IndexError(f"start {start} outside the batch of {batch.count}")
        return start + self._write_descs(batch.descs + start, batch.count - start, interface_id)

    def write(self, pkt, ts_ns=None, wirelen=None, unsigned int interface_id=0):
        """Append one packet: a ``Packet``, or bytes-like data with an
        optional timestamp (ns, default now) and original length.  Returns
        1, or 0 when the file is past ``size_limit``."""
        cdef pkt_desc d
        cdef const uint8_t[:] view
        if isinstance(pkt, Packet):
            data = pkt.data
            ts_ns = pkt.ts_ns if ts_ns is None else ts_ns
            wirelen = pkt.wirelen if wirelen is None else wirelen
        else:
            data = pkt
        view = memoryview(data).cast("B") if len(data) else b"\0"
        memset(&d, 0, sizeof(d))
        d.data = &view[0]
        d.caplen = len(data)
        d.wirelen = len(data) if wirelen is None else wirelen
        d.ts_ns = now_realtime_ns() if ts_ns is None else ts_ns
        return self._write_descs(&d, 1, interface_id)

    @property
    def packets_written(self):
        """Packets in the file: all accepted ones, or after a failed write
        the ones that reached the file whole."""
        if self.sink.failed_errno:
            return self.sink.safe_records
        return self.packets_accepted

    @property
    def file_bytes(self):
        """Bytes of pcap/pcapng so far (before compression)."""
        return self.out.offset + self.out.fill

    @property
    def failure(self):
        return self.sink.failure

    def records_of(self, unsigned int interface_id):
        return self.per_iface.get(interface_id, 0)

    def flush(self):
        """Push buffered records to the file."""
        if not self.closed:
            self.out.flush()

    def write_stats(self, received=None, dropped=None, delivered=None, ifdrop=None,
                    start_ns=None, end_ns=None, comment=None, unsigned int interface_id=0):
        """Append an interface statistics block (pcapng; pcap has no place):
        ``received`` -> isb_ifrecv, ``dropped`` (by the kernel/OS) ->
        isb_osdrop, ``ifdrop`` -> isb_ifdrop, ``delivered`` ->
        isb_usrdeliv (default: the packets of that interface in this file)."""
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        if self.fmt == FMT_PCAP or self.sink.failed_errno:
            return
        if interface_id >= self.n_ifaces:
            raise ValueError(f"interface {interface_id} is not in {self.path}")
        end = end_ns or now_realtime_ns()
        start = start_ns or self.first_ts or end
        if delivered is None:
            delivered = self.per_iface.get(interface_id, 0)
        opts = b""
        if comment:
            opts += _opt(1, comment.encode())
        opts += _opt(2, struct.pack("=II", start >> 32, start & 0xffffffff))
        opts += _opt(3, struct.pack("=II", end >> 32, end & 0xffffffff))
        for code, value in ((4, received), (5, ifdrop), (7, dropped), (8, delivered)):
            if value is not None:
                opts += _opt(code, struct.pack("=Q", value))
        opts += _opt(0, b"")
        self._put(_block(PCAPNG_ISB, struct.pack("=III", interface_id, end >> 32,
                                                 end & 0xffffffff) + opts))

    def set_deadline(self, timeout):
        """Bound how long ``close()`` waits for a stalled reader or disk."""
        self.out.set_deadline(timeout)

    def close(self):
        """Flush and close; the file is complete afterwards (or, after a
        failed write, ends at the last whole record that reached it)."""
        if self.closed:
            return
        self.closed = True
        self.out.finish()

    def stats(self):
        st = dict(self.out.stats())
        st["path"] = self.path
        return st

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
