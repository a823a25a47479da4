"""One-line packet summaries in the style of ``tcpdump -nn`` (without -v).

    summarize(frame)            -> 'IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 12'
    format_ts(ts_ns)            -> '14:03:07.123456'  (local time, like tcpdump)

The common cases (Ethernet, 802.1Q, ARP, IPv4, IPv6, UDP, TCP with its
options, ICMP and ICMPv6 echo/unreachable/neighbour discovery) print the same
text tcpdump prints after the timestamp.  Known differences, on purpose:

* ``summarize`` prints absolute TCP sequence numbers, as ``tcpdump -S``
  does; a ``Summarizer`` keeps tcpdump's per-connection state and prints
  its relative numbers.
* Frames whose ethertype isn't decoded print the Ethernet header line
  without tcpdump's hex dump of the payload; IPv6 fragments, SCTP, IGMP
  queries, ICMP time stamp replies and other rarer protocols print a
  shorter line (their name and length).
* Application protocols on well-known ports (DNS, HTTP, NTP, ...) are not
  decoded: they print as plain ``UDP, length N`` / TCP lines.
* Fragments and unusual IP options print in a shorter form.

Garbage never raises: a frame that ends early gets a tcpdump-style
``[|proto]`` marker where decoding stopped.
"""
import socket
import struct
import time

__all__ = ["summarize", "Summarizer", "format_ts"]

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_ip4 = struct.Struct("!BBHHHBBH4s4s").unpack_from
_ports = struct.Struct("!HH").unpack_from
_tcp = struct.Struct("!HHIIBBHHH").unpack_from

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x88A8: "802.1Q-QinQ",
    0x9100: "802.1Q-9100", 0x8035: "Reverse ARP", 0x8847: "MPLS unicast", 0x8848: "MPLS multicast",
    0x88CC: "LLDP", 0x888E: "EAPOL", 0x8863: "PPPoE D", 0x8864: "PPPoE S", 0x88F7: "PTP",
    0x8809: "Slow Protocols", 0x9000: "Loopback",
}

IP_PROTOS = {1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ip6", 47: "gre",
             50: "esp", 51: "ah", 58: "icmp6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp"}

ICMP_UNREACH = {0: "net {} unreachable", 1: "host {} unreachable",
                2: "{} protocol {} unreachable", 3: "{} {} port {} unreachable",
                4: "{} unreachable - need to frag (mtu {})",
                9: "net {} unreachable - admin prohibited", 10: "host {} unreachable - admin prohibited",
                13: "host {} unreachable - admin prohibited filter"}

ICMP_SIMPLE = {4: "source quench", 9: "router advertisement", 10: "router solicitation",
               11: "time exceeded in-transit", 12: "parameter problem",
               13: "time stamp request", 14: "time stamp reply",
               15: "information request", 16: "information reply",
               17: "address mask request", 18: "address mask reply"}

ICMP6_TYPES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
               4: "parameter problem", 128: "echo request", 129: "echo reply",
               130: "multicast listener query", 131: "multicast listener report",
               132: "multicast listener done", 133: "router solicitation",
               134: "router advertisement", 135: "neighbor solicitation",
               136: "neighbor advertisement", 137: "redirect", 143: "multicast listener report v2"}

TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
             (0x40, "E"), (0x80, "W"))


class _Truncated(Exception):
    pass


def _mac(b):
    return b.hex(":")


def _ip6(b):
    return socket.inet_ntop(socket.AF_INET6, b)


def _ip4s(b):
    return "%d.%d.%d.%d" % (b[0], b[1], b[2], b[3])


def _ethertype_name(t):
    name = ETHERTYPES.get(t)
    return f"{name} (0x{t:04x})" if name else f"Unknown (0x{t:04x})"


