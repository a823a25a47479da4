"""AF_PACKET TPACKET_V3 backend: block rings on any Linux interface."""
from pyxring._libpcap import compile_filter
from pyxring.tpacket._tpacket import TPacketSource, validate_ring

__all__ = ["open", "TPacketSource", "add_cli_options", "cli_options"]

DEFAULTS = {"block_size": 1 << 20, "block_count": 64, "frame_size": 2048, "block_timeout_ms": 100}


def open(iface, *, snaplen=262144, promisc=True, direction="inout", filter=None, **opts):
    """Open a TPACKET_V3 capture on ``iface``.

    ``filter`` is a tcpdump expression; it is compiled by libpcap and
    attached to the socket before the ring can receive, so no packet outside
    the filter is ever seen.  Ring options: ``block_size``, ``block_count``,
    ``frame_size``, ``block_timeout_ms``, ``rxhash``.
    """
    params = dict(DEFAULTS)
    params.update({k: v for k, v in opts.items() if v is not None})
    validate_ring(params["block_size"], params["block_count"], params["frame_size"],
                  params["block_timeout_ms"], snaplen)
    # Always attach a program: with an empty expression it is "accept, up to
    # snaplen bytes", which also stops the kernel copying more than asked.
    bpf = compile_filter(filter or "", linktype=1, snaplen=snaplen,
                         live_iface=iface if filter else None)
    return TPacketSource(iface, snaplen=snaplen, promisc=promisc, direction=direction,
                         bpf=bpf, **params)


def add_cli_options(group):
    import os
    from pyxring.backends import size_option
    page = os.sysconf("SC_PAGESIZE")
    group.add_argument("--block-size", type=size_option("block size", page, 1 << 30, pow2=True),
                       metavar="BYTES",
                       help=f"TPACKET_V3 block size (default {DEFAULTS['block_size']})")
    group.add_argument("--block-count", type=size_option("block count", 1, 65536), metavar="N",
                       help=f"TPACKET_V3 blocks in the ring (default {DEFAULTS['block_count']})")
    group.add_argument("--frame-size", type=size_option("frame size", 128, 1 << 30), metavar="BYTES",
                       help=f"TPACKET_V3 frame size hint (default {DEFAULTS['frame_size']})")
    group.add_argument("--block-timeout", type=size_option("block timeout (ms)", 1, 60000),
                       metavar="MS", dest="block_timeout_ms",
                       help=f"retire a partly filled block after MS ms (default {DEFAULTS['block_timeout_ms']})")


def cli_options(args):
    return {k: getattr(args, k, None) for k in ("block_size", "block_count", "frame_size", "block_timeout_ms")}
