"""The output stage that calls ``write(2)``, and the base of every stage.

``FdOutput`` keeps one buffer and writes it whole when it is full (records
never span two of its buffers, so every buffer starts and ends on a record).
Regular files are written with blocking ``write(2)``.  Pipes, FIFOs and
sockets are switched to non-blocking mode and waited for with ``poll()``, in
slices short enough to notice a signal, so a reader that stops reading can
not hold a stop forever; ``deadline_ns`` bounds how long ``finish()`` keeps
trying.  Into a pipe, only whole records are written while they fit (the
free room is the pipe's size less what is unread), so a reader that is cut
off still gets a file that ends on a record.
"""
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from cpython.exc cimport PyErr_CheckSignals

from pyxring.includes.posix_io cimport (write, errno, EINTR, EAGAIN, poll, pollfd, POLLOUT,
                                        now_monotonic_ns)
from pyxring.includes.file_io cimport (fcntl, F_GETFL, F_SETFL, F_GETPIPE_SZ, O_NONBLOCK,
                                       ftruncate, ioctl, FIONREAD, ETIMEDOUT, ENOSPC, EPIPE)

import os
import stat

from pyxring.errors import ReaderGone, WriteError

cdef enum:
    WAIT_SLICE_MS = 250          # longest wait without looking at signals
    PIPE_BUF = 4096              # writes up to this size into a pipe are atomic


cdef class Output:
    """A stage of the writer sink (see ``_output.pxd``); not used directly."""

    def __cinit__(self):
        self.first_mark = NO_MARK
        self.last_mark = NO_MARK
        self.engine = "?"

    cdef int begin_buffer(self) noexcept nogil:
        self.first_mark = NO_MARK
        self.last_mark = NO_MARK
        return 0

    def __dealloc__(self):
        free(self.overflow)

    cdef int _commit(self) except -1:
        raise NotImplementedError

    cdef int _flush(self) except -1:
        raise NotImplementedError

    cdef int _finish(self) except -1:
        raise NotImplementedError

    cdef int commit(self) except -1:
        """Make room: the buffer is full (or the stage has none)."""
        if self.overflow_len:
            self.drain()
            if self.fill < self.cap:
                return 0
        return self._commit()

    cdef int flush(self) except -1:
        self.drain()
        return self._flush()

    cdef int finish(self) except -1:
        if self.finished:
            return 0
        try:
            if not self.failed_errno:
                self.drain()
        finally:
            self._finish()
        return 0

    cdef int keep(self, const uint8_t *p, size_t n) except -1:
        """Queue bytes behind the overflow (an interruption came first)."""
        cdef size_t want = self.overflow_len + n
        cdef uint8_t *q
        if want > self.overflow_cap:
            want = max(want, 2 * self.overflow_cap, <size_t>65536)
            q = <uint8_t *>realloc(self.overflow, want)
            if q == NULL:
                raise MemoryError()
            self.overflow = q
            self.overflow_cap = want
        memcpy(self.overflow + self.overflow_len, p, n)
        self.overflow_len += n
        return 0

    cdef int drain(self) except -1:
        """Move the overflow into buffers (committing full ones; another
        interruption leaves the rest where it is)."""
        cdef size_t k
        while self.overflow_len:
            if self.fill == self.cap:
                self._commit()
            k = self.cap - self.fill
            if k > self.overflow_len - self.overflow_off:
                k = self.overflow_len - self.overflow_off
            memcpy(self.buf + self.fill, self.overflow + self.overflow_off, k)
            self.fill += k
            self.overflow_off += k
            if self.overflow_off == self.overflow_len:
                self.overflow_len = self.overflow_off = 0
                if self.overflow_mark:
                    self.overflow_mark = False
                    output_mark(self, self.overflow_records)
        return 0

    cdef int write_bytes(self, const uint8_t *p, size_t n) except -1:
        """Append ``n`` bytes, committing full buffers; bytes that fit one
        buffer stay in one buffer unless this output splits records.  If a
        commit is interrupted, the bytes not placed wait in the overflow."""
        cdef size_t k
        if self.overflow_len:
            # behind an interruption: queue, and wait for the next commit,
            # flush or finish (a stalled output is waited for only there)
            return self.keep(p, n)
        try:
            if not self.splits_records and n > self.cap - self.fill and n <= self.cap:
                self._commit()
            while n:
                if self.fill == self.cap:
                    self._commit()
                k = self.cap - self.fill
                if k > n:
                    k = n
                memcpy(self.buf + self.fill, p, k)
                self.fill += k
                p += k
                n -= k
        except BaseException:
            if n and not self.failed_errno:
                self.keep(p, n)
            raise
        return 0

    cdef int fail(self, int err, str why) except -1:
        """Record the first failure and raise it as one line."""
        if not self.failed_errno:
            self.failed_errno = err
            self.failure = f"writing {self.path}: {why}"
        self.reported = True
        if self.failed_errno == EPIPE:
            raise ReaderGone(self.failure, errno=EPIPE, path=self.path,
                             records_in_file=self.safe_records)
        raise WriteError(f"{self.failure} (the file holds {self.safe_records} whole packets)",
                         errno=self.failed_errno, path=self.path,
                         records_in_file=self.safe_records)

    cdef void end_stream_at_cut(self, int fd):
        """After the file was cut at ``safe_offset`` (a cut point of a
        compressed stream): end the stream there; the cut freed room."""
        if self.stream_end and self.safe_offset:
            try:
                os.pwrite(fd, self.stream_end, self.safe_offset)
            except OSError:
                pass

    def set_deadline(self, timeout):
        """From now on, ``finish()`` gives up waiting for the file (a pipe's
        reader, a disk) after ``timeout`` seconds; None: no limit."""
        if timeout is None:
            self.deadline_ns = 0
        else:
            self.deadline_ns = now_monotonic_ns() + <uint64_t>(max(timeout, 0) * 1e9) + 1

    def stats(self):
        return {"writer": self.engine, "longest_block_ms": self.longest_block_ns / 1e6}


