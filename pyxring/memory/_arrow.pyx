# distutils: language = c
"""Frames held by Arrow record batches (the ``pyxring.columns/1`` schema) as
a packet source, without a copy.

Each descriptor points into a record batch's ``frame`` column (its data
buffer at the row's offset); the other descriptor fields come from the
``ts_ns wirelen queue linktype epb_flags ifindex`` columns.  The record
batches are kept referenced by the source, and every batch references the
source, so no descriptor outlives the buffers it points into.

``order`` picks which rows, in which order: a pair of arrays (part, row),
as a merge across several record batches gives it; by default every row of
every record batch in turn.  ``interface_ids`` gives each record batch the
interface number its packets get as ``ifindex`` (for a writer's
``interface_id``); with ``split_by_interface`` a batch never mixes two of
them, so each batch can be written with its interface's id.

The buffers' layout is checked once (``RecordBatch.validate(full=True)``:
offsets in bounds and increasing) before the walk trusts it, unless the
caller says it has done so.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free

from pyxring._core cimport Source, Batch, pkt_desc, PKT_TRUNCATED

import numpy as np

from pyxring.errors import ConfigError

ctypedef struct part_view:
    const uint8_t *data             # the frame column's data buffer
    const int32_t *offsets          # its offsets, at the array's own offset
    const int64_t *ts_ns
    const uint32_t *wirelen
    const uint16_t *queue
    const uint16_t *linktype
    const uint32_t *epb_flags
    const uint32_t *ifindex
    int64_t rows
    uint32_t interface_id
    bint given_interface            # interface_id instead of the ifindex column

_COLUMNS = {"ts_ns": 8, "wirelen": 4, "queue": 2, "linktype": 2, "epb_flags": 4, "ifindex": 4}


cdef const void *_values(rb, str name, int width) except? NULL:
    """The address of column ``name``'s first value."""
    import pyarrow as pa
    i = rb.schema.get_field_index(name)
    if i < 0:
        raise ConfigError(f"the record batch has no {name} column")
    col = rb.column(i)
    if col.null_count:
        raise ConfigError(f"column {name} has nulls")
    if not pa.types.is_primitive(col.type) or col.type.bit_width != width * 8:
        raise ConfigError(f"column {name} is {col.type}, not a {width * 8}-bit integer")
    buf = col.buffers()[1]
    if buf is None:
        return NULL
    return <const void *><uintptr_t>(buf.address + col.offset * width)


