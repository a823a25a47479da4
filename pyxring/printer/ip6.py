"""IPv6 and its extension headers: hop-by-hop and destination options
(with jumbograms), routing headers (type 0/2 and segment routing),
fragments (tcpdump's print-ip6.c, print-ip6opts.c, print-rt6.c,
print-frag6.c)."""
from pyxring.printer import ip
from pyxring.printer._nd import be16, be32, ip6addr, limit
from pyxring.printer.names import IPPROTO_NAMES

_PORTED = (6, 17, 33, 132)
IP6OPT_PAD1, IP6OPT_PADN, IP6OPT_JUMBO, IP6OPT_RTALERT, IP6OPT_HOMEADDR = 0, 1, 0xC2, 5, 0xC9


def ip6_print(nd, b, off, length):
    nd.proto = "ip6"
    out = nd.out
    if off + 40 > len(b):
        out.append(" [|ip6]")
        return
    if length < 40:
        out.append("truncated-ip6 %u" % length)
        return
    if not nd.eflag:
        out.append("IP6 ")
    version = b[off] >> 4
    if version != 6:
        out.append("version error: %u != 6" % version)
        return
    payload_len = be16(b, off + 4)
    if payload_len != 0:
        total = payload_len + 40
        if length < total:
            out.append("truncated-ip6 - %u bytes missing!" % (total - length))
    else:
        total = length + 40
    nh = b[off + 6]
    if nd.vflag:
        flow = be32(b, off)
        out.append("(")
        if flow & 0x0FF00000:
            out.append("class 0x%02x, " % ((flow & 0x0FF00000) >> 20))
        if flow & 0x000FFFFF:
            out.append("flowlabel 0x%05x, " % (flow & 0x000FFFFF))
        out.append("hlim %u, next-header %s (%u) payload length: %u) " % (
            b[off + 7], IPPROTO_NAMES.get(nh, "unknown"), nh, payload_len))
    b = limit(b, off + total)
    cp = off
    advance = 40
    ln = total
    total_advance = 0
    found_extension_header = found_jumbo = found_hbh = False
    fragmented = 0
    ph = 255
    jumbo = [0, payload_len]          # found, payload length
    while cp < len(b) and advance > 0:
        if ln < advance:
            out.append(" [|ip6]")
            return
        cp += advance
        ln -= advance
        total_advance += advance
        if cp == off + 40 and nh not in _PORTED:
            out.append("%s > %s: " % (ip6addr(b, off + 8), ip6addr(b, off + 24)))
        if nh == 0:
            if found_hbh:
                out.append("[The Hop-by-Hop Options header was already found] (invalid)")
                return
            if ph != 255:
                out.append("[The Hop-by-Hop Options header don't follow the IPv6 header]"
                           " (invalid)")
                return
            advance = hbhopt_process(nd, b, cp, jumbo)
            found_jumbo = jumbo[0]
            if jumbo[1] == 0 and not found_jumbo:
                out.append("[No valid Jumbo Payload Hop-by-Hop option found] (invalid)")
                return
            if advance < 0:
                return
            found_extension_header = found_hbh = True
            nh = b[cp]
        elif nh == 60:
            advance = dstopt_process(nd, b, cp)
            if advance < 0:
                return
            found_extension_header = True
            nh = b[cp]
        elif nh == 44:
            advance = frag6_print(nd, b, cp, off)
            if advance < 0 or len(b) <= cp + advance:
                return
            found_extension_header = True
            nh = b[cp]
            fragmented = 1
        elif nh == 43:
            if cp >= len(b):
                out.append(" [|ip6]")
                return
            advance = rt6_print(nd, b, cp)
            if advance < 0:
                return
            found_extension_header = True
            nh = b[cp]
        else:
            if found_jumbo:
                ln = jumbo[1] + 40
                if ln < total_advance:
                    out.append(" [|ip6]")
                    return
                if length < ln:
                    out.append("truncated-ip6 - %u bytes missing!" % (ln - length))
                b = b[:off + ln] if off + ln < len(b) else b
                ln -= total_advance
            elif payload_len == 0:
                if found_extension_header:
                    out.append(" [|ip6]")
                    return
                ln = 0
                b = limit(b, off + 40)
            ip.ip_demux_print(nd, b, cp, ln, 6, fragmented, b[off + 7], nh, off)
            return
        ph = nh
        nd.proto = "ip6"