cdef class FdOutput(Output):
    """write(2) to a file, a pipe, a FIFO or a device."""

    def __init__(self, fileobj, str path, size_t buffer_size=1 << 20, bint owns=True):
        self.fileobj = fileobj
        self.fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self.owns_fd = owns
        self.path = path
        self.engine = "write"
        mode = os.fstat(self.fd).st_mode
        self.regular = stat.S_ISREG(mode)
        self.fifo = stat.S_ISFIFO(mode)
        if self.regular:
            # a file given open at a position (appending after what it
            # holds): offsets count from there, so a failure cuts at this
            # writer's last whole record, never into the bytes before it
            self.offset = self.safe_offset = os.lseek(self.fd, 0, os.SEEK_CUR)
        if self.fifo or stat.S_ISSOCK(mode):
            self.old_flags = fcntl(self.fd, F_GETFL)
            if self.old_flags >= 0 and not self.old_flags & O_NONBLOCK:
                if fcntl(self.fd, F_SETFL, self.old_flags | O_NONBLOCK) == 0:
                    self.nonblocking = True
        self.buf = <uint8_t *>malloc(buffer_size)
        if self.buf == NULL:
            raise MemoryError()
        self.cap = buffer_size

    def __dealloc__(self):
        free(self.buf)          # the base class frees the overflow

    cdef size_t _chunk(self) noexcept nogil:
        """How much of the buffer to offer the next write(): into a pipe,
        only whole records that can't be written in part (0: wait)."""
        cdef size_t n = self.fill - self.written
        cdef int size, unread = 0
        cdef size_t limit, unit, start = self.written
        cdef uint64_t packets
        if not self.fifo or self.walker == NULL:
            return n
        size = fcntl(self.fd, F_GETPIPE_SZ)
        if size <= 0 or ioctl(self.fd, FIONREAD, &unread) < 0:
            return n
        # A pipe is a ring of pages, and its unread bytes may be spread over
        # more pages than they fill: only an empty pipe surely takes its size,
        # any other surely takes PIPE_BUF bytes at once or nothing.
        limit = <size_t>size if unread == 0 else PIPE_BUF
        if n <= limit:
            return n
        if self.first_mark != NO_MARK and start < self.first_mark:
            unit = self.first_mark - start       # the file header or the buffer's first record
        else:
            unit = self.walker(self.buf + start, limit, &packets)
            if unit == 0:
                return 0 if unread else limit    # one record larger than the pipe: in parts
        if unit <= limit:
            return unit
        return 0 if unread else limit

    cdef int write_out(self) except -1:
        """Write ``buf[written:fill]``, waiting for a pipe's reader in slices."""
        cdef ssize_t n
        cdef size_t chunk
        cdef int err, rc
        cdef pollfd pfd
        cdef uint64_t now, t0
        pfd.fd = self.fd
        pfd.events = POLLOUT
        while self.written < self.fill:
            with nogil:
                chunk = self._chunk()
                if chunk:
                    t0 = now_monotonic_ns()
                    n = write(self.fd, self.buf + self.written, chunk)
                    err = errno
                    t0 = now_monotonic_ns() - t0
                    if t0 > self.longest_block_ns:
                        self.longest_block_ns = t0
                else:
                    n = -1
                    err = EAGAIN
            if n > 0:
                self.written += n
                continue
            if n < 0 and err == EINTR:
                PyErr_CheckSignals()
                continue
            if n < 0 and err == EAGAIN:
                now = now_monotonic_ns()
                if self.deadline_ns and now >= self.deadline_ns:
                    self._settle_partial()
                    self.fail(ETIMEDOUT, "the reader stopped reading (gave up at the stop)")
                with nogil:
                    if chunk:
                        rc = poll(&pfd, 1, WAIT_SLICE_MS)
                    else:
                        rc = poll(NULL, 0, 2)    # room for whole records only: look again soon
                    err = errno
                if rc < 0 and err == EINTR:
                    PyErr_CheckSignals()
                continue
            if n == 0:
                err = ENOSPC                     # a regular file that takes no byte is full
            self._settle_partial()
            self._cut()
            self.fail(err, os.strerror(err))
        return 0

    cdef void _settle_partial(self):
        cdef buffer_marks m
        take_marks(self, &m)
        settle(self, &m, self.buf, self.written)

    cdef void _cut(self):
        """After a failure: end a regular file at the last whole record."""
        if self.regular:
            with nogil:
                ftruncate(self.fd, <long>self.safe_offset)
            self.end_stream_at_cut(self.fd)

    cdef int _commit(self) except -1:
        cdef buffer_marks m
        if self.failed_errno:
            self.fail(self.failed_errno, "")
        if self.fill:
            self.write_out()
            take_marks(self, &m)
            settle(self, &m, self.buf, self.fill)
        self.offset += self.fill
        self.fill = 0
        self.written = 0
        self.begin_buffer()
        return 0

    cdef int _flush(self) except -1:
        return self._commit()

    cdef int _finish(self) except -1:
        try:
            if not self.failed_errno:
                self._commit()
        finally:
            self.finished = True
            if self.nonblocking:
                fcntl(self.fd, F_SETFL, self.old_flags)
            if self.owns_fd and self.fileobj is not None:
                if isinstance(self.fileobj, int):
                    os.close(self.fileobj)
                else:
                    self.fileobj.close()
            self.fileobj = None
        return 0