def summarize(data, linktype=LINKTYPE_ETHERNET, wirelen=None, link=False, _tcp_state=None):
    """The tcpdump-like one-liner for one frame; ``wirelen`` (the original
    length) defaults to ``len(data)``; ``link=True`` adds the Ethernet
    header like ``tcpdump -e``.  Never raises on malformed input."""
    try:
        mv = memoryview(data)
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        n = len(mv)
        length = n if wirelen is None else wirelen
        if linktype == LINKTYPE_ETHERNET:
            return _ether(mv, length, link, _tcp_state)
        if linktype in (LINKTYPE_RAW, 12, 14):
            if n < 1:
                return "[|ip]"
            v = mv[0] >> 4
            if v == 4:
                return _ipv4(mv, 0, length, _tcp_state)
            if v == 6:
                return _ipv6(mv, 0, length, _tcp_state)
            return f"IP{v}, length {length}"
        if linktype == LINKTYPE_IPV4:
            return _ipv4(mv, 0, length, _tcp_state)
        if linktype == LINKTYPE_IPV6:
            return _ipv6(mv, 0, length, _tcp_state)
        if linktype == LINKTYPE_LINUX_SLL:
            if n < 16:
                return "[|sll]"
            return _ethertype_payload(mv, 16, _u16(mv, 14)[0], length - 16, _tcp_state)
        if linktype == LINKTYPE_LINUX_SLL2:
            if n < 20:
                return "[|sll2]"
            return _ethertype_payload(mv, 20, _u16(mv, 0)[0], length - 20, _tcp_state)
        return f"linktype {linktype}, length {length}"
    except Exception:  # noqa: BLE001 - a summary must never take the caller down
        return f"[|malformed], length {len(data)}"


def _ether(mv, length, link, st):
    n = len(mv)
    if n < 14:
        return "[|ether]"
    etype = _u16(mv, 12)[0]
    if link or etype not in _DECODED:
        # tcpdump shows the Ethernet header when it can't decode what follows.
        head = (f"{_mac(mv[6:12])} > {_mac(mv[0:6])}, ethertype {_ethertype_name(etype)}, "
                f"length {length}:")
        if etype not in _DECODED:
            return head
        return head + " " + _untag(_ethertype_payload(mv, 14, etype, length - 14, st, True))
    if etype <= 1500:
        # 802.3 length field: LLC follows; tcpdump prints the SAPs.
        if n < 17:
            return f"802.3, length {length}: [|llc]"
        return (f"802.3, length {length}: LLC, dsap Unknown (0x{mv[14] & 0xfe:02x}) "
                f"{'Group' if mv[14] & 1 else 'Individual'}, ssap Unknown (0x{mv[15] & 0xfe:02x}) "
                f"{'Response' if mv[15] & 1 else 'Command'}, ctrl 0x{mv[16]:02x}")
    return _ethertype_payload(mv, 14, etype, length - 14, st)


_DECODED = (0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x9100)


def _untag(text):
    # With the link header shown, tcpdump leaves out the protocol tag that
    # the ethertype already names.
    for tag in ("IP6 ", "IP ", "ARP, "):
        if text.startswith(tag):
            return text[len(tag):]
    return text


def _ethertype_payload(mv, off, etype, length, st=None, link=False):
    if etype == 0x0800:
        return _ipv4(mv, off, length, st)
    if etype == 0x86DD:
        return _ipv6(mv, off, length, st)
    if etype == 0x0806:
        return _arp(mv, off, length)
    if etype in (0x8100, 0x88A8, 0x9100):
        if len(mv) < off + 4:
            return "[|vlan]"
        tci = _u16(mv, off)[0]
        inner = _u16(mv, off + 2)[0]
        head = f"vlan {tci & 0xfff}, p {tci >> 13}, "
        if tci & 0x1000:
            head += "DEI, "
        head += f"ethertype {_ethertype_name(inner)}"
        if inner not in _DECODED:
            return head + f", length {length}"
        inner_text = _ethertype_payload(mv, off + 4, inner, length - 4, st, link)
        # Like tcpdump, the tag is only shown along with the link header.
        return head + ", " + _untag(inner_text) if link else inner_text
    return f"ethertype {_ethertype_name(etype)}, length {length}"


