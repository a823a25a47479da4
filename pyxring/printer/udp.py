"""UDP (tcpdump's print-udp.c).  Application protocols are not decoded:
every datagram prints as ``UDP, length N``; tcpdump decodes the ones on
the ports listed in ``APPLICATION_PORTS`` (DNS, DHCP, NTP, ...).  The one
exception is VXLAN (port 4789), a tunnel whose inner frame is printed."""
from pyxring.printer import tunnel
from pyxring.printer._nd import be16, be32, cksum_shouldbe, have, ip6addr, ipaddr
from pyxring.printer.cksum import transport_cksum

# Ports on which tcpdump -nn decodes the payload instead of printing
# "UDP, length N" (on either end unless noted): pyxring prints the plain line.
APPLICATION_PORTS = frozenset((
    53, 67, 68, 69, 88, 123, 137, 138, 161, 162, 319, 320, 496, 500, 514, 520, 521, 525, 546,
    547, 646, 654, 698, 701, 750, 921, 5353, 4500, 7500, 8500, 1701, 2103, 2104, 5359, 6696,
    6697, 8231, 1645, 1812, 1646, 1813, 1700, 3799, 3503, 1589, 6343, 12222, 12223, 5060,
    8472, 4789, 4342, 4790, 17754, 6635, 30490, *range(7000, 7010),
    # NFS (when the RPC direction says call to / reply from port 2049)
    2049,
    # on the destination (or source, for the last) port only
    3456, 4567, 1985, 3784, 3785, 4784, 6784, 6081, 49152))
VXLAN_PORT = 4789
# tcpdump tries these ports before VXLAN's: on either end, on the destination only
_BEFORE_VXLAN = APPLICATION_PORTS - {4789, 4342, 4790, 17754, 6635, 30490, 6081, 49152, 2049,
                                     3456, 4567, 1985, 3784, 3785, 4784, 6784}
_BEFORE_VXLAN_DPORT = frozenset((3456, 4567, 1985, 3784, 3785, 4784, 6784))


def _is_vxlan(b, p, sport, dport):
    """Would tcpdump print the UDP payload at ``p`` as VXLAN?"""
    if (VXLAN_PORT not in (sport, dport) or sport in _BEFORE_VXLAN or dport in _BEFORE_VXLAN
            or dport in _BEFORE_VXLAN_DPORT):
        return False
    if have(b, p + 4, 4):       # an RPC call to NFS or reply from it comes first
        direction = be32(b, p + 4)
        if (dport == 2049 and direction == 0) or (sport == 2049 and direction == 1):
            return False
    return True


def _addresses(nd, b, iph, ver, sport, dport):
    nh = b[iph + 6] if ver == 6 else b[iph + 9]
    if nh == 17:
        if ver == 6:
            src, dst = ip6addr(b, iph + 8), ip6addr(b, iph + 24)
        else:
            src, dst = ipaddr(b, iph + 12), ipaddr(b, iph + 16)
        if sport < 0:
            nd.out.append("%s > %s: " % (src, dst))
        else:
            nd.out.append("%s.%u > %s.%u: " % (src, sport, dst, dport))
    elif sport >= 0:
        nd.out.append("%u > %u: " % (sport, dport))


def udp_print(nd, b, off, length, iph, ver, fragmented):
    nd.proto = "udp"
    out = nd.out
    if not have(b, off + 2, 2):
        _addresses(nd, b, iph, ver, -1, -1)
        out.append(" [|udp]")
        return
    sport = be16(b, off)
    dport = be16(b, off + 2)
    if length < 8:
        _addresses(nd, b, iph, ver, sport, dport)
        out.append("truncated-udp %u" % length)
        return
    if not have(b, off + 4, 2):
        _addresses(nd, b, iph, ver, sport, dport)
        out.append(" [|udp]")
        return
    ulen = be16(b, off + 4)
    if ulen == 0 and length > 65535:
        ulen = length          # an IPv6 jumbogram (RFC 2675)
    if ulen < 8:
        _addresses(nd, b, iph, ver, sport, dport)
        out.append("truncated-udplength %u" % ulen)
        return
    ulen -= 8
    length -= 8
    if ulen < length:
        length = ulen
    if off + 8 > len(b):
        _addresses(nd, b, iph, ver, sport, dport)
        out.append(" [|udp]")
        return
    _addresses(nd, b, iph, ver, sport, dport)
    if nd.vflag and not fragmented:
        if ver == 4 and nd.vflag > 1:
            udp_sum = be16(b, off + 6)
            if udp_sum == 0:
                out.append("[no cksum] ")
            elif have(b, off + 8, length):
                _cksum(nd, b, iph, ver, off, length, udp_sum)
        elif ver == 6 and have(b, off + 8, length):
            _cksum(nd, b, iph, ver, off, length, be16(b, off + 6))
    if not nd.qflag and _is_vxlan(b, off + 8, sport, dport):
        tunnel.vxlan_print(nd, b, off + 8, length)
    elif ulen > length and not fragmented:
        out.append("UDP, bad length %u > %u" % (ulen, length))
    else:
        out.append("UDP, length %u" % ulen)


def _cksum(nd, b, iph, ver, off, length, udp_sum):
    computed = transport_cksum(b, iph, ver, off, length + 8, 17)
    if computed != 0:
        nd.out.append("[bad udp cksum 0x%04x -> 0x%04x!] " %
                      (udp_sum, cksum_shouldbe(udp_sum, computed)))
    else:
        nd.out.append("[udp sum ok] ")
