"""IPv4 (tcpdump's print-ip.c) and the IP payload demultiplexer shared with
IPv6 (print-ip-demux.c)."""
from pyxring.printer import icmp, icmp6, ip6, other, tcp, tunnel, udp
from pyxring.printer._nd import be16, be32, bittok, cksum_shouldbe, have, in_cksum, ipaddr, limit
from pyxring.printer.names import IPPROTO_NAMES


IP_FRAG_BITS = ((0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd"))
IP_OPTION_NAMES = {0: "EOL", 1: "NOP", 68: "timestamp", 130: "security", 7: "RR", 137: "SSRR",
                   131: "LSRR", 148: "RA", 82: "traceroute"}
# the transports whose printer writes the addresses itself (with ports)
_PORTED = (6, 17, 132, 33)


def ip_print(nd, b, off, length):
    """An IPv4 datagram at ``off``; ``length`` is what the layer below says
    it carries."""
    nd.proto = "ip"
    out = nd.out
    vhl = b[off]
    if vhl >> 4 != 4:
        out.append("IP6, wrong link-layer encapsulation (invalid)" if vhl >> 4 == 6
                   else "IP%u (invalid)" % (vhl >> 4))
        return
    if not nd.eflag:
        out.append("IP ")
    if off + 20 > len(b):
        out.append(" [|ip]")
        return
    if length < 20:
        out.append("truncated-ip %u" % length)
        return
    hlen = (vhl & 15) * 4
    if hlen < 20:
        out.append("bad-hlen %u" % hlen)
        return
    ip_len = be16(b, off + 2)
    if length < ip_len:
        out.append("truncated-ip - %u bytes missing! " % (ip_len - length))
    if ip_len < hlen:
        out.append("bad-len %u" % ip_len)
        return
    b = limit(b, off + ip_len)
    plen = ip_len - hlen
    frag = be16(b, off + 6)
    proto = b[off + 9]
    if nd.vflag:
        if not _verbose_header(nd, b, off, hlen, ip_len, frag, proto):
            return
    if frag & 0x1FFF == 0:
        if proto not in _PORTED:
            out.append("%s > %s: " % (ipaddr(b, off + 12), ipaddr(b, off + 16)))
        if off + hlen > len(b):
            out.append(" [remaining caplen(%u) < header length(%u)]" % (len(b) - off, hlen))
            raise IndexError(off + hlen)
        ip_demux_print(nd, b, off + hlen, plen, 4, frag & 0x2000, b[off + 8], proto, off)
    else:
        if nd.qflag > 1:
            return
        out.append("%s > %s: ip-proto-%u" % (ipaddr(b, off + 12), ipaddr(b, off + 16), proto))


def _verbose_header(nd, b, off, hlen, ip_len, frag, proto):
    """-v's "(tos ..., ttl ..., ...)" block; False when the options were
    cut off (the line then ends with the addresses)."""
    out = nd.out
    tos = b[off + 1]
    out.append("(tos 0x%x%s" % (tos, ("", ",ECT(1)", ",ECT(0)", ",CE")[tos & 3]))
    ttl = b[off + 8]
    if ttl >= 1:
        out.append(", ttl %u" % ttl)
    out.append(", id %u, offset %u, flags [%s], proto %s (%u)" % (
        be16(b, off + 4), (frag & 0x1FFF) * 8, bittok(IP_FRAG_BITS, frag, "none"),
        IPPROTO_NAMES.get(proto, "unknown"), proto))
    out.append(", length %u" % ip_len)
    truncated = False
    if hlen > 20:
        out.append(", options (")
        if not _options_print(nd, b, off + 20, hlen - 20):
            out.append(" [truncated-option]")
            truncated = True
        out.append(")")
    if off + hlen <= len(b):
        computed = in_cksum(b[off:off + hlen])
        if computed != 0:
            ip_sum = be16(b, off + 10)
            out.append(", bad cksum %x (->%x)!" % (ip_sum, cksum_shouldbe(ip_sum, computed)))
    out.append(")\n    ")
    if truncated:
        out.append("%s > %s:  [|%s]" % (ipaddr(b, off + 12), ipaddr(b, off + 16), nd.proto))
        return False
    return True


def _options_print(nd, b, p, length):
    """The IP options; False when one runs past the captured bytes."""
    out = nd.out
    sep = ""
    while length > 0:
        out.append(sep)
        sep = ","
        code = b[p]
        out.append(IP_OPTION_NAMES.get(code) or "unknown %u" % code)
        if code in (0, 1):
            option_len = 1
        else:
            option_len = b[p + 1]
            if option_len < 2:
                out.append(" [bad length %u]" % option_len)
                return True
        if option_len > length:
            out.append(" [bad length %u]" % option_len)
            return True
        if p + option_len > len(b):
            return False
        if code == 0:
            return True
        if code == 68:
            if not _option_timestamp(nd, b, p, option_len):
                return False
        elif code in (7, 137, 131):
            if not _option_route(nd, b, p, option_len):
                return False
        elif code == 148:
            if option_len < 4:
                out.append(" [bad length %u]" % option_len)
            else:
                if p + 4 > len(b):
                    return False
                if be16(b, p + 2):
                    out.append(" value %u" % be16(b, p + 2))
        p += option_len
        length -= option_len
    return True


def _option_route(nd, b, p, length):
    out = nd.out
    if length < 3:
        out.append(" [bad length %u]" % length)
        return True
    if (length + 1) & 3:
        out.append(" [bad length %u]" % length)
    ptr = b[p + 2] - 1
    if ptr < 3 or (ptr + 1) & 3 or ptr > length + 1:
        out.append(" [bad ptr %u]" % b[p + 2])
    n = 3
    while n < length:
        if not have(b, p + n, 4):
            return False
        out.append(" " + ipaddr(b, p + n))
        if ptr > n:
            out.append(",")
        n += 4
    return True


def _option_timestamp(nd, b, p, length):
    out = nd.out
    if length < 4:
        out.append("[bad length %u]" % length)
        return True
    out.append(" TS{")
    flags = b[p + 3]
    hoplen = 8 if flags & 0xF != 0 else 4
    if (length - 4) & (hoplen - 1):
        out.append("[bad length %u]" % length)
    ptr = b[p + 2] - 1
    n = 0
    if ptr < 4 or (ptr - 4) & (hoplen - 1) or ptr > length + 1:
        out.append("[bad ptr %u]" % b[p + 2])
    kind = flags & 0xF
    if kind in (0, 1, 3):
        out.append({0: "TSONLY", 1: "TS+ADDR", 3: "PRESPEC"}[kind])
        sep = " "
        n = 4
        while n < length:
            if ptr == n:
                sep = " ^ "
            if not have(b, p + n, hoplen):
                return False
            out.append("%s%u@%s" % (sep, be32(b, p + n + hoplen - 4),
                                    ipaddr(b, p + n) if hoplen == 8 else ""))
            sep = " "
            n += hoplen
    else:
        out.append("[bad ts type %u]" % kind)
    out.append(" ^ " if ptr == n else "")
    if flags >> 4:
        out.append(" [%u hops not recorded]} " % (flags >> 4))
    else:
        out.append("}")
    return True


def ip_demux_print(nd, b, off, length, ver, fragmented, ttl_hl, nh, iph):
    """The payload of an IP datagram whose (innermost) header is at ``iph``."""
    while True:
        if nh == 6:
            tcp.tcp_print(nd, b, off, length, iph, ver, fragmented)
        elif nh == 17:
            udp.udp_print(nd, b, off, length, iph, ver, fragmented)
        elif nh == 1:
            if ver == 4:
                icmp.icmp_print(nd, b, off, length, iph, fragmented)
            else:
                nd.out.append("[ICMP requires IPv4] (invalid)")
        elif nh == 58:
            if ver == 6:
                icmp6.icmp6_print(nd, b, off, length, iph, fragmented)
            else:
                nd.out.append("[ICMPv6 requires IPv6] (invalid)")
        elif nh == 51:
            if not have(b, off, 1):
                nd.proto = "ah"
                nd.out.append(" [|ah]")
                return
            nh = b[off]
            advance = other.ah_print(nd, b, off)
            if advance <= 0:
                return
            off += advance
            length -= advance
            continue
        elif nh == 50:
            other.esp_print(nd, b, off, length)
        elif nh == 108:
            other.ipcomp_print(nd, b, off)
        elif nh == 2:
            if ver == 4:
                other.igmp_print(nd, b, off, length)
            else:
                nd.out.append("[IGMP requires IPv4] (invalid)")
        elif nh == 4:
            ip_print(nd, b, off, length)
        elif nh == 41:
            ip6.ip6_print(nd, b, off, length)
        elif nh == 47:
            tunnel.gre_print(nd, b, off, length)
        elif nh == 59:
            nd.out.append("no next header")
        elif nh == 77:
            nd.out.append(" nd %u" % length)
        else:
            nd.out.append(" ip-proto-%u %u" % (nh, length))
        return
