# distutils: libraries = uring
"""The io_uring output stage: registered buffers, asynchronous writes.

N buffers of one aligned allocation are registered with the ring once
(``io_uring_register_buffers``), so each write is an ``IORING_OP_WRITE_FIXED``
the kernel does not have to map again.  The capture loop fills one buffer
while the others are in flight; completions are reaped without blocking
whenever a buffer is handed on, and only when every buffer is in flight does
the loop wait (counted in ``full_waits``, and the time in ``full_wait_ns``:
the disk is slower than the traffic).

With ``O_DIRECT`` (where the file system takes it) every write but the last
covers whole, aligned buffers, so records span buffers.  A partial buffer
(``flush()`` when idle, ``finish()``) is written padded to the alignment,
waited for, and the file cut back to its real end with ``ftruncate``; the
unaligned tail is kept at the start of the next buffer and written again
with what follows, so the file never holds padding between records.

Buffers complete in any order; the file is known good up to the longest run
of completed buffers from the start (``settle``).  A failed write (ENOSPC,
EIO, ...) stops the stage: the writes still in flight are waited for (up to
the deadline), then the file is cut at the last whole record of that run.
"""
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport free, calloc
from libc.string cimport memmove, memset
from cpython.exc cimport PyErr_CheckSignals

from pyxring.includes.liburing cimport (io_uring, io_uring_sqe, io_uring_cqe, iovec,
                                        __kernel_timespec, io_uring_queue_init,
                                        io_uring_queue_exit, io_uring_register_buffers,
                                        io_uring_get_sqe, io_uring_prep_write_fixed,
                                        io_uring_sqe_set_data64, io_uring_submit,
                                        io_uring_peek_cqe, io_uring_wait_cqe_timeout,
                                        io_uring_cqe_seen)
from pyxring.includes.posix_io cimport EINTR, EAGAIN, EINVAL, now_monotonic_ns
from pyxring.includes.file_io cimport (posix_memalign, ftruncate, fcntl, F_GETFL, F_SETFL,
                                       O_DIRECT, ENOSPC, ETIMEDOUT)

from pyxring.writer._output cimport (Output, buffer_marks, take_marks, settle, NO_MARK)

import os

from pyxring.errors import WriteError

cdef enum:
    SLOT_FREE = 0
    SLOT_FILLING = 1
    SLOT_IN_FLIGHT = 2
    SLOT_DONE = 3
    ALIGN = 4096                 # direct I/O: enough for 512- and 4096-byte sectors
    WAIT_SLICE_MS = 250


class UringUnavailable(Exception):
    """io_uring can't be used here (the reason is the message)."""


cdef inline size_t round_up(size_t n, size_t a) noexcept nogil:
    return (n + a - 1) & ~(a - 1)


