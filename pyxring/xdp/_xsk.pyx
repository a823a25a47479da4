# distutils: include_dirs = xdp_prog
"""AF_XDP sockets over one UMEM: RX into ``Batch``es, TX from bytes.

Layout: the UMEM is ``frame_count`` chunks of ``frame_size`` bytes.  The
first ``rx_frames`` chunks are shared out among the RX queues' fill rings;
the last ``tx_frames`` chunks form a free stack for ``send()``.  A chunk the
kernel filled is described by an RX descriptor; we hand it back to the fill
ring of the queue it came from only when the user releases the batch that
points into it, so a batch's memoryviews stay valid until then.

Rings (see ``_ring.pxd`` for the protocol): per queue socket one RX, one
fill and one completion ring (the queues share the UMEM, each needs its
own fill/completion pair), and a TX ring on the first socket.

Threading: one consumer thread per source.  The ring walk and the waiting
run without the GIL.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memset, memcpy
from libc.stdlib cimport malloc, calloc, free
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_New

from pyxring._core cimport Source, Batch, pkt_desc, PKT_TS_BATCH, PKT_TRUNCATED, PKT_VLAN
from pyxring.includes.posix_io cimport (
    errno, EINTR, EAGAIN, ENOBUFS, ENOMEM, EBUSY, ENETDOWN, EBADF, ETIMEDOUT, socket, bind, setsockopt, getsockopt, socklen_t, sockaddr,
    close, mmap, munmap, MAP_FAILED, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_PRIVATE,
    MAP_ANONYMOUS, MAP_POPULATE, MAP_HUGETLB, poll, pollfd, POLLIN, POLLOUT, POLLERR,
    AF_XDP, SOCK_RAW, SOCK_CLOEXEC, sendto, MSG_DONTWAIT, now_realtime_ns, now_monotonic_ns,
    pending_error)
from pyxring.includes.if_xdp cimport *
from pyxring.includes.atomics cimport load_acquire_u32
from pyxring.includes.file_io cimport madvise, MADV_HUGEPAGE, MADV_POPULATE_WRITE
from pyxring.xdp._ring cimport (xring, ring_init, ring_free, ring_reserve, ring_submit,
                                ring_peek, ring_cancel, ring_release, ring_needs_wakeup,
                                ring_addr, ring_desc, ring_in_flight, fill_ring_entries)
from pyxring.includes.tx_port cimport tx_port, TX_PORT_CAPSULE

import errno as _errno
from pyxring.errors import raise_errno, link_lost, ConfigError, InterfaceError, PyxringError

cdef extern from "<sys/socket.h>" nogil:
    ssize_t recvfrom(int fd, void *buf, size_t n, int flags, sockaddr *addr, socklen_t *alen)

cdef extern from *:
    """
    #define pyx_prefetch(p) __builtin_prefetch((p), 0, 3)
    """
    void pyx_prefetch(const void *p) noexcept nogil

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int nanosleep(const timespec *req, timespec *rem)

cdef enum:
    SOL_XDP = 283
    XDP_PACKET_HEADROOM = 256
    # the queue slot rides in the top byte of a held chunk address (UMEM
    # offsets are far below 2**56)
    HOLD_QSHIFT = 56
    # Waiting.  Waking a halted vCPU costs tens of microseconds here, so
    # batches should be large and wake-ups few: a wait is one sleep whose
    # length adapts (between WAIT_MIN_NS and WAIT_MAX_NS) so that a batch
    # gathers about a quarter of the RX ring — the rest of the ring is the
    # margin for bursts.  After IDLE_WAITS sleeps with nothing, poll() in
    # slices until traffic returns.
    WAIT_MIN_NS = 500000
    WAIT_MAX_NS = 10000000
    IDLE_WAITS = 20
    POLL_SLICE_MS = 100

cdef uint64_t HOLD_ADDR_MASK = (<uint64_t>1 << HOLD_QSHIFT) - 1


ctypedef struct xsk_queue:
    int fd
    uint32_t queue_id
    xring rx
    xring fill
    xring comp
    xring tx


# What one batch holds: the UMEM chunks to give back, and the bounce buffer
# multi-buffer packets were joined into.
ctypedef struct batch_hold:
    uint32_t n
    uint8_t *joined
    uint64_t addrs[1]       # n entries, allocated past the struct


cdef int map_ring(xsk_queue *q, xring *r, uint64_t pgoff, xdp_ring_offset *off,
                  uint32_t size, size_t entry_size, bint is_producer) noexcept nogil:
    """mmap one ring of socket ``q.fd``; -errno on failure."""
    cdef size_t length = off.desc + <size_t>size * entry_size
    cdef uint8_t *m = <uint8_t *>mmap(NULL, length, PROT_READ | PROT_WRITE,
                                      MAP_SHARED | MAP_POPULATE, q.fd, pgoff)
    if <void *>m == MAP_FAILED:
        return -errno
    ring_init(r, m + off.producer, m + off.consumer, m + off.flags, m + off.desc, size, is_producer)
    r.map = m
    r.map_len = length
    return 0


cdef void unmap_ring(xring *r) noexcept nogil:
    if r.map != NULL:
        munmap(r.map, r.map_len)
        r.map = NULL


cdef inline bint is_pow2(uint64_t v):
    return v != 0 and (v & (v - 1)) == 0


cdef int port_put(void *ctx, const uint8_t *data, uint32_t length) noexcept nogil:
    return (<XskSource>ctx)._tx_put(data, length)


cdef int port_push(void *ctx) noexcept nogil:
    return (<XskSource>ctx)._tx_push()


cdef int port_wait_room(void *ctx, int timeout_ms) noexcept nogil:
    return (<XskSource>ctx)._tx_wait_room(timeout_ms)


cdef class XskSource(Source):
    """AF_XDP capture/transmit on ``queues`` of one interface.

    Build it through ``pyxring.xdp.open`` (which also loads and attaches the
    XDP program); this class only owns the UMEM and the sockets.
    """
    cdef xsk_queue *qs
    cdef readonly int nqueues
    cdef readonly int ifindex
    cdef uint8_t *umem
    cdef readonly size_t umem_size
    cdef readonly uint32_t frame_size
    cdef readonly uint32_t frame_count
    cdef readonly uint32_t headroom
    cdef readonly uint32_t rx_frames
    cdef readonly uint32_t tx_frames
    cdef readonly uint32_t rx_ring_size
    cdef readonly uint32_t fill_ring_size
    cdef readonly uint32_t tx_ring_size
    cdef readonly uint32_t batch_size
    cdef readonly bint hugepages
    cdef readonly str bind_mode        # "copy" or "zerocopy"
    cdef readonly bint need_wakeup
    cdef readonly bint multi_buffer
    cdef uint64_t *tx_free             # stack of free TX chunk addresses
    cdef uint32_t tx_nfree
    cdef uint32_t next_q               # round-robin start among queues
    cdef uint64_t tx_sent, tx_completed, tx_errors
    cdef uint32_t tx_unsubmitted       # TX descriptors written, not yet published
    cdef bint tx_copy_mode             # bound in copy mode: every TX kick is a sendto()
    cdef tx_port port                  # the TX ring for the replay send loop
    cdef uint64_t rx_packets           # handed to the user
    cdef uint64_t frames_held          # RX chunks in batches not yet released
    cdef uint64_t wait_ns              # current sleep between drains (adaptive)
    cdef readonly bint poll_wait       # wait="poll": poll() whenever the ring is empty
    cdef uint64_t acc[6]               # XDP_STATISTICS of sockets already closed
    cdef public object program         # the XdpProgram feeding the sockets (or None)
    cdef public object restore         # callable run at close (re-attach a replaced program)
    cdef public object promisc_sock    # AF_PACKET socket whose membership keeps promisc on
    cdef dict closed_counters          # the program's counters as they were at close
    cdef readonly list queue_ids
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        self.qs = NULL
        self.nqueues = 0
        self.umem = NULL
        self.tx_free = NULL
        self.program = None
        self.restore = None
        memset(self.acc, 0, sizeof(self.acc))
        self.wait_ns = 2 * WAIT_MIN_NS

    def __init__(self, str ifname, int ifindex, queues, *, uint32_t snaplen=262144,
                 uint32_t frame_size=4096, uint32_t frame_count=16384, uint32_t headroom=0,
                 uint32_t rx_ring_size=16384, uint32_t tx_ring_size=2048, uint32_t tx_frames=0,
                 str bind_mode="auto", bint need_wakeup=True, bint multi_buffer=False,
                 bint rx=True, uint32_t batch_size=256, str wait="adaptive"):
        cdef int i, err
        if wait not in ("adaptive", "poll"):
            raise ConfigError(f"wait must be adaptive or poll, not {wait!r}")
        self.poll_wait = wait == "poll"
        self.name = ifname
        self.ifindex = ifindex
        self.snaplen = snaplen
        self.linktype = 1
        self.queue_ids = [int(q) for q in queues]
        if not self.queue_ids:
            raise ConfigError(f"{ifname}: no queue to open")
        if frame_size not in (2048, 4096):
            raise ConfigError(f"frame size {frame_size} must be 2048 or 4096 (AF_XDP aligned chunks)")
        if headroom > frame_size - XDP_PACKET_HEADROOM - 1024:
            raise ConfigError(f"headroom {headroom} leaves less than 1024 bytes of a "
                              f"{frame_size}-byte frame")
        for nm, v in (("frame count", frame_count), ("RX ring size", rx_ring_size),
                      ("TX ring size", tx_ring_size)):
            if not is_pow2(v):
                raise ConfigError(f"{nm} {v} must be a power of two")
        if tx_frames > frame_count or (rx and tx_frames == frame_count):
            raise ConfigError(f"tx_frames {tx_frames} must leave RX frames out of the frame count {frame_count}"
                              if rx else f"tx_frames {tx_frames} exceeds the frame count {frame_count}")
        if batch_size < 1 or batch_size > rx_ring_size:
            raise ConfigError(f"batch size {batch_size} must be between 1 and the RX ring size")
        if multi_buffer and batch_size < 32:
            # a batch must hold the descriptors of the largest multi-buffer packet
            raise ConfigError(f"batch size {batch_size} must be at least 32 with multi-buffer frames")
        self.frame_size = frame_size
        self.frame_count = frame_count
        self.headroom = headroom
        self.tx_frames = tx_frames
        self.rx_frames = (frame_count - tx_frames) if rx else 0
        self.rx_ring_size = rx_ring_size if rx else 0
        self.tx_ring_size = tx_ring_size if tx_frames else 0
        self.batch_size = batch_size
        self.need_wakeup = need_wakeup
        self.multi_buffer = multi_buffer
        self.nqueues = len(self.queue_ids)
        # each queue's fill ring must take back any batch of that queue's
        # chunks at any moment, also while the kernel's consumer index lags
        per_q = self.rx_frames // self.nqueues if rx else 0
        self.fill_ring_size = fill_ring_entries(per_q)
        self.umem_size = <size_t>frame_size * frame_count
        self._map_umem()
        self.qs = <xsk_queue *>calloc(self.nqueues, sizeof(xsk_queue))
        if self.qs == NULL:
            raise MemoryError()
        for i in range(self.nqueues):
            self.qs[i].fd = -1
        if bind_mode not in ("auto", "copy", "zerocopy"):
            raise ConfigError(f"bind mode must be auto, copy or zerocopy, not {bind_mode!r}")
        try:
            self._open_queue(0, "zerocopy" if bind_mode != "copy" else "copy")
            self.bind_mode = "zerocopy" if bind_mode != "copy" else "copy"
        except PyxringError as e:
            if bind_mode != "auto":
                raise
            self._close_queue(0)
            self._open_queue(0, "copy")
            self.bind_mode = "copy"
        self.tx_copy_mode = self.bind_mode == "copy"
        for i in range(1, self.nqueues):
            self._open_queue(i, None)
        self._prime_fill_rings(per_q)
        if tx_frames:
            self.tx_free = <uint64_t *>malloc(tx_frames * sizeof(uint64_t))
            if self.tx_free == NULL:
                raise MemoryError()
            for i in range(tx_frames):
                self.tx_free[i] = <uint64_t>(frame_count - tx_frames + i) * frame_size
            self.tx_nfree = tx_frames
            self.port.ctx = <void *>self
            self.port.max_len = frame_size - headroom - XDP_PACKET_HEADROOM
            self.port.put = port_put
            self.port.push = port_push
            self.port.wait_room = port_wait_room

    cdef _map_umem(self):
        cdef void *m = mmap(NULL, self.umem_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB, -1, 0)
        self.hugepages = m != MAP_FAILED
        if m == MAP_FAILED:
            # no huge pages reserved (vm.nr_hugepages): transparent huge pages
            # where the kernel gives them (madvise mode), else ordinary ones.
            # Each frame has a chunk of its own, so with 4 KiB pages a
            # consumer reading the frames (columns, filters) takes a TLB miss
            # every other frame, a two-level page walk on a VM.
            m = mmap(NULL, self.umem_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if m != MAP_FAILED:
                madvise(m, self.umem_size, MADV_HUGEPAGE)
                # fault it all in now, not under the first packets
                if madvise(m, self.umem_size, MADV_POPULATE_WRITE) != 0:
                    memset(m, 0, self.umem_size)
        if m == MAP_FAILED:
            raise_errno(errno, f"allocating a {self.umem_size >> 20} MiB UMEM for {self.name}")
        self.umem = <uint8_t *>m

    cdef _open_queue(self, int i, str mode):
        """Socket, rings and bind for queue slot ``i``; ``mode`` None = share
        the UMEM of slot 0."""
        cdef xsk_queue *q = &self.qs[i]
        cdef xdp_umem_reg reg
        cdef xdp_mmap_offsets off
        cdef sockaddr_xdp sxdp
        cdef socklen_t ln
        cdef uint32_t v
        cdef int err
        q.queue_id = self.queue_ids[i]
        where = f"{self.name} queue {q.queue_id}"
        q.fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)
        if q.fd < 0:
            raise_errno(errno, f"creating an AF_XDP socket for {where}")
        if i == 0:
            memset(&reg, 0, sizeof(reg))
            reg.addr = <uintptr_t>self.umem
            reg.len = self.umem_size
            reg.chunk_size = self.frame_size
            reg.headroom = self.headroom
            if setsockopt(q.fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0:
                err = errno
                raise_errno(err, f"registering a {self.umem_size >> 20} MiB UMEM "
                                 f"({self.frame_count} x {self.frame_size}) for {where}",
                            "locked-memory limit: raise `ulimit -l` or run with CAP_IPC_LOCK"
                            if err in (ENOBUFS, _errno.ENOMEM) else "")
        v = self.fill_ring_size
        if setsockopt(q.fd, SOL_XDP, XDP_UMEM_FILL_RING, &v, sizeof(v)) < 0:
            raise_errno(errno, f"sizing the fill ring of {where} ({v})")
        v = 2048 if self.tx_ring_size == 0 else max(self.tx_ring_size, 64)
        if setsockopt(q.fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &v, sizeof(v)) < 0:
            raise_errno(errno, f"sizing the completion ring of {where} ({v})")
        if self.rx_ring_size:
            v = self.rx_ring_size
            if setsockopt(q.fd, SOL_XDP, XDP_RX_RING, &v, sizeof(v)) < 0:
                raise_errno(errno, f"sizing the RX ring of {where} ({v})")
        if self.tx_ring_size and i == 0:
            v = self.tx_ring_size
            if setsockopt(q.fd, SOL_XDP, XDP_TX_RING, &v, sizeof(v)) < 0:
                raise_errno(errno, f"sizing the TX ring of {where} ({v})")
        ln = sizeof(off)
        if getsockopt(q.fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ln) < 0:
            raise_errno(errno, f"reading the ring offsets of {where}")
        err = map_ring(q, &q.fill, XDP_UMEM_PGOFF_FILL_RING, &off.fr, self.fill_ring_size,
                       sizeof(uint64_t), True)
        if err == 0:
            ln = 2048 if self.tx_ring_size == 0 else max(self.tx_ring_size, 64)
            err = map_ring(q, &q.comp, XDP_UMEM_PGOFF_COMPLETION_RING, &off.cr, ln,
                           sizeof(uint64_t), False)
        if err == 0 and self.rx_ring_size:
            err = map_ring(q, &q.rx, XDP_PGOFF_RX_RING, &off.rx, self.rx_ring_size,
                           sizeof(xdp_desc), False)
        if err == 0 and self.tx_ring_size and i == 0:
            err = map_ring(q, &q.tx, XDP_PGOFF_TX_RING, &off.tx, self.tx_ring_size,
                           sizeof(xdp_desc), True)
        if err < 0:
            raise_errno(-err, f"mapping the rings of {where}")
        memset(&sxdp, 0, sizeof(sxdp))
        sxdp.sxdp_family = AF_XDP
        sxdp.sxdp_ifindex = self.ifindex
        sxdp.sxdp_queue_id = q.queue_id
        if mode is None:
            # sharers inherit copy/zero-copy, need-wakeup and SG from slot 0
            sxdp.sxdp_flags = XDP_SHARED_UMEM
            sxdp.sxdp_shared_umem_fd = self.qs[0].fd
        else:
            sxdp.sxdp_flags = XDP_ZEROCOPY if mode == "zerocopy" else XDP_COPY
            if self.need_wakeup:
                sxdp.sxdp_flags |= XDP_USE_NEED_WAKEUP
            if self.multi_buffer:
                sxdp.sxdp_flags |= XDP_USE_SG
        if bind(q.fd, <sockaddr *>&sxdp, sizeof(sxdp)) < 0:
            err = errno
            hint = ""
            if err == _errno.EBUSY:
                hint = "another AF_XDP socket is bound to this queue"
            elif err == _errno.EOPNOTSUPP and mode == "zerocopy":
                hint = "the driver has no zero-copy AF_XDP; use copy mode"
            elif err == _errno.EINVAL and q.queue_id != 0:
                hint = "no such queue?"
            raise_errno(err, f"binding an AF_XDP socket to {where}"
                        + (f" ({mode} mode)" if mode else " (shared UMEM)"), hint)

    cdef _close_queue(self, int i):
        cdef xsk_queue *q = &self.qs[i]
        unmap_ring(&q.rx)
        unmap_ring(&q.fill)
        unmap_ring(&q.comp)
        unmap_ring(&q.tx)
        if q.fd >= 0:
            close(q.fd)
            q.fd = -1

    cdef _prime_fill_rings(self, uint32_t per_q):
        cdef uint32_t idx = 0, j
        cdef int i
        cdef uint64_t next_chunk = 0
        for i in range(self.nqueues):
            if per_q == 0:
                continue
            if ring_reserve(&self.qs[i].fill, per_q, &idx) != per_q:
                raise PyxringError(f"{self.name}: fill ring of {self.fill_ring_size} can't take {per_q} frames")
            for j in range(per_q):
                ring_addr(&self.qs[i].fill, idx + j)[0] = next_chunk * self.frame_size
                next_chunk += 1
            ring_submit(&self.qs[i].fill, per_q)

    def xsk_fds(self):
        """[(queue id, socket fd)] for the XSKMAP."""
        return [(self.qs[i].queue_id, self.qs[i].fd) for i in range(self.nqueues)]

    @property
    def timestamp_source(self):
        return "system clock, read once per batch"

    def fileno(self):
        return self.qs[0].fd if self.qs != NULL else -1

    # --- RX ----------------------------------------------------------------

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef batch_hold *hold
        cdef Py_ssize_t n
        cdef int rc
        if self.qs == NULL or self.umem == NULL or self.rx_ring_size == 0:
            raise ValueError(f"capture on {self.name} is closed")
        batch.reserve(self.batch_size)
        hold = <batch_hold *>malloc(sizeof(batch_hold) + self.batch_size * sizeof(uint64_t))
        if hold == NULL:
            raise MemoryError()
        hold.n = 0
        hold.joined = NULL
        batch.cookie = <uintptr_t>hold
        cdef uint64_t deadline = 0
        if timeout_ms > 0:
            deadline = now_monotonic_ns() + <uint64_t>timeout_ms * 1000000ULL
        while True:
            with nogil:
                rc = self._wait_and_take(batch, hold, timeout_ms, deadline)
            if rc == -EINTR:
                # a signal arrived, or a poll slice ended: let Python handlers
                # (Ctrl-C) run, then wait on towards the same deadline
                if PyErr_CheckSignals() < 0:
                    return -1
                continue
            if rc == -ENOMEM:
                raise MemoryError()
            if rc == -ENETDOWN:
                raise InterfaceError(link_lost(self.name, self.ifindex))
            if rc < 0:
                raise_errno(-rc, f"waiting for packets on {self.name}")
            self.rx_packets += batch.count
            self.frames_held += hold.n
            return batch.count

    cdef int _wait_and_take(self, Batch batch, batch_hold *hold, int timeout_ms,
                            uint64_t deadline) noexcept nogil:
        """Take what the RX rings have; wait for more until ``deadline``
        (CLOCK_MONOTONIC ns; ``timeout_ms`` -1 = none, 0 = don't wait): a few
        short sleeps first (cheaper than waking from poll() on this kind of
        VM), then poll() in slices.  0, -EINTR (a signal, or a slice over:
        check signals and call again), or -errno."""
        cdef uint64_t now = 0, nap
        cdef int waits = 0, i, rc, slice_ms
        cdef bint slept = False
        cdef uint32_t target = self.rx_ring_size // 4
        cdef timespec ts
        cdef pollfd pfds[64]
        cdef int npfd = self.nqueues if self.nqueues < 64 else 64
        if target > self.batch_size:
            target = self.batch_size
        if target == 0:
            target = 1
        while True:
            rc = self._take(batch, hold)
            if rc < 0:
                return rc
            if batch.count >= target or hold.joined != NULL or (batch.count > 0 and timeout_ms == 0):
                if not slept and batch.count >= target and self.wait_ns > WAIT_MIN_NS:
                    self.wait_ns //= 2        # we are behind: wake sooner
                return 0
            if batch.count > 0 and self.poll_wait:
                return 0      # the plain strategy: hand over whatever is there
            if batch.count > 0 and slept:
                if batch.count < target // 2 and self.wait_ns < WAIT_MAX_NS:
                    self.wait_ns *= 2         # thin batch: sleep longer next time
                return 0
            if timeout_ms == 0:
                return 0
            if batch.count == 0:
                for i in range(self.nqueues):
                    if ring_needs_wakeup(&self.qs[i].fill):
                        # copy mode / zero-copy drivers that sleep: nudge RX
                        recvfrom(self.qs[i].fd, NULL, 0, MSG_DONTWAIT, NULL, NULL)
            nap = self.wait_ns
            if timeout_ms > 0:
                now = now_monotonic_ns()
                if now >= deadline:
                    return self._socket_error() if batch.count == 0 else 0
                if deadline - now < nap:
                    nap = deadline - now
            if not self.poll_wait and (batch.count > 0 or waits < IDLE_WAITS):
                waits += 1
                slept = True
                ts.tv_sec = <long>(nap // 1000000000ULL)
                ts.tv_nsec = <long>(nap % 1000000000ULL)
                if nanosleep(&ts, NULL) < 0 and errno == EINTR and batch.count == 0:
                    return -EINTR
                continue
            slice_ms = POLL_SLICE_MS
            if timeout_ms > 0:
                slice_ms = <int>((deadline - now) // 1000000ULL) + 1
                if slice_ms > POLL_SLICE_MS:
                    slice_ms = POLL_SLICE_MS
            for i in range(npfd):
                pfds[i].fd = self.qs[i].fd
                pfds[i].events = POLLIN
                pfds[i].revents = 0
            rc = poll(pfds, npfd, slice_ms)
            if rc < 0:
                if errno == EINTR:
                    return -EINTR
                return -errno
            if rc == 0:
                rc = self._socket_error()
                if rc < 0:
                    return rc
                # a signal may have landed outside the syscalls: let the
                # caller look, then come back
                return -EINTR
            waits = 0
            slept = False      # traffic is back: gather a batch before returning

    cdef int _socket_error(self) noexcept nogil:
        """A socket's pending error as -errno, else 0; asked only when a wait
        ends with nothing.  A socket whose interface went away is unbound:
        poll() then reports nothing at all, but ENETDOWN is pending."""
        cdef int i, err
        for i in range(self.nqueues):
            err = pending_error(self.qs[i].fd)
            if err > 0:
                return -err
        return 0

    cdef int _take(self, Batch batch, batch_hold *hold) noexcept nogil:
        """Move ready RX descriptors of the queues into ``batch``; the number
        of packets taken, or -errno.  May be called again on the same batch
        to add to it (the budget is what ``hold`` has room for)."""
        cdef uint32_t budget = self.batch_size - hold.n
        cdef uint32_t got, idx, k, j, end, total, caplen, qslot
        cdef int qi, i
        cdef uint64_t ts = 0
        cdef xdp_desc *xd
        cdef xring *rx
        cdef pkt_desc *d
        cdef size_t joined_len = 0, joined_off = 0
        cdef uint8_t *dst
        cdef int packets = 0
        for i in range(self.nqueues):
            qi = (self.next_q + i) % self.nqueues
            rx = &self.qs[qi].rx
            if budget == 0:
                break
            got = ring_peek(rx, budget, &idx)
            if got == 0:
                continue
            # a packet split over descriptors is published whole by the
            # kernel, but our budget may cut it: leave a cut tail for later
            end = got
            while end > 0 and ring_desc(rx, idx + end - 1).options & XDP_PKT_CONTD:
                end -= 1
            if end < got:
                ring_cancel(rx, got - end)
                got = end
                if got == 0:
                    continue
            if ts == 0:
                ts = now_realtime_ns()
            # multi-buffer packets are joined into one bounce buffer per batch,
            # sized in a first pass so pointers into it stay put
            joined_len = 0
            if self.multi_buffer:
                k = 0
                while k < got:
                    j = k
                    total = 0
                    while ring_desc(rx, idx + j).options & XDP_PKT_CONTD:
                        total += ring_desc(rx, idx + j).len
                        j += 1
                    if j > k:
                        joined_len += total + ring_desc(rx, idx + j).len
                    k = j + 1
                if joined_len:
                    free(hold.joined)  # one join buffer per batch: only one queue may use it
                    hold.joined = <uint8_t *>malloc(joined_len)
                    if hold.joined == NULL:
                        ring_cancel(rx, got)
                        return -ENOMEM
                    joined_off = 0
            qslot = <uint32_t>qi
            k = 0
            while k < got:
                xd = ring_desc(rx, idx + k)
                # every frame sits in its own UMEM chunk: start loading a
                # later frame's first line while this one is handled
                if k + 8 < got:
                    pyx_prefetch(self.umem + ring_desc(rx, idx + k + 8).addr)
                d = batch.next_desc()
                d.ifindex = self.ifindex
                d.rxhash = 0
                d.vlan_tci = 0
                d.vlan_tpid = 0
                d.queue = <uint16_t>self.qs[qi].queue_id
                d.flags = PKT_TS_BATCH
                d.ts_ns = ts
                if xd.options & XDP_PKT_CONTD:
                    dst = hold.joined + joined_off
                    d.data = dst
                    total = 0
                    while True:
                        xd = ring_desc(rx, idx + k)
                        memcpy(dst + total, self.umem + xd.addr, xd.len)
                        total += xd.len
                        hold.addrs[hold.n] = (xd.addr & ~(<uint64_t>self.frame_size - 1)) | (<uint64_t>qslot << HOLD_QSHIFT)
                        hold.n += 1
                        k += 1
                        if not (xd.options & XDP_PKT_CONTD):
                            break
                    joined_off += total
                    d.wirelen = total
                else:
                    d.data = self.umem + xd.addr
                    d.wirelen = xd.len
                    hold.addrs[hold.n] = (xd.addr & ~(<uint64_t>self.frame_size - 1)) | (<uint64_t>qslot << HOLD_QSHIFT)
                    hold.n += 1
                    k += 1
                # report an 802.1Q/802.1ad tag (in-band, or put back by the
                # program) the way TPACKET does; the frame keeps it
                if d.wirelen >= 18 and d.data[12] == 0x81 and d.data[13] == 0x00 or \
                        d.wirelen >= 18 and d.data[12] == 0x88 and d.data[13] == 0xa8:
                    d.flags |= PKT_VLAN
                    d.vlan_tpid = (<uint16_t>d.data[12] << 8) | d.data[13]
                    d.vlan_tci = (<uint16_t>d.data[14] << 8) | d.data[15]
                caplen = d.wirelen if d.wirelen < self.snaplen else self.snaplen
                d.caplen = caplen
                if caplen < d.wirelen:
                    d.flags |= PKT_TRUNCATED
                packets += 1
            # the descriptors are copied out; the chunks stay ours (held)
            ring_release(rx, got)
            budget -= got
            if joined_len:
                break   # the join buffer is per batch
        self.next_q = (self.next_q + 1) % self.nqueues
        return packets

    cdef int release_batch(self, Batch batch) except -1:
        cdef batch_hold *hold = <batch_hold *>(<uintptr_t>batch.cookie)
        cdef int qi
        if hold == NULL:
            return 0
        batch.cookie = 0
        self.frames_held -= hold.n
        if self.qs != NULL and self.umem != NULL:
            with nogil:
                for qi in range(self.nqueues):
                    self._refill(qi, hold)
        free(hold.joined)
        free(hold)
        return 0

    cdef void _refill(self, int qi, batch_hold *hold) noexcept nogil:
        """Give queue ``qi``'s chunks of ``hold`` back to its fill ring:
        count, reserve once, write, submit once."""
        cdef uint32_t i, n = 0, idx = 0, w = 0
        cdef xring *fq = &self.qs[qi].fill
        for i in range(hold.n):
            if (hold.addrs[i] >> HOLD_QSHIFT) == <uint64_t>qi:
                n += 1
        if n == 0:
            return
        # never fails: the fill ring is sized for it (see fill_ring_entries)
        if ring_reserve(fq, n, &idx) != n:
            return
        for i in range(hold.n):
            if (hold.addrs[i] >> HOLD_QSHIFT) == <uint64_t>qi:
                ring_addr(fq, idx + w)[0] = hold.addrs[i] & HOLD_ADDR_MASK
                w += 1
        ring_submit(fq, n)

    # --- TX ----------------------------------------------------------------

    cdef uint32_t _reclaim(self) noexcept nogil:
        cdef uint32_t idx = 0, got, i
        cdef xring *cq = &self.qs[0].comp
        got = ring_peek(cq, 1024, &idx)
        for i in range(got):
            self.tx_free[self.tx_nfree] = ring_addr(cq, idx + i)[0]
            self.tx_nfree += 1
        if got:
            ring_release(cq, got)
            self.tx_completed += got
        return got

    cdef int _kick(self) noexcept nogil:
        # copy mode transmits from sendto() (or poll()), whatever the
        # need-wakeup flag says: measured on veth, frames waited for the next
        # poll() whenever a kick was left out for want of the flag.  Zero-copy
        # drivers say when they want the kick; without need-wakeup, always kick.
        if self.tx_copy_mode or not self.need_wakeup or ring_needs_wakeup(&self.qs[0].tx):
            if sendto(self.qs[0].fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0:
                if errno == EAGAIN or errno == ENOBUFS or errno == EBUSY or errno == EINTR:
                    return 0
                return -errno
        return 0

    # the port (see pyxring/includes/tx_port.pxd): fill, push, wait

    cdef int _tx_put(self, const uint8_t *data, uint32_t length) noexcept nogil:
        cdef uint32_t idx = 0
        cdef uint64_t addr
        cdef xdp_desc *xd
        if self.qs == NULL or self.tx_ring_size == 0:
            return -EBADF
        if self.tx_nfree == 0:
            self._reclaim()
        if self.tx_nfree == 0 or ring_reserve(&self.qs[0].tx, 1, &idx) != 1:
            return 0
        self.tx_nfree -= 1
        addr = self.tx_free[self.tx_nfree]
        memcpy(self.umem + addr, data, length)
        xd = ring_desc(&self.qs[0].tx, idx)
        xd.addr = addr
        xd.len = length
        xd.options = 0
        self.tx_unsubmitted += 1
        self.tx_sent += 1
        return 1

    cdef int _tx_push(self) noexcept nogil:
        # Copy mode sends from sendto(), a bounded batch per call (EAGAIN
        # while more is left), so kick until the kernel has consumed every
        # descriptor: then each frame has gone to the driver, in order.
        cdef xring *tx
        cdef uint32_t left, before
        cdef uint64_t deadline = 0
        cdef int rc, idle = 0
        cdef pollfd pfd
        if self.qs == NULL or self.tx_ring_size == 0:
            return -EBADF
        tx = &self.qs[0].tx
        if self.tx_unsubmitted:
            ring_submit(tx, self.tx_unsubmitted)
            self.tx_unsubmitted = 0
        left = ring_in_flight(tx)
        while left:
            self._reclaim()        # completions free ring space the kernel may need
            rc = self._kick()
            if rc < 0:
                return rc
            before = left
            left = ring_in_flight(tx)
            if left < before:
                idle = 0
                continue
            # no progress: the device or the completion ring is full
            idle += 1
            if idle < 64:
                continue
            if deadline == 0:
                deadline = now_monotonic_ns() + 2000000000ULL
            elif now_monotonic_ns() > deadline:
                return -ETIMEDOUT
            pfd.fd = self.qs[0].fd
            pfd.events = POLLOUT
            pfd.revents = 0
            poll(&pfd, 1, 1)
        return 0

    cdef int _tx_wait_room(self, int timeout_ms) noexcept nogil:
        cdef pollfd pfd
        if self.qs == NULL or self.tx_ring_size == 0:
            return -EBADF
        if self._reclaim() or (self.tx_nfree and ring_free(&self.qs[0].tx, 1)):
            return 0
        pfd.fd = self.qs[0].fd
        pfd.events = POLLOUT
        pfd.revents = 0
        if poll(&pfd, 1, timeout_ms) < 0:
            return -errno
        self._reclaim()
        return 0

    def tx_port(self):
        """The TX ring as a ``tx_port`` (pyxring/includes/tx_port.pxd), in a
        capsule; keep this object alive while the port is used."""
        if self.tx_ring_size == 0 or self.qs == NULL:
            raise ValueError(f"{self.name}: this AF_XDP source has no TX ring (open it with tx_frames > 0)")
        return PyCapsule_New(&self.port, TX_PORT_CAPSULE, NULL)

    def send(self, frames, int timeout_ms=1000):
        """Queue ``frames`` (bytes-like objects, whole Ethernet frames) on the
        TX ring and hand them to the kernel.  Waits up to ``timeout_ms`` for
        free TX frames when the ring is busy.  Returns how many were queued;
        a frame larger than a chunk (without multi-buffer) counts as an
        error and is skipped."""
        cdef const uint8_t[::1] buf
        cdef uint32_t sent = 0
        cdef int rc
        cdef uint64_t deadline
        if self.tx_ring_size == 0 or self.qs == NULL:
            raise ValueError(f"{self.name}: this AF_XDP source has no TX ring (open it with tx_frames > 0)")
        for frame in frames:
            buf = frame
            if buf.shape[0] > self.port.max_len or buf.shape[0] < 14:
                self.tx_errors += 1
                continue
            deadline = 0
            while True:
                rc = self._tx_put(&buf[0], buf.shape[0])
                if rc != 0:
                    break
                # ring or frames busy: hand over what is queued, wait a little
                rc = self._tx_push()
                if rc < 0:
                    break
                if deadline == 0:
                    deadline = now_monotonic_ns() + <uint64_t>timeout_ms * 1000000ULL
                elif now_monotonic_ns() > deadline:
                    self._tx_push()
                    return sent
                with nogil:
                    self._tx_wait_room(1)
            if rc < 0:
                raise_errno(-rc, f"transmitting on {self.name}")
            sent += 1
            if self.tx_unsubmitted >= 64:
                rc = self._tx_push()
                if rc < 0:
                    raise_errno(-rc, f"transmitting on {self.name}")
        rc = self._tx_push()
        if rc < 0:
            raise_errno(-rc, f"transmitting on {self.name}")
        return sent

    def flush(self, int timeout_ms=1000):
        """Wait until the kernel has completed every queued frame (or the
        timeout); returns the number still in flight."""
        cdef uint64_t deadline = now_monotonic_ns() + <uint64_t>timeout_ms * 1000000ULL
        cdef timespec ts
        if self.tx_ring_size == 0 or self.qs == NULL:
            return 0
        if self.tx_unsubmitted:
            ring_submit(&self.qs[0].tx, self.tx_unsubmitted)
            self.tx_unsubmitted = 0
        while self.tx_nfree < self.tx_frames:
            self._reclaim()
            if self.tx_nfree >= self.tx_frames:
                break
            self._kick()
            if now_monotonic_ns() > deadline:
                break
            ts.tv_sec = 0
            ts.tv_nsec = 200000
            with nogil:
                nanosleep(&ts, NULL)
        return self.tx_frames - self.tx_nfree

    # --- statistics and life cycle ----------------------------------------

    def xdp_statistics(self):
        """XDP_STATISTICS summed over the queue sockets."""
        cdef xdp_statistics st
        cdef socklen_t ln
        cdef uint64_t tot[6]
        cdef int i
        for i in range(6):
            tot[i] = self.acc[i]
        if self.qs != NULL:
            for i in range(self.nqueues):
                if self.qs[i].fd < 0:
                    continue
                memset(&st, 0, sizeof(st))
                ln = sizeof(st)
                if getsockopt(self.qs[i].fd, SOL_XDP, XDP_STATISTICS, &st, &ln) == 0:
                    tot[0] += st.rx_dropped
                    tot[1] += st.rx_invalid_descs
                    tot[2] += st.tx_invalid_descs
                    tot[3] += st.rx_ring_full
                    tot[4] += st.rx_fill_ring_empty_descs
                    tot[5] += st.tx_ring_empty_descs
        return {"rx_dropped": tot[0], "rx_invalid_descs": tot[1], "tx_invalid_descs": tot[2],
                "rx_ring_full": tot[3], "rx_fill_ring_empty": tot[4], "tx_ring_empty": tot[5]}

    def stats(self):
        """``received``: frames the XDP program handed to these sockets
        (tcpdump's "received by filter"); ``dropped``: those lost on the way
        to user space (socket drops, RX ring full, invalid descriptors).
        Plus the XDP_STATISTICS and program counters, and TX counts."""
        st = self.xdp_statistics()
        if self.program is not None:
            prog = self.program.counters()
        else:
            prog = self.closed_counters or {}
        dropped = st["rx_dropped"] + st["rx_ring_full"] + st["rx_invalid_descs"]
        # without the program's counters (a user's program), what reached us
        # plus what was lost on the way is the best count there is
        received = prog["redirected"] if "redirected" in prog else self.rx_packets + dropped
        out = {"received": received, "dropped": dropped, "rx_packets": self.rx_packets}
        # where the RX chunks are: with the kernel to fill, or with us; once
        # the RX ring is drained and every batch released, fill_ring_level
        # == rx_frames, or a chunk has leaked
        out.update(rx_frames=self.rx_frames, frames_held=self.frames_held,
                   fill_ring_level=self._fill_ring_level())
        out.update(st)
        out.update({f"xdp_{k}": v for k, v in prog.items()})
        out.update({"tx_sent": self.tx_sent, "tx_completed": self.tx_completed,
                    "tx_errors": self.tx_errors + st["tx_invalid_descs"]})
        return out

    cdef uint64_t _fill_ring_level(self):
        cdef uint64_t level = 0
        cdef int i
        if self.qs == NULL:
            return 0
        for i in range(self.nqueues):
            if self.qs[i].fill.map != NULL:
                # acquire pairs with the kernel's release of the consumer
                # index as it takes chunks; the producer index is ours
                level += <uint32_t>(self.qs[i].fill.producer[0] -
                                    load_acquire_u32(self.qs[i].fill.consumer))
        return level

    def info(self):
        """How the capture was set up (for logs and the CLI's -v)."""
        prog = self.program
        return {"iface": self.name, "queues": list(self.queue_ids), "bind_mode": self.bind_mode,
                "xdp_mode": getattr(prog, "attached_mode", None),
                "xdp_prog": getattr(prog, "prog_name", None),
                "link": getattr(prog, "link_fd", -1) >= 0,
                "frame_size": self.frame_size, "frame_count": self.frame_count,
                "hugepages": self.hugepages, "multi_buffer": self.multi_buffer,
                "rx_ring_size": self.rx_ring_size, "need_wakeup": self.need_wakeup}

    def close(self):
        """Detach the program, close the sockets; the UMEM stays mapped while
        packet memoryviews exist (then it goes with the object)."""
        cdef int i
        if self.closed:
            return
        self.closed = True
        try:
            if self.program is not None:
                self.closed_counters = self.program.counters()
                self.program.close()
        finally:
            self.program = None
            if self.qs != NULL:
                st = self.xdp_statistics()
                for i, k in enumerate(("rx_dropped", "rx_invalid_descs", "tx_invalid_descs",
                                       "rx_ring_full", "rx_fill_ring_empty", "tx_ring_empty")):
                    self.acc[i] = st[k]
                for i in range(self.nqueues):
                    self._close_queue(i)
                free(self.qs)
                self.qs = NULL
            if self.umem != NULL and self.exports == 0:
                munmap(self.umem, self.umem_size)
                self.umem = NULL
            if self.promisc_sock is not None:
                self.promisc_sock.close()
                self.promisc_sock = None
            restore, self.restore = self.restore, None
            if restore is not None:
                restore()

    def __dealloc__(self):
        cdef int i
        if self.qs != NULL:
            for i in range(self.nqueues):
                self._close_queue(i)
            free(self.qs)
        if self.umem != NULL:
            munmap(self.umem, self.umem_size)
        free(self.tx_free)
