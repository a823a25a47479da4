"""What pyxring knows about the machine's capture devices.

The list, its order and its numbering are libpcap's (``pcap_findalldevs``),
so ``pyxring -D`` numbers interfaces as ``tcpdump -D`` does and ``-i 2``
means the same device for both.  To each device it adds what pyxring can do
with it: which backends open it, and what the kernel says the driver offers
AF_XDP (``xdp_features`` of the netdev generic-netlink family, Linux 6.3+).
"""
import os
import socket
import struct
from dataclasses import dataclass, field

from pyxring.errors import InterfaceError

ANY = "any"

# NETDEV_XDP_ACT_* bits of NETDEV_A_DEV_XDP_FEATURES (include/uapi/linux/netdev.h)
XDP_ACT_BASIC = 0x1
XDP_ACT_REDIRECT = 0x2
XDP_ACT_XSK_ZEROCOPY = 0x8
XDP_ACT_RX_SG = 0x20


@dataclass
class Device:
    number: int                 # tcpdump -D's number (1-based)
    name: str
    description: str = None
    flags: int = 0              # PCAP_IF_*
    ifindex: int = 0            # 0: not a network interface (nflog, dbus-system, ...)
    xdp_features: int = None    # NETDEV_XDP_ACT_* bits, None when the kernel can't tell
    backends: list = field(default_factory=list)

    @property
    def xdp_native(self):
        if self.xdp_features is None:
            return None
        return bool(self.xdp_features & XDP_ACT_BASIC and self.xdp_features & XDP_ACT_REDIRECT)

    @property
    def xdp_zerocopy(self):
        if self.xdp_features is None:
            return None
        return bool(self.xdp_features & XDP_ACT_XSK_ZEROCOPY)


