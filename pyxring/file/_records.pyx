"""Records of a capture file as Python objects (``pyxring.open_reader``).

A ``Record`` owns a copy of its bytes, so it stays valid after the loop
moves on (unlike a ``Packet``, a view into the file); both come from the
same C walk of the file source, one batch at a time.
"""
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize

from pyxring._core cimport Batch, pkt_desc, PKT_TS_RAW
from pyxring.file._filesrc cimport FileSource


@cython.freelist(256)
@cython.final
@cython.no_gc          # holds bytes and a tuple of ints: no cycle can go through it
cdef class Record:
    """One packet read from a file: ``data`` (bytes), ``ts_ns``, ``caplen``,
    ``wirelen``, ``interface_id``, ``linktype``, ``flags`` (pcapng
    ``epb_flags``, 0 if absent) and ``ts_parts``."""
    cdef pkt_desc d
    cdef readonly bytes data
    cdef object parts

    @property
    def ts_ns(self):
        """Nanoseconds since the epoch (clamped to 0 .. 2**64-1 when the
        file's time does not fit; ``ts_parts`` is then exact)."""
        return self.d.ts_ns

    @property
    def ts_parts(self):
        """``(sec, frac_ns)`` exactly as the file records it (see
        ``Packet.ts_parts``)."""
        if self.parts is not None:
            return self.parts
        return divmod(self.d.ts_ns, 1000000000)

    @property
    def caplen(self):
        return self.d.caplen

    @property
    def wirelen(self):
        return self.d.wirelen

    @property
    def interface_id(self):
        """The interface's number across the whole file (the index into
        ``reader.interfaces``)."""
        return self.d.ifindex

    @property
    def ifindex(self):
        """Alias of ``interface_id`` (files don't record the OS ifindex)."""
        return self.d.ifindex

    @property
    def linktype(self):
        return self.d.linktype

    @property
    def flags(self):
        """pcapng ``epb_flags`` (direction, reception type, FCS length, errors)."""
        return self.d.epb_flags

    @property
    def timestamp(self):
        return self.d.ts_ns / 1e9

    def __len__(self):
        return self.d.caplen

    def __bytes__(self):
        return self.data

    def __repr__(self):
        return (f"<Record ts_ns={self.d.ts_ns} caplen={self.d.caplen} wirelen={self.d.wirelen} "
                f"if={self.d.ifindex} linktype={self.d.linktype}>")


@cython.final
cdef class RecordIter:
    """Records of a file source, a batch at a time."""
    cdef FileSource source
    cdef Batch cur
    cdef Py_ssize_t idx

    def __cinit__(self, FileSource source):
        self.source = source
        self.cur = None
        self.idx = 0

    def __iter__(self):
        return self

    def __next__(self):
        cdef Batch b = self.cur
        cdef pkt_desc *d
        cdef Record r
        while b is None or self.idx >= b.count:
            if b is not None:
                self.cur = None
                b.release()
            if self.source.closed or self.source.at_end:
                raise StopIteration
            b = self.source.batch(-1)
            self.cur = b
            self.idx = 0
        d = &b.descs[self.idx]
        self.idx += 1
        r = Record.__new__(Record)
        r.d = d[0]
        r.data = PyBytes_FromStringAndSize(<const char *>d.data, d.caplen)
        if d.flags & PKT_TS_RAW:
            r.parts = self.source.exact_time(d)
        return r

    def close(self):
        if self.cur is not None:
            self.cur.release()
            self.cur = None
