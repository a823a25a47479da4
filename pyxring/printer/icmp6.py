"""ICMPv6 (tcpdump's print-icmp6.c): errors, echo, neighbour discovery
(with its options under -v), MLD v1 and v2, home-agent and mobile-prefix
messages.  Node information, router renumbering and RPL messages print
their type name only."""
from pyxring.printer import dump, other
from pyxring.printer._nd import be16, be32, bittok, cksum_shouldbe, have, ip6addr, need
from pyxring.printer.cksum import transport_cksum

TYPE_NAMES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
    4: "parameter problem", 128: "echo request", 129: "echo reply",
    130: "multicast listener query", 131: "multicast listener report",
    132: "multicast listener done", 133: "router solicitation", 134: "router advertisement",
    135: "neighbor solicitation", 136: "neighbor advertisement", 137: "redirect",
    138: "router renumbering", 141: "inverse neighbor solicitation",
    142: "inverse neighbor advertisement", 143: "multicast listener report v2",
    144: "ha discovery request", 145: "ha discovery reply", 146: "mobile router solicitation",
    147: "mobile router advertisement", 139: "who-are-you request", 140: "who-are-you reply",
    201: "mtrace message", 200: "mtrace response", 155: "RPL",
}
_UNREACH_CODES = {0: "unreachable route", 1: " unreachable prohibited", 2: "beyond scope",
                  3: "unreachable address", 4: "unreachable port"}
_PARAMPROB = {0: ", erroneous - octet %u", 1: ", next header - octet %u",
              2: ", option - octet %u", 3: ", incomplete header chain - octet %u"}
_OPT_NAMES = {1: "source link-address", 2: "destination link-address", 3: "prefix info",
              4: "redirected header", 5: "mtu", 25: "rdnss", 31: "dnssl",
              7: "advertisement interval", 8: "homeagent information", 24: "route info"}
_PI_FLAGS = ((0x80, "onlink"), (0x40, "auto"), (0x20, "router"))
_RA_FLAGS = ((0x80, "managed"), (0x40, "other stateful"), (0x20, "home agent"),
             (0x02, "ipv6 only"))
_NA_FLAGS = ((0x80000000, "router"), (0x40000000, "solicited"), (0x20000000, "override"))
_RTPREF = ("medium", "high", "rsv", "low")
# the types whose -v line has the length right after the type name
_LENGTH_FIRST = (133, 134, 136, 135, 137, 145, 147)


class _Cut(Exception):
    """tcpdump's local "goto trunc": " [|icmp6]", then the packet ends."""


def _lifetime(v):
    return "infinity" if v == 0xFFFFFFFF else "%us" % v


def icmp6_print(nd, b, p, length, iph, fragmented):
    nd.proto = "icmp6"
    out = nd.out
    if length == 0:
        out.append("ICMP6, length 0 (invalid)")
        return
    if nd.vflag and not fragmented and have(b, p, length):
        icmp_sum = be16(b, p + 2)
        computed = transport_cksum(b, iph, 6, p, length, 58)
        if computed != 0:
            out.append("[bad icmp6 cksum 0x%04x -> 0x%04x!] " %
                       (icmp_sum, cksum_shouldbe(icmp_sum, computed)))
        else:
            out.append("[icmp6 sum ok] ")
    icmp6_type = b[p]
    out.append("ICMP6, " + (TYPE_NAMES.get(icmp6_type) or
                            "unknown icmp6 type (%u)" % icmp6_type))
    if nd.vflag and icmp6_type in _LENGTH_FIRST:
        out.append(", length %u" % length)
    code = b[p + 1]
    try:
        if not _body(nd, b, p, length, icmp6_type, code):
            return
    except _Cut:
        out.append(" [|icmp6]")
        return
    if not nd.vflag:
        out.append(", length %u" % length)