cdef class UringOutput(Output):
    """io_uring writes to a regular file from registered buffers."""
    cdef io_uring ring
    cdef bint ring_ready
    cdef int fd
    cdef readonly bint direct
    cdef readonly int nbuf
    cdef readonly size_t buffer_size
    cdef uint8_t *area
    cdef int *state
    cdef size_t *done            # bytes of the write completed so far
    cdef int *err                # errno of a failed write, 0 if none
    cdef size_t *length          # bytes of real data handed to the write
    cdef size_t *wlen            # bytes submitted (padded to ALIGN with direct I/O)
    cdef buffer_marks *marks
    cdef int *order              # slots handed on and not yet retired, oldest first
    cdef int qhead, qlen
    cdef int in_flight
    cdef int cur                 # slot being filled, -1 while none
    cdef size_t carried          # unaligned tail carried over by the last flush
    # a flush whose writes were handed on but not yet waited for (a signal
    # came): what is left to do before the next buffer
    cdef bint flush_pending
    cdef buffer_marks flush_marks
    cdef int flush_slot
    cdef size_t flush_keep, flush_tail
    cdef bint padded             # the file ends in padding that must be cut
    cdef readonly unsigned long long full_waits, full_wait_ns, writes, max_in_flight

    def __cinit__(self):
        self.fd = -1
        self.cur = -1

    def __init__(self, int fd, str path, bint direct, int buffers=4, size_t buffer_size=1 << 20):
        """Take over ``fd`` (a regular file opened for writing, with
        ``O_DIRECT`` if ``direct``); raises UringUnavailable when the kernel
        refuses io_uring (seccomp, io_uring_disabled, an old kernel)."""
        cdef int i, rc
        cdef iovec *iov
        cdef void *mem = NULL
        if buffers < 2 or buffers > 1024:
            raise ValueError(f"io_uring buffers {buffers} must be between 2 and 1024")
        if buffer_size < ALIGN or buffer_size % ALIGN or buffer_size > (1 << 30):
            raise ValueError(f"io_uring buffer size {buffer_size} must be a multiple of {ALIGN} "
                             f"up to 1 GiB")
        self.path = path
        self.direct = direct
        self.nbuf = buffers
        self.buffer_size = buffer_size
        self.splits_records = True
        self.engine = "io_uring"
        rc = io_uring_queue_init(buffers * 2, &self.ring, 0)
        if rc < 0:
            raise UringUnavailable(f"io_uring_setup: {os.strerror(-rc)}")
        self.ring_ready = True
        if posix_memalign(&mem, ALIGN, <size_t>buffers * buffer_size) != 0:
            raise MemoryError()
        self.area = <uint8_t *>mem
        self.state = <int *>calloc(buffers, sizeof(int))
        self.done = <size_t *>calloc(buffers, sizeof(size_t))
        self.err = <int *>calloc(buffers, sizeof(int))
        self.length = <size_t *>calloc(buffers, sizeof(size_t))
        self.wlen = <size_t *>calloc(buffers, sizeof(size_t))
        self.marks = <buffer_marks *>calloc(buffers, sizeof(buffer_marks))
        self.order = <int *>calloc(buffers, sizeof(int))
        iov = <iovec *>calloc(buffers, sizeof(iovec))
        if not (self.state and self.done and self.err and self.length and self.wlen
                and self.marks and self.order and iov):
            free(iov)
            raise MemoryError()
        for i in range(buffers):
            iov[i].iov_base = self.area + <size_t>i * buffer_size
            iov[i].iov_len = buffer_size
        rc = io_uring_register_buffers(&self.ring, iov, buffers)
        free(iov)
        if rc < 0:
            raise UringUnavailable(f"registering {buffers} buffers of {buffer_size} bytes: "
                                   f"{os.strerror(-rc)}")
        self.fd = fd
        self._start_slot(0)

    def __dealloc__(self):
        if self.ring_ready:
            io_uring_queue_exit(&self.ring)
        if self.fd >= 0:
            os.close(self.fd)
        free(self.area)
        free(self.state)
        free(self.done)
        free(self.err)
        free(self.length)
        free(self.wlen)
        free(self.marks)
        free(self.order)

    cdef inline uint8_t *_slot_data(self, int slot) noexcept nogil:
        return self.area + <size_t>slot * self.buffer_size

    cdef void _start_slot(self, int slot) noexcept:
        self.cur = slot
        self.state[slot] = SLOT_FILLING
        self.buf = self._slot_data(slot)
        self.cap = self.buffer_size
        self.fill = 0
        self.carried = 0
        self.begin_buffer()

    # -- completions ---------------------------------------------------------
    cdef int _complete(self, io_uring_cqe *cqe) except -1:
        """One write finished: record it, or resubmit the rest of a short one."""
        cdef int slot = <int>cqe.user_data
        cdef int res = cqe.res
        io_uring_cqe_seen(&self.ring, cqe)
        if res > 0:
            self.done[slot] += res
            if self.done[slot] < self.wlen[slot]:
                self._submit(slot)
                return 0
        elif res == 0 or (res == -EINVAL and self.done[slot] > 0):
            # nothing taken, or the unaligned rest of a short write refused:
            # the file system ran out of room
            self.err[slot] = ENOSPC
        else:
            self.err[slot] = -res
        self.state[slot] = SLOT_DONE
        self.in_flight -= 1
        return 0

    cdef int _reap(self) except -1:
        """Take every completion that is ready, without waiting."""
        cdef io_uring_cqe *cqe
        while io_uring_peek_cqe(&self.ring, &cqe) == 0:
            self._complete(cqe)
        self._retire()
        return 0

    cdef int _wait_one(self) except -1:
        """Wait for one completion for at most a slice (signals are looked
        at between slices)."""
        cdef io_uring_cqe *cqe = NULL
        cdef __kernel_timespec ts
        cdef int rc
        ts.tv_sec = 0
        ts.tv_nsec = WAIT_SLICE_MS * 1000000
        with nogil:
            rc = io_uring_wait_cqe_timeout(&self.ring, &cqe, &ts)
        if rc == 0:
            self._complete(cqe)
            self._reap()
        else:
            PyErr_CheckSignals()                # a stop must not wait for the disk
        return 0

    cdef int _retire(self) except -1:
        """Free the oldest buffers that are written; a failed one stops the
        stage (the file is good up to just before it)."""
        cdef int slot
        while self.qlen:
            slot = self.order[self.qhead]
            if self.state[slot] != SLOT_DONE:
                break
            if self.err[slot]:
                if not self.failed_errno:
                    settle(self, &self.marks[slot], self._slot_data(slot),
                           min(self.done[slot], self.length[slot]))
                    self.failed_errno = self.err[slot]
                    self.failure = f"writing {self.path}: {os.strerror(self.failed_errno)}"
                return 0
            settle(self, &self.marks[slot], self._slot_data(slot), self.length[slot])
            self.state[slot] = SLOT_FREE
            self.qhead = (self.qhead + 1) % self.nbuf
            self.qlen -= 1
        return 0

    cdef int _wait_all(self) except -1:
        """Wait until no write is in flight, or the deadline passes."""
        while self.in_flight:
            if self.deadline_ns and now_monotonic_ns() >= self.deadline_ns:
                if not self.failed_errno:
                    self.failed_errno = ETIMEDOUT
                    self.failure = (f"writing {self.path}: the disk did not complete "
                                    f"{self.in_flight} writes in time (gave up at the stop)")
                return 0
            self._wait_one()
        self._reap()
        return 0

    # -- submissions ---------------------------------------------------------
    cdef int _submit(self, int slot) except -1:
        """(Re)submit the unwritten part of a slot's write."""
        cdef io_uring_sqe *sqe = io_uring_get_sqe(&self.ring)
        cdef int rc
        cdef size_t done = self.done[slot]
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                self.fail(EAGAIN, "the io_uring submission queue is full")
        io_uring_prep_write_fixed(sqe, self.fd, self._slot_data(slot) + done,
                                  <unsigned>(self.wlen[slot] - done),
                                  self.marks[slot].start + done, slot)
        io_uring_sqe_set_data64(sqe, <uint64_t>slot)
        with nogil:
            rc = io_uring_submit(&self.ring)
        if rc < 0:
            self.fail(-rc, os.strerror(-rc))
        return 0

    cdef int _hand_on(self) except -1:
        """Submit the buffer being filled (padded with direct I/O); until the
        next buffer is taken, this stage has no room (``cap == 0``)."""
        cdef int slot = self.cur
        cdef size_t n = self.fill
        take_marks(self, &self.marks[slot])
        self.length[slot] = n
        self.wlen[slot] = round_up(n, ALIGN) if self.direct else n
        if self.wlen[slot] > n:
            memset(self.buf + n, 0, self.wlen[slot] - n)
            self.padded = True
        self.done[slot] = 0
        self.err[slot] = 0
        self.order[(self.qhead + self.qlen) % self.nbuf] = slot
        self.qlen += 1
        self.state[slot] = SLOT_IN_FLIGHT
        self.in_flight += 1
        if self.in_flight > <int>self.max_in_flight:
            self.max_in_flight = self.in_flight
        self.writes += 1
        self.cur = -1
        self.buf = NULL
        self.cap = 0
        self.fill = 0
        self.offset += n
        self._submit(slot)
        return 0

    cdef int _free_slot(self):
        cdef int i
        for i in range(self.nbuf):
            if self.state[i] == SLOT_FREE:
                return i
        return -1

    cdef int _next_buffer(self) except -1:
        """Continue in a free buffer, waiting (counted) while all are in flight."""
        cdef int slot
        cdef uint64_t t0
        if self.flush_pending:
            return self._end_flush()
        self._reap()
        slot = self._free_slot()
        if slot < 0 and not self.failed_errno:
            self.full_waits += 1
            t0 = now_monotonic_ns()
            try:
                while slot < 0 and not self.failed_errno:
                    if self.deadline_ns and now_monotonic_ns() >= self.deadline_ns:
                        self.failed_errno = ETIMEDOUT
                        self.failure = (f"writing {self.path}: the disk did not complete "
                                        f"{self.in_flight} writes in time (gave up at the stop)")
                        break
                    self._wait_one()
                    slot = self._free_slot()
            finally:
                t0 = now_monotonic_ns() - t0
                self.full_wait_ns += t0
                if t0 > self.longest_block_ns:
                    self.longest_block_ns = t0
        if self.failed_errno:
            self.fail(self.failed_errno, "")
        self._start_slot(slot)
        return 0

    cdef int _commit(self) except -1:
        """The buffer is full (the stage before fills it whole): submit it."""
        if self.failed_errno:
            self.fail(self.failed_errno, "")
        if self.cur >= 0 and self.fill:
            self._hand_on()
        if self.cur < 0:
            self._next_buffer()
        return 0

    cdef int _flush(self) except -1:
        """Everything accepted goes to the file; waits for the writes."""
        if self.failed_errno:
            self.fail(self.failed_errno, "")
        if self.flush_pending:
            return self._end_flush()
        if self.cur >= 0 and self.fill == self.carried:
            return 0                            # nothing new since the last flush
        self.flush_slot = self.cur
        self.flush_tail = 0
        if self.cur >= 0:
            take_marks(self, &self.flush_marks)
            self.flush_tail = self.fill % ALIGN if self.direct else 0
            self.flush_keep = self.fill - self.flush_tail
            self._hand_on()
        self.flush_pending = True
        return self._end_flush()

    cdef int _end_flush(self) except -1:
        """Wait for the flush's writes (a signal may interrupt: then this is
        done before the next buffer), cut the padding off, carry the
        unaligned end over into the next buffer, to be written again."""
        cdef int old = self.flush_slot
        cdef size_t tail = self.flush_tail
        self._wait_all()
        self.flush_pending = False
        if self.failed_errno:
            if not self.in_flight:
                self._cut()
            self.fail(self.failed_errno, "")
        if self.padded:
            with nogil:
                ftruncate(self.fd, <long>self.offset)
            self.padded = False
        self._start_slot(self._free_slot())
        if tail:
            self.offset = self.flush_marks.start + self.flush_keep
            memmove(self.buf, self._slot_data(old) + self.flush_keep, tail)
            self.fill = self.carried = tail
            if self.flush_marks.last != NO_MARK and self.flush_marks.last > self.flush_keep:
                self.first_mark = self.last_mark = self.flush_marks.last - self.flush_keep
                self.first_mark_records = self.last_mark_records = self.flush_marks.last_records
        return 0

    cdef void _cut(self):
        with nogil:
            ftruncate(self.fd, <long>self.safe_offset)
        if self.stream_end and self.direct:
            fcntl(self.fd, F_SETFL, fcntl(self.fd, F_GETFL) & ~O_DIRECT)   # a few unaligned bytes
        self.end_stream_at_cut(self.fd)


    cdef int _finish(self) except -1:
        """Write the rest, wait for everything, end the file exactly."""
        if self.finished:
            return 0
        try:
            if not self.failed_errno and self.cur >= 0 and self.fill:
                self._hand_on()
            self._wait_all()
            if self.failed_errno and not self.in_flight:
                self._cut()
            elif self.padded and not self.in_flight:
                with nogil:
                    ftruncate(self.fd, <long>self.offset)
        finally:
            self.finished = True
            # writes still in flight after a timeout keep their own reference
            # to the file; tearing the ring down does not wait for them
            os.close(self.fd)
            self.fd = -1
            io_uring_queue_exit(&self.ring)
            self.ring_ready = False
        if self.failed_errno and not self.reported:
            self.fail(self.failed_errno, "")
        return 0

    def stats(self):
        return {"writer": "io_uring", "direct_io": bool(self.direct), "buffers": self.nbuf,
                "buffer_size": self.buffer_size, "writes": self.writes,
                "full_waits": self.full_waits, "full_wait_ms": self.full_wait_ns // 1000000,
                "max_in_flight": self.max_in_flight,
                "longest_block_ms": self.longest_block_ns / 1e6}
