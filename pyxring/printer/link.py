"""Link layers: Ethernet (with 802.1Q / QinQ tags and 802.3 length
fields), Linux cooked v1 and v2, raw IP; and the ethertype demultiplexer
they share (tcpdump's print-ether.c, print-sll.c, print-raw.c)."""
import socket

from pyxring.printer import arp, dump, ip, ip6, llc, tunnel
from pyxring.printer._nd import be16, be32, etheraddr, le32, limit, tok
from pyxring.printer.names import ETHERTYPE_NAMES


ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_ARP, ETHERTYPE_REVARP = 0x0800, 0x86DD, 0x0806, 0x8035
VLAN_TPIDS = (0x8100, 0x9100, 0x9200, 0x88A8)
MAX_ETHERNET_LENGTH_VAL = 1500
ETHERTYPE_JUMBO = 0x8870
ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTI = 0x8847, 0x8848


def ether_type_text(nd, ethertype):
    if not nd.qflag:
        return "ethertype %s (0x%04x)" % (ETHERTYPE_NAMES.get(ethertype, "Unknown"), ethertype)
    return tok(ETHERTYPE_NAMES, ethertype, "Unknown Ethertype (0x%04x)")


def ether_if_print(nd, b, length):
    nd.proto = "ether"
    nd.ll_hdr_len = ether_print(nd, b, 0, length, len(b))


def ether_print(nd, b, off, length, caplen):
    """An Ethernet frame at ``off``; returns the length of the link-level
    headers (what -x leaves out)."""
    nd.proto = "ether"
    out = nd.out
    if length < caplen:
        out.append("[length %u < caplen %u] (invalid)" % (length, caplen))
        return length
    if caplen < 14:
        out.append(" [|ether]")
        return caplen
    orig_length = length
    eflag = nd.eflag
    if eflag:
        out.append("%s > %s, " % (etheraddr(b, off + 6), etheraddr(b, off)))
    src_dst = (off + 6, off)
    p = off + 12
    length -= 12
    caplen -= 12
    hdrlen = 12
    length_type = be16(b, p)
    p += 2
    length -= 2
    caplen -= 2
    hdrlen += 2
    printed_length = False
    while length_type in VLAN_TPIDS:
        if caplen < 4 or length < 4:
            nd.proto = "vlan"
            out.append(" [|vlan]")
            return hdrlen + min(caplen, length)
        if eflag:
            tci = be16(b, p)
            out.append(ether_type_text(nd, length_type))
            if not printed_length:
                out.append(", length %u: " % orig_length)
                printed_length = True
            else:
                out.append(", ")
            out.append(vlan_tci_text(tci) + ", ")
        length_type = be16(b, p + 2)
        p += 4
        length -= 4
        caplen -= 4
        hdrlen += 4

    if length_type <= MAX_ETHERNET_LENGTH_VAL:
        # An 802.3 length field: it bounds the payload (the rest is padding).
        if length_type < length:
            length = length_type
            if caplen > length:
                caplen = length
        bp = limit(b, p + length)
        if eflag:
            out.append("802.3")
            if not printed_length:
                out.append(", length %u: " % length)
        llc_hdrlen = llc.llc_print(nd, bp, p, length, caplen, src_dst)
        if llc_hdrlen < 0:
            dump.default_print_unless_suppressed(nd, bp, p, caplen)
            llc_hdrlen = -llc_hdrlen
        return hdrlen + llc_hdrlen
    if length_type == ETHERTYPE_JUMBO:
        llc_hdrlen = llc.llc_print(nd, b, p, length, caplen, src_dst)
        if llc_hdrlen < 0:
            dump.default_print_unless_suppressed(nd, b, p, caplen)
            llc_hdrlen = -llc_hdrlen
        return hdrlen + llc_hdrlen
    if eflag:
        out.append(ether_type_text(nd, length_type))
        out.append(", length %u: " % orig_length if not printed_length else ", ")
    if not ethertype_print(nd, length_type, b, p, length, caplen, src_dst):
        if not eflag:
            out.append("%s > %s, %s, length %u: " % (
                etheraddr(b, off + 6), etheraddr(b, off), ether_type_text(nd, length_type),
                orig_length))
        dump.default_print_unless_suppressed(nd, b, p, caplen)
    return hdrlen


def vlan_tci_text(tci):
    return "vlan %u, p %u%s" % (tci & 0xFFF, tci >> 13, ", DEI" if tci & 0x1000 else "")


def ethertype_print(nd, ethertype, b, off, length, caplen, src_dst=None):
    """The payload of an ethertype; False when the type isn't one we decode
    (the caller then dumps it)."""
    if ethertype == ETHERTYPE_IP:
        ip.ip_print(nd, b, off, length)
        return True
    if ethertype == ETHERTYPE_IPV6:
        ip6.ip6_print(nd, b, off, length)
        return True
    if ethertype == ETHERTYPE_ARP or ethertype == ETHERTYPE_REVARP:
        arp.arp_print(nd, b, off, length, caplen)
        return True
    if ethertype == ETHERTYPE_MPLS or ethertype == ETHERTYPE_MPLS_MULTI:
        tunnel.mpls_print(nd, b, off, length)
        return True
    return False


_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}
LINUX_SLL_P_802_3, LINUX_SLL_P_802_2 = 0x0001, 0x0004