def _body(nd, b, p, length, icmp6_type, code):
    """The type-specific text; False when tcpdump ends the line there."""
    out = nd.out
    verbose = nd.vflag
    oip = p + 8
    if icmp6_type == 1:
        out.append(", " + (_UNREACH_CODES.get(code) or "unknown unreach code (%u)" % code))
        if code in (0, 1, 3):
            out.append(" " + ip6addr(b, oip + 24))
        elif code == 2:
            out.append(" %s, source address %s" % (ip6addr(b, oip + 24), ip6addr(b, oip + 8)))
        elif code == 4:
            found = _upper_layer(b, oip)
            if found is None:
                raise _Cut()
            prot, uh = found
            dport = be16(b, uh + 2)
            if prot == 6:
                out.append(", %s tcp port %u" % (ip6addr(b, oip + 24), dport))
            elif prot == 17:
                out.append(", %s udp port %u" % (ip6addr(b, oip + 24), dport))
            else:
                out.append(", %s protocol %u port %u unreachable" % (ip6addr(b, oip + 24), prot,
                                                                      dport))
        elif verbose <= 1:
            dump.unknown_data(out, "\n\t", b, p, length)
            return False
    elif icmp6_type == 2:
        out.append(", mtu %u" % be32(b, p + 4))
    elif icmp6_type == 3:
        if code == 0:
            out.append(" for " + ip6addr(b, oip + 24))
        elif code == 1:
            out.append(" (reassembly)")
        else:
            out.append(", unknown code (%u)" % code)
    elif icmp6_type == 4:
        if not have(b, oip + 24, 16):
            raise _Cut()
        fmt = _PARAMPROB.get(code)
        out.append(fmt % be32(b, p + 4) if fmt else ", code-#%u" % code)
    elif icmp6_type in (128, 129):
        out.append(", id %u, seq %u" % (be16(b, p + 4), be16(b, p + 6)))
    elif icmp6_type == 130:
        if length == 24:
            _mld6(nd, b, p)
        elif length >= 28:
            out.append(" v2")
            _mldv2_query(nd, b, p, length)
        else:
            out.append(" unknown-version (len %u) " % length)
    elif icmp6_type in (131, 132):
        _mld6(nd, b, p)
    elif icmp6_type == 133:
        if verbose and not _options(nd, b, p + 8, length - 8):
            raise _Cut()
    elif icmp6_type == 134:
        if verbose:
            flags = b[p + 5]
            out.append("\n\thop limit %u, Flags [%s], pref %s, router lifetime %us, "
                       "reachable time %ums, retrans timer %ums" % (
                           b[p + 4], bittok(_RA_FLAGS, flags, "none"),
                           _RTPREF[(flags & 0x18) >> 3], be16(b, p + 6), be32(b, p + 8),
                           be32(b, p + 12)))
            if not _options(nd, b, p + 16, length - 16):
                raise _Cut()
    elif icmp6_type == 135:
        out.append(", who has " + ip6addr(b, p + 8))
        if verbose and not _options(nd, b, p + 24, length - 24):
            raise _Cut()
    elif icmp6_type == 136:
        out.append(", tgt is " + ip6addr(b, p + 8))
        if verbose:
            out.append(", Flags [%s]" % bittok(_NA_FLAGS, be32(b, p + 4), "none"))
            if not _options(nd, b, p + 24, length - 24):
                raise _Cut()
    elif icmp6_type == 137:
        out.append(", " + ip6addr(b, p + 24))
        out.append(" to " + ip6addr(b, p + 8))
        if verbose and not _options(nd, b, p + 40, length - 40):
            raise _Cut()
    elif icmp6_type == 143:
        _mldv2_report(nd, b, p, length)
    elif icmp6_type in (146, 144):
        out.append(", id 0x%04x" % be16(b, p + 4))
    elif icmp6_type == 145:
        if verbose:
            out.append(", id 0x%04x" % be16(b, p + 4))
            end = p + min(length, len(b) - p)
            q = p + 8
            while q < end:
                out.append(", " + ip6addr(b, q))
                q += 16
    elif icmp6_type == 147:
        if verbose:
            out.append(", id 0x%04x" % be16(b, p + 4))
            flags = be16(b, p + 6)
            if flags & 0xC000:
                out.append(" ")
            if flags & 0x8000:
                out.append("M")
            if flags & 0x4000:
                out.append("O")
            if not _options(nd, b, p + 8, length - 8):
                raise _Cut()
    elif icmp6_type in (141, 142, 138, 139, 140, 155):
        pass
    else:
        out.append(", length %u" % length)
        if verbose <= 1:
            dump.unknown_data(out, "\n\t", b, p, length)
        return False
    return True


def _upper_layer(b, ip6):
    """The protocol and offset of the transport header an ICMPv6 error
    quotes, or None when it can't be found in what was captured."""
    if not have(b, ip6 + 6, 1):
        return None
    nh = b[ip6 + 6]
    hlen = 40
    cp = ip6
    while cp < len(b):
        cp += hlen
        if nh in (6, 17):
            return (nh, cp) if have(b, cp + 2, 2) else None
        if nh in (0, 60, 43):
            if not have(b, cp + 1, 1):
                return None
            nh = b[cp]
            hlen = (b[cp + 1] + 1) << 3
        elif nh == 44:
            if not have(b, cp + 2, 2) or be16(b, cp + 2) & 0xFFF8:
                return None
            nh = b[cp]
            hlen = 8
        elif nh == 51:
            if not have(b, cp + 1, 1):
                return None
            nh = b[cp]
            hlen = (b[cp + 1] + 2) << 2
        else:
            return None
    return None


