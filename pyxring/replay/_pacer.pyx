"""The replay send loop: each frame leaves at its due time, without the GIL.

A ``Pacer`` owns one run's schedule, clock and counters.  Python reads the
file and hands over ``Chunk``s of frames (bytes, timestamp, lane); ``send``
walks a chunk in C.  A lane is one TX ring (a ``tx_port``, see
``pyxring/includes/tx_port.pxd``) of one interface; an interface may have two
(AF_XDP, and AF_PACKET for frames longer than an AF_XDP chunk), which then
keep one order: switching lanes hands the other lane's frames over first.

Schedule (tcpreplay's meanings, all relative to the first frame, sent at once):
- file timing, ``multiplier`` x: frame k is due after the file time that
  passed between the first frame and frame k, divided by x.  File time only
  moves forward (a timestamp earlier than one already seen adds nothing, so
  such a frame goes at once), and a new loop continues where the last ended.
  A stall (a frame found more than SLIP_NS late right after one on time:
  the process was preempted, say) moves the rest of the schedule by as
  much: the file's gaps are what is replayed, and catching up would send a
  burst the file never had.  Lateness that grows frame by frame is the
  rings' pace, not a stall: those frames catch up, in batches.
- ``pps``: frame k is due at k / pps.
- ``mbps``: frame k is due when the frames before it have had their time on
  a line of that speed (their captured lengths, in bits, over the rate).
  At a rate, late frames catch up (as in tcpreplay): the rate is the point.
- top speed: nothing is due; frames go in batches as fast as rings take them.
Frames that can't be sent (shorter than an Ethernet header, longer than the
interface's MTU allows) are counted and take no place in the schedule.

Waiting: far from the deadline the loop sleeps with ``clock_nanosleep``
(TIMER_ABSTIME, timer slack 1 ns for the run) until a margin before it, then
spins to the deadline.  The margin is how late the recent sleeps woke: the
90th percentile of the last WAKE_WINDOW of them, plus SPIN_MIN_NS, at most
MARGIN_MAX_NS.  A percentile, not a mean: one preemption of milliseconds
must not make the loop spin for milliseconds before every frame after it.
Frames already due when the previous one was handed over go together, up to
MAX_BATCH, in one push; otherwise each push carries one frame at its time.

Timing error: for each frame, how late it was handed to the kernel against
its due time (it is never early), in a histogram of 1 µs buckets (0.4 %
wide past 4 ms).

Signals: a long sleep is cut into slices and a sleep or wait interrupted by
a signal returns to Python (``PyErr_CheckSignals``), so Ctrl-C stops a run
at once; the frame being waited for is kept and the run can go on.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.math cimport isfinite
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer

from pyxring.includes.posix_io cimport EINTR, ETIMEDOUT, timespec, CLOCK_MONOTONIC, now_monotonic_ns
from pyxring.includes.tx_port cimport tx_port, TX_PORT_CAPSULE
from pyxring.replay._chunk cimport Chunk, MAX_LANES

cdef extern from "<time.h>" nogil:
    int clock_nanosleep(int clk, int flags, const timespec *req, timespec *rem)
    enum:
        TIMER_ABSTIME

cdef extern from "<sys/prctl.h>" nogil:
    int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
    enum:
        PR_SET_TIMERSLACK
        PR_GET_TIMERSLACK

cdef extern from *:
    """
    static inline void pyx_cpu_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }
    """
    void cpu_relax "pyx_cpu_relax"() noexcept nogil

cdef enum:
    MAX_BATCH = 64
    ETH_HEADER = 14
    VLAN_TAG = 4
    # timing histogram: 1 µs buckets up to 4096 µs, then 256 per power of two
    # (a bucket is 0.4 % wide), up to 2**41 µs
    HIST_LINEAR = 4096
    HIST_SUB = 256
    HIST_OCTAVES = 29
    HIST_N = HIST_LINEAR + HIST_SUB * HIST_OCTAVES
    WAKE_WINDOW = 32
    WAKE_RANK = 28          # of WAKE_WINDOW sorted: about the 90th percentile

cdef enum timing_mode:
    TIMING_FILE = 0
    TIMING_PPS = 1
    TIMING_MBPS = 2
    TIMING_TOP = 3

# what ``_run`` returns (errors are -errno)
cdef enum run_status:
    ST_DONE = 1          # the chunk is sent
    ST_LIMIT = 2         # --limit frames sent
    ST_DURATION = 3      # --duration is over
    ST_CHECK = 4         # back to Python to look at signals, then go on

cdef int64_t SLEEP_SLICE_NS = 100000000          # the longest sleep between signal checks
cdef int64_t SPIN_MIN_NS = 5000                  # always spin at least this long
cdef int64_t MARGIN_MAX_NS = 250000              # never spin longer than this (a loaded machine wakes late anyway)
cdef int64_t WAKE_GUESS_NS = 50000               # how late a sleep wakes, until measured
cdef int64_t ROOM_TIMEOUT_NS = 5000000000        # a ring that takes nothing for this long is an error
cdef int64_t FAR_FUTURE = (<int64_t>1) << 62
# with --duration, a frame due before the end that is still this late after
# it is not sent: an overloaded run stops soon after the end, yet on a
# machine that keeps up exactly the frames due before the end go out
cdef int64_t LATE_GRACE_NS = 1000000000
cdef int64_t SLIP_NS = 1000000                   # file timing: later than this moves the schedule

MODES = {"file": TIMING_FILE, "pps": TIMING_PPS, "mbps": TIMING_MBPS, "top": TIMING_TOP}
STATUS = {ST_DONE: "done", ST_LIMIT: "limit", ST_DURATION: "duration"}


ctypedef struct lane_t:
    tx_port *port
    int overflow        # lane for frames longer than port.max_len (same interface), or -1
    uint32_t mtu_len    # longest untagged frame the interface sends: MTU + Ethernet header
    int group           # the interface: its lanes keep one order
    uint32_t queued     # frames put since the last push


cdef inline int hist_bucket(int64_t late_ns) noexcept nogil:
    cdef int64_t us = late_ns // 1000
    cdef int octave = 0
    if us < HIST_LINEAR:
        return <int>us
    # octave k holds [4096 << k, 8192 << k) µs in HIST_SUB steps
    while (us >> octave) >= 2 * HIST_LINEAR and octave < HIST_OCTAVES - 1:
        octave += 1
    if (us >> octave) >= 2 * HIST_LINEAR:
        return HIST_N - 1
    return HIST_LINEAR + octave * HIST_SUB + <int>(((us >> octave) - HIST_LINEAR) * HIST_SUB // HIST_LINEAR)


cdef inline int64_t bucket_floor_ns(int b) noexcept nogil:
    cdef int octave, sub
    if b < HIST_LINEAR:
        return <int64_t>b * 1000
    octave = (b - HIST_LINEAR) // HIST_SUB
    sub = (b - HIST_LINEAR) % HIST_SUB
    return ((<int64_t>HIST_LINEAR + <int64_t>sub * HIST_LINEAR // HIST_SUB) << octave) * 1000


def histogram_bucket(int64_t late_ns):
    """(bucket, its lowest value in ns, the next bucket's): for tests."""
    cdef int b = hist_bucket(late_ns)
    return b, bucket_floor_ns(b), bucket_floor_ns(b + 1) if b + 1 < HIST_N else None


cdef class Pacer:
    """One replay run: lanes, schedule, limits, counters and timing."""
    cdef lane_t lanes[MAX_LANES]
    cdef int nlanes
    cdef int active[MAX_LANES]          # per group: the lane that got the last frame
    cdef list owners                    # the TX objects behind the ports
    cdef timing_mode mode
    cdef double ns_per_file_ns, ns_per_packet, ns_per_bit
    cdef bint have_last
    cdef int64_t last_ts, file_elapsed
    cdef uint64_t sched_packets, sched_bits
    cdef uint64_t limit
    cdef int64_t duration_ns
    cdef int64_t start_ns, end_ns, finish_ns
    cdef int64_t began_ns               # the clock's start (start_ns moves with slips)
    cdef bint started, finished
    # the frame being sent survives a return to Python
    cdef bint cur_ready
    cdef int cur_lane
    cdef int64_t cur_due
    # frames put but not pushed, with their due times
    cdef int64_t batch_due[MAX_BATCH]
    cdef int nbatch
    cdef readonly uint64_t sent, sent_bytes, frames_seen, too_short, too_big, pushes
    cdef readonly uint64_t first_too_short, first_too_big       # frame numbers, from 1
    cdef readonly uint32_t first_too_big_len
    cdef readonly int first_too_big_lane, error_lane
    cdef uint64_t hist[HIST_N]
    cdef uint64_t late_count
    cdef int64_t late_max
    cdef double late_sum
    cdef int64_t wake_late[WAKE_WINDOW]  # how late the last sleeps woke (a ring)
    cdef int wake_next
    cdef int64_t margin_ns               # sleep until this long before a deadline
    cdef readonly uint64_t sleeps, slips
    cdef readonly int64_t slipped_ns
    cdef int64_t prev_late              # how late the last frame was when put
    cdef readonly int64_t spin_ns
    cdef unsigned long saved_slack
    cdef bint slack_set

    def __init__(self, str mode="file", double multiplier=1.0, double pps=0.0, double mbps=0.0,
                 unsigned long long limit=0, double duration=0.0):
        if mode not in MODES:
            raise ValueError(f"timing mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = MODES[mode]
        for name, value, used in (("multiplier", multiplier, mode == "file"),
                                  ("pps", pps, mode == "pps"), ("mbps", mbps, mode == "mbps")):
            if used and not (isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value}")
        if not (isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be a positive number of seconds, not {duration}")
        self.ns_per_file_ns = 1.0 / multiplier if self.mode == TIMING_FILE else 0.0
        self.ns_per_packet = 1e9 / pps if self.mode == TIMING_PPS else 0.0
        self.ns_per_bit = 1e3 / mbps if self.mode == TIMING_MBPS else 0.0
        self.limit = limit
        self.duration_ns = <int64_t>(duration * 1e9) if duration * 1e9 < FAR_FUTURE else FAR_FUTURE
        self.owners = []
        self.error_lane = -1
        self.first_too_big_lane = -1
        for i in range(MAX_LANES):
            self.active[i] = -1
        # a first guess at the wake-up latency, corrected by every sleep
        for i in range(WAKE_WINDOW):
            self.wake_late[i] = WAKE_GUESS_NS
        self.margin_ns = WAKE_GUESS_NS + SPIN_MIN_NS

    def add_lane(self, port_capsule, owner, unsigned int mtu_len, int group, int overflow=-1):
        """Register a TX ring; returns its lane number.  ``mtu_len`` is the
        longest untagged frame the interface takes (MTU + 14); ``overflow``
        the lane (same group) for frames longer than this port's max_len."""
        cdef tx_port *port = <tx_port *>PyCapsule_GetPointer(port_capsule, TX_PORT_CAPSULE)
        if self.nlanes >= MAX_LANES:
            raise ValueError(f"at most {MAX_LANES} lanes")
        if not 0 <= group < MAX_LANES or overflow >= self.nlanes:
            raise ValueError("bad lane group or overflow lane")
        if overflow < 0 and mtu_len + VLAN_TAG > port.max_len:
            raise ValueError(f"frames up to {mtu_len + VLAN_TAG} bytes need an overflow lane "
                             f"(this port takes {port.max_len})")
        self.lanes[self.nlanes].port = port
        self.lanes[self.nlanes].overflow = overflow
        self.lanes[self.nlanes].mtu_len = mtu_len
        self.lanes[self.nlanes].group = group
        self.lanes[self.nlanes].queued = 0
        self.owners.append(owner)
        self.nlanes += 1
        return self.nlanes - 1

    def start(self):
        """The clock starts: the first frame is due now."""
        if self.started:
            return
        self.saved_slack = <unsigned long>prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)
        # the default 50 µs slack would make every sleep wake that much late
        self.slack_set = prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0
        self.started = True
        self.start_ns = self.began_ns = <int64_t>now_monotonic_ns()
        self.end_ns = self.start_ns + self.duration_ns if self.duration_ns else 0

    def new_loop(self):
        """The next frame starts the file again: its timestamp adds no time."""
        self.have_last = False

    def send(self, Chunk chunk):
        """Send ``chunk`` from where it stopped (or from its start).  Returns
        "done", "limit" or "duration"; a ring error returns -errno (and
        ``error_lane``).  Signals are looked at while it waits, so
        KeyboardInterrupt may come out of here; the run can go on after."""
        cdef int rc
        if not self.started:
            self.start()
        if self.finished:
            raise ValueError("this run is finished")
        while True:
            with nogil:
                rc = self._run(chunk)
            if rc == ST_CHECK:
                if PyErr_CheckSignals() < 0:
                    raise
                continue
            if rc < 0:
                return rc
            if rc == ST_DONE:
                chunk.pos = 0          # a cached chunk is sent again next loop
            return STATUS[rc]

    def finish(self):
        """Hand over what is queued; the run's clock stops.  Returns 0 or -errno."""
        cdef int rc = 0
        if self.finished or not self.started:
            self.finished = True
            return 0
        with nogil:
            rc = self._push_all()
        self.finished = True
        self.finish_ns = <int64_t>now_monotonic_ns()
        if self.slack_set:
            prctl(PR_SET_TIMERSLACK, self.saved_slack, 0, 0, 0)
            self.slack_set = False
        return rc

    # --- the loop (no GIL) -------------------------------------------------

    cdef int _run(self, Chunk c) noexcept nogil:
        cdef Py_ssize_t i = c.pos
        cdef lane_t *lane
        cdef const uint8_t *data
        cdef uint32_t length
        cdef int rc, g
        cdef int64_t now, late
        while i < c.count:
            if self.limit and self.sent >= self.limit:
                c.pos = i
                return self._stop(ST_LIMIT)
            if not self.cur_ready and not self._prepare(c, i):
                i += 1
                continue
            data = c.data[i]
            length = c.lens[i]
            if self.end_ns:
                if self.mode == TIMING_TOP:
                    if <int64_t>now_monotonic_ns() >= self.end_ns:
                        c.pos = i
                        return self._stop(ST_DURATION)
                elif (self.cur_due - self.slipped_ns >= self.end_ns
                      or <int64_t>now_monotonic_ns() >= self.end_ns + LATE_GRACE_NS):
                    # nothing else is due within --duration: the run ends at its end.
                    # Due as first scheduled: a slip moves frames, not which are sent
                    c.pos = i
                    rc = self._push_all()
                    if rc < 0:
                        return rc
                    rc = self._wait_until(self.end_ns)
                    if rc != 0:
                        return rc
                    return ST_DURATION
            lane = &self.lanes[self.cur_lane]
            g = lane.group
            if self.active[g] != self.cur_lane:
                # the interface's other ring first: one interface, one order
                if self.active[g] >= 0 and self.lanes[self.active[g]].queued:
                    rc = self._push_all()
                    if rc < 0:
                        c.pos = i
                        return rc
                self.active[g] = self.cur_lane
            if self.mode != TIMING_TOP:
                now = <int64_t>now_monotonic_ns()
                if self.cur_due > now:
                    # what is queued was due earlier: it leaves now, not with this one
                    rc = self._push_all()
                    if rc == 0:
                        rc = self._wait_until(self.cur_due)
                    if rc != 0:
                        c.pos = i
                        return rc
                    now = <int64_t>now_monotonic_ns()      # a wait can end late too
                late = now - self.cur_due
                if self.mode == TIMING_FILE and late > SLIP_NS and self.prev_late <= SLIP_NS // 2:
                    # a stall (the frame before was on time): this frame is late
                    # (and counted so), the ones after keep their gaps to it
                    self.start_ns += late
                    self.slipped_ns += late
                    self.slips += 1
                    late = 0
                self.prev_late = late
            rc = lane.port.put(lane.port.ctx, data, length)
            if rc == 0:
                rc = self._put_when_room(self.cur_lane, data, length)
            if rc != 1:
                c.pos = i
                if rc < 0:
                    self.error_lane = self.cur_lane
                return rc
            lane.queued += 1
            self.batch_due[self.nbatch] = self.cur_due
            self.nbatch += 1
            self.sent += 1
            self.sent_bytes += length
            self.cur_ready = False
            i += 1
            if self.nbatch == MAX_BATCH:
                rc = self._push_all()
                if rc < 0:
                    c.pos = i
                    return rc
        c.pos = i
        rc = self._push_all()
        return rc if rc < 0 else ST_DONE

    cdef int _stop(self, int status) noexcept nogil:
        cdef int rc = self._push_all()
        return rc if rc < 0 else status

    cdef bint _prepare(self, Chunk c, Py_ssize_t i) noexcept nogil:
        """Decide frame ``i``'s lane and due time; False: it can't be sent
        (counted), skip it."""
        cdef const uint8_t *data = c.data[i]
        cdef uint32_t length = c.lens[i]
        cdef int lane = c.lanes[i]
        cdef uint32_t allowed
        cdef int64_t rel
        self.frames_seen += 1
        if lane >= self.nlanes:
            lane = 0
        if length < ETH_HEADER:
            self.too_short += 1
            if self.first_too_short == 0:
                self.first_too_short = self.frames_seen
            return False
        allowed = self.lanes[lane].mtu_len
        if data[12] == 0x81 and data[13] == 0x00:
            allowed += VLAN_TAG        # an 802.1Q tag may come on top (as AF_PACKET allows)
        if length > allowed:
            self.too_big += 1
            if self.first_too_big == 0:
                self.first_too_big = self.frames_seen
                self.first_too_big_len = length
                self.first_too_big_lane = lane
            return False
        if length > self.lanes[lane].port.max_len:
            lane = self.lanes[lane].overflow
        rel = self._schedule(c.ts[i], length)
        self.cur_lane = lane
        self.cur_due = self.start_ns + rel if self.mode != TIMING_TOP else 0
        self.cur_ready = True
        return True

    cdef int64_t _schedule(self, int64_t ts, uint32_t length) noexcept nogil:
        """Frame's due time after the start, in ns."""
        cdef double due = 0.0
        if self.mode == TIMING_FILE:
            if not self.have_last:
                self.have_last = True
                self.last_ts = ts
            elif ts > self.last_ts:
                if self.file_elapsed < FAR_FUTURE - (ts - self.last_ts):
                    self.file_elapsed += ts - self.last_ts
                else:
                    self.file_elapsed = FAR_FUTURE
                self.last_ts = ts
            due = self.file_elapsed * self.ns_per_file_ns
        elif self.mode == TIMING_PPS:
            due = self.sched_packets * self.ns_per_packet
            self.sched_packets += 1
        elif self.mode == TIMING_MBPS:
            due = self.sched_bits * self.ns_per_bit
            self.sched_bits += <uint64_t>length * 8
        if due >= <double>FAR_FUTURE:
            return FAR_FUTURE
        return <int64_t>due

    cdef int _push_all(self) noexcept nogil:
        """Hand every queued frame to the kernel; account their lateness."""
        cdef int k, rc
        cdef int64_t handed, late
        cdef lane_t *lane
        if self.nbatch == 0:
            return 0
        handed = <int64_t>now_monotonic_ns()
        for k in range(self.nlanes):
            lane = &self.lanes[k]
            if lane.queued:
                rc = lane.port.push(lane.port.ctx)
                if rc < 0:
                    self.error_lane = k
                    return rc
                lane.queued = 0
        self.pushes += 1
        if self.mode != TIMING_TOP:
            for k in range(self.nbatch):
                late = handed - self.batch_due[k]
                if late < 0:
                    late = 0
                self.hist[hist_bucket(late)] += 1
                self.late_count += 1
                self.late_sum += late
                if late > self.late_max:
                    self.late_max = late
        self.nbatch = 0
        return 0

    cdef int _put_when_room(self, int k, const uint8_t *data, uint32_t length) noexcept nogil:
        """The ring was full: push, then wait for space.  1 once queued."""
        cdef lane_t *lane = &self.lanes[k]
        cdef int rc = self._push_all()
        cdef int64_t deadline = <int64_t>now_monotonic_ns() + ROOM_TIMEOUT_NS
        if rc < 0:
            return rc
        while True:
            rc = lane.port.put(lane.port.ctx, data, length)
            if rc != 0:
                return rc
            rc = lane.port.wait_room(lane.port.ctx, 10)
            if rc == -EINTR:
                return ST_CHECK
            if rc < 0:
                return rc
            if <int64_t>now_monotonic_ns() > deadline:
                return -ETIMEDOUT

    cdef int _wait_until(self, int64_t due) noexcept nogil:
        """Sleep, then spin, until ``due``.  0, or ST_CHECK to let Python
        look at signals first (the caller comes back for the same frame)."""
        cdef int64_t now = <int64_t>now_monotonic_ns()
        cdef int64_t target, woke
        cdef bint sliced = False
        cdef timespec ts
        if due - now > self.margin_ns:
            target = due - self.margin_ns
            if target - now > SLEEP_SLICE_NS:
                target = now + SLEEP_SLICE_NS
                sliced = True
            ts.tv_sec = target // 1000000000
            ts.tv_nsec = target % 1000000000
            if clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR:
                return ST_CHECK
            self.sleeps += 1
            if sliced:
                return ST_CHECK
            woke = <int64_t>now_monotonic_ns()
            self._learn_wake(woke - target)
            now = woke
        if now < due:
            target = now
            while now < due:
                cpu_relax()
                now = <int64_t>now_monotonic_ns()
            self.spin_ns += now - target
        return 0

    cdef void _learn_wake(self, int64_t late) noexcept nogil:
        cdef int64_t s[WAKE_WINDOW]
        cdef int64_t v
        cdef int i, j
        self.wake_late[self.wake_next] = late if late > 0 else 0
        self.wake_next = (self.wake_next + 1) % WAKE_WINDOW
        for i in range(WAKE_WINDOW):       # insertion sort of a copy: 32 values
            v = self.wake_late[i]
            j = i
            while j > 0 and s[j - 1] > v:
                s[j] = s[j - 1]
                j -= 1
            s[j] = v
        self.margin_ns = s[WAKE_RANK] + SPIN_MIN_NS
        if self.margin_ns > MARGIN_MAX_NS:
            self.margin_ns = MARGIN_MAX_NS

    # --- results -----------------------------------------------------------

    cdef int64_t _percentile(self, double q):
        cdef uint64_t want, seen = 0
        cdef int b
        if self.late_count == 0:
            return -1
        want = <uint64_t>(q * self.late_count)
        if want >= self.late_count:
            want = self.late_count - 1
        for b in range(HIST_N):
            seen += self.hist[b]
            if seen > want:
                return bucket_floor_ns(b)
        return self.late_max

    def stats(self):
        """Counters, elapsed time and the timing error (ns; None at top speed
        or with nothing sent)."""
        cdef int64_t end = self.finish_ns if self.finished else <int64_t>now_monotonic_ns()
        elapsed = (end - self.began_ns) / 1e9 if self.started else 0.0
        timing = None
        if self.late_count:
            timing = {"median_ns": self._percentile(0.5), "p99_ns": self._percentile(0.99),
                      "max_ns": self.late_max, "mean_ns": self.late_sum / self.late_count,
                      "frames": self.late_count}
        return {"sent": self.sent, "bytes": self.sent_bytes, "frames_seen": self.frames_seen,
                "too_short": self.too_short, "too_big": self.too_big,
                "first_too_short": self.first_too_short or None,
                "first_too_big": self.first_too_big or None,
                "first_too_big_len": self.first_too_big_len or None,
                "first_too_big_lane": self.first_too_big_lane if self.first_too_big else None,
                "elapsed": elapsed, "timing": timing, "pushes": self.pushes,
                "sleeps": self.sleeps, "spin_seconds": self.spin_ns / 1e9,
                "slipped_seconds": self.slipped_ns / 1e9, "slips": self.slips,
                "wake_margin_ns": self.margin_ns}

    def __dealloc__(self):
        if self.slack_set:
            prctl(PR_SET_TIMERSLACK, self.saved_slack, 0, 0, 0)
