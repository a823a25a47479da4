"""AF_PACKET TPACKET_V3 backend: block rings on any Linux interface, or on
all of them at once (``"any"``, cooked mode, as libpcap)."""
import fcntl
import socket
import struct

from pyxring._libpcap import compile_filter
from pyxring.tpacket._tpacket import (TPacketSource, validate_ring, LINKTYPE_ETHERNET,
                                      LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2)

__all__ = ["open", "TPacketSource", "add_cli_options", "cli_options", "default_linktype",
           "kernel_filter"]

DEFAULTS = {"block_size": 1 << 20, "block_count": 64, "frame_size": 2048, "block_timeout_ms": 100}
LINKTYPE_RAW = 101
LINKTYPE_DOCSIS = 143
COOKED = (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2)
# link types whose frames are exactly what a SOCK_RAW packet socket hands over
# on an Ethernet-like interface: pyxring can label a capture with any of them
ETHERNET_LABELS = (LINKTYPE_ETHERNET, LINKTYPE_DOCSIS)

_ARPHRD_ETHER, _ARPHRD_LOOPBACK, _ARPHRD_NONE = 1, 772, 0xFFFE
_DLT_RAW = 12                  # libpcap's DLT_RAW on Linux; files say LINKTYPE_RAW (101)


def open(iface, *, snaplen=262144, promisc=True, direction="inout", filter=None, linktype=None,
         tstamp_type=None, **opts):
    """Open a TPACKET_V3 capture on ``iface`` (``"any"``: every interface).

    ``filter`` is a tcpdump expression; it is compiled by libpcap and
    attached to the socket before the ring can receive, so no packet outside
    the filter is ever seen.  ``linktype`` (a LINKTYPE_ value) defaults to
    the interface's own (LINUX_SLL2 for ``"any"``).  ``tstamp_type``
    ``"adapter"``/``"adapter_unsynced"`` asks the driver for hardware time
    stamps.  Ring options: ``block_size``, ``block_count``, ``frame_size``,
    ``block_timeout_ms``, ``rxhash``.
    """
    params = dict(DEFAULTS)
    params.update({k: v for k, v in opts.items() if v is not None})
    validate_ring(params["block_size"], params["block_count"], params["frame_size"],
                  params["block_timeout_ms"], snaplen)
    if linktype is None:
        linktype = default_linktype(iface)
    bpf, userland = kernel_filter(filter, iface, linktype, snaplen)
    return TPacketSource(iface, snaplen=snaplen, promisc=promisc, direction=direction,
                         bpf=bpf, userland_bpf=userland, linktype=linktype,
                         hw_timestamps=tstamp_type in ("adapter", "adapter_unsynced"), **params)


def default_linktype(iface):
    """The link type libpcap gives ``iface`` by default: Ethernet for
    Ethernet and loopback devices, RAW for devices without a link-layer
    header (tun), LINUX_SLL2 for "any"; otherwise libpcap's own choice
    (cooked LINUX_SLL when it has none)."""
    if iface == "any":
        return LINKTYPE_LINUX_SLL2
    arphrd = _arphrd(iface)
    if arphrd in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK):
        return LINKTYPE_ETHERNET
    if arphrd == _ARPHRD_NONE:
        return LINKTYPE_RAW
    try:
        from pyxring import _pcapdev
        dlt = _pcapdev.list_datalinks(iface)[0]
    except Exception:
        return LINKTYPE_LINUX_SLL
    return LINKTYPE_RAW if dlt == _DLT_RAW else dlt


def _arphrd(iface):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            ifr = fcntl.ioctl(s, 0x8927, struct.pack("16s16x", iface.encode()[:15]))   # SIOCGIFHWADDR
        except OSError:
            return None
    return struct.unpack_from("=H", ifr, 16)[0]


def kernel_filter(expression, iface, linktype, snaplen):
    """(program for the socket, program to run on the cooked frame or None).

    As libpcap's fix_program: in cooked mode the kernel sees the packet
    from the network header on, so loads from the cooked header become the
    kernel's ancillary loads (protocol, ifindex, packet type) and the others
    move by the header's length; an expression reading other header fields
    (hatype, the link-layer address) can't run in the kernel, which then
    accepts everything and the expression runs on each cooked frame."""
    dlt = _DLT_RAW if linktype == LINKTYPE_RAW else linktype
    # Always a program: with an empty expression it is "accept, up to
    # snaplen bytes", which also stops the kernel copying more than asked.
    insns = compile_filter(expression or "", linktype=dlt, snaplen=snaplen,
                           live_iface=iface if expression else None)
    if linktype not in COOKED:
        return insns, None
    fixed = fix_cooked_program(insns, linktype)
    if fixed is not None:
        return fixed, None
    return [(0x06, 0, 0, 262144)], insns          # BPF_RET|BPF_K: all of every packet


SKF_AD_OFF = 0xFFFFF000        # -0x1000 as the u32 in a sock_filter
SKF_AD_PROTOCOL, SKF_AD_PKTTYPE, SKF_AD_IFINDEX = 0, 4, 8
_COOKED_FIELDS = {LINKTYPE_LINUX_SLL2: (20, {0: SKF_AD_PROTOCOL, 4: SKF_AD_IFINDEX, 10: SKF_AD_PKTTYPE}),
                  LINKTYPE_LINUX_SLL: (16, {0: SKF_AD_PKTTYPE, 14: SKF_AD_PROTOCOL})}


def fix_cooked_program(insns, linktype):
    """The program for a cooked socket (see kernel_filter), or None when it
    must run in user space."""
    hdr_len, fields = _COOKED_FIELDS[linktype]
    out = []
    for code, jt, jf, k in insns:
        cls, mode = code & 0x07, code & 0xE0
        # BPF_LD/BPF_LDX with BPF_ABS, BPF_IND or BPF_MSH read the packet
        if cls in (0x00, 0x01) and mode in (0x20, 0x40, 0xA0) and k < SKF_AD_OFF:
            if k >= hdr_len:
                k -= hdr_len
            elif k in fields:
                k = SKF_AD_OFF + fields[k]
            elif k > 0:
                return None
        out.append((code, jt, jf, k))
    return out


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
