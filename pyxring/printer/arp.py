"""ARP and RARP (tcpdump's print-arp.c), any hardware type and address
lengths; ATM ARP (RFC 2225) prints its header line only."""
from pyxring.printer import dump
from pyxring.printer._nd import be16, ipaddr, need
from pyxring.printer.names import ETHERTYPE_NAMES

_OPS = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply",
        8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply"}
_HARDWARE = {1: "Ethernet", 6: "TokenRing", 7: "ArcNet", 15: "FrameRelay", 23: "Strip",
             24: "IEEE 1394", 19: "ATM", 32: "InfiniBand"}
ARPHRD_ATM2225, ARPHRD_FRELAY = 19, 15


def _linkaddr(b, p, n):
    if n == 0:
        return "<empty>"
    need(b, p, n)
    return bytes(b[p:p + n]).hex(":")


def arp_print(nd, b, off, length, caplen):
    nd.proto = "arp"
    out = nd.out
    need(b, off, 8)
    hrd = be16(b, off)
    pro = be16(b, off + 2)
    hln = b[off + 4]
    pln = b[off + 5]
    op = be16(b, off + 6)
    if hrd == ARPHRD_ATM2225:
        _atmarp_print(nd, b, off, length)
        return
    sha = off + 8
    spa = sha + hln
    tha = spa + pln
    tpa = tha + hln
    need(b, tpa, pln)
    if not nd.eflag:
        out.append("ARP, ")
    ip_like = pro in (0x0800, 0x1000)
    if not ip_like or pln != 4 or hln == 0 or nd.vflag:
        out.append("%s (len %u), %s (len %u)" % (
            _HARDWARE.get(hrd) or "Unknown Hardware (%u)" % hrd, hln,
            ETHERTYPE_NAMES.get(pro) or "Unknown Protocol (0x%04x)" % pro, pln))
        if not nd.vflag:
            out.append(", length %u" % length)
            return

    def proto_addr(p):
        if not ip_like:
            return "<wrong proto type>"
        if pln != 4:
            return "<wrong len>"
        return ipaddr(b, p)

    out.append("%s%s " % (", " if nd.vflag else "", _OPS.get(op) or "Unknown (%u)" % op))
    if op == 1:
        out.append("who-has " + proto_addr(tpa))
        need(b, tha, hln)
        if any(bytes(b[tha:tha + hln])):
            out.append(" (%s)" % _linkaddr(b, tha, hln))
        out.append(" tell " + proto_addr(spa))
    elif op == 2:
        out.append(proto_addr(spa) + " is-at " + _linkaddr(b, sha, hln))
    elif op in (3, 8):
        out.append("who-is %s tell %s" % (_linkaddr(b, tha, hln), _linkaddr(b, sha, hln)))
    elif op == 4:
        out.append("%s at %s" % (_linkaddr(b, tha, hln), proto_addr(tpa)))
    elif op == 9:
        out.append("%s at %s" % (_linkaddr(b, sha, hln), proto_addr(spa)))
    else:
        dump.default_print(nd, b, off, caplen)
        return
    out.append(", length %u" % length)


def _atmarp_print(nd, b, off, length):
    """ATM ARP: the header line (addresses are ATM numbers, not decoded)."""
    out = nd.out
    need(b, off, 12)
    hrd = be16(b, off)
    pro = be16(b, off + 2)
    spln = b[off + 7]
    tpln = b[off + 11]
    if not nd.eflag:
        out.append("ARP, ")
    out.append("%s, %s (len %u/%u)" % (
        _HARDWARE.get(hrd) or "Unknown Hardware (%u)" % hrd,
        ETHERTYPE_NAMES.get(pro) or "Unknown Protocol (0x%04x)" % pro, spln, tpln))
    out.append(", length %u" % length)