def _ifindex(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0


def devices():
    """Every capture device, in tcpdump -D's order, with what pyxring can
    do with it."""
    from pyxring import _pcapdev
    from pyxring.backends import available_backends
    have = available_backends()
    out = []
    features = XdpFeatures()
    try:
        for n, (name, desc, flags) in enumerate(_pcapdev.find_all_devices(), 1):
            dev = Device(n, name, desc, flags)
            if name == ANY:
                dev.backends = [b for b in ("tpacket",) if b in have]
            else:
                dev.ifindex = _ifindex(name)
                if dev.ifindex:
                    dev.xdp_features = features.get(dev.ifindex)
                    dev.backends = [b for b in ("tpacket", "xdp") if b in have]
            out.append(dev)
    finally:
        features.close()
    if os.path.exists("/dev/myring") and "myring" in have:
        out.append(Device(len(out) + 1, "myring", "the myring kernel module's ring (/dev/myring)",
                          0, backends=["myring"]))
    return out


def resolve(name):
    """The device ``name`` names: an interface name, or tcpdump's number
    from -D ("-i 2")."""
    if name.isdigit():
        n = int(name)
        found = [d for d in devices() if d.number == n] if n > 0 else []
        if not found:
            raise InterfaceError(f"-i {name}: no device has that number (see -D)")
        return found[0].name
    return name


def default_device():
    """The device tcpdump uses without -i: the first one libpcap lists."""
    from pyxring import _pcapdev
    devs = _pcapdev.find_all_devices()
    if not devs:
        raise InterfaceError("no interfaces available for capture")
    return devs[0][0]


_STATUS_WORDS = ((0x2, "Up"), (0x4, "Running"), (0x1, "Loopback"), (0x8, "Wireless"))


def pcap_flags_text(flags):
    """The bracketed part of a tcpdump -D line ("Up, Running, Connected")."""
    from pyxring import _pcapdev as p
    words = [w for bit, w in _STATUS_WORDS if flags & bit] or ["none"]
    status = flags & p.CONNECTION_STATUS
    if flags & p.WIRELESS:
        extra = {0: "Association status unknown", p.CONNECTED: "Associated",
                 p.DISCONNECTED: "Not associated"}.get(status)
    else:
        extra = {0: "Connection status unknown", p.CONNECTED: "Connected",
                 p.DISCONNECTED: "Disconnected"}.get(status)
    text = ", ".join(words)
    return f"{text}, {extra}" if extra else text


def describe_backends(dev):
    """What pyxring can do with ``dev``, for the end of its -D line."""
    if not dev.backends:
        return "pyxring: not supported"
    parts = []
    for b in dev.backends:
        if b != "xdp":
            parts.append(b)
            continue
        modes = ["generic"]
        if dev.xdp_native:
            modes.insert(0, "native")
        if dev.xdp_features is None:
            parts.append("xdp (native: unknown, generic)")
        else:
            zc = "zero-copy" if dev.xdp_zerocopy else "copy mode"
            parts.append(f"xdp ({', '.join(modes)}; {zc})")
    return "pyxring: " + ", ".join(parts)


def device_line(dev):
    """One line of ``pyxring -D``: tcpdump's line, then pyxring's part."""
    line = f"{dev.number}.{dev.name}"
    if dev.description:
        line += f" ({dev.description})"
    if dev.flags:
        line += f" [{pcap_flags_text(dev.flags)}]"
    return f"{line} - {describe_backends(dev)}"


class XdpFeatures:
    """NETDEV_CMD_DEV_GET of the "netdev" generic-netlink family: the XDP
    features a driver declares.  ``get(ifindex)`` is None where the family
    does not exist (kernels before 6.3) or the query fails."""

    NETLINK_GENERIC = 16
    GENL_ID_CTRL = 0x10
    CTRL_CMD_GETFAMILY = 3
    CTRL_ATTR_FAMILY_ID = 1
    CTRL_ATTR_FAMILY_NAME = 2
    NETDEV_CMD_DEV_GET = 1
    NETDEV_A_DEV_IFINDEX = 1
    NETDEV_A_DEV_XDP_FEATURES = 3
    NLM_F_REQUEST = 1
    NLMSG_ERROR = 2

    def __init__(self):
        self.sock = None
        self.family = None
        self.seq = 0
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, self.NETLINK_GENERIC)
            self.sock.settimeout(2.0)
            reply = self._request(self.GENL_ID_CTRL, self.CTRL_CMD_GETFAMILY,
                                  self._attr(self.CTRL_ATTR_FAMILY_NAME, b"netdev\0"))
            fam = (reply or {}).get(self.CTRL_ATTR_FAMILY_ID)
            self.family = struct.unpack("=H", fam[:2])[0] if fam else None
        except OSError:
            self.family = None

    @staticmethod
    def _attr(kind, payload):
        head = struct.pack("=HH", 4 + len(payload), kind)
        return head + payload + b"\0" * (-len(payload) % 4)

    def _request(self, family, cmd, attrs):
        self.seq += 1
        body = struct.pack("=BBH", cmd, 1, 0) + attrs
        self.sock.send(struct.pack("=IHHII", 16 + len(body), family, self.NLM_F_REQUEST,
                                   self.seq, 0) + body)
        data = self.sock.recv(65536)
        if len(data) < 16:
            return None
        length, kind = struct.unpack_from("=IH", data)
        if kind == self.NLMSG_ERROR:
            return None
        out, off = {}, 20
        while off + 4 <= min(length, len(data)):
            alen, atype = struct.unpack_from("=HH", data, off)
            if alen < 4:
                break
            out[atype & 0x3fff] = data[off + 4:off + alen]
            off += (alen + 3) & ~3
        return out

    def get(self, ifindex):
        if self.family is None:
            return None
        try:
            reply = self._request(self.family, self.NETDEV_CMD_DEV_GET,
                                  self._attr(self.NETDEV_A_DEV_IFINDEX, struct.pack("=I", ifindex)))
        except OSError:
            return None
        raw = (reply or {}).get(self.NETDEV_A_DEV_XDP_FEATURES)
        return struct.unpack("=Q", raw[:8])[0] if raw and len(raw) >= 8 else None

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
