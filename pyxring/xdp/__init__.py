"""AF_XDP backend: an XDP program redirects frames into AF_XDP sockets
whose UMEM is read in place, batch by batch.

``open()`` does the whole set-up in the order that loses nothing and leaves
nothing behind: check the interface has no XDP program (or replace it when
asked, keeping a reference to put it back), create the sockets and rings,
load the program, install the filter, route each queue to its socket, and
only then attach the program — by BPF link, so it goes away with the
process even on SIGKILL.
"""
import atexit
import os
import weakref
import socket as _socket
import warnings

from pyxring.errors import (BackendUnavailable, ConfigError, InterfaceError, PyxringError,
                            ResourceBusy)

__all__ = ["open", "add_cli_options", "cli_options", "DEFAULTS", "XdpWarning"]

DEFAULTS = {"xdp_mode": "auto", "bind_mode": "auto", "queue": None, "frame_size": 2048,
            "frame_count": 32768, "headroom": 0, "rx_ring_size": 16384, "batch_size": 4096,
            "xdp_prog": None, "xdp_replace": False, "multi_buffer": None, "tx_frames": 0,
            "wait": "adaptive"}

XDP_PACKET_HEADROOM = 256
_HERE = os.path.dirname(os.path.abspath(__file__))
_warned = set()


class XdpWarning(UserWarning):
    """Something the AF_XDP capture can't do here, said once."""


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, XdpWarning, stacklevel=3)