def _opt_process(nd, b, p, length, jumbo):
    """The options of a hop-by-hop (``jumbo`` is [found, payload_len]) or
    destination (``jumbo`` None) header; False when they are malformed."""
    out = nd.out
    verbose = nd.vflag
    found = False
    if length == 0:
        return True
    for item in _walk(b, p, length):
        if item is None:
            return False
        i, kind, optlen = item
        if kind == IP6OPT_PAD1:
            if verbose:
                out.append("(pad1)")
        elif kind == IP6OPT_PADN:
            if length - i < 2:
                out.append("(padn: trunc)")
                return False
            if verbose:
                out.append("(padn)")
        elif kind == IP6OPT_RTALERT:
            if length - i < 4:
                out.append("(rtalert: trunc)")
                return False
            if b[p + i + 1] != 2:
                out.append("(rtalert: invalid len %u)" % b[p + i + 1])
                return False
            if verbose:
                out.append("(rtalert: 0x%04x) " % be16(b, p + i + 2))
        elif kind == IP6OPT_JUMBO:
            if length - i < 6:
                out.append("(jumbo: trunc)")
                return False
            if b[p + i + 1] != 4:
                out.append("(jumbo: invalid len %u)" % b[p + i + 1])
                return False
            jumbolen = be32(b, p + i + 2)
            if found:
                if verbose:
                    out.append("(jumbo: %u - already seen) " % jumbolen)
            else:
                found = True
                if jumbo is None:
                    if verbose:
                        out.append("(jumbo: %u - not a hop-by-hop option) " % jumbolen)
                elif jumbo[1] != 0:
                    if verbose:
                        out.append("(jumbo: %u - payload len != 0) " % jumbolen)
                elif jumbolen < 65536:
                    if verbose:
                        out.append("(jumbo: %u - < 65536) " % jumbolen)
                else:
                    jumbo[0] = 1
                    jumbo[1] = jumbolen
                    if verbose:
                        out.append("(jumbo: %u) " % jumbolen)
        elif kind == IP6OPT_HOMEADDR:
            if length - i < 18:
                out.append("(homeaddr: trunc)")
                return False
            if b[p + i + 1] < 16:
                out.append("(homeaddr: invalid len %u)" % b[p + i + 1])
                return False
            if verbose:
                out.append("(homeaddr: %s" % ip6addr(b, p + i + 2))
                if b[p + i + 1] > 16:
                    if not _sub_options(nd, b, p + i + 18, optlen - 18):
                        return False
                out.append(")")
        else:
            if length - i < 2:
                out.append("(type %u: trunc)" % kind)
                return False
            if verbose:
                out.append("(opt_type 0x%02x: len=%u)" % (kind, b[p + i + 1]))
    if verbose:
        out.append(" ")
    return True


def _walk(b, p, length):
    """The (offset, type, size) of each option in ``length`` bytes at ``p``;
    a None where one doesn't fit, and then no more."""
    i = 0
    while i < length:
        kind = b[p + i]
        if kind == IP6OPT_PAD1:
            optlen = 1
        elif i + 1 < length:
            optlen = b[p + i + 1] + 2
        else:
            yield None
            return
        if i + optlen > length:
            yield None
            return
        yield i, kind, optlen
        i += optlen


def _sub_options(nd, b, p, length):
    out = nd.out
    for item in _walk(b, p, length):
        if item is None:
            return False
        i, kind, optlen = item
        if kind == IP6OPT_PAD1:
            out.append(", pad1")
        elif kind == IP6OPT_PADN:
            if length - i < 2:
                out.append(", padn: trunc")
                return False
            out.append(", padn")
        else:
            if length - i < 2:
                out.append(", sopt_type %u: trunc)" % kind)
                return False
            out.append(", sopt_type 0x%02x: len=%u" % (kind, b[p + i + 1]))
    return True


def hbhopt_process(nd, b, p, jumbo):
    nd.proto = "hbhopt"
    hbhlen = (b[p + 1] + 1) << 3
    if p + hbhlen > len(b):
        nd.out.append(" [|hbhopt]")
        return -1
    nd.out.append("HBH ")
    if not _opt_process(nd, b, p + 2, hbhlen - 2, jumbo):
        nd.out.append(" [|hbhopt]")
        return -1
    return hbhlen


def dstopt_process(nd, b, p):
    nd.proto = "dstopt"
    dstoptlen = (b[p + 1] + 1) << 3
    if p + dstoptlen > len(b):
        nd.out.append(" [|dstopt]")
        return -1
    nd.out.append("DSTOPT ")
    if nd.vflag and not _opt_process(nd, b, p + 2, dstoptlen - 2, None):
        nd.out.append(" [|dstopt]")
        return -1
    return dstoptlen


def rt6_print(nd, b, p):
    """A routing header: type 0 and 2 (addresses) and 4 (segment routing)."""
    nd.proto = "rt6"
    out = nd.out
    out.append("RT6")
    hlen = b[p + 1]
    out.append(" (len=%u" % hlen)
    kind = b[p + 2]
    out.append(", type=%u" % kind)
    if kind == 0:
        out.append(" [Deprecated]")
    out.append(", segleft=%u" % b[p + 3])
    if kind in (0, 2):
        reserved = be32(b, p + 4)
        if reserved or nd.vflag:
            out.append(", rsv=0x%0x" % reserved)
        first = p + 8
    elif kind == 4:
        out.append(", last-entry=%u" % b[p + 4])
        flags = b[p + 5]
        if flags or nd.vflag:
            out.append(", flags=0x%0x" % flags)
        out.append(", tag=%x" % be16(b, p + 6))
        first = p + 8
    else:
        out.append(" (unknown type) (invalid)")
        return -1
    if hlen % 2 == 1:
        out.append(" (invalid length %u) (invalid)" % hlen)
        return -1
    for i in range(hlen >> 1):
        out.append(", [%u]%s" % (i, ip6addr(b, first + 16 * i)))
    out.append(") ")
    return (hlen + 1) << 3


def frag6_print(nd, b, p, iph):
    nd.proto = "frag6"
    out = nd.out
    out.append("frag (")
    ident = be32(b, p + 4)
    if nd.vflag:
        out.append("0x%08x:" % ident)
    offlg = be16(b, p + 2)
    out.append("%u|" % (offlg & 0xFFF8))
    before = p - iph + 8
    total = 40 + be16(b, iph + 4)
    if before > total:
        out.append("[length < 0] (invalid))")
    else:
        out.append("%u)" % (total - before))
    if offlg & 0xFFF8:
        return -1
    out.append(" ")
    return 8

