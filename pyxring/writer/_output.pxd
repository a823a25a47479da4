# The byte stages of the writer sink, shared at C level.
#
#   records (_format) -> [compression (_codec)] -> output: write(2) or io_uring
#
# Every stage is an ``Output``: the stage before it writes straight into
# ``buf + fill`` (up to ``cap``) and calls ``commit()`` when the buffer is
# full, so records are formatted in place, without a copy per stage.
#
# Cut points.  Whoever formats records calls ``output_mark()`` after each
# complete record: "the stream up to here holds ``records`` whole packet
# records".  An output remembers the first and the last cut point of the
# buffer being filled and of each buffer in flight; when a write fails (disk
# full, EIO, a reader that stopped reading) it cuts the file at the last cut
# point that is known to be written and reports that many records as the
# file's contents.  A ``walker`` (set by the record stage when the bytes are
# records, not compressed data) finds cut points between the first and the
# last one of a buffer by walking its records, so a short write loses no
# record that did reach the file.
#
# Interruptions.  A stage may be interrupted while it waits (a signal during
# a wait for a free io_uring buffer or for a pipe's reader).  Bytes handed to
# ``write_bytes`` are never dropped or reordered then: what did not fit is
# kept in ``overflow`` (with the cut point that ends it) and goes first when
# the stage next makes room, in ``commit``, ``flush`` or ``finish``.  Those
# three drain the overflow and then call the stage's own ``_commit``,
# ``_flush``, ``_finish``.
from libc.stdint cimport uint8_t, uint64_t

ctypedef size_t (*record_walker)(const uint8_t *p, size_t n, uint64_t *packets) noexcept nogil

cdef enum:
    NO_MARK = <size_t>-1

cdef class Output:
    cdef uint8_t *buf               # the buffer being filled
    cdef size_t cap                 # its size
    cdef size_t fill                # bytes in it
    cdef readonly unsigned long long offset   # stream offset of buf[0]
    cdef size_t first_mark          # first cut point in buf (position), NO_MARK if none
    cdef uint64_t first_mark_records
    cdef size_t last_mark
    cdef uint64_t last_mark_records
    cdef bint splits_records        # records may span two buffers (full aligned buffers)
    cdef record_walker walker
    cdef readonly str path
    cdef readonly str engine        # "write", "io_uring", or a codec's name + its output's
    # what is known to be in the file
    cdef readonly unsigned long long safe_offset
    cdef readonly unsigned long long safe_records
    cdef readonly int failed_errno  # 0 until a write fails
    cdef readonly str failure       # one-line reason, None until a write fails
    cdef readonly bint finished
    cdef bint reported              # the failure was raised once already
    cdef readonly uint64_t longest_block_ns   # the longest the capture loop waited on this stage
    cdef uint64_t deadline_ns       # monotonic; 0: wait for the file as long as it takes
    cdef public bytes stream_end    # a compressed stream: the bytes that end it at a cut point

    # bytes accepted but not yet in a buffer (after an interruption)
    cdef uint8_t *overflow
    cdef size_t overflow_len, overflow_off, overflow_cap
    cdef bint overflow_mark
    cdef uint64_t overflow_records

    cdef int commit(self) except -1
    cdef int flush(self) except -1
    cdef int finish(self) except -1
    cdef int _commit(self) except -1
    cdef int _flush(self) except -1
    cdef int _finish(self) except -1
    cdef int drain(self) except -1
    cdef int keep(self, const uint8_t *p, size_t n) except -1
    cdef int write_bytes(self, const uint8_t *p, size_t n) except -1
    cdef int fail(self, int err, str why) except -1
    cdef int begin_buffer(self) noexcept nogil
    cdef void end_stream_at_cut(self, int fd)


cdef inline void output_mark(Output out, uint64_t records) noexcept nogil:
    if out.overflow_len:
        out.overflow_mark = True                # it ends the overflow, not this buffer
        out.overflow_records = records
        return
    if out.first_mark == NO_MARK:
        out.first_mark = out.fill
        out.first_mark_records = records
    out.last_mark = out.fill
    out.last_mark_records = records


cdef class FdOutput(Output):
    cdef int fd
    cdef object fileobj             # keeps the descriptor open
    cdef bint owns_fd
    cdef bint regular
    cdef bint fifo
    cdef bint nonblocking           # we set O_NONBLOCK and put the old flags back at the end
    cdef int old_flags
    cdef size_t written             # bytes of buf already written (a pipe took part of it)
    cdef int write_out(self) except -1
    cdef size_t _chunk(self) noexcept nogil
    cdef void _settle_partial(self)
    cdef void _cut(self)


# The cut points of one buffer handed on (see above), kept until it is written.
ctypedef struct buffer_marks:
    uint64_t start              # stream offset of the buffer's first byte
    size_t first                # position of its first cut point, or NO_MARK
    size_t last
    uint64_t first_records
    uint64_t last_records


cdef inline void take_marks(Output out, buffer_marks *m) noexcept nogil:
    m.start = out.offset
    m.first = out.first_mark
    m.last = out.last_mark
    m.first_records = out.first_mark_records
    m.last_records = out.last_mark_records


cdef inline void settle(Output out, const buffer_marks *m, const uint8_t *data,
                        size_t durable) noexcept nogil:
    """The first ``durable`` bytes of a buffer are in the file (and every
    buffer before it): move the safe cut point as far as that allows."""
    cdef size_t pos
    cdef uint64_t packets = 0
    if m.last != NO_MARK and m.last <= durable:
        out.safe_offset = m.start + m.last
        out.safe_records = m.last_records
    elif m.first != NO_MARK and m.first <= durable:
        pos = m.first
        if out.walker != NULL and data != NULL:
            pos += out.walker(data + pos, durable - pos, &packets)
        out.safe_offset = m.start + pos
        out.safe_records = m.first_records + packets
