# distutils: language = c
"""AF_PACKET TPACKET_V3 receive ring.

Ring protocol (Documentation/networking/packet_mmap.rst): the ring is
``block_count`` blocks of ``block_size`` bytes.  The kernel fills one block at
a time and hands it to user space by setting ``TP_STATUS_USER`` in the block
descriptor (when the block is full or ``block_timeout_ms`` passes).  We read
the status with an acquire load, walk the packets of the block, and give it
back by storing ``TP_STATUS_KERNEL`` with a release store — only when the
user releases the batch, so the packets stay valid until then.

Threading: one consumer thread per socket.  The walk (``_walker``) runs
without the GIL.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset, memcpy
from cpython.exc cimport PyErr_CheckSignals

from pyxring._core cimport Source, Batch, pkt_desc, PKT_VLAN, PKT_RXHASH, PKT_TRUNCATED
from pyxring.includes.posix_io cimport (
    errno, EINTR, ENETDOWN, socket, bind, setsockopt, getsockopt, socklen_t, sockaddr, close,
    mmap, munmap, MAP_FAILED, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_LOCKED, MAP_POPULATE,
    poll, pollfd, POLLIN, POLLERR, POLLHUP, POLLNVAL, AF_PACKET, SOCK_RAW, SOCK_CLOEXEC,
    SOL_SOCKET, SO_ATTACH_FILTER, sysconf, _SC_PAGESIZE, pending_error, SOCK_DGRAM, ioctl,
    syscall, SYS_membarrier, MEMBARRIER_CMD_GLOBAL, usleep)
from pyxring.includes.if_packet cimport *
from pyxring.includes.atomics cimport load_acquire_u32, store_release_u32
from pyxring.includes.pcap cimport bpf_program, bpf_insn
from pyxring.tpacket._walker cimport (walk_params, walk_block, DIR_INOUT, DIR_IN, DIR_OUT,
                                      LT_ETHERNET, LT_DOCSIS, LT_LINUX_SLL, LT_LINUX_SLL2)

import errno as _errno
import os as _os
from pyxring._libpcap import pack_insns
from pyxring.errors import raise_errno, link_lost, ConfigError, InterfaceError

LINKTYPE_ETHERNET = LT_ETHERNET
LINKTYPE_LINUX_SLL = LT_LINUX_SLL
LINKTYPE_LINUX_SLL2 = LT_LINUX_SLL2

cdef class TPacketSource(Source):
    """A TPACKET_V3 capture on one interface, or on all of them (``"any"``,
    cooked mode).  Use ``pyxring.tpacket.open``."""
    cdef int fd
    cdef uint8_t *ring
    cdef size_t ring_size
    cdef readonly unsigned int block_size, block_count, frame_size, block_timeout_ms
    cdef unsigned int next_block
    cdef walk_params wp
    cdef readonly int ifindex
    cdef readonly bint promisc
    cdef readonly bint hw_timestamps
    cdef uint64_t st_packets, st_drops, st_freeze
    cdef str failure                   # why the socket stopped (interface down or gone)
    cdef bint failure_waited           # the last wait after it is done
    cdef readonly bint stopping        # stop_receiving() was called: draining
    cdef uint64_t expected_seq         # seq_num the kernel gives the next block it opens
    cdef bpf_program userland          # filter run here when the kernel can't (cooked mode)
    cdef bytes userland_code
    cdef readonly int fanout_group     # PACKET_FANOUT group id joined, -1 when none
    cdef readonly int fanout_type_flags

    def __cinit__(self, *args, **kwargs):
        self.fd = -1
        self.ring = NULL
        self.expected_seq = 1            # the kernel numbers blocks from 1 (init_prb_bdqc)
        self.fanout_group = -1

    def __init__(self, str iface, *, snaplen=262144, bint promisc=True,
                 str direction="inout", list bpf=None, block_size=1 << 20,
                 block_count=64, frame_size=2048, block_timeout_ms=100, bint rxhash=False,
                 linktype=None, list userland_bpf=None, bint hw_timestamps=False,
                 fanout=None):
        """``iface`` "any" captures on every interface of the namespace in
        cooked mode.  ``linktype``: LINKTYPE_ETHERNET (or another label of
        the same frames, e.g. 143 DOCSIS, 101 RAW for an interface without a
        link-layer header), or LINKTYPE_LINUX_SLL / LINKTYPE_LINUX_SLL2 for
        cooked mode (the default for "any").  ``bpf`` runs in the kernel;
        ``userland_bpf`` (cooked mode only) runs here on the cooked frame,
        for expressions the kernel can't run.

        ``fanout`` joins a PACKET_FANOUT group once bound: ``(group id,
        mode | flags, program)`` where program is None, a list of classic
        BPF instructions (PACKET_FANOUT_CBPF) or an eBPF program fd
        (PACKET_FANOUT_EBPF) for the group; see ``pyxring.workers.fanout``."""
        # checked as Python ints first: a bad value is a ConfigError naming
        # it, never an OverflowError from the C conversion
        validate_ring(block_size, block_count, frame_size, block_timeout_ms, snaplen)
        if direction not in ("in", "out", "inout"):
            raise ConfigError(f"direction must be in, out or inout, not {direction!r}")
        if linktype is None:
            linktype = LINKTYPE_LINUX_SLL2 if iface == "any" else LINKTYPE_ETHERNET
        cooked = linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2)
        if iface == "any" and not cooked:
            raise ConfigError(f"-i any captures in cooked mode: link type LINUX_SLL2 or LINUX_SLL, "
                              f"not {linktype}")
        if userland_bpf is not None and not cooked:
            raise ConfigError("a userland filter is only needed in cooked mode")
        self.name = iface
        self.linktype = linktype
        self.snaplen = snaplen
        self.promisc = promisc and iface != "any"   # as libpcap: no promiscuous "any"
        self.hw_timestamps = hw_timestamps
        self.block_size = block_size
        self.block_count = block_count
        self.frame_size = frame_size
        self.block_timeout_ms = block_timeout_ms
        self.wp.snaplen = snaplen
        self.wp.direction = {"inout": DIR_INOUT, "in": DIR_IN, "out": DIR_OUT}[direction]
        self.wp.cooked = linktype if cooked else 0
        self.wp.ethernet = linktype in (LT_ETHERNET, LT_DOCSIS)
        self.wp.userland = NULL
        lo = if_nametoindex(b"lo")
        self.wp.lo_ifindex = lo if lo else -1
        if iface == "any":
            self.ifindex = 0
        else:
            self.ifindex = if_nametoindex(iface.encode())
            if self.ifindex == 0:
                raise InterfaceError(f"no such interface: {iface}")
        if userland_bpf is not None:
            self.userland_code = pack_insns(userland_bpf)
            self.userland.bf_len = len(userland_bpf)
            self.userland.bf_insns = <bpf_insn *><char *>self.userland_code
            self.wp.userland = &self.userland
        try:
            self._open(bpf, rxhash, fanout)
        except BaseException:
            self._teardown()
            raise

    cdef _open(self, list bpf, bint rxhash, fanout):
        cdef int one = 1, version = TPACKET_V3, timesource = SOF_TIMESTAMPING_RAW_HARDWARE
        cdef tpacket_req3 req
        cdef sockaddr_ll sll
        cdef packet_mreq mr
        # Protocol 0: the socket receives nothing until bind() below, so the
        # filter and the ring are in place before the first packet arrives.
        # Cooked mode (SOCK_DGRAM) hands over packets from the network header
        # on, with room before it for the cooked header.
        self.fd = socket(AF_PACKET, (SOCK_DGRAM if self.wp.cooked else SOCK_RAW) | SOCK_CLOEXEC, 0)
        if self.fd < 0:
            raise_errno(errno, f"opening an AF_PACKET socket for {self.name}")
        if fanout is not None:
            # A bound socket receives everything on its own until it joins
            # the group (the kernel only joins running sockets), and those
            # packets would be copies of what the group's members get:
            # accept nothing until the socket is a member, then the filter.
            attach_filter(self.fd, [(0x06, 0, 0, 0)], self.name)     # BPF_RET|BPF_K 0
        elif bpf is not None:
            attach_filter(self.fd, bpf, self.name)
        if setsockopt(self.fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0:
            raise_errno(errno, f"selecting TPACKET_V3 on {self.name}")
        if self.wp.direction == DIR_IN:
            if setsockopt(self.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0:
                raise_errno(errno, f"PACKET_IGNORE_OUTGOING on {self.name}")
        if self.hw_timestamps:
            self._enable_hw_timestamps()
            if setsockopt(self.fd, SOL_PACKET, PACKET_TIMESTAMP, &timesource, sizeof(timesource)) < 0:
                raise_errno(errno, f"asking for hardware time stamps on {self.name}")
        memset(&req, 0, sizeof(req))
        req.tp_block_size = self.block_size
        req.tp_block_nr = self.block_count
        req.tp_frame_size = self.frame_size
        req.tp_frame_nr = (self.block_size // self.frame_size) * self.block_count
        req.tp_retire_blk_tov = self.block_timeout_ms
        req.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH if rxhash else 0
        if setsockopt(self.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0:
            raise_errno(errno, f"setting up a {self.block_count} x {self.block_size}-byte "
                               f"TPACKET_V3 ring on {self.name}",
                        "try a smaller --block-size/--block-count" if errno == _errno.ENOMEM else "")
        self.ring_size = <size_t>self.block_size * self.block_count
        self.ring = <uint8_t *>mmap(NULL, self.ring_size, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_POPULATE, self.fd, 0)
        if self.ring == <uint8_t *>MAP_FAILED:
            self.ring = NULL
            raise_errno(errno, f"mapping the TPACKET_V3 ring of {self.name}")
        memset(&sll, 0, sizeof(sll))
        sll.sll_family = AF_PACKET
        sll.sll_protocol = htons(ETH_P_ALL)
        sll.sll_ifindex = self.ifindex        # 0: every interface ("any")
        if bind(self.fd, <sockaddr *>&sll, sizeof(sll)) < 0:
            raise_errno(errno, f"binding to interface {self.name}")
        if self.promisc:
            memset(&mr, 0, sizeof(mr))
            mr.mr_ifindex = self.ifindex
            mr.mr_type = PACKET_MR_PROMISC
            # the membership ends with the socket, so a crash can't leave promisc on
            if setsockopt(self.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0:
                raise_errno(errno, f"enabling promiscuous mode on {self.name}")
        if fanout is not None:
            self._join_fanout(fanout[0], fanout[1], fanout[2])
            attach_filter(self.fd, bpf if bpf is not None else [(0x06, 0, 0, 262144)], self.name)

    cdef _join_fanout(self, int group, int type_flags, program):
        cdef int arg = (group & 0xFFFF) | ((type_flags & 0xFFFF) << 16)
        cdef int got = 0, prog_fd
        cdef socklen_t ln = sizeof(got)
        cdef sock_fprog fprog
        cdef const unsigned char[:] code
        if setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0:
            err = errno
            what = f"joining fanout group {group} on {self.name}"
            if err == _errno.EINVAL:
                raise ConfigError(f"{what}: the group exists with another mode or other flags, "
                                  f"or on another interface")
            if err == _errno.ENOSPC:
                raise ConfigError(f"{what}: the group is full")
            raise_errno(err, what)
        # the id the kernel gave (PACKET_FANOUT_FLAG_UNIQUEID), mode and flags
        if getsockopt(self.fd, SOL_PACKET, PACKET_FANOUT, &got, &ln) < 0:
            raise_errno(errno, f"reading the fanout group of {self.name}")
        self.fanout_group = got & 0xFFFF
        self.fanout_type_flags = (got >> 16) & 0xFFFF
        if program is None:
            return
        if isinstance(program, list):
            code = pack_insns(program)
            fprog.len = len(program)
            fprog.filter = <sock_filter *>&code[0]
            if setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT_DATA, &fprog, sizeof(fprog)) < 0:
                raise_errno(errno, f"setting the fanout program of group {self.fanout_group} "
                                   f"on {self.name}")
        else:
            prog_fd = program
            if setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog_fd, sizeof(prog_fd)) < 0:
                raise_errno(errno, f"setting the eBPF fanout program of group "
                                   f"{self.fanout_group} on {self.name}")

    cdef _enable_hw_timestamps(self):
        """Ask the driver to time-stamp every received packet (libpcap's
        adapter time stamp types); needs CAP_NET_ADMIN."""
        cdef hwtstamp_config cfg
        cdef ifreq ifr
        memset(&cfg, 0, sizeof(cfg))
        cfg.tx_type = HWTSTAMP_TX_ON
        cfg.rx_filter = HWTSTAMP_FILTER_ALL
        memset(&ifr, 0, sizeof(ifr))
        name = self.name.encode()[:15]
        memcpy(ifr.ifr_name, <const char *>name, len(name))
        ifr.ifr_data = <char *>&cfg
        if ioctl(self.fd, SIOCSHWTSTAMP, &ifr) < 0:
            raise_errno(errno, f"enabling hardware time stamps on {self.name}")

    def stop_receiving(self):
        """Take no more packets: a filter accepting nothing replaces the
        capture filter, so the kernel's counters stop and what the ring
        holds is everything there is.  Then read batches until an empty one:
        ``batch(timeout)`` waits for a partly filled block until the kernel
        retires it (``drain_wait_ms``) and returns it, so a stop keeps every
        packet the counters include."""
        if self.fd < 0 or self.stopping:
            return
        attach_filter(self.fd, [(0x06, 0, 0, 0)], self.name)     # BPF_RET|BPF_K 0
        # A packet that passed the old filter on another CPU may still be on
        # its way into the ring: MEMBARRIER_CMD_GLOBAL returns after an RCU
        # grace period, when every receive path that saw the old filter is
        # done (they run under rcu_read_lock).  Where it is refused
        # (nohz_full), a pause long enough for one packet copy stands in.
        with nogil:
            if syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0:
                usleep(10000)
        self.stopping = True

    @property
    def drain_wait_ms(self):
        """How long a stop waits for the kernel to retire the last block:
        its timer fires every block timeout and retires a block that has
        seen no new packet since the previous firing."""
        return 2 * self.block_timeout_ms + 100

    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1:
        cdef uint8_t *block
        cdef tpacket_block_desc *bd
        cdef pollfd pfd
        cdef int rc, wait_ms
        cdef Py_ssize_t n
        if self.ring == NULL:
            raise ValueError(f"capture on {self.name} is closed")
        block = self.ring + <size_t>self.next_block * self.block_size
        bd = <tpacket_block_desc *>block
        # Acquire: pairs with the kernel's smp_wmb()+status store in
        # prb_close_block(), so the packets are visible once we see USER.
        while not (load_acquire_u32(&bd.hdr.bh1.block_status) & TP_STATUS_USER):
            if self.stopping and (bd.hdr.bh1.seq_num != self.expected_seq or
                                  load_acquire_u32(&bd.hdr.bh1.num_pkts) == 0):
                # Nothing enters the ring any more (stop_receiving), and the
                # block the kernel would fill next is empty, or not even
                # opened since we gave it back (its header is from the last
                # lap: a ring that was full): all is read.
                return 0
            if timeout_ms == 0:
                return 0
            wait_ms = timeout_ms
            if self.failure is not None:
                # The kernel still retires the block it was filling when the
                # interface went away (after block_timeout_ms): wait for that
                # once, so nothing captured is left behind, then stop.
                if self.failure_waited:
                    raise InterfaceError(self.failure)
                self.failure_waited = True
                wait_ms = 2 * self.block_timeout_ms
            pfd.fd = self.fd
            pfd.events = POLLIN | POLLERR
            pfd.revents = 0
            with nogil:
                rc = poll(&pfd, 1, wait_ms)
            if rc < 0:
                if errno == EINTR:
                    if PyErr_CheckSignals() < 0:
                        raise
                    continue
                raise_errno(errno, f"waiting for packets on {self.name}")
            if rc > 0 and pfd.revents & (POLLERR | POLLHUP | POLLNVAL) and self.failure is None:
                self.failure = self.socket_failure()
                if PyErr_CheckSignals() < 0:
                    raise
                continue
            if (rc == 0 and self.failure is None and
                    not (load_acquire_u32(&bd.hdr.bh1.block_status) & TP_STATUS_USER)):
                if self.stopping:
                    # the retire timer did not come in time (a starved CPU):
                    # no writer is left, so the block can be read as it is
                    break
                return 0
        with nogil:
            n = walk_block(block, self.block_size, batch, &self.wp)
        self.expected_seq = bd.hdr.bh1.seq_num + 1
        batch.cookie = self.next_block
        batch.cookie2 = 1
        self.next_block = (self.next_block + 1) % self.block_count
        return n

    cdef str socket_failure(self):
        """The socket's pending error (reading it clears it) as a one-line
        reason, in libpcap's words; None if there was none."""
        cdef int err = pending_error(self.fd)
        if err < 0:
            err = errno
        if err == 0:
            return None
        if err == ENETDOWN:
            return link_lost(self.name, self.ifindex, self.fd)
        return f"capture on {self.name}: {_os.strerror(err)}"

    cdef int release_batch(self, Batch batch) except -1:
        cdef tpacket_block_desc *bd
        if self.ring == NULL or batch.cookie2 == 0:
            return 0
        bd = <tpacket_block_desc *>(self.ring + <size_t>batch.cookie * self.block_size)
        batch.cookie2 = 0
        # Release: our reads (and in-place VLAN rewrites) of this block
        # complete before the kernel may refill it; pairs with the kernel's
        # status read in prb_open_block/prb_queue_frozen paths.
        store_release_u32(&bd.hdr.bh1.block_status, TP_STATUS_KERNEL)
        return 0

    def stats(self):
        """Cumulative counters: ``received`` (tcpdump's "received by filter",
        drops included, as libpcap counts), ``dropped`` (ring full),
        ``freeze_count`` (times the ring froze for lack of free blocks)."""
        cdef tpacket_stats_v3 st
        cdef socklen_t ln = sizeof(st)
        if self.fd >= 0:
            memset(&st, 0, sizeof(st))
            # the kernel zeroes its counters on each read: accumulate here
            if getsockopt(self.fd, SOL_PACKET, PACKET_STATISTICS, &st, &ln) == 0:
                self.st_packets += st.tp_packets
                self.st_drops += st.tp_drops
                self.st_freeze += st.tp_freeze_q_cnt
        out = {"received": self.st_packets, "dropped": self.st_drops,
               "freeze_count": self.st_freeze}
        if self.fanout_group >= 0 and self.fd >= 0 and (
                (self.fanout_type_flags & 0xFF) == 3 or self.fanout_type_flags & PACKET_FANOUT_FLAG_ROLLOVER):
            self._rollover_stats(out)
        return out

    cdef _rollover_stats(self, dict out):
        # cumulative in the kernel (not reset on read); only rollover groups have them
        cdef tpacket_rollover_stats rs
        cdef socklen_t ln = sizeof(rs)
        memset(&rs, 0, sizeof(rs))
        if getsockopt(self.fd, SOL_PACKET, PACKET_ROLLOVER_STATS, &rs, &ln) == 0:
            out["rollover"] = rs.tp_all
            out["rollover_huge"] = rs.tp_huge
            out["rollover_failed"] = rs.tp_failed

    def fileno(self):
        return self.fd

    @property
    def ring_bytes(self):
        return self.ring_size

    def close(self):
        """Stop capturing; packets still referenced stay readable until their
        memoryviews are gone (the ring is unmapped last)."""
        if self.closed:
            return
        if self.fd >= 0:
            self.stats()
        self.closed = True
        self._teardown()

    cdef _teardown(self):
        if self.ring != NULL and self.exports == 0:
            munmap(self.ring, self.ring_size)
            self.ring = NULL
        if self.fd >= 0 and self.ring == NULL:
            close(self.fd)
            self.fd = -1

    def __dealloc__(self):
        if self.ring != NULL:
            munmap(self.ring, self.ring_size)
        if self.fd >= 0:
            close(self.fd)