def _arp(mv, off, length):
    n = len(mv)
    if n < off + 8:
        return " [|arp]"
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", mv, off)
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        return f"ARP, unknown hardware/protocol (htype {htype}, ptype 0x{ptype:04x}), length {length}"
    if n < off + 28:
        return " [|arp]"
    sha = bytes(mv[off + 8:off + 14])
    spa = _ip4s(mv[off + 14:off + 18])
    tha = bytes(mv[off + 18:off + 24])
    tpa = _ip4s(mv[off + 24:off + 28])
    if op == 1:
        if tha != b"\0" * 6 and tha != b"\xff" * 6:
            return f"ARP, Request who-has {tpa} ({_mac(tha)}) tell {spa}, length {length}"
        return f"ARP, Request who-has {tpa} tell {spa}, length {length}"
    if op == 2:
        return f"ARP, Reply {spa} is-at {_mac(sha)}, length {length}"
    if op == 3:
        return f"ARP, Reverse Request who-is {_mac(tha)} tell {_mac(sha)}, length {length}"
    if op == 4:
        return f"ARP, Reverse Reply {_mac(tha)} at {tpa}, length {length}"
    return f"ARP, op {op}, length {length}"


def _ipv4(mv, off, length, st=None):
    n = len(mv)
    if n < off + 20:
        return "IP  [|ip]"
    vhl, _tos, tot, _id, frag, _ttl, proto, _csum, src, dst = _ip4(mv, off)
    if vhl >> 4 != 4:
        return f"IP{vhl >> 4}"
    ihl = (vhl & 15) * 4
    if ihl < 20:
        return f"IP bad-hlen {ihl}"
    s, d = _ip4s(src), _ip4s(dst)
    if tot < ihl:
        return f"IP {s} > {d}: [|ip]"
    # What follows the IP header, limited to the IP total length (Ethernet pads).
    end = min(off + tot, n)
    plen = tot - ihl
    fragoff = (frag & 0x1fff) * 8
    more = frag & 0x2000
    if fragoff:
        return f"IP {s} > {d}: {IP_PROTOS.get(proto, f'ip-proto-{proto}')}"
    p = off + ihl
    head = "IP "
    if tot > length:
        # The frame on the wire was shorter than the IP header claims (a
        # capture cut by the snap length is not that: it shows as [|proto]).
        head += f"truncated-ip - {tot - length} bytes missing! "
    return head + _l4(mv[:end], p, proto, s, d, plen, more, False, st, bytes(src), bytes(dst))


def _ipv6(mv, off, length, st=None):
    n = len(mv)
    if n < off + 40:
        return " [|ip6]"
    plen = _u16(mv, off + 4)[0]
    nh = mv[off + 6]
    sraw, draw = bytes(mv[off + 8:off + 24]), bytes(mv[off + 24:off + 40])
    s, d = _ip6(sraw), _ip6(draw)
    p = off + 40
    end = min(p + plen, n)
    ext = 0
    tags = ""
    # Hop-by-hop, routing, destination options: skip to the transport
    # header; tcpdump names the first two before the payload.
    while nh in (0, 43, 60) and p + 8 <= end:
        nh_next = mv[p]
        hl = (mv[p + 1] + 1) * 8
        tags += {0: "HBH ", 60: "DSTOPT "}.get(nh, "")
        p += hl
        ext += hl
        nh = nh_next
    if nh == 44:
        return f"IP6 {s} > {d}: frag"
    line = _l4(mv[:end], p, nh, s, d, plen - ext, False, True, st, sraw, draw)
    if tags:
        head, sep, rest = line.partition(": ")
        line = head + sep + tags + rest
    return "IP6 " + line


