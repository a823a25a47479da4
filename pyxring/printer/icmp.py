"""ICMP (tcpdump's print-icmp.c): echo, errors with what they quote,
redirects, router discovery, timestamps, address masks; -v adds the
checksum check and prints the quoted datagram on its own line."""
from pyxring.printer import dump, ip
from pyxring.printer._nd import be16, be32, cksum_shouldbe, have, in_cksum, ipaddr, limit, need

_SIMPLE = {0: "echo reply", 4: "source quench", 8: "echo request", 10: "router solicitation",
           13: "time stamp request", 14: "time stamp reply", 15: "information request",
           16: "information reply", 17: "address mask request"}

_UNREACH = {
    0: "net %s unreachable", 1: "host %s unreachable",
    5: "%s unreachable - source route failed", 6: "net %s unreachable - unknown",
    7: "host %s unreachable - unknown", 8: "%s unreachable - source host isolated",
    9: "net %s unreachable - admin prohibited", 10: "host %s unreachable - admin prohibited",
    11: "net %s unreachable - tos prohibited", 12: "host %s unreachable - tos prohibited",
    13: "host %s unreachable - admin prohibited filter",
    14: "host %s unreachable - host precedence violation",
    15: "host %s unreachable - precedence cutoff",
}
_REDIRECT = {0: "redirect %s to net %s", 1: "redirect %s to host %s",
             2: "redirect-tos %s to net %s", 3: "redirect-tos %s to host %s"}
_ERRTYPES = (3, 4, 5, 11, 12)
_MULTIPART_TYPES = (3, 11, 12)
# RFC 4884: the extension header starts 128 bytes into the quoted datagram
ICMP_EXTD_MINLEN = 156 - 20


def _tstamp(ms):
    sec, msec = divmod(ms, 1000)
    mins, sec = divmod(sec, 60)
    hrs, mins = divmod(mins, 60)
    return "%02u:%02u:%02u.%03u" % (hrs, mins, sec, msec)


class _Cut(Exception):
    pass


def _describe(nd, b, p, icmp_type, code):
    """The text between "ICMP " and ", length"."""
    if icmp_type in (8, 0):
        return "echo %s, id %u, seq %u" % ("request" if icmp_type == 8 else "reply",
                                           be16(b, p + 4), be16(b, p + 6))
    if icmp_type == 3:
        if code == 2:
            return "%s protocol %u unreachable" % (ipaddr(b, p + 24), b[p + 17])
        if code == 3:
            if not have(b, p + 17, 1):
                raise _Cut()
            hlen = (b[p + 8] & 15) * 4
            dport = be16(b, p + 8 + hlen + 2)
            proto = b[p + 17]
            if proto == 6:
                return "%s tcp port %u unreachable" % (ipaddr(b, p + 24), dport)
            if proto == 17:
                return "%s udp port %u unreachable" % (ipaddr(b, p + 24), dport)
            return "%s protocol %u port %u unreachable" % (ipaddr(b, p + 24), proto, dport)
        if code == 4:
            mtu = be16(b, p + 6)
            if mtu:
                return "%s unreachable - need to frag (mtu %u)" % (ipaddr(b, p + 24), mtu)
            return "%s unreachable - need to frag" % ipaddr(b, p + 24)
        fmt = _UNREACH.get(code)
        if fmt is None:
            return "%s unreachable - #%u" % (ipaddr(b, p + 24), code)
        return fmt % ipaddr(b, p + 24)
    if icmp_type == 5:
        fmt = _REDIRECT.get(code)
        if fmt is None:
            return "redirect-#%u %s to %s" % (code, ipaddr(b, p + 24), ipaddr(b, p + 4))
        return fmt % (ipaddr(b, p + 24), ipaddr(b, p + 4))
    if icmp_type == 9:
        return _router_advertisement(b, p)
    if icmp_type == 11:
        if not have(b, p + 24, 4):
            raise _Cut()
        if code == 0:
            return "time exceeded in-transit"
        if code == 1:
            return "ip reassembly time exceeded"
        return "time exceeded-#%u" % code
    if icmp_type == 12:
        if code:
            return "parameter problem - code %u" % code
        return "parameter problem - octet %u" % b[p + 4]
    if icmp_type == 18:
        return "address mask is 0x%08x" % be32(b, p + 8)
    if icmp_type == 13:
        return "time stamp query id %u seq %u" % (be16(b, p + 4), be16(b, p + 6))
    if icmp_type == 14:
        if not have(b, p + 16, 4):
            raise _Cut()
        return "time stamp reply id %u seq %u: org %s, recv %s, xmit %s" % (
            be16(b, p + 4), be16(b, p + 6), _tstamp(be32(b, p + 8)), _tstamp(be32(b, p + 12)),
            _tstamp(be32(b, p + 16)))
    name = _SIMPLE.get(icmp_type)
    return name if name is not None else "type-#%u" % icmp_type