def _options(nd, b, cp, resid):
    """The neighbour-discovery options (-v); False when cut off."""
    out = nd.out
    end = len(b)
    start = cp
    while cp < end:
        if not have(b, cp + 1, 1):
            return False
        if resid <= 0:
            return True
        opt_type = b[cp]
        opt_len = b[cp + 1]
        if opt_len == 0 or cp + (opt_len << 3) > end:
            return False
        out.append("\n\t  %s option (%u), length %u (%u): " % (
            _OPT_NAMES.get(opt_type, "unknown"), opt_type, opt_len << 3, opt_len))
        if opt_type in (1, 2):
            out.append(":".join("%02x" % c for c in bytes(b[cp + 2:cp + (opt_len << 3)])))
        elif opt_type == 3:
            out.append("%s/%u%s, Flags [%s], valid time %s" % (
                ip6addr(b, cp + 16), b[cp + 2], "badlen" if opt_len != 4 else "",
                bittok(_PI_FLAGS, b[cp + 3], "none"), _lifetime(be32(b, cp + 4))))
            out.append(", pref. time %s" % _lifetime(be32(b, cp + 8)))
        elif opt_type == 4:
            dump.unknown_data(out, "\n\t    ", b, start, opt_len << 3)
        elif opt_type == 5:
            out.append(" %u%s" % (be32(b, cp + 4), "bad option length" if opt_len != 1 else ""))
        elif opt_type == 25:
            out.append(" lifetime %us," % be32(b, cp + 4))
            for i in range((opt_len - 1) // 2):
                out.append(" addr: " + ip6addr(b, cp + 8 + 16 * i))
        elif opt_type == 31:
            out.append(" lifetime %us, domain(s):" % be32(b, cp + 4))
            dom = cp + 8
            while dom < cp + (opt_len << 3) and b[dom] != 0:
                out.append(" ")
                dom = _fqdn(out, b, dom)
                if dom is None:
                    return False
        elif opt_type == 7:
            out.append(" %ums" % be32(b, cp + 4))
        elif opt_type == 8:
            out.append(" preference %u, lifetime %u" % (be16(b, cp + 4), be16(b, cp + 6)))
        elif opt_type == 24:
            need(b, cp + 4, 4)
            if opt_len == 1:
                prefix = bytes(16)
            elif opt_len == 2:
                need(b, cp + 8, 8)
                prefix = bytes(b[cp + 8:cp + 16]) + bytes(8)
            elif opt_len == 3:
                need(b, cp + 8, 16)
                prefix = bytes(b[cp + 8:cp + 24])
            else:
                return False
            out.append(" %s/%u" % (ip6addr(prefix, 0), b[cp + 2]))
            out.append(", pref=%s" % _RTPREF[(b[cp + 3] & 0x18) >> 3])
            out.append(", lifetime=%s" % _lifetime(be32(b, cp + 4)))
        elif nd.vflag <= 1:
            dump.unknown_data(out, "\n\t  ", b, cp + 2, (opt_len << 3) - 2)
            return True
        if nd.vflag > 1:
            dump.unknown_data(out, "\n\t    ", b, cp + 2, (opt_len << 3) - 2)
        cp += opt_len << 3
        resid -= opt_len << 3
    return True


def _fqdn(out, b, p):
    """A DNS name (labels, no compression) as tcpdump's fqdn_print shows it;
    the offset after it, or None when it runs past the capture."""
    labels = []
    while True:
        if p >= len(b):
            return None
        n = b[p]
        p += 1
        if n == 0:
            break
        if n & 0xC0:
            return None
        if p + n > len(b):
            return None
        labels.append("".join(chr(c) if 0x20 < c < 0x7F and c != 0x2E else "\\%03o" % c
                              for c in bytes(b[p:p + n])))
        p += n
    out.append(".".join(labels) + "." if labels else ".")
    return p


def _mld6(nd, b, p):
    if p + 24 > len(b):
        return
    nd.out.append("max resp delay: %u addr: %s" % (be16(b, p + 4), ip6addr(b, p + 8)))


def _mldv2_report(nd, b, p, length):
    if length < 8:
        nd.out.append(" [invalid len %u]" % length)
        return
    other.group_records(nd, b, p, length, 16, ip6addr, " [v2-report-#%u]")


def _mldv2_query(nd, b, p, length):
    out = nd.out
    if length < 28:
        out.append(" [invalid len %u]" % length)
        return
    mrc = be16(b, p + 4)
    mrt = mrc if mrc < 32768 else ((mrc & 0x0FFF) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
    if nd.vflag:
        out.append(" [max resp delay=%u]" % mrt)
    out.append(" [gaddr " + ip6addr(b, p + 8))
    if nd.vflag:
        if b[p + 24] & 0x08:
            out.append(" sflag")
        if b[p + 24] & 0x07:
            out.append(" robustness=%u" % (b[p + 24] & 0x07))
        qqic = b[p + 25]
        qqi = qqic if qqic < 128 else ((qqic & 0x0F) | 0x10) << (((qqic & 0x70) >> 4) + 3)
        out.append(" qqi=%u" % qqi)
    nsrcs = be16(b, p + 26)
    if nsrcs > 0:
        if length < 28 + nsrcs * 16:
            out.append(" [invalid number of sources]")
        elif nd.vflag > 1:
            out.append(" {" + "".join(" " + ip6addr(b, p + 28 + 16 * i) for i in range(nsrcs)) +
                       " }")
        else:
            out.append(", %u source(s)" % nsrcs)
    out.append("]")