def _l4(mv, p, proto, s, d, plen, more_frags, v6, st=None, sraw=b"", draw=b""):
    n = len(mv)
    if proto == 17:
        if n < p + 4:
            return f"{s} > {d}:  [|udp]"
        if n < p + 8:
            sport, dport = _ports(mv, p)
            return f"{s}.{sport} > {d}.{dport}:  [|udp]"
        sport, dport = _ports(mv, p)
        ulen = _u16(mv, p + 4)[0]
        if ulen < 8:
            return f"{s}.{sport} > {d}.{dport}: UDP, bad length {ulen} < 8"
        if ulen > plen:
            return f"{s}.{sport} > {d}.{dport}: UDP, bad length {ulen} > {plen}"
        return f"{s}.{sport} > {d}.{dport}: UDP, length {ulen - 8}"
    if proto == 6:
        return _tcp_line(mv, p, s, d, plen, st, sraw, draw)
    if proto == 1 and not v6:
        return f"{s} > {d}: " + _icmp(mv, p, plen)
    if proto == 58 and v6:
        return f"{s} > {d}: " + _icmp6(mv, p, plen)
    name = IP_PROTOS.get(proto)
    if proto == 2 and not v6 and n >= p + 8:
        return f"{s} > {d}: " + _igmp(mv, p, plen)
    if proto == 50 and n >= p + 8:
        spi, seq = struct.unpack_from("!II", mv, p)
        return f"{s} > {d}: ESP(spi=0x{spi:08x},seq=0x{seq:x}), length {plen}"
    if proto == 47 and n >= p + 4:
        flags, gproto = _ports(mv, p)
        return f"{s} > {d}: GREv{flags & 7}, length {plen}: gre-proto-0x{gproto:x}"
    if name and not v6:
        return f"{s} > {d}:  {name} {plen}"
    return f"{s} > {d}:  ip-proto-{proto} {plen}"


def _tcp_line(mv, p, s, d, plen, st=None, sraw=b"", draw=b""):
    n = len(mv)
    if n < p + 20:
        if n >= p + 4:
            sport, dport = _ports(mv, p)
            return f"{s}.{sport} > {d}.{dport}:  [|tcp]"
        return f"{s} > {d}:  [|tcp]"
    sport, dport, seq, ack, doff, flags, win, _csum, urp = _tcp(mv, p)
    sack_base = 0
    if st is not None and flags & 0x10:
        # tcpdump's relative numbers: the first ACK-bearing packet of a
        # conversation (or any SYN) sets the bases, later ones subtract them.
        rev = (sraw, sport) > (draw, dport)
        key = (draw, dport, sraw, sport) if rev else (sraw, sport, draw, dport)
        th = st.get(key)
        if th is None or flags & 0x02:
            if len(st) > 65536:
                st.clear()
            st[key] = (ack - 1, seq) if rev else (seq, ack - 1)
            sack_base = st[key][1]
        else:
            if rev:
                seq, ack = (seq - th[1]) & 0xffffffff, (ack - th[0]) & 0xffffffff
            else:
                seq, ack = (seq - th[0]) & 0xffffffff, (ack - th[1]) & 0xffffffff
            sack_base = th[1]
    hlen = (doff >> 4) * 4
    head = f"{s}.{sport} > {d}.{dport}: "
    if hlen < 20:
        return head + f"tcp {plen} [bad hdr length {hlen} - too short, < 20]"
    if hlen > plen:
        return head + f"tcp {plen} [bad hdr length {hlen} - too long, > {plen}]"
    fl = "".join(c for bit, c in TCP_FLAGS if flags & bit) or "none"
    dlen = plen - hlen
    out = [head, "Flags [", fl, "]"]
    if dlen > 0 or flags & 0x07:
        out.append(f", seq {seq}")
        if dlen > 0:
            out.append(f":{(seq + dlen) & 0xffffffff}")
    if flags & 0x10:
        out.append(f", ack {ack}")
    out.append(f", win {win}")
    if flags & 0x20:
        out.append(f", urg {urp}")
    if hlen > 20:
        text, cut = _tcp_options(mv, p + 20, p + hlen, sack_base)
        out.append(", options [" + text)
        if cut:
            # tcpdump stops the line where the capture ends, brackets open.
            return "".join(out)
        out.append("]")
    out.append(f", length {dlen}")
    return "".join(out)


TCP_OPTION_NAMES = {2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 8: "TS", 19: "md5",
                    28: "utoopt", 29: "tcp-ao", 30: "mptcp", 34: "tfo"}


