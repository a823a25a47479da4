# cython: freethreading_compatible = False
"""The printer's common case in C: Ethernet (802.1Q tags), IPv4 without
options or IPv6 without extension headers, then TCP (its usual options),
UDP or an ICMP/ICMPv6 echo, with -e, -q, -v/-vv and -S as tcpdump prints
them (-v's ICMPv6 and the rarer cases go the Python way); and the hex and
ASCII dumps (-x -X -A) for every packet.

``frame`` writes exactly what the Python printers write for such a packet,
or returns -1 for anything else -- a fragment, a truncation, an unusual
option, another protocol -- and the Python printers take it.  TCP's
relative sequence numbers use the Python printers' own table, so the two
paths share conversations.  The tests run the whole corpus through both,
for every option set.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp

from pyxring._core cimport Batch, pkt_desc, PKT_TS_RAW
from pyxring.includes.inet cimport AF_INET6, inet_ntop

# One packet's text stays well below this (two IPv6 addresses, 40 bytes of
# TCP options as SACK blocks or NOPs).
DEF LINE_MAX = 1024

cdef const char *FLAG_CHARS = b"FSRP.UEW"


cdef inline uint16_t rd16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t rd32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline char *put(char *o, const char *s) noexcept nogil:
    while s[0]:
        o[0] = s[0]
        o += 1
        s += 1
    return o


cdef inline char *put_num(char *o, uint64_t v, int width, char fill) noexcept nogil:
    """``v`` in decimal, at least ``width`` characters, ``fill`` before it
    (printf's %u, %06u, %5u)."""
    cdef char tmp[24]
    cdef int n = 0
    while True:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
        if v == 0:
            break
    while width > n:
        o[0] = fill
        o += 1
        width -= 1
    while n:
        n -= 1
        o[0] = tmp[n]
        o += 1
    return o


cdef inline char *put_u(char *o, uint64_t v) noexcept nogil:
    return put_num(o, v, 0, 48)


cdef inline char *put_ip4(char *o, const uint8_t *a) noexcept nogil:
    o = put_u(o, a[0])
    o[0] = b'.'
    o = put_u(o + 1, a[1])
    o[0] = b'.'
    o = put_u(o + 1, a[2])
    o[0] = b'.'
    return put_u(o + 1, a[3])


cdef inline char *put_ip6(char *o, const uint8_t *a) noexcept nogil:
    cdef char tmp[48]
    inet_ntop(AF_INET6, a, tmp, 48)
    return put(o, tmp)


cdef inline char *put_addr(char *o, const uint8_t *a, int ver) noexcept nogil:
    return put_ip6(o, a) if ver == 6 else put_ip4(o, a)


cdef inline char *put_addrs(char *o, const uint8_t *src, int ver) noexcept nogil:
    """"SRC > DST" from an IP header's two addresses (dst right after src)."""
    o = put_addr(o, src, ver)
    o = put(o, b" > ")
    return put_addr(o, src + (16 if ver == 6 else 4), ver)


cdef inline char *put_ports(char *o, const uint8_t *src, int ver, uint16_t sport,
                            uint16_t dport) noexcept nogil:
    """"SRC.SPORT > DST.DPORT"."""
    o = put_addr(o, src, ver)
    o[0] = b'.'
    o = put_u(o + 1, sport)
    o = put(o, b" > ")
    o = put_addr(o, src + (16 if ver == 6 else 4), ver)
    o[0] = b'.'
    return put_u(o + 1, dport)


cdef const char *HEX = b"0123456789abcdef"


cdef inline char *put_hex(char *o, uint32_t v, int digits) noexcept nogil:
    """``v`` in ``digits`` lower-case hex digits (printf's %04x)."""
    cdef int i
    for i in range(digits - 1, -1, -1):
        o[i] = HEX[v & 15]
        v >>= 4
    return o + digits


cdef inline char *put_hex_min(char *o, uint32_t v) noexcept nogil:
    """printf's %x."""
    cdef int digits = 1
    while digits < 8 and v >> (4 * digits):
        digits += 1
    return put_hex(o, v, digits)


cdef inline char *put_mac(char *o, const uint8_t *a) noexcept nogil:
    cdef int i
    for i in range(6):
        if i:
            o[0] = b':'
            o += 1
        o[0] = HEX[a[i] >> 4]
        o[1] = HEX[a[i] & 15]
        o += 2
    return o


cdef inline uint32_t sum16(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    """The one's complement sum's 32-bit accumulator over ``n`` bytes."""
    cdef uint64_t total = 0
    cdef Py_ssize_t i = 0
    while i + 1 < n:
        total += (<uint32_t>p[i] << 8) | p[i + 1]
        i += 2
    if i < n:
        total += <uint32_t>p[i] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return <uint32_t>total


cdef inline uint16_t fold(uint64_t total) noexcept nogil:
    """The Internet checksum from a sum: 0 when the data was right."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return <uint16_t>(~total & 0xFFFF)


cdef inline uint16_t shouldbe(uint16_t in_packet, uint16_t computed) noexcept nogil:
    """tcpdump's in_cksum_shouldbe."""
    cdef uint32_t v = <uint32_t>in_packet + computed
    v = (v & 0xFFFF) + (v >> 16)
    v = (v & 0xFFFF) + (v >> 16)
    return <uint16_t>v


cdef inline uint16_t transport_sum(const uint8_t *b, Py_ssize_t iph, int ver, Py_ssize_t p,
                                   uint32_t length, uint8_t proto) noexcept nogil:
    """The checksum over the pseudo-header and the segment (0: correct)."""
    cdef uint64_t total
    if ver == 6:
        total = sum16(b + iph + 8, 32) + (length >> 16) + (length & 0xFFFF) + proto
    else:
        total = sum16(b + iph + 12, 8) + proto + (length & 0xFFFF)
    total += sum16(b + p, length)
    return fold(total)


cdef inline char *put_ethertype(char *o, uint16_t t, bint qflag) noexcept nogil:
    """-e's "ethertype NAME (0xTTTT)", or -q's NAME (known types only)."""
    if not qflag:
        o = put(o, b"ethertype ")
    o = put(o, b"IPv4" if t == 0x0800 else b"IPv6" if t == 0x86DD else b"802.1Q" if t == 0x8100
            else b"802.1Q-QinQ" if t == 0x88A8 else b"802.1Q-9100" if t == 0x9100 else
            b"802.1Q-9200")
    if not qflag:
        o = put(o, b" (0x")
        o = put_hex(o, t, 4)
        o[0] = b')'
        o += 1
    return o


cdef inline char *put_type_length(char *o, uint16_t t, bint qflag, bint printed_length,
                                  uint32_t length) noexcept nogil:
    """-e's type, then the frame's length the first time, ", " after."""
    o = put_ethertype(o, t, qflag)
    if printed_length:
        return put(o, b", ")
    o = put(o, b", length ")
    o = put_u(o, length)
    return put(o, b": ")


cdef inline char *put_echo(char *o, const uint8_t *icmp, uint32_t length) noexcept nogil:
    """An echo's "ID, seq SEQ, length N" (ICMP and ICMPv6 share the layout)."""
    o = put_u(o, rd16(icmp + 4))
    o = put(o, b", seq ")
    o = put_u(o, rd16(icmp + 6))
    o = put(o, b", length ")
    return put_u(o, length)


cdef class FastPath:
    """What one Printer's fast path needs: its TCP conversations table and -S."""

    cdef dict tcp_seq
    cdef Py_ssize_t tcp_seq_limit
    cdef bint absolute_seq, eflag, qflag
    cdef int vflag
    cdef object nd
    # the link-level header length of the last frame printed (what -x skips)
    cdef public Py_ssize_t hdrlen

    def __init__(self, nd):
        self.nd = nd
        self.tcp_seq = nd.tcp_seq
        self.tcp_seq_limit = nd.tcp_seq_limit
        self.absolute_seq = bool(nd.Sflag)
        self.eflag = bool(nd.eflag)
        self.qflag = bool(nd.qflag)
        self.vflag = nd.vflag
        self.hdrlen = 0

    cdef Py_ssize_t frame(self, const uint8_t *b, Py_ssize_t caplen, uint32_t wirelen,
                          char *out) except -2:
        """The text of an Ethernet frame into ``out``; its length, or -1."""
        cdef Py_ssize_t off = 14, length = wirelen
        cdef uint16_t ltype, tci
        cdef char *o = out
        cdef bint printed_length = False
        if caplen < 14 or length < caplen:
            return -1
        ltype = rd16(b + 12)
        if self.eflag:
            o = put_mac(o, b + 6)
            o = put(o, b" > ")
            o = put_mac(o, b)
            o = put(o, b", ")
        while ltype == 0x8100 or ltype == 0x88A8 or ltype == 0x9100 or ltype == 0x9200:
            if caplen < off + 4 or length < off + 4:
                return -1
            if self.eflag:
                o = put_type_length(o, ltype, self.qflag, printed_length, length)
                printed_length = True
                tci = rd16(b + off)
                o = put(o, b"vlan ")
                o = put_u(o, tci & 0xFFF)
                o = put(o, b", p ")
                o = put_u(o, tci >> 13)
                if tci & 0x1000:
                    o = put(o, b", DEI")
                o = put(o, b", ")
            ltype = rd16(b + off + 2)
            off += 4
        if ltype != 0x0800 and ltype != 0x86DD:
            return -1
        if self.eflag:
            o = put_type_length(o, ltype, self.qflag, printed_length, length)
        self.hdrlen = off
        length -= off
        if ltype == 0x0800:
            return self.ipv4(b, caplen, off, length, o, out)
        return self.ipv6(b, caplen, off, length, o, out)

    cdef Py_ssize_t ipv4(self, const uint8_t *b, Py_ssize_t caplen, Py_ssize_t off,
                         Py_ssize_t length, char *o, char *out) except -2:
        cdef uint32_t ip_len, plen
        cdef uint16_t frag
        cdef uint8_t proto, tos
        cdef Py_ssize_t capend, p
        if caplen < off + 20 or b[off] != 0x45 or length < 20:
            return -1
        ip_len = rd16(b + off + 2)
        if ip_len < 20 or length < ip_len:
            return -1
        frag = rd16(b + off + 6)
        if frag & 0x1FFF:
            return -1
        proto = b[off + 9]
        if proto != 6 and proto != 17 and proto != 1:
            return -1
        capend = min(caplen, off + ip_len)
        plen = ip_len - 20
        p = off + 20
        if not self.eflag:
            o = put(o, b"IP ")
        if self.vflag:
            if fold(sum16(b + off, 20)) != 0:
                return -1                  # a bad header checksum: the Python way
            tos = b[off + 1]
            o = put(o, b"(tos 0x")
            o = put_hex_min(o, tos)
            if tos & 3:
                o = put(o, b",ECT(1)" if tos & 3 == 1 else b",ECT(0)" if tos & 3 == 2 else b",CE")
            if b[off + 8] >= 1:
                o = put(o, b", ttl ")
                o = put_u(o, b[off + 8])
            o = put(o, b", id ")
            o = put_u(o, rd16(b + off + 4))
            o = put(o, b", offset 0, flags [")
            if frag & 0xE000 == 0:
                o = put(o, b"none")
            else:
                if frag & 0x2000:
                    o = put(o, b"+")
                if frag & 0x4000:
                    o = put(o, b", DF" if frag & 0x2000 else b"DF")
                if frag & 0x8000:
                    o = put(o, b", rsvd" if frag & 0x6000 else b"rsvd")
            o = put(o, b"], proto TCP (6)" if proto == 6 else b"], proto UDP (17)" if proto == 17
                    else b"], proto ICMP (1)")
            o = put(o, b", length ")
            o = put_u(o, ip_len)
            o = put(o, b")\n    ")
        if proto == 6:
            return self.tcp(b, capend, p, plen, off, 4, frag & 0x2000, o, out)
        if proto == 17:
            return self.udp(b, capend, p, plen, off, 4, frag & 0x2000, o, out)
        if p + 8 > capend or (b[p] != 8 and b[p] != 0):
            return -1
        if self.vflag and not frag & 0x2000 and p + plen <= capend and fold(sum16(b + p, plen)):
            return -1                      # a bad ICMP checksum: the Python way
        o = put_addrs(o, b + off + 12, 4)
        o = put(o, b": ICMP echo request, id " if b[p] == 8 else b": ICMP echo reply, id ")
        return put_echo(o, b + p, plen) - out

    cdef Py_ssize_t ipv6(self, const uint8_t *b, Py_ssize_t caplen, Py_ssize_t off,
                         Py_ssize_t length, char *o, char *out) except -2:
        cdef uint32_t payload_len, total, flow
        cdef uint8_t nh
        cdef Py_ssize_t capend, p
        if caplen < off + 40 or (b[off] >> 4) != 6 or length < 40:
            return -1
        payload_len = rd16(b + off + 4)
        total = payload_len + 40
        if payload_len == 0 or length < total:
            return -1
        nh = b[off + 6]
        if nh != 6 and nh != 17 and (nh != 58 or self.vflag):
            return -1
        capend = min(caplen, off + total)
        p = off + 40
        if not self.eflag:
            o = put(o, b"IP6 ")
        if self.vflag:
            flow = rd32(b + off)
            o[0] = b'('
            o += 1
            if flow & 0x0FF00000:
                o = put(o, b"class 0x")
                o = put_hex(o, (flow >> 20) & 0xFF, 2)
                o = put(o, b", ")
            if flow & 0x000FFFFF:
                o = put(o, b"flowlabel 0x")
                o = put_hex(o, flow & 0x000FFFFF, 5)
                o = put(o, b", ")
            o = put(o, b"hlim ")
            o = put_u(o, b[off + 7])
            o = put(o, b", next-header TCP (6) payload length: " if nh == 6 else
                    b", next-header UDP (17) payload length: ")
            o = put_u(o, payload_len)
            o = put(o, b") ")
        if nh == 6:
            return self.tcp(b, capend, p, payload_len, off, 6, 0, o, out)
        if nh == 17:
            return self.udp(b, capend, p, payload_len, off, 6, 0, o, out)
        if p + 8 > capend or (b[p] != 128 and b[p] != 129):
            return -1
        o = put_addrs(o, b + off + 8, 6)
        o = put(o, b": ICMP6, echo request, id " if b[p] == 128 else
                b": ICMP6, echo reply, id ")
        return put_echo(o, b + p, payload_len) - out

    cdef Py_ssize_t tcp(self, const uint8_t *b, Py_ssize_t capend, Py_ssize_t p, uint32_t length,
                        Py_ssize_t iph, int ver, int fragmented, char *o, char *out) except -2:
        cdef uint16_t sport, dport, win, urp
        cdef uint32_t seq, ack, thseq = 0, thack = 0, hlen, datalen, s, e, base
        cdef uint8_t flags, opt, ln
        cdef Py_ssize_t cp, left, i, alen = 16 if ver == 6 else 4
        cdef Py_ssize_t src_at = iph + (8 if ver == 6 else 12)
        cdef bint rev = False, first = True
        cdef int bit
        cdef uint16_t computed
        if p + 20 > capend:
            return -1
        hlen = (b[p + 12] >> 4) * 4
        if hlen < 20 or hlen > length or p + hlen > capend:
            return -1
        sport = rd16(b + p)
        dport = rd16(b + p + 2)
        if self.qflag:
            o = put_ports(o, b + src_at, ver, sport, dport)
            o = put(o, b": tcp ")
            return put_u(o, length - hlen) - out
        seq = rd32(b + p + 4)
        ack = rd32(b + p + 8)
        flags = b[p + 13]
        win = rd16(b + p + 14)
        urp = rd16(b + p + 18)
        if hlen > 20 and not options_ok(b, p + 20, hlen - 20):
            return -1
        datalen = length - hlen
        if self.vflag and flags & 0x04 and datalen > 0:
            return -1                       # -v prints a RST's text: the Python way
        if not self.absolute_seq and flags & 0x10:
            rev = sport > dport or (sport == dport and
                                    memcmp(b + src_at, b + src_at + alen, alen) > 0)
            seq, ack, thseq, thack = self.relative(b + src_at, b + src_at + alen, alen, sport,
                                                   dport, seq, ack, flags, rev)
        o = put_ports(o, b + src_at, ver, sport, dport)
        o = put(o, b": Flags [")
        if flags == 0:
            o = put(o, b"none")
        for bit in range(8):
            if flags & (1 << bit):
                o[0] = FLAG_CHARS[bit]
                o += 1
        o[0] = b']'
        o += 1
        if self.vflag and not fragmented and p + length <= capend:
            computed = transport_sum(b, iph, ver, p, length, 6)
            o = put(o, b", cksum 0x")
            o = put_hex(o, rd16(b + p + 16), 4)
            if computed:
                o = put(o, b" (incorrect -> 0x")
                o = put_hex(o, shouldbe(rd16(b + p + 16), computed), 4)
                o[0] = b')'
                o += 1
            else:
                o = put(o, b" (correct)")
        if datalen > 0 or flags & 0x07 or self.vflag > 1:
            o = put(o, b", seq ")
            o = put_u(o, seq)
            if datalen > 0:
                o[0] = b':'
                o = put_u(o + 1, <uint32_t>(seq + datalen))
        if flags & 0x10:
            o = put(o, b", ack ")
            o = put_u(o, ack)
        o = put(o, b", win ")
        o = put_u(o, win)
        if flags & 0x20:
            o = put(o, b", urg ")
            o = put_u(o, urp)
        if hlen > 20:
            o = put(o, b", options [")
            cp = p + 20
            left = hlen - 20
            base = thseq if rev else thack
            while left > 0:
                if not first:
                    o[0] = b','
                    o += 1
                first = False
                opt = b[cp]
                if opt <= 1:
                    o = put(o, b"eol" if opt == 0 else b"nop")
                    cp += 1
                    left -= 1
                    if opt == 0:
                        break
                    continue
                ln = b[cp + 1]
                if opt == 2:
                    o = put(o, b"mss ")
                    o = put_u(o, rd16(b + cp + 2))
                elif opt == 3:
                    o = put(o, b"wscale ")
                    o = put_u(o, b[cp + 2])
                elif opt == 4:
                    o = put(o, b"sackOK")
                elif opt == 5:
                    o = put(o, b"sack ")
                    o = put_u(o, (ln - 2) // 8)
                    o[0] = b' '
                    o += 1
                    i = cp + 2
                    while i < cp + ln:
                        s = rd32(b + i) - base
                        e = rd32(b + i + 4) - base
                        o[0] = b'{'
                        o = put_u(o + 1, s)
                        o[0] = b':'
                        o = put_u(o + 1, e)
                        o[0] = b'}'
                        o += 1
                        i += 8
                else:                       # 8: the timestamps
                    o = put(o, b"TS val ")
                    o = put_u(o, rd32(b + cp + 2))
                    o = put(o, b" ecr ")
                    o = put_u(o, rd32(b + cp + 6))
                cp += ln
                left -= ln
            o[0] = b']'
            o += 1
        o = put(o, b", length ")
        o = put_u(o, datalen)
        return o - out

    cdef Py_ssize_t udp(self, const uint8_t *b, Py_ssize_t capend, Py_ssize_t p, uint32_t length,
                        Py_ssize_t iph, int ver, int fragmented, char *o, char *out) except -2:
        cdef uint32_t ulen
        cdef uint16_t udp_sum, computed
        cdef Py_ssize_t src_at = iph + (8 if ver == 6 else 12)
        if p + 8 > capend or length < 8:
            return -1
        ulen = rd16(b + p + 4)
        if ulen < 8 or rd16(b + p) == 4789 or rd16(b + p + 2) == 4789:
            return -1           # VXLAN: the Python printers print the inner frame
        o = put_ports(o, b + src_at, ver, rd16(b + p), rd16(b + p + 2))
        o = put(o, b": ")
        ulen -= 8
        length -= 8
        if ulen < length:
            length = ulen
        if self.vflag and not fragmented and (ver == 6 or self.vflag > 1):
            udp_sum = rd16(b + p + 6)
            if ver == 4 and udp_sum == 0:
                o = put(o, b"[no cksum] ")
            elif p + 8 + length <= capend:
                computed = transport_sum(b, iph, ver, p, length + 8, 17)
                if computed:
                    o = put(o, b"[bad udp cksum 0x")
                    o = put_hex(o, udp_sum, 4)
                    o = put(o, b" -> 0x")
                    o = put_hex(o, shouldbe(udp_sum, computed), 4)
                    o = put(o, b"!] ")
                else:
                    o = put(o, b"[udp sum ok] ")
        if ulen > length and not fragmented:
            o = put(o, b"UDP, bad length ")
            o = put_u(o, ulen)
            o = put(o, b" > ")
            o = put_u(o, length)
        else:
            o = put(o, b"UDP, length ")
            o = put_u(o, ulen)
        return o - out

    cdef tuple relative(self, const uint8_t *src, const uint8_t *dst, Py_ssize_t alen,
                        uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                        bint rev):
        """tcpdump's relative numbers, kept in the Python printers' table
        (same keys, same values): (seq, ack, thseq, thack)."""
        cdef object key, th
        cdef uint32_t t0, t1
        src_raw = PyBytes_FromStringAndSize(<const char *>src, alen)
        dst_raw = PyBytes_FromStringAndSize(<const char *>dst, alen)
        if rev:
            key = (dst_raw, src_raw, (<uint32_t>dport) << 16 | sport)
        else:
            key = (src_raw, dst_raw, (<uint32_t>sport) << 16 | dport)
        table = self.tcp_seq
        th = table.get(key)
        if th is None or flags & 0x02:
            if th is None and len(table) >= self.tcp_seq_limit:
                for old in list(table)[:len(table) // 2]:
                    del table[old]
            if rev:
                th = (<uint32_t>(ack - 1), seq)
            else:
                th = (seq, <uint32_t>(ack - 1))
            table[key] = th
        else:
            t0 = th[0]
            t1 = th[1]
            if rev:
                seq = seq - t1
                ack = ack - t0
            else:
                seq = seq - t0
                ack = ack - t1
        t0 = th[0]
        t1 = th[1]
        return seq, ack, t0, t1

    def line(self, data, wirelen):
        """The text of one Ethernet frame, or None for the Python printers."""
        cdef const uint8_t[::1] view = data
        cdef char out[LINE_MAX]
        cdef Py_ssize_t n
        if view.shape[0] == 0:
            return None
        n = self.frame(&view[0], view.shape[0], wirelen, out)
        if n < 0:
            return None
        return PyUnicode_DecodeLatin1(out, n, NULL)

    def batch_text(self, Batch batch, int ts_kind, int digits, second_text, slow,
                   Py_ssize_t number_base=-1):
        """Every packet of a batch as tcpdump prints it, one str (the
        Ethernet ones here, the others, and times ``ts_ns`` can't hold,
        through ``slow``).

        ``ts_kind`` 0: no timestamp; 1: ``second_text(sec)`` (bytes, cached
        per second; None when tcpdump can't convert it) then the fraction
        in ``digits`` digits; 2: every packet through ``slow`` (the delta
        modes).  ``slow(i)`` is the whole text of packet ``i`` as bytes,
        for anything the fast path can't print.  ``number_base`` >= 0
        numbers the packets from ``number_base + 1`` (-#)."""
        cdef Py_ssize_t i, n, used = 0, cap = 65536
        cdef pkt_desc *d
        cdef char *buf = <char *>malloc(cap)
        cdef char *o
        cdef uint64_t sec, frac, cached_sec = <uint64_t>-1
        cdef object second = None
        cdef bytes text
        cdef uint64_t scale = 1000 if digits == 6 else 1
        if buf == NULL:
            raise MemoryError()
        try:
            for i in range(batch.count):
                d = &batch.descs[i]
                buf = grown_to(buf, &cap, used + LINE_MAX + 256)
                if (ts_kind != 2 and d.linktype == 1 and not d.flags & PKT_TS_RAW and
                        0 < d.caplen <= 262144 and d.wirelen <= 262144):
                    o = buf + used
                    if number_base >= 0:
                        o = put_num(o, number_base + i + 1, 5, 32)
                        o = put(o, b"  ")
                    if ts_kind == 1:
                        sec = d.ts_ns // 1000000000
                        if sec != cached_sec:
                            second = second_text(sec)
                            cached_sec = sec
                        if second is not None:
                            n = len(<bytes>second)
                            memcpy(o, <const char *>(<bytes>second), n)
                            o[n] = b'.'
                            frac = d.ts_ns % 1000000000
                            o = put_num(o + n + 1, frac // scale, digits, 48)
                            o[0] = b' '
                            o += 1
                    if ts_kind == 0 or second is not None:
                        n = self.frame(d.data, d.caplen, d.wirelen, o)
                        if n >= 0:
                            o[n] = b'\n'
                            used = o + n + 1 - buf
                            continue
                text = slow(i)
                n = len(text)
                buf = grown_to(buf, &cap, used + n + 2)
                memcpy(buf + used, <const char *>text, n)
                used += n
                buf[used] = b'\n'
                used += 1
            return PyUnicode_DecodeLatin1(buf, used, NULL)
        finally:
            free(buf)


cdef char *grown_to(char *buf, Py_ssize_t *cap, Py_ssize_t need) except NULL:
    """``buf`` with room for ``need`` bytes (its size doubled as often as it
    takes, one realloc); on failure MemoryError, and ``buf`` is still the
    caller's to free."""
    cdef Py_ssize_t size = cap[0]
    cdef char *grown
    if size >= need:
        return buf
    while size < need:
        size *= 2
    grown = <char *>realloc(buf, size)
    if grown == NULL:
        raise MemoryError()
    cap[0] = size
    return grown


cdef bint options_ok(const uint8_t *b, Py_ssize_t cp, Py_ssize_t left) noexcept:
    """Only options the fast path prints, each of exactly its size, all in
    the header (anything else is the Python printers' to judge)."""
    cdef uint8_t opt, ln
    while left > 0:
        opt = b[cp]
        if opt == 0:
            return True
        if opt == 1:
            cp += 1
            left -= 1
            continue
        if left < 2:
            return False
        ln = b[cp + 1]
        if ln > left:
            return False
        if opt == 2:
            if ln != 4:
                return False
        elif opt == 3:
            if ln != 3:
                return False
        elif opt == 4:
            if ln != 2:
                return False
        elif opt == 5:
            if ln < 10 or (ln - 2) % 8:
                return False
        elif opt == 8:
            if ln != 10:
                return False
        else:
            return False
        cp += ln
        left -= ln
    return True





# -- the dumps (-x -X -A), for every packet ----------------------------------
def hex_dump(const uint8_t[::1] data, Py_ssize_t off, Py_ssize_t length, bint with_ascii,
             bytes indent):
    """print-ascii.c's hex (and ASCII) lines for ``length`` bytes of
    ``data`` from ``off`` (all of them there): "INDENT0xOFFS:  xxxx xxxx ..."
    with the ASCII column after 40 columns of hex when asked."""
    cdef Py_ssize_t nlines = (length + 15) // 16, start, i, n, col
    cdef Py_ssize_t ilen = len(indent)
    cdef const uint8_t *p
    cdef char *buf
    cdef char *o
    cdef char *line
    cdef uint8_t c
    if off < 0 or off + length > data.shape[0]:
        raise IndexError("hex_dump past the data")
    if length <= 0:
        return ""
    buf = <char *>malloc(nlines * (ilen + 16 + 40 + 2 + 16))
    if buf == NULL:
        raise MemoryError()
    try:
        o = buf
        for start in range(0, length, 16):
            memcpy(o, <const char *>indent, ilen)
            o += ilen
            o = put(o, b"0x")
            o = put_hex(o, <uint32_t>start, 4) if start < 0x10000 else put_hex_min(o, start)
            o = put(o, b":  ")
            line = o
            n = min(16, length - start)
            p = &data[off + start]
            for i in range(n):
                if i and not i & 1:
                    o[0] = b' '
                    o += 1
                o[0] = HEX[p[i] >> 4]
                o[1] = HEX[p[i] & 15]
                o += 2
            if with_ascii:
                col = o - line
                while col < 41:
                    o[0] = b' '
                    o += 1
                    col += 1
                for i in range(n):
                    c = p[i]
                    o[0] = <char>c if 0x21 <= c <= 0x7E else b'.'
                    o += 1
        return PyUnicode_DecodeLatin1(buf, o - buf, NULL)
    finally:
        free(buf)


def ascii_dump(const uint8_t[::1] data, Py_ssize_t off, Py_ssize_t length):
    """-A's text: a newline, then graphic characters, tab, space and
    newline as themselves, '.' for the rest; a CR is left out before a
    newline and among the last two bytes."""
    cdef Py_ssize_t i = 0
    cdef char *buf
    cdef char *o
    cdef uint8_t c
    if length < 0:
        length = 0
    if off < 0 or off + length > data.shape[0]:
        raise IndexError("ascii_dump past the data")
    buf = <char *>malloc(length + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        o = buf
        o[0] = b'\n'
        o += 1
        while i < length:
            c = data[off + i]
            i += 1
            if c == 13:
                if length - i > 1 and data[off + i] != 10:
                    o[0] = b'.'
                    o += 1
            else:
                o[0] = <char>c if (0x21 <= c <= 0x7E or c == 9 or c == 10 or c == 32) else b'.'
                o += 1
        return PyUnicode_DecodeLatin1(buf, o - buf, NULL)
    finally:
        free(buf)
