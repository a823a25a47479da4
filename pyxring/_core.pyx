# cython: freethreading_compatible = False
"""Packets, batches and the backend base class (see ``_core.pxd``)."""
cimport cython
from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from libc.stdlib cimport realloc, free
from libc.stdint cimport uint16_t
from libc.string cimport memcpy, memmove

from pyxring.includes.posix_io cimport now_realtime_ns




cdef class PacketIter


cdef class Batch:
    """Packets handed over by a source in one go (a TPACKET block, an AF_XDP
    RX burst, a run of myring records).

    Packets' ``data`` point into the kernel ring and are valid until
    :meth:`release` (or the ``with`` block's end); use ``pkt.copy()`` to keep
    bytes beyond that.
    """

    def __cinit__(self, Source source):
        self.source = source
        self.descs = NULL
        self.count = 0
        self.capacity = 0
        self.released = True

    def __dealloc__(self):
        # a batch dropped without release() must not keep its ring space
        if not self.released and self.source is not None:
            self.released = True
            try:
                self.source.release_batch(self)
            except Exception:
                pass
        free(self.descs)

    cdef int reserve(self, Py_ssize_t n) except -1:
        cdef pkt_desc *p
        if self.count + n <= self.capacity:
            return 0
        n = max(self.count + n, 2 * self.capacity, 64)
        p = <pkt_desc *>realloc(self.descs, n * sizeof(pkt_desc))
        if p == NULL:
            raise MemoryError()
        self.descs = p
        self.capacity = n
        return 0

    cpdef release(self):
        """Give this batch's ring space back to the kernel (idempotent)."""
        if self.released:
            return
        self.released = True
        try:
            self.source.release_batch(self)
        finally:
            self.count = 0
            if self.source._spare is None:
                self.source._spare = self

    def __len__(self):
        return self.count

    def truncate(self, Py_ssize_t n):
        """Keep only the first ``n`` packets (the rest are discarded when
        the batch is released), e.g. to stop at an exact packet count."""
        if 0 <= n < self.count:
            self.source.delivered -= self.count - n
            self.count = n

    def __getitem__(self, Py_ssize_t i):
        if i < 0:
            i += self.count
        if i < 0 or i >= self.count:
            raise IndexError("packet index out of range")
        return make_packet(self, &self.descs[i])

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            yield make_packet(self, &self.descs[i])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    @property
    def bytes(self):
        """Captured bytes in this batch."""
        cdef Py_ssize_t i
        cdef unsigned long long total = 0
        for i in range(self.count):
            total += self.descs[i].caplen
        return total

    def __repr__(self):
        return f"<Batch {self.count} packets{' released' if self.released else ''}>"

    def columns(self, fields=None, *, structured=False):
        """Header fields of every packet, decoded in C into numpy arrays:
        see :func:`pyxring.columns.decode`."""
        from pyxring.columns import decode
        return decode(self, fields, structured=structured)

    def to_arrow(self, fields=None):
        """This batch as a ``pyarrow.RecordBatch`` (decoded columns and raw
        frames): see :func:`pyxring.columns.to_arrow`."""
        from pyxring.columns import to_arrow
        return to_arrow(self, fields)