def _tcp_options(mv, p, end, sack_base=0):
    """(text, cut): the option list, and whether the capture ended inside it."""
    parts = []
    cap = len(mv)
    while p < end:
        if p >= cap:
            return ",".join(parts) + ", [|tcp]", True
        kind = mv[p]
        if kind == 0:
            parts.append("eol")
            break
        if kind == 1:
            parts.append("nop")
            p += 1
            continue
        if p + 2 > end:
            parts.append("[|tcp]")
            break
        if p + 2 > cap or p + max(mv[p + 1], 2) > cap:
            # tcpdump 4.99 prints a stray '>' after a cut-off timestamp option.
            parts.append(TCP_OPTION_NAMES.get(kind, f"unknown-{kind}") +
                         (" [|tcp]>" if kind == 8 else " [|tcp]"))
            return ",".join(parts), True
        ln = mv[p + 1]
        if ln < 2 or p + ln > end:
            parts.append(f"opt-{kind}:[bad opt]" if ln < 2 else "[|tcp]")
            break
        v = mv[p + 2:p + ln]
        if kind == 2 and ln == 4:
            parts.append(f"mss {_u16(v, 0)[0]}")
        elif kind == 3 and ln == 3:
            parts.append(f"wscale {v[0]}")
        elif kind == 4 and ln == 2:
            parts.append("sackOK")
        elif kind == 5 and (ln - 2) % 8 == 0:
            blocks = "".join(f"{{{(_u32(v, i)[0] - sack_base) & 0xffffffff}:"
                             f"{(_u32(v, i + 4)[0] - sack_base) & 0xffffffff}}}"
                             for i in range(0, ln - 2, 8))
            parts.append(f"sack {(ln - 2) // 8} {blocks}")
        elif kind == 8 and ln == 10:
            parts.append(f"TS val {_u32(v, 0)[0]} ecr {_u32(v, 4)[0]}")
        elif kind == 30:
            parts.append("mptcp")
        elif kind == 34:
            parts.append(f"tfo {'cookiereq' if ln == 2 else 'cookie ' + bytes(v).hex()}")
        else:
            parts.append(f"unknown-{kind} 0x{bytes(v).hex()}")
        p += ln
    return ",".join(parts), False


def _icmp(mv, p, plen):
    n = len(mv)
    if n < p + 8:
        return " [|icmp]"
    typ, code = mv[p], mv[p + 1]
    if typ in (0, 8):
        ident, seq = _ports(mv, p + 4)
        what = "echo reply" if typ == 0 else "echo request"
        return f"ICMP {what}, id {ident}, seq {seq}, length {plen}"
    if typ == 3:
        # The quoted datagram says what was unreachable.
        q = p + 8
        if n < q + 20 or (code == 3 and n < q + (mv[q] & 15) * 4 + 4):
            return " [|icmp]"
        if code in ICMP_UNREACH:
            qhl = (mv[q] & 15) * 4
            qproto = mv[q + 9]
            qdst = _ip4s(mv[q + 16:q + 20])
            if code == 3:
                if n >= q + qhl + 4 and qproto in (6, 17):
                    dport = _u16(mv, q + qhl + 2)[0]
                    pname = IP_PROTOS[qproto]
                    return f"ICMP {qdst} {pname} port {dport} unreachable, length {plen}"
                return f"ICMP {qdst} protocol {qproto} port unreachable, length {plen}"
            if code == 2:
                return f"ICMP {qdst} protocol {qproto} unreachable, length {plen}"
            if code == 4:
                mtu = _u16(mv, p + 6)[0]
                return f"ICMP {qdst} unreachable - need to frag (mtu {mtu}), length {plen}"
            return "ICMP " + ICMP_UNREACH[code].format(qdst) + f", length {plen}"
        return f"ICMP unreachable code {code}, length {plen}"
    if typ == 5:
        if n < p + 28:
            return " [|icmp]"
        gw, qdst = _ip4s(mv[p + 4:p + 8]), _ip4s(mv[p + 24:p + 28])
        kind = {0: "net", 1: "host", 2: "tos net", 3: "tos host"}.get(code, f"#{code}")
        return f"ICMP redirect {qdst} to {kind} {gw}, length {plen}"
    if typ == 11:
        if code == 1:
            return f"ICMP ip reassembly time exceeded, length {plen}"
        return f"ICMP time exceeded in-transit, length {plen}"
    if typ == 12:
        return f"ICMP parameter problem - octet {mv[p + 4]}, length {plen}"
    if typ == 13 and n >= p + 8:
        ident, seq = _ports(mv, p + 4)
        return f"ICMP time stamp query id {ident} seq {seq}, length {plen}"
    if typ in ICMP_SIMPLE:
        return f"ICMP {ICMP_SIMPLE[typ]}, length {plen}"
    return f"ICMP type-#{typ}, length {plen}"


