"""Tunnels: GRE (RFC 1701/2784/2890, and PPTP's enhanced GRE with the PPP
it carries), MPLS label stacks, VXLAN (tcpdump's print-gre.c,
print-ppp.c, print-mpls.c, print-vxlan.c).  Of PPP only the data
protocols are decoded (IP, IPv6, MPLS); its control protocols (LCP, IPCP,
CHAP, ...) print their name and a hex dump, where tcpdump decodes them."""
from pyxring.printer import dump, ip, ip6, link
from pyxring.printer._nd import be16, be32, bittok, ipaddr, need
from pyxring.printer.names import ETHERTYPE_NAMES

_GRE_FLAGS = ((0x8000, "checksum present"), (0x4000, "routing present"),
              (0x2000, "key present"), (0x1000, "sequence# present"),
              (0x0800, "source routing present"), (0x0080, "ack present"))


class _Cut(Exception):
    """tcpdump's local "goto trunc": the line ends with [|gre]."""


def _take(b, p, left, n):
    """``n`` more bytes of the GRE header at ``p``, of ``left``."""
    if p + n > len(b) or left < n:
        raise _Cut()


def gre_print(nd, b, p, length):
    nd.proto = "gre"
    out = nd.out
    try:
        _take(b, p, length, 2)
        version = be16(b, p) & 7
        out.append("GREv%u" % version)
        if version == 0:
            _gre0(nd, b, p, length)
        elif version == 1:
            _gre1(nd, b, p, length)
        else:
            out.append(" ERROR: unknown-version")
    except _Cut:
        out.append(" [|gre]")


def _gre0(nd, b, p, length):
    out = nd.out
    flags = be16(b, p)
    if nd.vflag:
        out.append(", Flags [%s]" % bittok(_GRE_FLAGS, flags, "none"))
    left = length - 2
    p += 2
    _take(b, p, left, 2)
    prot = be16(b, p)
    p += 2
    left -= 2
    if flags & 0xC000:
        _take(b, p, left, 2)
        if nd.vflag:
            out.append(", sum 0x%x" % be16(b, p))
        p += 2
        left -= 2
        _take(b, p, left, 2)
        out.append(", off 0x%x" % be16(b, p))
        p += 2
        left -= 2
    if flags & 0x2000:
        _take(b, p, left, 4)
        out.append(", key=0x%x" % be32(b, p))
        p += 4
        left -= 4
    if flags & 0x1000:
        _take(b, p, left, 4)
        out.append(", seq %u" % be32(b, p))
        p += 4
        left -= 4
    if flags & 0x4000:
        while True:
            _take(b, p, left, 4)
            af, sreoff, srelen = be16(b, p), b[p + 2], b[p + 3]
            p += 4
            left -= 4
            if af == 0 and srelen == 0:
                break
            _source_route(nd, af, sreoff, srelen, b, p, left)
            if left < srelen:
                raise _Cut()
            p += srelen
            left -= srelen
    if nd.eflag:
        out.append(", proto %s (0x%04x)" % (ETHERTYPE_NAMES.get(prot, "unknown"), prot))
    out.append(", length %u" % length)
    out.append(": " if nd.vflag < 1 else "\n\t")
    if prot == 0x0800:
        ip.ip_print(nd, b, p, left)
    elif prot == 0x86DD:
        ip6.ip6_print(nd, b, p, left)
    elif prot in (0x8847, 0x8848):
        mpls_print(nd, b, p, left)
    elif prot == 0x6558:
        link.ether_print(nd, b, p, left, len(b) - p)
    else:
        out.append("gre-proto-0x%x" % prot)


def _source_route(nd, af, sreoff, srelen, b, p, left):
    out = nd.out
    if af == 0x0800:
        out.append(", (rtaf=ip")
        size, fmt = 4, lambda q: ipaddr(b, q)
    elif af == 0xFFFE:
        out.append(", (rtaf=asn")
        size, fmt = 2, lambda q: "%x" % be16(b, q)
    else:
        out.append(", (rtaf=0x%x)" % af)
        return
    if sreoff & (size - 1):
        out.append(", badoffset=%u)" % sreoff)
    elif srelen & (size - 1):
        out.append(", badlength=%u)" % srelen)
    elif sreoff >= srelen:
        out.append(", badoff/len=%u/%u)" % (sreoff, srelen))
    else:
        q = p
        while srelen:
            if q + size > len(b) or left < size:
                raise _Cut()
            out.append(" %s%s" % ("*" if q - p == sreoff else "", fmt(q)))
            q += size
            left -= size
            srelen -= size
        out.append(")")


def _gre1(nd, b, p, length):
    """PPTP's enhanced GRE: the header (PPP inside is not decoded)."""
    out = nd.out
    flags = be16(b, p)
    left = length - 2
    p += 2
    if nd.vflag:
        out.append(", Flags [%s]" % bittok(_GRE_FLAGS, flags, "none"))
    _take(b, p, left, 2)
    prot = be16(b, p)
    p += 2
    left -= 2
    for bit, text in ((0x2000, ", call %u"), (0x1000, ", seq %u"), (0x0080, ", ack %u")):
        if flags & bit:
            _take(b, p, left, 4)
            out.append(text % (be32(b, p) & 0xFFFF if bit == 0x2000 else be32(b, p)))
            p += 4
            left -= 4
    if not flags & 0x1000:
        out.append(", no-payload")
    if nd.eflag:
        out.append(", proto %s (0x%04x)" % (ETHERTYPE_NAMES.get(prot, "unknown"), prot))
    out.append(", length %u" % length)
    if flags & 0x1000:
        out.append(": " if nd.vflag < 1 else "\n\t")
        if prot == 0x880B:
            ppp_print(nd, b, p, left)
        else:
            out.append("gre-proto-0x%x" % prot)