def validate_ring(block_size, block_count, frame_size, block_timeout_ms, snaplen):
    """Check ring parameters the way the kernel will, with messages that name
    the parameter.  Any Python int is accepted here (negative, or beyond 64
    bits), so a bad value always gets its own message."""
    cdef long page = sysconf(_SC_PAGESIZE)
    for what, v in (("block size", block_size), ("block count", block_count),
                    ("frame size", frame_size), ("block timeout", block_timeout_ms),
                    ("snaplen", snaplen)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{what} must be a whole number, not {v!r}")
    if block_size < page or block_size % page or block_size & (block_size - 1):
        raise ConfigError(f"block size {block_size} must be a power of two and at least "
                          f"the page size ({page})")
    if block_size > (1 << 30):
        raise ConfigError(f"block size {block_size} is too large (max 1 GiB)")
    if block_count < 1 or block_count > 65536:
        raise ConfigError(f"block count {block_count} must be between 1 and 65536")
    if frame_size < 128 or frame_size % TPACKET_ALIGNMENT or frame_size > block_size:
        raise ConfigError(f"frame size {frame_size} must be a multiple of {TPACKET_ALIGNMENT}, "
                          f"at least 128 and at most the block size")
    if block_timeout_ms < 1 or block_timeout_ms > 60000:
        raise ConfigError(f"block timeout {block_timeout_ms} ms must be between 1 and 60000")
    if snaplen < 1 or snaplen > 262144:
        raise ConfigError(f"snaplen {snaplen} must be between 1 and 262144")
    if block_size * block_count > (1 << 34):
        raise ConfigError(f"ring of {block_count} x {block_size} bytes is larger than 16 GiB")


cdef attach_filter(int fd, list insns, str iface):
    cdef sock_fprog prog
    cdef const unsigned char[:] view = pack_insns(insns)
    prog.len = len(insns)
    prog.filter = <sock_filter *>&view[0]
    if setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0:
        raise_errno(errno, f"attaching the BPF filter on {iface}")


from pyxring.tpacket._walker import (walk_block_for_test, SIZEOF_TPACKET3_HDR, SIZEOF_SOCKADDR_LL,
                                     SIZEOF_BLOCK_DESC)
