"""AF_XDP workers: one or more RX queues per worker, each worker its own
UMEM and sockets, one XDP program (the parent's) redirecting every frame
into the socket of its queue through the shared XSKMAP.

Why each worker has its own UMEM: a UMEM shared by processes needs the
same memory mapped in each and one fill/completion ring pair per queue
driven by its owner; the kernel allows it (XDP_SHARED_UMEM), but nothing
is gained when each queue has one reader.  A worker with several queues
shares its UMEM among them, as a single capture does.

On a one-queue interface there is nothing to split: the kernel hands all
of a queue's frames to the one socket bound to it (an XSKMAP entry is
per queue), so a split needs several RX queues, or a ``cpumap`` program
spreading frames over CPUs before the socket, which AF_XDP can't follow
(a frame redirected to a cpumap becomes an skb on that CPU and no longer
reaches an AF_XDP socket).  Use ``backend="tpacket"`` there.
"""
from pyxring.errors import ConfigError


class XdpParent:
    """The program side, held by the parent: loaded and attached once all
    workers' sockets are known; frames of a queue whose worker died go to
    the host's stack (``forget``)."""

    def __init__(self, iface, ifindex, options, filter, frags, queues_of):
        self.iface, self.ifindex = iface, ifindex
        self.options, self.filter, self.frags = options, filter, frags
        self.queues_of = queues_of
        self.program = None
        self.restore = None
        self.promisc = None
        self.final_counters = {}
        self.promisc_wanted = True

    def attach(self, queue_fds):
        from pyxring import xdp
        p = self.options
        self.restore = xdp._take_interface(self.iface, self.ifindex, p["xdp_replace"])

        class Sockets:
            def xsk_fds(self_inner):
                return queue_fds
        self.program = xdp._attach_object(p["xdp_prog"], self.iface, self.ifindex, Sockets(),
                                          p["xdp_mode"], self.filter, self.frags)
        if self.program.attached_mode == "generic" and any(q for q, _ in queue_fds):
            self.close()
            raise ConfigError(f"{self.iface}: XDP attached in generic mode, where every frame "
                              f"arrives on queue 0: per-queue workers need native mode")
        if self.promisc_wanted:
            self.promisc = xdp._promisc_socket(self.iface, self.ifindex)

    def forget(self, queues):
        """A worker died: its queues' frames go up the stack from now on
        (counted as passed), not into a ring nobody reads."""
        import struct
        from pyxring.bpf import syscall
        if self.program is None:
            return
        for q in queues:
            syscall.map_delete(self.program.xsks_map_fd, struct.pack("=I", q))

    def counters(self):
        if self.program is not None:
            return self.program.counters()
        return self.final_counters

    def detach(self):
        """No frame enters a worker's ring after this (the workers then
        drain what is there)."""
        if self.program is not None:
            self.program.detach()
            _grace_period()
            self.final_counters = self.program.counters()

    def close(self):
        if self.program is not None:
            self.final_counters = self.program.counters()
            self.program.close()
            self.program = None
        if self.promisc is not None:
            self.promisc.close()
            self.promisc = None
        restore, self.restore = self.restore, None
        if restore is not None:
            restore()


def _grace_period():
    """Return once every receive path that could still run the detached
    program is done: frames it redirected are in their rings then (they are
    flushed at the end of the same NAPI poll, inside one RCU read section,
    and MEMBARRIER_CMD_GLOBAL waits for an RCU grace period).  Where it is
    refused (nohz_full), a pause long enough for one poll stands in."""
    import ctypes
    import time
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(324, 1, 0, 0) != 0:          # SYS_membarrier (x86_64), CMD_GLOBAL
        time.sleep(0.01)


def plan(spec, workers, filter):
    """Check the options and share the queues out; the parent's XdpParent.
    One worker per queue by default; more workers than queues is an
    error."""
    from pyxring import xdp
    opts = dict(spec.capture)
    promisc = opts.pop("promisc", True)
    snaplen = opts.pop("snaplen", 262144)
    direction = opts.pop("direction", "in")
    if direction not in ("in", "inout"):
        raise ConfigError("xdp: AF_XDP captures received frames only (direction 'out' needs "
                          "--backend tpacket)")
    if opts.get("queue") not in (None, "all"):
        raise ConfigError("AF_XDP workers share out all the queues; --queue can't be given")
    opts.pop("queue", None)
    p = xdp.resolve_options(opts)
    if p["xdp_mode"] not in ("auto", "native", "generic"):
        raise ConfigError(f"--xdp-mode must be auto, native or generic, not {p['xdp_mode']!r}")
    if p["xdp_prog"] and p["xdp_prog"].endswith(".c"):
        raise ConfigError("AF_XDP workers load a clang-built program (.o), not a .c through bcc")
    ifindex, mtu, nq = xdp.link_info(spec.iface)
    n = nq if workers is None else workers
    if n > nq:
        raise ConfigError(f"{n} AF_XDP workers for {spec.iface}'s {nq} RX queue(s): one queue "
                          f"per worker at least (add queues, or use --backend tpacket)")
    if n < 1:
        raise ConfigError(f"workers must be at least 1, not {n}")
    queues_of = [[q for q in range(nq) if q % n == i] for i in range(n)]
    frame_room = p["frame_size"] - xdp.XDP_PACKET_HEADROOM - p["headroom"]
    frags = p["multi_buffer"]
    if frags is None:
        frags = mtu + 14 + 8 > frame_room
    spec.nworkers = n
    spec.xdp = {"ifindex": ifindex, "queues_of": queues_of, "options": p, "snaplen": snaplen,
                "frags": bool(frags)}
    parent = XdpParent(spec.iface, ifindex, p, filter, bool(frags), queues_of)
    parent.promisc_wanted = promisc
    return parent


def open_queues(spec, index):
    """In worker ``index``: its AF_XDP sockets over its own UMEM."""
    from pyxring import xdp
    from pyxring.xdp._xsk import XskSource
    x = spec.xdp
    p = x["options"]
    queues = x["queues_of"][index]
    # each worker's UMEM is its share of the asked size
    frames = max(64, p["frame_count"] // len(x["queues_of"]))
    frames = 1 << (frames.bit_length() - 1)
    rx_ring = min(p["rx_ring_size"], frames // 2 if frames >= 128 else frames)
    batch = min(p["batch_size"], rx_ring)
    return xdp._bind_when_free(lambda: XskSource(
        spec.iface, x["ifindex"], queues, snaplen=x["snaplen"], frame_size=p["frame_size"],
        frame_count=frames, headroom=p["headroom"], rx_ring_size=rx_ring,
        bind_mode=p["bind_mode"], multi_buffer=x["frags"], batch_size=batch,
        need_wakeup=p.get("need_wakeup", True), wait=p["wait"]))