def _icmp6(mv, p, plen):
    n = len(mv)
    if n < p + 4:
        return " [|icmp6]"
    typ = mv[p]
    name = ICMP6_TYPES.get(typ)
    if typ in (128, 129):
        if n < p + 8:
            return f"ICMP6, {name}, [|icmp6]"
        ident, seq = _ports(mv, p + 4)
        return f"ICMP6, {name}, id {ident}, seq {seq}, length {plen}"
    if typ == 135:
        if n < p + 24:
            return f"ICMP6, {name}, [|icmp6]"
        return f"ICMP6, {name}, who has {_ip6(bytes(mv[p + 8:p + 24]))}, length {plen}"
    if typ == 136:
        if n < p + 24:
            return f"ICMP6, {name}, [|icmp6]"
        return f"ICMP6, {name}, tgt is {_ip6(bytes(mv[p + 8:p + 24]))}, length {plen}"
    if typ == 143 and n >= p + 8:
        return (f"ICMP6, {name}, {_u16(mv, p + 6)[0]} group record(s), length {plen}")
    if typ == 2 and n >= p + 8:
        return f"ICMP6, {name}, mtu {_u32(mv, p + 4)[0]}, length {plen}"
    if typ == 1 and mv[p + 1] == 4 and n >= p + 8 + 40 + 4 and mv[p + 8 + 6] in (6, 17):
        # port unreachable: name the quoted datagram's destination and port
        q = p + 8
        qdst = _ip6(bytes(mv[q + 24:q + 40]))
        proto = "udp" if mv[q + 6] == 17 else "tcp"
        return (f"ICMP6, {name}, unreachable port, {qdst} {proto} port "
                f"{_u16(mv, q + 42)[0]}, length {plen}")
    if name:
        return f"ICMP6, {name}, length {plen}"
    return f"ICMP6, unknown icmp6 type ({typ}), length {plen}"


def _igmp(mv, p, plen):
    typ = mv[p]
    group = _ip4s(mv[p + 4:p + 8])
    if typ == 0x12:
        return f"igmp v1 report {group}"
    if typ == 0x16:
        return f"igmp v2 report {group}"
    if typ == 0x17:
        return f"igmp leave {group}"
    if typ == 0x22:
        return f"igmp v3 report, {_u16(mv, p + 6)[0]} group record(s)"
    return f" igmp {plen}"


class Summarizer:
    """``summarize`` with tcpdump's per-connection relative TCP sequence
    numbers (what ``tcpdump`` prints without ``-S``); one per stream of
    packets, e.g. per file read."""

    def __init__(self, link=False):
        self.link = link
        self._tcp = {}

    def __call__(self, data, linktype=LINKTYPE_ETHERNET, wirelen=None):
        return summarize(data, linktype, wirelen, self.link, self._tcp)


_ts_cache = [None, ""]


def format_ts(ts_ns, precision=6):
    """``HH:MM:SS.ffffff`` in local time (``precision`` 6 or 9 digits), the
    way tcpdump prints its default timestamps."""
    sec, frac = divmod(int(ts_ns), 1_000_000_000)
    if _ts_cache[0] != sec:
        _ts_cache[0] = sec
        _ts_cache[1] = time.strftime("%H:%M:%S", time.localtime(sec))
    if precision == 9:
        return f"{_ts_cache[1]}.{frac:09d}"
    if precision == 6:
        return f"{_ts_cache[1]}.{frac // 1000:06d}"
    if precision <= 0:
        return _ts_cache[1]
    return f"{_ts_cache[1]}.{frac // 10 ** (9 - precision):0{precision}d}"