def _cooked_type_text(nd, ether_type, length):
    if nd.qflag:
        return ""
    if ether_type <= MAX_ETHERNET_LENGTH_VAL:
        text = {LINUX_SLL_P_802_3: "802.3", LINUX_SLL_P_802_2: "802.2"}.get(
            ether_type, "ethertype Unknown (0x%04x)" % ether_type)
    else:
        text = "ethertype %s (0x%04x)" % (ETHERTYPE_NAMES.get(ether_type, "Unknown"), ether_type)
    return text + ", length %u: " % length


def _cooked_payload(nd, b, p, length, caplen, hdrlen, ether_type, header_text):
    """What follows a Linux cooked header (v1 and v2 share it)."""
    out = nd.out
    while True:
        if ether_type <= MAX_ETHERNET_LENGTH_VAL:
            if ether_type == LINUX_SLL_P_802_2:
                llc_hdrlen = llc.llc_print(nd, b, p, length, caplen, None)
                if llc_hdrlen >= 0:
                    return hdrlen + llc_hdrlen
            dump.default_print_unless_suppressed(nd, b, p, caplen)
            return hdrlen
        if ether_type == 0x8100:
            if caplen < 4 or length < 4:
                nd.proto = "vlan"
                out.append(" [|vlan]")
                return hdrlen + min(caplen, length)
            if nd.eflag:
                out.append(vlan_tci_text(be16(b, p)) + ", ")
            ether_type = be16(b, p + 2)
            if ether_type <= MAX_ETHERNET_LENGTH_VAL:
                ether_type = LINUX_SLL_P_802_2
            if not nd.qflag:
                out.append("ethertype %s, " % ETHERTYPE_NAMES.get(ether_type, "Unknown"))
            p += 4
            length -= 4
            caplen -= 4
            hdrlen += 4
            continue
        if not ethertype_print(nd, ether_type, b, p, length, caplen, None):
            if not nd.eflag:
                out.append(header_text(length + hdrlen))
            dump.default_print_unless_suppressed(nd, b, p, caplen)
        return hdrlen


def sll_if_print(nd, b, length):
    """Linux cooked capture v1 (16-byte header)."""
    nd.proto = "sll"
    caplen = len(b)
    if caplen < 16:
        raise IndexError(16)
    pkttype, halen, ether_type = be16(b, 0), be16(b, 4), be16(b, 14)

    def header_text(total):
        nd.proto = "sll"
        text = "%3s " % _SLL_PKTTYPES.get(pkttype, "?")
        if halen == 6:
            text += etheraddr(b, 6) + " "
        return text + _cooked_type_text(nd, ether_type, total)
    if nd.eflag:
        nd.out.append(header_text(length))
    return _cooked_payload(nd, b, 16, length - 16, caplen - 16, 16, ether_type, header_text)


def sll2_if_print(nd, b, length):
    """Linux cooked capture v2 (20-byte header): the interface's name on
    this machine, as tcpdump looks it up, and the packet's direction."""
    nd.proto = "sll2"
    caplen = len(b)
    if caplen < 20:
        raise IndexError(20)
    ether_type = be16(b, 0)
    if_index = be32(b, 4)
    pkttype, halen = b[10], b[11]
    try:
        ifname = socket.if_indextoname(if_index)
    except OSError:
        ifname = "?"
    nd.out.append("%-5s %-3s " % (ifname, _SLL_PKTTYPES.get(pkttype, "?")))

    def header_text(total):
        nd.proto = "sll2"
        text = "ifindex %u " % if_index
        if halen == 6:
            text += etheraddr(b, 12) + " "
        return text + _cooked_type_text(nd, ether_type, total)
    if nd.eflag:
        nd.out.append(header_text(length))
    return _cooked_payload(nd, b, 20, length - 20, caplen - 20, 20, ether_type, header_text)


_AF_NAMES = {2: "IPv4", 6: "NS", 7: "ISO", 16: "Appletalk", 23: "IPX", 24: "IPv6", 28: "IPv6",
             30: "IPv6"}


def _null_common(nd, b, length, family):
    out = nd.out

    def header():
        if nd.qflag:
            return "%s, length %u: " % (_AF_NAMES.get(family) or "Unknown AF %u" % family, length)
        return "AF %s (%u), length %u: " % (_AF_NAMES.get(family, "Unknown"), family, length)
    if nd.eflag:
        out.append(header())
    if family == 2:
        ip.ip_print(nd, b, 4, length - 4)
    elif family in (24, 28, 30):
        ip6.ip6_print(nd, b, 4, length - 4)
    else:
        if not nd.eflag:
            out.append(header())
        dump.default_print_unless_suppressed(nd, b, 4, len(b) - 4)
    return 4


def null_if_print(nd, b, length):
    """BSD loopback: a 4-byte address family in the capturing host's byte
    order (tcpdump swaps it when it looks swapped)."""
    nd.proto = "null"
    if len(b) < 4:
        raise IndexError(4)
    family = le32(b, 0)[0]
    if family & 0xFFFF0000:
        family = be32(b, 0)
    return _null_common(nd, b, length, family)


def loop_if_print(nd, b, length):
    """OpenBSD loopback: the family in network byte order."""
    nd.proto = "null"
    if len(b) < 4:
        raise IndexError(4)
    return _null_common(nd, b, length, be32(b, 0))
