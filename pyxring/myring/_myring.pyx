# distutils: libraries = pcap
"""Consumer of the ``myring`` kernel module's shared ring (/dev/myring).

The module (kmod/myring.c) writes records into an mmapped ring and
publishes a producer index with a release store; this consumer walks the
records without the GIL, hands out descriptors that point into the ring and
publishes its consumer index with a release store once a batch is released
(protocol: kmod/myring_uapi.h; the ring walk itself: kmod/myring_user.h).

Waiting: an eventfd registered with the device fires at the ring's high
watermark and when the producer stops.  Below the high watermark nothing
fires, so a wait is cut into slices of ``wakeup_ms`` after which the ring is
looked at again: that bounds latency at low rates without a wakeup per
record.

Threading: one thread uses a source at a time (as for every pyxring source).
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t
from libc.string cimport memset

from pyxring._core cimport Source, Batch, pkt_desc, PKT_TRUNCATED
from pyxring.includes.posix_io cimport (
    errno, EINTR, close, mmap, munmap, MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE,
    pollfd, poll, POLLIN, now_monotonic_ns)

from pyxring.errors import BackendUnavailable, ConfigError, PyxringError, raise_errno

cdef extern from "<fcntl.h>" nogil:
    int c_open "open"(const char *path, int flags)
    enum:
        O_RDWR
        O_CLOEXEC

cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long req, ...)

cdef extern from "<unistd.h>" nogil:
    ssize_t read(int fd, void *buf, size_t count)

cdef extern from "<sys/eventfd.h>" nogil:
    int eventfd(unsigned int initval, int flags)
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK

cdef extern from "<sys/epoll.h>" nogil:
    ctypedef union epoll_data_t:
        int fd
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *ev)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)
    enum:
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLLIN

MODES = {"synth": MYRING_MODE_SYNTH, "netfilter": MYRING_MODE_NETFILTER}


cdef class MyringSource(Source):
    """A capture on /dev/myring.  Use :func:`pyxring.myring.open`."""

    def __cinit__(self, *args, **kwargs):
        self.fd = -1
        self.efd = -1
        self.epfd = -1
        self.map = NULL
        self.map_size = 0
        self.released_pos = 0
        self._released_early = {}
        self.bfilter = None
        self.have_filter = False

    def __init__(self, str device="/dev/myring", *, unsigned int snaplen=262144, str mode="synth",
                 unsigned int rate=2000, unsigned int record_size=256, unsigned int wm_high=0,
                 unsigned int wm_low=0, int wakeup_ms=50, Py_ssize_t max_batch=1024, bpf=None,
                 bint start=True):
        cdef myring_info info
        cdef myring_config cfg
        cdef epoll_event ev
        cdef int32_t efd32
        if mode not in MODES:
            raise ConfigError(f"myring mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not 1 <= rate <= MYRING_RATE_MAX:
            raise ConfigError(f"myring rate {rate} Hz out of range (1..{MYRING_RATE_MAX})")
        if not MYRING_SYNTH_MIN <= record_size <= MYRING_SYNTH_MAX:
            raise ConfigError(f"myring record size {record_size} out of range "
                              f"({MYRING_SYNTH_MIN}..{MYRING_SYNTH_MAX})")
        if wakeup_ms < 1 or max_batch < 1:
            raise ConfigError("myring wakeup_ms and max_batch must be positive")
        self.name = "myring"
        self.device = device
        self.linktype = 1
        self.snaplen = snaplen
        self.mode = MODES[mode]
        self.wakeup_ms = wakeup_ms
        self.max_batch = max_batch

        path = device.encode()
        self.fd = c_open(path, O_RDWR | O_CLOEXEC)
        if self.fd < 0:
            err = errno
            if err == 2:    # ENOENT
                raise BackendUnavailable(f"{device} does not exist: load the myring module "
                                         f"(insmod kmod/myring.ko)")
            raise_errno(err, f"opening {device}",
                        "another process has it open" if err == 16 else "")
        if ioctl(self.fd, MYRING_IOC_INFO, &info) < 0:
            raise_errno(errno, f"MYRING_IOC_INFO on {device}")
        if info.version != MYRING_VERSION:
            raise BackendUnavailable(f"{device}: module ABI version {info.version}, "
                                     f"this pyxring speaks {MYRING_VERSION}")
        self.map_size = info.mmap_size
        self.map = mmap(NULL, self.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, self.fd, 0)
        if self.map == MAP_FAILED:
            self.map = NULL
            raise_errno(errno, f"mapping the {device} ring ({self.map_size} bytes)")
        if myring_consumer__init(&self.cons, self.map) != 0:
            raise BackendUnavailable(f"{device}: bad ring header (magic/version)")
        self.released_pos = self.cons.pos

        self.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.efd < 0 or self.epfd < 0:
            raise_errno(errno, "creating the eventfd/epoll for myring")
        memset(&ev, 0, sizeof(ev))
        ev.events = EPOLLIN
        ev.data.fd = self.efd
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, self.efd, &ev) < 0:
            raise_errno(errno, "adding the myring eventfd to epoll")
        efd32 = self.efd
        if ioctl(self.fd, MYRING_IOC_SET_EVENTFD, &efd32) < 0:
            raise_errno(errno, f"MYRING_IOC_SET_EVENTFD on {device}")

        memset(&cfg, 0, sizeof(cfg))
        cfg.mode = self.mode
        cfg.rate_hz = rate
        cfg.record_size = record_size
        cfg.snaplen = min(max(snaplen, 64), 65535)
        cfg.wm_high = wm_high
        cfg.wm_low = wm_low
        if ioctl(self.fd, MYRING_IOC_CONFIG, &cfg) < 0:
            raise_errno(errno, f"configuring {device} (mode={mode} rate={rate} "
                        f"record_size={record_size} wm_high={wm_high} wm_low={wm_low})")
        if bpf:
            self.set_filter(bpf)
        if start:
            self.start()

    def set_filter(self, insns):
        """Run classic BPF ``insns`` (``(code, jt, jf, k)`` from
        ``pyxring._libpcap.compile_filter``) on each batch of records in user
        space (libpcap's interpreter, ``BatchFilter``)."""
        self.bfilter = BatchFilter.from_program(insns, 1)
        self.have_filter = True

    def start(self):
        """Start the producer (done by the constructor unless start=False)."""
        if ioctl(self.fd, MYRING_IOC_START, 0) < 0:
            raise_errno(errno, f"starting the {self.device} producer")

    def stop(self):
        """Stop the producer; records already written stay readable."""
        if self.fd >= 0 and ioctl(self.fd, MYRING_IOC_STOP, 0) < 0:
            raise_errno(errno, f"stopping the {self.device} producer")

    cdef Py_ssize_t collect(self, Batch batch) noexcept nogil:
        """Move ready records into ``batch`` (room for max_batch reserved)."""
        cdef const myring_rec *rec
        cdef const myring_drop *drop
        cdef const uint8_t *data
        cdef pkt_desc *d
        cdef uint32_t caplen
        cdef Py_ssize_t n = 0
        while n < self.max_batch:
            rec = myring_consumer__next(&self.cons)
            if rec == NULL:
                break
            data = myring_rec__data(rec)
            if rec.type == MYRING_REC_DROP:
                drop = <const myring_drop *>data
                self.lost += drop.lost
                self.drop_records += 1
                continue
            if rec.type != MYRING_REC_PACKET:
                continue
            caplen = rec.len
            if caplen > self.snaplen and not self.have_filter:
                caplen = self.snaplen
            d = batch.next_desc()
            d.data = data
            d.caplen = caplen
            d.wirelen = rec.wirelen if rec.wirelen >= caplen else caplen
            d.ts_ns = rec.ts_ns
            d.ifindex = rec.ifindex
            d.rxhash = 0
            d.vlan_tci = 0
            d.vlan_tpid = 0
            d.queue = 0
            d.flags = PKT_TRUNCATED if d.caplen < d.wirelen else 0
            n += 1
        return n

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef uint64_t deadline = 0, now
        cdef int slice_ms, r
        cdef epoll_event ev
        cdef uint64_t counter
        cdef Py_ssize_t got, i
        cdef pollfd pfd
        cdef myring_hdr *hdr = self.cons.hdr
        if self.map == NULL:
            raise ValueError("capture on myring is closed")
        batch.reserve(self.max_batch)
        batch.cookie = self.cons.pos        # the ring range this batch holds
        if timeout_ms > 0:
            deadline = now_monotonic_ns() + <uint64_t>timeout_ms * 1000000ULL
        while True:
            with nogil:
                got = self.collect(batch)
            batch.cookie2 = self.cons.pos
            if self.cons.corrupt:
                raise PyxringError(f"{self.device}: corrupt record at ring position {self.cons.pos}")
            if self.bfilter is not None and got:
                # the batch holds only this round's records: the loop goes on
                # only while it is empty
                self.bfilter.apply(batch)
                self.filtered += got - batch.count
                for i in range(batch.count):
                    if batch.descs[i].caplen > self.snaplen:
                        batch.descs[i].caplen = self.snaplen
                        batch.descs[i].flags |= PKT_TRUNCATED
            self.matched += batch.count
            if batch.count > 0 or timeout_ms == 0:
                break
            slice_ms = self.wakeup_ms
            if timeout_ms > 0:
                now = now_monotonic_ns()
                if now >= deadline:
                    break
                slice_ms = min(slice_ms, <int>((deadline - now) // 1000000) + 1)
            with nogil:
                if hdr.lost_pending and hdr.flags & MYRING_F_STOPPED:
                    # a stopped producer writes its owed DROP record on poll()
                    pfd.fd = self.fd
                    pfd.events = POLLIN
                    poll(&pfd, 1, 0)
                r = epoll_wait(self.epfd, &ev, 1, slice_ms)
                if r > 0:
                    read(self.efd, &counter, sizeof(counter))
            if r < 0 and errno == EINTR:
                PyErr_CheckSignals()
            elif r < 0:
                raise_errno(errno, f"waiting on {self.device}")
        return batch.count

    cdef int release_batch(self, Batch batch) except -1:
        cdef uint64_t start = batch.cookie, end = batch.cookie2
        if self.map == NULL or start == end:
            return 0
        if start != self.released_pos:
            # an older batch is still held: its space must stay ours
            self._released_early[start] = end
            return 0
        self.released_pos = end
        while self._released_early:
            nxt = self._released_early.pop(self.released_pos, None)
            if nxt is None:
                break
            self.released_pos = nxt
        myring_consumer__release(&self.cons, self.released_pos)
        return 0

    def stats(self):
        """``received`` (packets that passed the filter plus those lost, as
        libpcap counts), ``dropped`` (lost for a full ring, as reported by
        DROP records read so far) and the module's own counters."""
        cdef myring_stats st
        out = {"received": self.matched + self.lost, "dropped": self.lost,
               "matched": self.matched, "filtered": self.filtered,
               "drop_records": self.drop_records}
        if self.fd >= 0:
            memset(&st, 0, sizeof(st))
            if ioctl(self.fd, MYRING_IOC_STATS, &st) == 0:
                out.update(produced=st.produced, lost=st.lost, lost_pending=st.lost_pending,
                           wm_signals=st.wm_signals, bad_consumer=st.bad_consumer,
                           running=bool(st.running))
        return out

    @property
    def ring_bytes(self):
        return self.cons.ring_size if self.map != NULL else 0

    def fileno(self):
        """The device fd: poll() reports POLLIN while records are ready."""
        return self.fd

    def close(self):
        """Stop the producer and let go of the device; the ring is unmapped
        once no packet memoryview refers to it any more."""
        if self.closed:
            return
        self.closed = True
        if self.fd >= 0:
            ioctl(self.fd, MYRING_IOC_STOP, 0)
        self._teardown()

    cdef _teardown(self):
        if self.map != NULL and self.exports == 0:
            munmap(self.map, self.map_size)
            self.map = NULL
        # the mapping holds its own file reference: closing the fd is safe
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1
        if self.efd >= 0:
            close(self.efd)
            self.efd = -1

    def __dealloc__(self):
        if self.map != NULL:
            munmap(self.map, self.map_size)
        if self.fd >= 0:
            close(self.fd)
        if self.epfd >= 0:
            close(self.epfd)
        if self.efd >= 0:
            close(self.efd)