@cython.freelist(512)
cdef class Packet:
    """One captured frame.

    ``data`` is a read-only memoryview into the ring, valid until the packet's
    batch is released; ``copy()`` returns ``bytes`` that stay valid.
    """

    def __getbuffer__(self, Py_buffer *view, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("packet data is read-only")
        PyBuffer_FillInfo(view, self, <void *>self.d.data, self.d.caplen, 1, flags)
        self.batch.source.exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self.batch.source.exports -= 1

    @property
    def data(self):
        """The frame as a zero-copy memoryview (valid until batch release)."""
        return memoryview(self)

    def copy(self):
        """The frame's bytes, safe to keep."""
        return PyBytes_FromStringAndSize(<const char *>self.d.data, self.d.caplen)

    def __bytes__(self):
        return self.copy()

    def __len__(self):
        return self.d.caplen

    @property
    def caplen(self):
        return self.d.caplen

    @property
    def wirelen(self):
        """Original length on the wire (``len`` in tcpdump's terms)."""
        return self.d.wirelen

    @property
    def ts_ns(self):
        """Capture time, nanoseconds since the epoch."""
        return self.d.ts_ns

    @property
    def timestamp(self):
        """Capture time in seconds (float), like scapy's ``pkt.time``."""
        return self.d.ts_ns / 1e9

    @property
    def ts_parts(self):
        """``(sec, frac_ns)``: the capture time as two ints, exactly as the
        source recorded it.  ``divmod(ts_ns, 10**9)`` for live packets and
        ordinary file records; for a file record whose time does not fit
        ``ts_ns`` (before 1970, beyond 2554, a pcapng ``if_tsoffset`` of
        2**62, ...) ``sec`` is any int, and ``frac_ns`` is >= 10**9 when the
        record's sub-second field is out of range (a pcap usec of 1500000
        gives 1500000000), as tcpdump prints it."""
        if self.d.flags & PKT_TS_RAW:
            return self.batch.source.exact_time(&self.d)
        return divmod(self.d.ts_ns, 1000000000)

    @property
    def ifindex(self):
        """The interface's index: the OS ifindex for live packets, the
        file-wide interface number for file records."""
        return self.d.ifindex

    @property
    def linktype(self):
        """LINKTYPE_ value of this packet's link layer (a file's interfaces
        may differ; for live sources it is the source's)."""
        return self.d.linktype

    @property
    def epb_flags(self):
        """pcapng ``epb_flags`` (direction, reception type, FCS length, link
        errors); 0 when absent and for live packets."""
        return self.d.epb_flags

    @property
    def queue(self):
        return self.d.queue

    @property
    def vlan_tci(self):
        """802.1Q TCI reported by the kernel (None when the frame had no tag)."""
        return self.d.vlan_tci if self.d.flags & PKT_VLAN else None

    @property
    def vlan_tpid(self):
        return self.d.vlan_tpid if self.d.flags & PKT_VLAN else None

    @property
    def vlan(self):
        """VLAN id (TCI & 0xfff), or None."""
        return (self.d.vlan_tci & 0xfff) if self.d.flags & PKT_VLAN else None

    @property
    def rxhash(self):
        return self.d.rxhash if self.d.flags & PKT_RXHASH else None

    @property
    def flags(self):
        return self.d.flags

    @property
    def truncated(self):
        return self.d.caplen < self.d.wirelen

    @property
    def batch(self):
        return self.batch

    def __repr__(self):
        return (f"<Packet caplen={self.d.caplen} wirelen={self.d.wirelen} "
                f"ts_ns={self.d.ts_ns} ifindex={self.d.ifindex}>")


cdef inline Packet make_packet(Batch batch, pkt_desc *d):
    cdef Packet p = Packet.__new__(Packet)
    p.d = d[0]
    p.batch = batch
    return p


cdef class Source:
    """Base class of the backends.  Subclasses implement ``fill_batch`` and
    ``release_batch`` in C, ``stats()`` and ``close()`` in Python."""

    def __cinit__(self, *args, **kwargs):
        self.name = ""
        self.linktype = 1
        self.snaplen = 262144
        self.closed = False
        self.at_end = False
        self.exports = 0
        self.delivered = 0
        self._spare = None

    cdef Batch new_batch(self):
        cdef Batch b = self._spare
        if b is not None:
            self._spare = None
        else:
            b = Batch.__new__(Batch, self)
        b.count = 0
        b.linktype = <uint16_t>self.linktype
        return b

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        raise NotImplementedError

    cdef Py_ssize_t next_batch(self, Batch batch, int timeout_ms) except -1:
        cdef Py_ssize_t n
        batch.released = False
        try:
            n = self.fill_batch(batch, timeout_ms)
        except BaseException:
            batch.release()
            raise
        self.delivered += n
        return n

    cdef int release_batch(self, Batch batch) except -1:
        return 0

    cdef object exact_time(self, const pkt_desc *d):
        return divmod(d.ts_ns, 1000000000)

    def batch(self, int timeout_ms=-1):
        """Next batch of packets; an empty batch after ``timeout_ms``
        milliseconds without traffic (-1 waits forever, 0 never waits)."""
        if self.closed:
            raise ValueError(f"capture on {self.name} is closed")
        cdef Batch b
        # packets left over by an abandoned per-packet loop come first
        if self._iter is not None:
            b = (<PacketIter>self._iter).take_rest()
            if b is not None:
                return b
        b = self.new_batch()
        self.next_batch(b, timeout_ms)
        return b

    def batches(self, int timeout_ms=100, bint skip_empty=True):
        """Yield batches until the source is closed (or, for a file, ends);
        each batch is released when the loop asks for the next one."""
        cdef Batch b
        while not self.closed:
            b = self.batch(timeout_ms)
            if b.count == 0 and self.at_end:
                b.release()
                return
            if b.count == 0 and skip_empty:
                b.release()
                if PyErr_CheckSignals() < 0:
                    raise
                continue
            try:
                yield b
            finally:
                b.release()

    def __iter__(self):
        """Per-packet iteration (a packet is valid until the loop moves past
        its batch).  Breaking out and iterating again resumes where the
        first loop stopped."""
        if self._iter is None:
            self._iter = PacketIter(self, 100)
        return self._iter

    def packets(self, int timeout_ms=100):
        """Per-packet iterator waiting ``timeout_ms`` at a time for traffic;
        each batch is released when the iterator moves past it."""
        it = iter(self)
        (<PacketIter>it).timeout_ms = timeout_ms
        return it

    def stats(self):
        return {}

    @property
    def timestamp_source(self):
        """Where packet timestamps come from (also written to pcapng files)."""
        return "kernel, at receive"

    def fileno(self):
        raise NotImplementedError

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # asyncio: the ring's descriptors wait in the event loop (pyxring.aio)
    def abatches(self):
        """``async for batch in cap.abatches()``: see :mod:`pyxring.aio`."""
        from pyxring.aio import abatches
        return abatches(self)

    def apackets(self):
        """``async for pkt in cap.apackets()``: see :mod:`pyxring.aio`."""
        from pyxring.aio import apackets
        return apackets(self)

    def __aiter__(self):
        from pyxring.aio import apackets
        return apackets(self)

    def __aenter__(self):
        from pyxring.aio import source_enter
        return source_enter(self)

    def __aexit__(self, *exc):
        from pyxring.aio import source_exit
        return source_exit(self, *exc)


@cython.final
cdef class PacketIter:
    """Walks batches packet by packet without a Python generator frame."""
    cdef Source source
    cdef Batch cur
    cdef Py_ssize_t idx
    cdef int timeout_ms

    def __cinit__(self, Source source, int timeout_ms):
        self.source = source
        self.cur = None
        self.idx = 0
        self.timeout_ms = timeout_ms

    def __iter__(self):
        return self

    def __next__(self):
        cdef Batch b = self.cur
        while b is None or self.idx >= b.count:
            if b is not None:
                self.cur = None
                b.release()
            if self.source.closed:
                raise StopIteration
            b = self.source.new_batch()
            self.source.next_batch(b, self.timeout_ms)
            self.cur = b
            self.idx = 0
            if b.count == 0 and self.source.at_end:
                self.cur = None
                b.release()
                raise StopIteration
            if b.count == 0:
                # let Ctrl-C and signal handlers run between idle waits
                if PyErr_CheckSignals() < 0:
                    raise
        self.idx += 1
        return make_packet(b, &b.descs[self.idx - 1])

    cdef Batch take_rest(self):
        """Hand over what this iterator has not yielded yet, as a batch."""
        cdef Batch b = self.cur
        if b is None:
            return None
        self.cur = None
        if self.idx >= b.count:
            b.release()
            return None
        if self.idx:
            memmove(b.descs, b.descs + self.idx, (b.count - self.idx) * sizeof(pkt_desc))
            b.count -= self.idx
        self.idx = 0
        return b

    def close(self):
        if self.cur is not None:
            self.cur.release()
            self.cur = None


def realtime_ns():
    """CLOCK_REALTIME in nanoseconds."""
    return now_realtime_ns()