cdef class ArrowFrames(Source):
    """Frames of Arrow record batches as a source: see the module's doc and
    :func:`pyxring.memory.from_arrow`."""
    cdef part_view *parts
    cdef Py_ssize_t n_parts
    cdef list keep
    cdef const int32_t[::1] order_part
    cdef const int64_t[::1] order_row
    cdef Py_ssize_t n, pos
    cdef readonly Py_ssize_t batch_size
    cdef readonly bint split_by_interface
    cdef readonly list interfaces
    cdef readonly unsigned int batch_interface    # the interface of the last batch (split mode)

    def __cinit__(self, *args, **kwargs):
        self.parts = NULL

    def __init__(self, record_batches, *, order=None, interface_ids=None, interfaces=None,
                 Py_ssize_t batch_size=8192, bint split_by_interface=False, str name="arrow",
                 int linktype=1, bint validated=False):
        cdef Py_ssize_t i
        cdef part_view *pv
        import pyarrow as pa
        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size} must be positive")
        self.keep = list(record_batches)
        self.n_parts = len(self.keep)
        self.name = name
        self.linktype = linktype
        self.batch_size = batch_size
        self.split_by_interface = split_by_interface
        self.interfaces = list(interfaces) if interfaces is not None else []
        if interface_ids is not None and len(interface_ids) != self.n_parts:
            raise ConfigError(f"{len(interface_ids)} interface ids for {self.n_parts} record batches")
        self.parts = <part_view *>calloc(max(self.n_parts, 1), sizeof(part_view))
        if self.parts == NULL:
            raise MemoryError()
        rows = np.empty(self.n_parts, dtype=np.int64)
        for i, rb in enumerate(self.keep):
            if not validated:
                try:
                    rb.validate(full=True)
                except pa.ArrowException as exc:
                    raise ConfigError(f"record batch {i} is inconsistent: {exc}") from None
            fi = rb.schema.get_field_index("frame")
            if fi < 0 or rb.schema.field(fi).type != pa.binary():
                raise ConfigError(f"record batch {i} has no binary frame column")
            frame = rb.column(fi)
            if frame.null_count:
                raise ConfigError(f"record batch {i}: the frame column has nulls")
            pv = &self.parts[i]
            bufs = frame.buffers()
            pv.offsets = (<const int32_t *><uintptr_t>bufs[1].address) + <Py_ssize_t>frame.offset
            pv.data = NULL
            if bufs[2] is not None:
                pv.data = <const uint8_t *><uintptr_t>bufs[2].address
            pv.ts_ns = <const int64_t *>_values(rb, "ts_ns", 8)
            pv.wirelen = <const uint32_t *>_values(rb, "wirelen", 4)
            pv.queue = <const uint16_t *>_values(rb, "queue", 2)
            pv.linktype = <const uint16_t *>_values(rb, "linktype", 2)
            pv.epb_flags = <const uint32_t *>_values(rb, "epb_flags", 4)
            if interface_ids is not None:
                pv.interface_id = int(interface_ids[i])
                pv.given_interface = True
            else:
                pv.ifindex = <const uint32_t *>_values(rb, "ifindex", 4)
            pv.rows = rb.num_rows
            rows[i] = rb.num_rows
        if order is None:
            part = np.repeat(np.arange(self.n_parts, dtype=np.int32), rows)
            row = np.concatenate([np.arange(r, dtype=np.int64) for r in rows]) if self.n_parts \
                else np.empty(0, dtype=np.int64)
        else:
            part = np.ascontiguousarray(order[0], dtype=np.int32)
            row = np.ascontiguousarray(order[1], dtype=np.int64)
            if len(part) != len(row):
                raise ConfigError("order: the part and row arrays differ in length")
            if len(part):
                if part.min() < 0 or part.max() >= self.n_parts:
                    raise ConfigError("order: a part number outside the record batches")
                if row.min() < 0 or (row >= rows[part]).any():
                    raise ConfigError("order: a row number outside its record batch")
        self.order_part = part
        self.order_row = row
        self.n = len(part)
        self.pos = 0
        if self.n == 0:
            self.closed = True

    def __len__(self):
        return self.n

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef Py_ssize_t k, n = min(self.batch_size, self.n - self.pos)
        cdef pkt_desc *d
        cdef part_view *pv
        cdef int64_t r
        cdef int32_t off
        cdef uint32_t caplen, wirelen, iface
        if n <= 0:
            self.closed = True
            return 0
        if self.split_by_interface:
            n = self._run_length(n)
        batch.reserve(n)
        with nogil:
            for k in range(n):
                pv = &self.parts[self.order_part[self.pos + k]]
                r = self.order_row[self.pos + k]
                off = pv.offsets[r]
                caplen = <uint32_t>(pv.offsets[r + 1] - off)
                wirelen = pv.wirelen[r]
                d = batch.next_desc()
                d.data = pv.data + off
                d.caplen = caplen
                d.wirelen = wirelen if wirelen >= caplen else caplen
                d.ts_ns = <uint64_t>pv.ts_ns[r]
                d.ifindex = pv.interface_id if pv.given_interface else pv.ifindex[r]
                d.rxhash = 0
                d.vlan_tci = 0
                d.vlan_tpid = 0
                d.queue = pv.queue[r]
                d.linktype = pv.linktype[r]
                d.epb_flags = pv.epb_flags[r]
                d.flags = PKT_TRUNCATED if caplen < wirelen else 0
        self.pos += n
        if self.pos >= self.n:
            self.closed = True
        return n

    cdef Py_ssize_t _run_length(self, Py_ssize_t n) noexcept:
        """How many of the next ``n`` packets share the first one's interface."""
        cdef Py_ssize_t k
        cdef part_view *first = &self.parts[self.order_part[self.pos]]
        cdef uint32_t iface = self._interface(first, self.order_row[self.pos])
        self.batch_interface = iface
        for k in range(1, n):
            if self._interface(&self.parts[self.order_part[self.pos + k]],
                               self.order_row[self.pos + k]) != iface:
                return k
        return n

    cdef inline uint32_t _interface(self, part_view *pv, int64_t row) noexcept:
        return pv.interface_id if pv.given_interface else pv.ifindex[row]

    def stats(self):
        return {"received": self.pos, "dropped": 0}

    @property
    def timestamp_source(self):
        return "given with the record batches"

    def __dealloc__(self):
        free(self.parts)
