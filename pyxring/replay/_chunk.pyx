"""Chunks of frames for the replay send loop (see ``_chunk.pxd``): filled
from a reader with the GIL, sent by ``_pacer.Pacer`` without it."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t
from libc.stdlib cimport malloc, free
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow

cdef int64_t TS_LIMIT = (<int64_t>1) << 61      # file timestamps further apart are clipped (73 years)


cdef class Chunk:
    """Up to ``capacity`` frames: their bytes (held; a frame that isn't a
    ``bytes`` object is copied into one, so nothing here depends on how
    long a reader's buffers live), the file timestamp in ns (any origin:
    only differences count) and a lane."""

    def __cinit__(self, Py_ssize_t capacity=1024):
        if capacity < 1:
            raise ValueError("a chunk holds at least one frame")
        self.data = <const uint8_t **>malloc(capacity * sizeof(uint8_t *))
        self.lens = <uint32_t *>malloc(capacity * sizeof(uint32_t))
        self.ts = <int64_t *>malloc(capacity * sizeof(int64_t))
        self.lanes = <uint16_t *>malloc(capacity * sizeof(uint16_t))
        if self.data == NULL or self.lens == NULL or self.ts == NULL or self.lanes == NULL:
            raise MemoryError()
        self.capacity = capacity
        self.frames = []

    def add(self, data, int64_t ts_ns, int lane):
        """Append one frame; returns True when the chunk is full."""
        if self.count >= self.capacity:
            raise ValueError("chunk is full")
        if not 0 <= lane < MAX_LANES:
            raise ValueError(f"lane {lane} out of range")
        if type(data) is not bytes:
            data = bytes(data)
        if PyBytes_GET_SIZE(data) > 0xFFFFFFFF:
            raise ValueError("a frame of 4 GiB or more")
        self.frames.append(data)
        self.data[self.count] = <const uint8_t *>PyBytes_AS_STRING(data)
        self.lens[self.count] = <uint32_t>PyBytes_GET_SIZE(data)
        self.ts[self.count] = ts_ns
        self.lanes[self.count] = <uint16_t>lane
        self.count += 1
        return self.count == self.capacity

    def fill(self, records, dict lane_of, lane_for, ts0):
        """Add records (``.data``, ``.ts_ns``, ``.interface_id``) from the
        iterator ``records`` until the chunk is full; returns False once the
        iterator is exhausted.  ``lane_of`` maps interface ids to lanes;
        ``lane_for(rec)`` gives (and may refuse) the lane of an interface
        not in it yet.  Timestamps count from ``ts0``, clipped to 2**61 ns.
        A reader error propagates; the records before it stay in the chunk."""
        cdef object rec, lane, rel
        cdef long long t
        cdef int overflow
        while self.count < self.capacity:
            rec = next(records, None)
            if rec is None:
                return False
            lane = lane_of.get(rec.interface_id)
            if lane is None:
                lane = lane_for(rec)
            rel = rec.ts_ns - ts0
            t = PyLong_AsLongLongAndOverflow(rel, &overflow)
            if overflow or t > TS_LIMIT or t < -TS_LIMIT:
                t = TS_LIMIT if rel > 0 else -TS_LIMIT
            self.add(rec.data, t, lane)
        return True

    def __len__(self):
        return self.count

    def __dealloc__(self):
        free(self.data)
        free(self.lens)
        free(self.ts)
        free(self.lanes)
