"""The ``myring`` backend: records from the myring kernel module (kmod/).

``open("myring")`` opens /dev/myring, maps its ring, configures and starts
the producer: synthetic Ethernet/IPv4/UDP frames from an hrtimer
(``mode="synth"``, ``rate`` Hz, ``record_size`` bytes) or IPv4 packets
copied at netfilter's PRE_ROUTING hook (``mode="netfilter"``).

A ``filter`` expression is compiled by libpcap and run in user space by
libpcap's own interpreter on each record (the module has no filter), so
``stats()["filtered"]`` counts what it rejected.  Records lost to a full
ring are reported by the module in DROP records and show up in
``stats()["dropped"]``.
"""
from pyxring.errors import ConfigError
from pyxring.myring._myring import MODES, MyringSource

__all__ = ["open", "MyringSource", "add_cli_options", "cli_options"]

DEFAULTS = {"rate": 2000, "record_size": 256, "mode": "synth", "wm_high": 0, "wm_low": 0,
            "wakeup_ms": 50}


def open(iface="myring", *, snaplen=262144, promisc=True, direction="inout", filter=None, **opts):
    """Open a capture on the myring device.

    ``iface`` is ``"myring"`` (or a device path such as ``/dev/myring``).
    Options: ``rate`` (records/s), ``record_size`` (frame bytes), ``mode``
    (``"synth"`` or ``"netfilter"``), ``wm_high``/``wm_low`` (eventfd
    watermarks in bytes, 0 = half/quarter of the ring), ``wakeup_ms``.
    ``promisc`` has no meaning here; the module sees received traffic only,
    so ``direction="out"`` is refused.
    """
    if iface == "myring":
        device = "/dev/myring"
    elif iface.startswith("/"):
        device = iface
    else:
        raise ConfigError(f"the myring backend captures from 'myring' or a device path, not {iface!r}")
    if direction == "out":
        raise ConfigError("myring records received packets only: direction 'out' is not possible")
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown myring option(s): {', '.join(sorted(unknown))}")
    params = dict(DEFAULTS)
    params.update({k: v for k, v in opts.items() if v is not None})
    bpf = None
    if filter:
        from pyxring._libpcap import compile_filter
        bpf = compile_filter(filter, linktype=1, snaplen=snaplen)
    return MyringSource(device, snaplen=snaplen, bpf=bpf, **params)


def add_cli_options(group):
    group.add_argument("--rate", type=int, metavar="HZ",
                       help=f"myring: synthetic records per second (default {DEFAULTS['rate']})")
    group.add_argument("--record-size", type=int, metavar="BYTES",
                       help=f"myring: synthetic frame size (default {DEFAULTS['record_size']})")
    group.add_argument("--myring-mode", choices=sorted(MODES), dest="myring_mode",
                       help="myring: synth (hrtimer frames, default) or netfilter (received IPv4)")
    group.add_argument("--wm-high", type=int, metavar="BYTES",
                       help="myring: eventfd high watermark (default half the ring)")
    group.add_argument("--wm-low", type=int, metavar="BYTES",
                       help="myring: re-arm below this fill level (default half of --wm-high)")


def cli_options(args):
    return {"rate": getattr(args, "rate", None), "record_size": getattr(args, "record_size", None),
            "mode": getattr(args, "myring_mode", None), "wm_high": getattr(args, "wm_high", None),
            "wm_low": getattr(args, "wm_low", None)}
