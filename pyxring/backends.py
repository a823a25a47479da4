"""Choosing and opening a packet source: ``pyxring.capture(...)``.

Every backend is a package ``pyxring.<name>`` exposing
``open(iface, *, snaplen, promisc, direction, filter, **opts) -> Source``,
``add_cli_options(group)`` and ``cli_options(args)``.  The object returned is
the backend's ``Source``: a context manager, iterable per packet
(``for pkt in cap``), per batch (``cap.batches()``), with ``cap.stats()``.
"""
import fcntl
import importlib
import socket
import struct
import sys

from pyxring.errors import BackendUnavailable, ConfigError, InterfaceError

BACKENDS = ("tpacket", "xdp", "myring")
DEVICE_BACKENDS = {"myring": "myring"}     # capture "sources" that are devices, not interfaces

SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1


def backend_module(name):
    """The backend package ``pyxring.<name>``, or BackendUnavailable."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (choose auto, {', '.join(BACKENDS)})")
    try:
        return importlib.import_module(f"pyxring.{name}")
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name} is not available: {exc}") from None


def check_size(what, value, low, high, pow2=False):
    """``value`` as an int in [low, high] (and a power of two if ``pow2``),
    else a ConfigError naming ``what``.  Checked on the Python int, so -1 or
    2**64 get this message rather than a C conversion's OverflowError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be a whole number, not {value!r}")
    if not low <= value <= high or (pow2 and value & (value - 1)):
        kind = "a power of two" if pow2 else "a number"
        raise ConfigError(f"{what} {value} must be {kind} between {low} and {high}")
    return value


def size_option(what, low, high, pow2=False):
    """An argparse ``type`` for a size option: a usage error (exit 2) for a
    value out of range, before anything is opened."""
    import argparse

    def parse(text):
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}") from None
        try:
            return check_size(what, value, low, high, pow2)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = what
    return parse


def available_backends():
    out = []
    for name in BACKENDS:
        try:
            backend_module(name)
            out.append(name)
        except BackendUnavailable:
            pass
    return out


def check_interface(iface):
    """Raise InterfaceError unless ``iface`` exists and is up (in the
    caller's network namespace)."""
    if iface == "any":
        return          # libpcap's pseudo-device: every interface, always there
    if not iface or len(iface) >= 16 or "/" in iface:
        raise InterfaceError(f"invalid interface name {iface!r}")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", iface.encode(), 0)
        try:
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        except OSError:
            raise InterfaceError(f"no such interface: {iface}") from None
    finally:
        s.close()
    if not flags & IFF_UP:
        raise InterfaceError(f"interface {iface} is down")


def resolve_backend(iface, backend, direction):
    """Which backend ``auto`` means for this capture."""
    if iface in DEVICE_BACKENDS:
        if backend not in ("auto", DEVICE_BACKENDS[iface]):
            raise ConfigError(f"{iface} is a device: use --backend {DEVICE_BACKENDS[iface]}")
        return DEVICE_BACKENDS[iface]
    if iface == "any":
        if backend not in ("auto", "tpacket"):
            raise ConfigError(f"-i any captures with the tpacket backend only (AF_XDP binds "
                              f"the queues of one interface): use --backend tpacket or auto")
        return "tpacket"
    if backend != "auto":
        return backend
    # AF_XDP sees only received frames and takes them away from the host's
    # stack; it is the automatic choice only for ingress captures (-Q in).
    if direction == "in" and "xdp" in available_backends():
        return "xdp"
    return "tpacket"


def open_capture(iface, *, filter=None, snaplen=262144, promisc=True, direction="inout",
                 backend="auto", notice=None, fallback_opts=None, **opts):
    """Open a capture on ``iface`` (an interface name, ``"any"``, or
    ``"myring"``).

    ``filter`` is a tcpdump expression, run in the kernel.  ``backend`` is
    ``"auto"``, ``"tpacket"``, ``"xdp"`` or ``"myring"``; ``opts`` are the
    backend's own options (ring sizes, XDP mode, ...).  ``notice`` is called
    with a one-line message when ``auto`` falls back to another backend,
    which then gets ``fallback_opts`` (default: the tpacket ones of ``opts``).
    """
    if direction not in ("in", "out", "inout"):
        raise ConfigError(f"direction must be in, out or inout, not {direction!r}")
    if not 1 <= int(snaplen) <= 262144:
        raise ConfigError(f"snaplen {snaplen} must be between 1 and 262144")
    if filter is not None and not isinstance(filter, str):
        filter = " ".join(filter)
    chosen = resolve_backend(iface, backend, direction)
    if chosen not in DEVICE_BACKENDS.values():
        check_interface(iface)
    mod = backend_module(chosen)
    kwargs = dict(snaplen=snaplen, promisc=promisc, direction=direction, filter=filter or None)
    # a device (myring) is no interface: tpacket could never stand in for it
    if backend == "auto" and chosen != "tpacket" and chosen not in DEVICE_BACKENDS.values():
        if hasattr(mod, "resolve_options"):
            mod.resolve_options(opts)     # the caller's own bad values: no fallback cures them
        try:
            return mod.open(iface, **kwargs, **opts)
        except Exception as exc:
            # e.g. no XDP support, or a filter the XDP translator can't run:
            # never capture unfiltered, fall back to the kernel's cBPF path
            from pyxring.errors import PyxringError
            if not isinstance(exc, PyxringError) and type(exc).__name__ != "FilterUnsupported":
                raise
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
        # The notice comes only once the fallback works: if tpacket fails
        # too (no privilege, ...), its error is the one line the user sees.
        if fallback_opts is None:
            fallback_opts = {k: v for k, v in opts.items() if k in _tpacket_opts()}
        src = backend_module("tpacket").open(iface, **kwargs, **fallback_opts)
        (notice or _stderr_notice)(f"pyxring: {chosen} backend unavailable ({first}); using tpacket")
        return src
    return mod.open(iface, **kwargs, **opts)


def _tpacket_opts():
    return ("block_size", "block_count", "frame_size", "block_timeout_ms", "rxhash")


def _stderr_notice(msg):
    print(msg, file=sys.stderr)