PPP_NAMES = {
    0x21: "IP", 0x23: "OSI", 0x25: "NS", 0x27: "DECNET", 0x29: "APPLE", 0x2B: "IPX",
    0x2D: "VJC IP", 0x2F: "VJNC IP", 0x31: "BRPDU", 0x33: "STII", 0x35: "VINES",
    0x281: "MPLS", 0x283: "MPLS", 0xFD: "Compressed", 0x3D: "MLPPP", 0x57: "IP6",
    0x201: "HELLO", 0x231: "LUXCOM", 0x233: "SNS", 0x8021: "IPCP", 0x8023: "OSICP",
    0x8025: "NSCP", 0x8027: "DECNETCP", 0x8029: "APPLECP", 0x802B: "IPXCP", 0x8033: "STIICP",
    0x8035: "VINESCP", 0x8057: "IP6CP", 0x8281: "MPLSCP", 0xC021: "LCP", 0xC023: "PAP",
    0xC025: "LQM", 0xC223: "CHAP", 0xC227: "EAP", 0xC027: "SPAP", 0xC123: "Old-SPAP",
    0xC02B: "BACP", 0xC02D: "BAP", 0x803D: "MLPPP-CP", 0x80FD: "CCP"}


def ppp_print(nd, b, p, length):
    """A PPP frame (HDLC address and control optional, the protocol field
    possibly compressed)."""
    nd.proto = "ppp"
    out = nd.out
    olen = length
    if length < 2:
        out.append(" [|ppp]")
        return
    header = be16(b, p)
    if header in (0x0003, 0x0103, 0xFF03):
        if nd.eflag and header != 0xFF03:
            out.append("In  " if header == 0x0003 else "Out ")
        p += 2
        length -= 2
    if length < 2:
        out.append(" [|ppp]")
        return
    if b[p] & 1:
        proto = b[p]
        p += 1
        length -= 1
    else:
        proto = be16(b, p)
        p += 2
        length -= 2
    if nd.eflag:
        name = PPP_NAMES.get(proto, "unknown")
        out.append("%s (0x%04x), length %u" % (name, proto, olen))
        if name == "unknown":
            return
        out.append(": ")
    if proto in (0x21, 0x2F, 0x0800):
        ip.ip_print(nd, b, p, length)
    elif proto in (0x57, 0x86DD):
        ip6.ip6_print(nd, b, p, length)
    elif proto in (0x281, 0x283):
        mpls_print(nd, b, p, length)
    elif proto == 0xFD:
        out.append("compressed PPP data")
    else:       # control protocols, IPX, OSI...: not decoded
        out.append("%s " % PPP_NAMES.get(proto, "unknown PPP protocol (0x%04x)" % proto))
        dump.unknown_data(out, "\n\t", b, p, length)


_MPLS_LABEL_NAMES = ("IPv4 explicit NULL", "router alert", "IPv6 explicit NULL", "implicit NULL",
                     *["rsvd"] * 12)


def mpls_print(nd, b, p, length):
    nd.proto = "mpls"
    out = nd.out
    out.append("MPLS")
    depth = 0
    while True:
        if length < 4:
            out.append(" (invalid)")
            need(b, p, length)
            return
        entry = be32(b, p)
        label = entry >> 12
        out.append("%s(label %u" % ("\n\t" if depth and nd.vflag else " ", label))
        depth += 1
        if nd.vflag and label < 16:
            out.append(" (%s)" % _MPLS_LABEL_NAMES[label])
        out.append(", tc %u" % ((entry >> 9) & 7))
        if entry & 0x100:
            out.append(", [S]")
        out.append(", ttl %u)" % (entry & 0xFF))
        p += 4
        length -= 4
        if entry & 0x100:
            break
    if label in (0, 3):
        kind = 4
    elif label == 2:
        kind = 6
    else:
        if length < 1:
            return
        first = b[p]
        kind = 4 if 0x45 <= first <= 0x4F else 6 if 0x60 <= first <= 0x6F else \
            7 if 0x81 <= first <= 0x83 else 0
    if kind == 0:
        dump.default_print_unless_suppressed(nd, b, p, length)
        return
    out.append("\n\t" if nd.vflag else " ")
    if kind == 4:
        ip.ip_print(nd, b, p, length)
    elif kind == 6:
        ip6.ip6_print(nd, b, p, length)
    else:
        dump.default_print_unless_suppressed(nd, b, p, length)      # OSI: not decoded


def vxlan_print(nd, b, p, length):
    nd.proto = "vxlan"
    out = nd.out
    out.append("VXLAN")
    if length < 8:
        out.append(" (invalid)")
        return
    flags = b[p]
    out.append(", flags [%s] (0x%02x), " % ("I" if flags & 0x08 else "invalid", flags))
    out.append("vni %u\n" % (be32(b, p + 3) & 0xFFFFFF))
    need(b, p + 7, 1)           # the reserved byte after the VNI
    link.ether_print(nd, b, p + 8, length - 8, len(b) - p - 8)
