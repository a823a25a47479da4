"""pcap and pcapng writers that format whole batches in C.

Records are formatted into one output buffer without the GIL and written
with ``write(2)`` when the buffer fills (or on ``flush()``), so a capture
costs one system call per megabyte, not per packet.  Byte order is the
host's, as both formats allow (readers swap by the magic number).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cpython.exc cimport PyErr_CheckSignals

from pyxring._core cimport Batch, Packet, pkt_desc
from pyxring.includes.posix_io cimport write, errno, EINTR, EAGAIN, now_realtime_ns

import os
import errno as _errno

from pyxring.errors import PyxringError

cdef enum:
    FMT_PCAP = 0
    FMT_PCAPNG = 1
    BUF_SIZE = 1 << 20
    PCAPNG_SHB = 0x0A0D0D0A
    PCAPNG_IDB = 1
    PCAPNG_ISB = 5
    PCAPNG_EPB = 6

cdef inline uint32_t pad4(uint32_t n) noexcept nogil:
    return (n + 3) & ~3u


cdef class Writer:
    """Common part of the pcap and pcapng writers.  Use ``open_writer``."""
    cdef int fd
    cdef uint8_t *buf
    cdef size_t used
    cdef int fmt
    cdef bint ns
    cdef readonly unsigned int snaplen
    cdef readonly int linktype
    cdef readonly unsigned long long packets_written
    cdef readonly unsigned long long bytes_written
    cdef readonly str path
    cdef object fileobj          # keeps the file open while we write to its fd
    cdef bint closed
    cdef uint64_t first_ts, last_ts

    def __cinit__(self):
        self.fd = -1
        self.buf = <uint8_t *>malloc(BUF_SIZE)
        if self.buf == NULL:
            raise MemoryError()
        self.used = 0

    def __dealloc__(self):
        free(self.buf)

    cdef int _init(self, fileobj, str path, int linktype, unsigned int snaplen) except -1:
        if not 1 <= snaplen <= 262144:
            raise ValueError(f"snaplen {snaplen} must be between 1 and 262144")
        self.fileobj = fileobj
        self.fd = fileobj.fileno()
        self.path = path
        self.linktype = linktype
        self.snaplen = snaplen
        self.closed = False
        return 0

    # -- buffer management -------------------------------------------------
    cdef int _drain(self) except -1:
        """Write the whole buffer out (partial writes and EINTR retried)."""
        cdef size_t off = 0
        cdef ssize_t n
        while off < self.used:
            with nogil:
                n = write(self.fd, self.buf + off, self.used - off)
            if n < 0:
                if errno == EINTR:
                    if PyErr_CheckSignals() < 0:
                        # keep what is not written yet; close() retries
                        memcpy(self.buf, self.buf + off, self.used - off)
                        self.used -= off
                        raise
                    continue
                err = errno
                self.used = 0
                if err == _errno.EPIPE:
                    raise BrokenPipeError(err, f"writing {self.path}: {os.strerror(err)}")
                raise PyxringError(f"writing {self.path}: {os.strerror(err)}")
            off += n
        self.used = 0
        return 0

    cdef inline int _room(self, size_t n) except -1:
        if self.used + n > BUF_SIZE:
            self._drain()
        return 0

    # -- records -----------------------------------------------------------
    cdef size_t record_size(self, uint32_t caplen) noexcept nogil:
        if self.fmt == FMT_PCAP:
            return 16 + caplen
        return 32 + pad4(caplen)

    cdef void put_record(self, const pkt_desc *d, uint32_t caplen) noexcept nogil:
        """Format one record at the buffer's end; room was checked."""
        cdef uint8_t *p = self.buf + self.used
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
            self.used += 16 + caplen
        else:
            total = 32 + pad4(caplen)
            w[0] = PCAPNG_EPB
            w[1] = total
            w[2] = 0                                   # interface id
            w[3] = <uint32_t>(d.ts_ns >> 32)           # if_tsresol = 9 (ns)
            w[4] = <uint32_t>(d.ts_ns & 0xffffffffu)
            w[5] = caplen
            w[6] = d.wirelen if d.wirelen >= caplen else caplen
            memcpy(p + 28, d.data, caplen)
            memset(p + 28 + caplen, 0, pad4(caplen) - caplen)
            (<uint32_t *>(p + total - 4))[0] = total
            self.used += total
        if self.first_ts == 0:
            self.first_ts = d.ts_ns
        self.last_ts = d.ts_ns

    cdef int write_desc(self, const pkt_desc *d) except -1:
        # snaplen <= 262144 (checked at open), so a record always fits the buffer
        cdef uint32_t caplen = d.caplen if d.caplen <= self.snaplen else self.snaplen
        self._room(self.record_size(caplen))
        self.put_record(d, caplen)
        return 0

    def write_batch(self, Batch batch not None):
        """Append every packet of ``batch`` (formatted without the GIL)."""
        cdef Py_ssize_t i = 0, j
        cdef size_t need, room
        cdef uint32_t caplen
        cdef unsigned long long nbytes = 0
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        while i < batch.count:
            # format as many records as fit, then drain (a record always fits
            # an empty buffer: snaplen <= 262144)
            with nogil:
                while i < batch.count:
                    caplen = batch.descs[i].caplen
                    if caplen > self.snaplen:
                        caplen = self.snaplen
                    need = self.record_size(caplen)
                    if self.used + need > BUF_SIZE:
                        break
                    self.put_record(&batch.descs[i], caplen)
                    nbytes += caplen
                    i += 1
            if i < batch.count:
                self._drain()
        self.packets_written += batch.count
        self.bytes_written += nbytes
        return batch.count

    def write(self, pkt, ts_ns=None, wirelen=None):
        """Append one packet: a ``Packet``, or bytes-like data with an
        optional timestamp (ns, default now) and original length."""
        cdef pkt_desc d
        cdef const uint8_t[:] view
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
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
        self.write_desc(&d)
        self.packets_written += 1
        self.bytes_written += min(d.caplen, self.snaplen)

    def flush(self):
        """Push buffered records to the file."""
        if self.used:
            self._drain()

    def write_stats(self, **counters):
        """Record end-of-capture counters (pcapng only; pcap has no place)."""
        pass

    def close(self):
        """Flush and close; the file is complete afterwards."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            if self.fileobj is not None and self.path != "-":
                self.fileobj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()




cdef class PcapWriter(Writer):
    """Classic pcap (2.4), nanosecond (magic a1b23c4d) or microsecond
    (a1b2c3d4) timestamps."""

    def __init__(self, fileobj, str path="?", int linktype=1, unsigned int snaplen=262144,
                 str precision="ns"):
        import struct
        if precision not in ("ns", "us"):
            raise ValueError(f"time precision must be ns or us, not {precision!r}")
        self._init(fileobj, path, linktype, snaplen)
        self.fmt = FMT_PCAP
        self.ns = precision == "ns"
        hdr = struct.pack("=IHHiIII", 0xA1B23C4D if self.ns else 0xA1B2C3D4, 2, 4, 0, 0,
                          snaplen, linktype)
        self._room(len(hdr))
        memcpy(self.buf + self.used, <const char *>hdr, len(hdr))
        self.used += len(hdr)


def _opt(code, value):
    import struct
    return struct.pack("=HH", code, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)


def _block(btype, body):
    import struct
    total = 12 + len(body)
    return struct.pack("=II", btype, total) + body + struct.pack("=I", total)


cdef class PcapngWriter(Writer):
    """pcapng: one section, one interface (if_tsresol = 9, nanoseconds),
    enhanced packet blocks, and an interface statistics block at the end."""
    cdef object stats_written

    def __init__(self, fileobj, str path="?", int linktype=1, unsigned int snaplen=262144,
                 str ifname=None, str ifdescription=None, str hardware=None,
                 str precision="ns"):
        import struct, platform
        from pyxring import __version__
        if precision not in ("ns", "us"):
            raise ValueError(f"time precision must be ns or us, not {precision!r}")
        self._init(fileobj, path, linktype, snaplen)
        self.fmt = FMT_PCAPNG
        self.ns = True
        self.stats_written = False
        shb_opts = (_opt(3, f"{platform.system()} {platform.release()}".encode())
                    + _opt(4, f"pyxring {__version__}".encode()) + _opt(0, b""))
        shb = _block(PCAPNG_SHB, struct.pack("=IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
        idb_opts = b""
        if ifname:
            idb_opts += _opt(2, ifname.encode())
        if ifdescription:
            idb_opts += _opt(3, ifdescription.encode())
        idb_opts += _opt(9, bytes([9]))
        if hardware:
            idb_opts += _opt(15, hardware.encode())
        idb_opts += _opt(0, b"")
        idb = _block(PCAPNG_IDB, struct.pack("=HHI", linktype, 0, snaplen) + idb_opts)
        head = shb + idb
        self._room(len(head))
        memcpy(self.buf + self.used, <const char *>head, len(head))
        self.used += len(head)

    def write_stats(self, received=None, dropped=None, delivered=None, ifdrop=None,
                    start_ns=None, end_ns=None, comment=None):
        """Append an interface statistics block: ``received`` → isb_ifrecv,
        ``dropped`` (by the kernel/OS) → isb_osdrop, ``ifdrop`` → isb_ifdrop,
        ``delivered`` → isb_usrdeliv."""
        import struct
        if self.closed:
            raise ValueError(f"writer for {self.path} is closed")
        now = now_realtime_ns()
        end = end_ns or now
        start = start_ns or self.first_ts or end
        opts = b""
        if comment:
            opts += _opt(1, comment.encode())
        opts += _opt(2, struct.pack("=II", start >> 32, start & 0xffffffff))
        opts += _opt(3, struct.pack("=II", end >> 32, end & 0xffffffff))
        if received is not None:
            opts += _opt(4, struct.pack("=Q", received))
        if ifdrop is not None:
            opts += _opt(5, struct.pack("=Q", ifdrop))
        if dropped is not None:
            opts += _opt(7, struct.pack("=Q", dropped))
        if delivered is not None:
            opts += _opt(8, struct.pack("=Q", delivered))
        opts += _opt(0, b"")
        isb = _block(PCAPNG_ISB, struct.pack("=III", 0, end >> 32, end & 0xffffffff) + opts)
        self._room(len(isb))
        memcpy(self.buf + self.used, <const char *>isb, len(isb))
        self.used += len(isb)
        self.stats_written = True