def _router_advertisement(b, p):
    text = ["router advertisement"]
    if not have(b, p + 4, 4):
        raise _Cut(text)
    lifetime = be16(b, p + 6)
    text.append(" lifetime ")
    if lifetime < 60:
        text.append("%u" % lifetime)
    elif lifetime < 3600:
        text.append("%u:%02u" % (lifetime // 60, lifetime % 60))
    else:
        text.append("%u:%02u:%02u" % (lifetime // 3600, (lifetime % 3600) // 60, lifetime % 60))
    num = b[p + 4]
    text.append(" %u:" % num)
    size = b[p + 5]
    if size != 2:
        text.append(" [size %u]" % size)
        return "".join(text)
    q = p + 8
    while num > 0:
        if not have(b, q, 8):
            raise _Cut(text)
        text.append(" {%s %u}" % (ipaddr(b, q), be32(b, q + 4)))
        q += 8
        num -= 1
    return "".join(text)


def icmp_print(nd, b, p, plen, iph, fragmented):
    nd.proto = "icmp"
    out = nd.out
    icmp_type = b[p]
    code = b[p + 1]
    try:
        text = _describe(nd, b, p, icmp_type, code)
    except _Cut:
        out.append(" [|icmp]")
        return
    out.append("ICMP %s, length %u" % (text, plen))
    if nd.vflag and not fragmented and have(b, p, plen):
        computed = in_cksum(b[p:p + plen])
        if computed != 0:
            icmp_sum = be16(b, p + 2)
            out.append(" (wrong icmp cksum %x (->%x)!)" % (icmp_sum,
                                                           cksum_shouldbe(icmp_sum, computed)))
    if nd.vflag and icmp_type in _ERRTYPES:
        q = p + 8
        out.append("\n\t")
        quoted_len = be16(b, q + 2)
        ip.ip_print(nd, limit(b, q + quoted_len), q, quoted_len)
    nd.proto = "icmp"
    if nd.vflag and plen > ICMP_EXTD_MINLEN and icmp_type in _MULTIPART_TYPES:
        _multipart(nd, b, p, plen)


def _multipart(nd, b, p, plen):
    """RFC 4884 extensions after the quoted datagram (MPLS label stacks...)."""
    out = nd.out
    need(b, p, 8 + 128 + 4)
    ext = p + 8 + 128
    if b[p + 5] == 0 and have(b, ext, plen - ICMP_EXTD_MINLEN):
        if in_cksum(b[ext:ext + plen - ICMP_EXTD_MINLEN]):
            return
    version = b[ext] >> 4
    out.append("\n\tICMP Multi-Part extension v%u" % version)
    if version != 2:
        out.append(" packet not supported")
        return
    hlen = plen - ICMP_EXTD_MINLEN
    if have(b, ext, hlen):
        out.append(", checksum 0x%04x (%scorrect), length %u" % (
            be16(b, ext + 2), "in" if in_cksum(b[ext:ext + hlen]) else "", hlen))
    hlen -= 4
    obj = ext + 4
    while hlen > 4:
        need(b, obj, 4)
        obj_len = be16(b, obj)
        obj_class = b[obj + 2]
        ctype = b[obj + 3]
        obj += 4
        out.append("\n\t  %s Object (%u), Class-Type: %u, length %u" % (
            {1: "MPLS Stack Entry", 2: "Interface Identification"}.get(obj_class, "unknown"),
            obj_class, ctype, obj_len))
        hlen -= 4
        if obj_class == 0 or obj_len < 4:
            return
        obj_len -= 4
        if obj_class == 1 and ctype == 1:
            raw = be32(b, obj)
            out.append("\n\t    label %u, tc %u" % (raw >> 12, (raw >> 9) & 7))
            if raw & 0x100:
                out.append(", [S]")
            out.append(", ttl %u" % (raw & 0xFF))
        else:
            dump.unknown_data(out, "\n\t    ", b, obj, obj_len)
        if hlen < obj_len:
            break
        hlen -= obj_len
        obj += obj_len