def default_object():
    """Path of pyxring_xdp.o: $PYXRING_XDP_OBJ, else xdp_prog/ of the source tree."""
    env = os.environ.get("PYXRING_XDP_OBJ")
    if env:
        return env
    for cand in (os.path.join(_HERE, "pyxring_xdp.o"),
                 os.path.join(_HERE, "..", "..", "xdp_prog", "pyxring_xdp.o")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    raise BackendUnavailable("xdp: pyxring_xdp.o not found (run `make xdp`, or set PYXRING_XDP_OBJ)")


def link_info(iface):
    """(ifindex, mtu, rx queue count) of ``iface`` in this thread's namespace
    (ioctls on a socket made here: /sys shows the mounter's namespace)."""
    import ctypes
    import fcntl
    import struct
    try:
        ifindex = _socket.if_nametoindex(iface)
    except OSError:
        raise InterfaceError(f"no such interface: {iface}") from None
    name = iface.encode()[:15].ljust(16, b"\0")
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as s:
        mtu = struct.unpack_from("i", fcntl.ioctl(s, 0x8921, name + bytes(24)), 16)[0]  # SIOCGIFMTU
        # ETHTOOL_GCHANNELS: the queues in use (IFLA_NUM_RX_QUEUES is the maximum)
        chan = (ctypes.c_uint32 * 9)(0x3c)
        ifr = name + struct.pack("P", ctypes.addressof(chan)) + bytes(16)
        try:
            fcntl.ioctl(s, 0x8946, ifr)  # SIOCETHTOOL
            nq = max(chan[5] + chan[8], 1)   # rx_count + combined_count
        except OSError:
            nq = 1
    return ifindex, mtu, nq


def _take_interface(iface, ifindex, replace):
    """Make room for our program; returns a callable that puts back what
    was there (or None)."""
    from pyxring.xdp import _bpf
    cur = _bpf.query(ifindex)
    if not cur["prog_id"]:
        return None
    what = (f"{iface} already has XDP program id {cur['prog_id']}"
            f" ({cur['name'] or 'unnamed'}, {cur['mode']} mode)")
    if not replace:
        raise ResourceBusy(f"{what}; stop its owner (another capture?) or pass --xdp-replace")
    old_fd = _bpf.prog_fd_by_id(cur["prog_id"])    # keeps it alive while detached
    try:
        _bpf.netlink_detach(ifindex, cur["mode"], old_fd, iface)
    except ResourceBusy:
        _bpf.close_fd(old_fd)
        raise ResourceBusy(f"{what}, held by a BPF link of another process: it can't be replaced; "
                           f"stop that process") from None
    except BaseException:
        _bpf.close_fd(old_fd)
        raise
    mode = cur["mode"]

    def restore():
        try:
            if not _bpf.query(ifindex)["prog_id"]:
                _bpf.netlink_attach(ifindex, old_fd, mode, iface)
        except PyxringError as e:
            warnings.warn(f"could not put back XDP program id {cur['prog_id']} on {iface}: {e}",
                          XdpWarning)
        finally:
            _bpf.close_fd(old_fd)
    return restore


def _promisc_socket(iface, ifindex):
    """Promiscuous mode tied to a socket's life: the kernel drops the
    membership when the socket closes, also when the process is killed."""
    import struct
    s = _socket.socket(_socket.AF_PACKET, _socket.SOCK_RAW, 0)   # protocol 0: receives nothing
    try:
        # SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct packet_mreq{ifindex, PACKET_MR_PROMISC}
        s.setsockopt(263, 1, struct.pack("iHH8s", ifindex, 1, 0, b""))
    except OSError as e:
        s.close()
        from pyxring.errors import raise_errno
        raise_errno(e.errno, f"enabling promiscuous mode on {iface}")
    return s


# Programs attached by netlink outlive the process: detach them at exit.
_netlink_sources = weakref.WeakSet()


@atexit.register
def _detach_netlink_programs():
    for src in list(_netlink_sources):
        try:
            src.close()
        except Exception:
            pass


def _load_filter(expr, prog, frags):
    try:
        from pyxring.bpf import xdp_filter
    except ImportError:
        raise BackendUnavailable("xdp: capture filters need pyxring.bpf (the XDP filter compiler), "
                                 "which is not available yet; use --backend tpacket") from None
    prog_fd, _info = xdp_filter.load_filter(expr, xsks_map_fd=prog.xsks_map_fd,
                                            counters_fd=prog.counters_fd, frags=frags, linktype=1)
    from pyxring.xdp import _bpf
    try:
        prog.set_filter(prog_fd)
    finally:
        _bpf.close_fd(prog_fd)     # filter_jmp holds its own reference


def _variants(mode, xdp_prog, frags):
    """(attach mode, object, program name, device-bound) to try, best first."""
    from pyxring.xdp import _bpf
    modes = ["native", "generic"] if mode == "auto" else [mode]
    out = []
    for m in modes:
        if xdp_prog:
            out.append((m, xdp_prog, None, False))
            continue
        obj = default_object()
        if m == "native":
            # device-bound: can re-insert VLAN tags the driver offloaded
            out.append((m, obj, _bpf.PROG_VLAN_FRAGS if frags else _bpf.PROG_VLAN, True))
        out.append((m, obj, _bpf.PROG_FRAGS if frags else _bpf.PROG_PLAIN, False))
    return out


def resolve_options(opts):
    """The options ``open`` will use: the defaults, what the caller set, and
    the values derived from those; a bad or unknown option is a ConfigError
    raised before any system call."""
    given = {k: v for k, v in opts.items() if v is not None}
    p = dict(DEFAULTS)
    p.update(given)
    unknown = set(p) - set(DEFAULTS) - {"need_wakeup"}
    if unknown:
        raise ConfigError(f"xdp: unknown option(s) {', '.join(sorted(unknown))}")
    check_sizes(p)
    if "batch_size" not in given:
        # derived, not set: it follows the RX ring the caller chose
        p["batch_size"] = min(DEFAULTS["batch_size"], p["rx_ring_size"])
    return p


def open(iface, *, snaplen=262144, promisc=True, direction="inout", filter=None, **opts):
    """Open an AF_XDP capture on ``iface``.

    Options (see ``DEFAULTS``): ``xdp_mode`` auto|native|generic,
    ``bind_mode`` auto|copy|zerocopy, ``queue`` (an int, or None for all
    queues), ``frame_size`` 2048|4096, ``frame_count``, ``headroom``,
    ``rx_ring_size``, ``batch_size``, ``xdp_prog`` (a clang-built .o with an
    ``xsks_map``), ``xdp_replace`` (replace an attached program, put back at
    close), ``multi_buffer`` (None = when the MTU needs it), ``tx_frames``
    (UMEM frames kept for ``send()``).

    AF_XDP sees received frames only: ``direction`` "out" is refused.
    ``promisc`` is held by an AF_PACKET membership, so it ends with the
    process however it ends.
    """
    from pyxring.xdp._xsk import XskSource
    p = resolve_options(opts)
    if direction == "out":
        raise ConfigError("xdp: AF_XDP captures received frames only (direction 'out' needs --backend tpacket)")
    if p["xdp_mode"] not in ("auto", "native", "generic"):
        raise ConfigError(f"--xdp-mode must be auto, native or generic, not {p['xdp_mode']!r}")
    xdp_prog = p["xdp_prog"]
    if xdp_prog and xdp_prog.endswith(".c") and p["multi_buffer"]:
        raise ConfigError("--xdp-prog FILE.c: bcc can't load multi-buffer (xdp.frags) programs; "
                          "build it with clang and pass the .o")
    if xdp_prog and not os.path.exists(xdp_prog):
        raise ConfigError(f"--xdp-prog: no such file: {xdp_prog}")
    ifindex, mtu, nq = link_info(iface)
    if p["queue"] is None or p["queue"] == "all":
        queues = list(range(nq))
    else:
        q = int(p["queue"])
        if not 0 <= q < nq:
            raise ConfigError(f"--queue {q}: {iface} has {nq} RX queue(s) (0..{nq - 1})")
        queues = [q]
    if p["xdp_mode"] == "generic" and queues != [0] and p["queue"] is not None:
        _warn_once(("genq", iface), f"{iface}: in generic XDP mode every packet arrives on queue 0; "
                                    f"capturing queue {queues[0]} will see nothing")
    frame_room = p["frame_size"] - XDP_PACKET_HEADROOM - p["headroom"]
    frags = p["multi_buffer"]
    if frags is None:
        frags = mtu + 14 + 8 > frame_room     # Ethernet header + two VLAN tags
    restore = _take_interface(iface, ifindex, p["xdp_replace"])
    src = None
    try:
        src = _bind_when_free(lambda: XskSource(
            iface, ifindex, queues, snaplen=snaplen, frame_size=p["frame_size"],
            frame_count=p["frame_count"], headroom=p["headroom"],
            rx_ring_size=p["rx_ring_size"], tx_frames=p["tx_frames"],
            bind_mode=p["bind_mode"], multi_buffer=bool(frags),
            batch_size=p["batch_size"], need_wakeup=p.get("need_wakeup", True),
            wait=p["wait"]))
        if xdp_prog and xdp_prog.endswith(".c"):
            src.program = _attach_bcc(xdp_prog, iface, ifindex, src, p["xdp_mode"], filter, frags)
        else:
            src.program = _attach_object(xdp_prog, iface, ifindex, src, p["xdp_mode"], filter, frags)
        if src.program.attached_mode == "generic":
            if any(q != 0 for q in queues) and p["queue"] is not None:
                _warn_once(("genq", iface), f"{iface}: XDP fell back to generic mode, where every "
                                            f"packet arrives on queue 0")
            _warn_once(("vlan", iface), f"{iface}: generic XDP mode can't see VLAN tags the driver "
                                        f"took out of frames (rx VLAN offload); such frames arrive untagged")
        if src.program.netlink:
            _netlink_sources.add(src)
        if promisc:
            src.promisc_sock = _promisc_socket(iface, ifindex)
        src.restore = restore
        restore = None
        return src
    except BaseException:
        if src is not None:
            src.close()
        if restore is not None:
            restore()
        raise


# (option, name in messages, smallest, largest, power of two)
_SIZES = (("frame_size", "UMEM frame size", 2048, 4096, True),
          ("frame_count", "UMEM frame count", 1, 1 << 24, True),
          ("rx_ring_size", "RX ring size", 1, 1 << 24, True),
          ("headroom", "UMEM headroom", 0, 4096, False),
          ("batch_size", "batch size", 1, 1 << 24, False),
          ("tx_frames", "TX frame count", 0, 1 << 24, False))


def check_sizes(p):
    """Each size option as a Python int in its range, before anything is
    converted to C: a bad value is a ConfigError naming it."""
    from pyxring.backends import check_size
    for key, what, low, high, pow2 in _SIZES:
        check_size(what, p[key], low, high, pow2)


def _size_type(key):
    from pyxring.backends import size_option
    for k, what, low, high, pow2 in _SIZES:
        if k == key:
            return size_option(what, low, high, pow2)
    raise KeyError(key)


BIND_RETRY_S = 1.5


def _bind_when_free(make):
    """``make()``, retried while the queue is busy for up to BIND_RETRY_S:
    the kernel frees a queue from a closed AF_XDP socket in deferred work,
    so a capture started right after another ended (or a doctor trial after
    the previous one) can find it still taken for a moment."""
    import time
    deadline = time.monotonic() + BIND_RETRY_S
    while True:
        try:
            return make()
        except ResourceBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _attach_object(xdp_prog, iface, ifindex, src, xdp_mode, filter, frags):
    """Load, fill the maps and attach the first variant that works."""
    from pyxring.xdp import _bpf
    errors = []
    for mode, obj, name, dev_bound in _variants(xdp_mode, xdp_prog, frags):
        prog = None
        try:
            prog = _bpf.XdpProgram(obj, iface, ifindex, name, dev_bound=dev_bound,
                                   frags=bool(frags) if xdp_prog else None)
            if filter:
                _load_filter(filter, prog, bool(frags))
            for qid, fd in src.xsk_fds():
                prog.set_socket(qid, fd)
            prog.attach(mode)
            return prog
        except PyxringError as e:
            if prog is not None:
                prog.close()
            errors.append(e)
            # a bad filter or a missing permission won't get better in another mode
            if type(e).__name__ in ("FilterError", "FilterUnsupported", "PermissionDenied"):
                raise
    # the last (generic-mode) error says most: native may simply be unsupported
    raise errors[-1]


def _attach_bcc(path, iface, ifindex, src, xdp_mode, filter, frags):
    """A user's C program through bcc: compiled once, attached natively or
    generically."""
    from pyxring.xdp import _bcc
    if frags:
        raise ConfigError(f"{iface}: the MTU needs a multi-buffer (xdp.frags) program, which bcc "
                          f"can't load; build {path} with clang and pass the .o")
    prog = _bcc.load(path, iface, ifindex)
    try:
        if filter:
            _load_filter(filter, prog, False)
        for qid, fd in src.xsk_fds():
            prog.set_socket(qid, fd)
        modes = ["native", "generic"] if xdp_mode == "auto" else [xdp_mode]
        for i, mode in enumerate(modes):
            try:
                prog.attach(mode)
                return prog
            except PyxringError:
                if i == len(modes) - 1:
                    raise
    except BaseException:
        prog.close()
        raise


def add_cli_options(group):
    group.add_argument("--xdp-mode", choices=("auto", "native", "generic"),
                       help="XDP attach mode (default auto: native, else generic)")
    group.add_argument("--xdp-bind", dest="bind_mode", choices=("auto", "copy", "zerocopy"),
                       help="AF_XDP bind mode (default auto: zero-copy, else copy)")
    group.add_argument("--queue", metavar="N|all",
                       help="RX queue to capture (default all)")
    group.add_argument("--xdp-frame-size", dest="frame_size", type=int, choices=(2048, 4096),
                       help=f"UMEM chunk size (default {DEFAULTS['frame_size']})")
    group.add_argument("--xdp-frames", dest="frame_count", type=_size_type("frame_count"), metavar="N",
                       help=f"UMEM chunks, a power of two (default {DEFAULTS['frame_count']})")
    group.add_argument("--xdp-headroom", dest="headroom", type=_size_type("headroom"), metavar="BYTES",
                       help="UMEM headroom before each frame (default 0)")
    group.add_argument("--xdp-rx-ring", dest="rx_ring_size", type=_size_type("rx_ring_size"), metavar="N",
                       help=f"RX ring entries, a power of two (default {DEFAULTS['rx_ring_size']})")
    group.add_argument("--xdp-prog", metavar="FILE",
                       help="your own XDP program with an xsks_map: FILE.o (clang -target bpf, "
                            "loaded by libbpf) or FILE.c (compiled by bcc)")
    group.add_argument("--xdp-wait", dest="wait", choices=("adaptive", "poll"),
                       help="how to wait for frames: adaptive (default: one sleep per batch, "
                            "sized to the traffic) or poll (poll() whenever the ring is empty)")
    group.add_argument("--xdp-replace", action="store_true", default=None,
                       help="replace an XDP program already on the interface (put back on exit)")


def cli_options(args):
    out = {k: getattr(args, k, None) for k in ("xdp_mode", "bind_mode", "queue", "frame_size",
                                                "frame_count", "headroom", "rx_ring_size",
                                                "xdp_prog", "xdp_replace", "wait")}
    if out["queue"] not in (None, "all"):
        try:
            out["queue"] = int(out["queue"])
        except ValueError:
            raise ConfigError(f"--queue must be a number or 'all', not {out['queue']!r}") from None
    return out
