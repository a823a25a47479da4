"""Writes the frames the printer tests compare with tcpdump (run it to
regenerate the committed files; the output is deterministic):

    .venv/bin/python tests/printer_corpus/make_frames.py [OUTDIR]

ether.pcap / ether.pcapng  every protocol and option kind pyxring claims to
                           print as tcpdump does, with malformed variants
                           (the pcapng has nanosecond timestamps)
cuts.pcap                  a few frames cut at every length (caplen < len)
mangled.pcap               frames with bytes changed at random (seeded),
                           never the fields that pick a protocol or a port
cooked.pcap / cooked2.pcap Linux cooked v1 / v2 headers
raw.pcap / rawip.pcap      raw IP (LINKTYPE_RAW, LINKTYPE_IPV4)
null.pcap / loop.pcap      BSD and OpenBSD loopback headers
user0.pcap                 a link type tcpdump has no printer for

Frames are built byte by byte here (checksums computed, or deliberately
wrong) so that every malformed case is exactly the one intended.  Ports
are chosen away from those on which tcpdump decodes an application
protocol (pyxring.printer.udp.APPLICATION_PORTS and tcp's).
"""
import os
import random
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from pyxring.printer._nd import in_cksum  # noqa: E402

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6
STP_MAC = bytes.fromhex("0180c2000000")
A4, B4, C4 = "10.1.2.3", "10.4.5.6", "192.0.2.77"
A6, B6, C6 = "2001:db8::1", "2001:db8::2", "fe80::1:2:3:4"


# -- building blocks ---------------------------------------------------------
def ip4(s):
    return socket.inet_aton(s)


def ip6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def ether(payload, etype, dst=MAC_B, src=MAC_A):
    return dst + src + struct.pack("!H", etype) + payload


def dot1q(payload, etype, vid=100, pcp=0, dei=0, tpid=0x8100):
    return struct.pack("!HH", tpid, pcp << 13 | dei << 12 | vid) + struct.pack("!H", etype) + \
        payload


def vlan_frame(payload, etype, tags, dst=MAC_B, src=MAC_A):
    """An Ethernet frame with 802.1Q tags ``tags`` = [(tpid, tci), ...]."""
    head = dst + src
    for tpid, tci in tags:
        head += struct.pack("!HH", tpid, tci)
    return head + struct.pack("!H", etype) + payload


def ipv4(payload, proto, src=A4, dst=B4, ttl=64, ident=0x1234, flags=0x4000, tos=0,
         options=b"", total=None, cksum=None, version=4, ihl=None):
    hl = ihl if ihl is not None else (20 + len(options)) // 4
    tot = 20 + len(options) + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", version << 4 | hl, tos, tot, ident, flags, ttl, proto, 0,
                      ip4(src), ip4(dst)) + options
    if cksum is None:
        cksum = in_cksum(hdr)
    hdr = hdr[:10] + struct.pack("!H", cksum) + hdr[12:]
    return hdr + payload


def pseudo4(src, dst, proto, length):
    return ip4(src) + ip4(dst) + struct.pack("!xBH", proto, length)


def pseudo6(src, dst, proto, length):
    return ip6(src) + ip6(dst) + struct.pack("!IxxxB", length, proto)


def udp(payload, sport=40001, dport=40002, ulen=None, cksum=None, pseudo=None):
    n = 8 + len(payload) if ulen is None else ulen
    seg = struct.pack("!HHHH", sport, dport, n, 0) + payload
    if cksum is None:
        cksum = in_cksum(pseudo(17, len(seg)) + seg) if pseudo else 0
        if pseudo and cksum == 0:
            cksum = 0xFFFF
    return seg[:6] + struct.pack("!H", cksum) + seg[8:]


def tcp(payload=b"", sport=40100, dport=40200, seq=1000, ack=0, flags="S", win=64240,
        options=b"", urg=0, doff=None, cksum=None, pseudo=None):
    bits = 0
    for c, v in zip("FSRPAUEC", (1, 2, 4, 8, 16, 32, 64, 128)):
        if c in flags:
            bits |= v
    opts = options + b"\0" * (-len(options) % 4)
    off = (20 + len(opts)) // 4 if doff is None else doff
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                      bits, win, 0, urg) + \
        opts + payload
    if cksum is None:
        cksum = in_cksum(pseudo(6, len(seg)) + seg) if pseudo else 0
    return seg[:16] + struct.pack("!H", cksum) + seg[18:]


def icmp(icmp_type, code, rest=b"\0\0\0\0", data=b"", cksum=None):
    msg = struct.pack("!BBH", icmp_type, code, 0) + rest + data
    if cksum is None:
        cksum = in_cksum(msg)
    return msg[:2] + struct.pack("!H", cksum) + msg[4:]


def ipv6(payload, nh, src=A6, dst=B6, hlim=64, plen=None, flow=0, tclass=0, version=6):
    n = len(payload) if plen is None else plen
    return struct.pack("!IHBB", version << 28 | tclass << 20 | flow, n, nh, hlim) + ip6(src) + \
        ip6(dst) + payload


def icmp6(icmp_type, code, body, src=A6, dst=B6, cksum=None):
    msg = struct.pack("!BBH", icmp_type, code, 0) + body
    if cksum is None:
        cksum = in_cksum(pseudo6(src, dst, 58, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", cksum) + msg[4:]


def v4_udp(payload=b"hello", sport=40001, dport=40002, src=A4, dst=B4, **kw):
    return ether(ipv4(udp(payload, sport, dport, pseudo=lambda p, n: pseudo4(src, dst, p, n)),
                      17, src=src, dst=dst, **kw), 0x0800)


def v4_tcp(src=A4, dst=B4, ip_kw=None, **kw):
    seg = tcp(pseudo=lambda p, n: pseudo4(src, dst, p, n), **kw)
    return ether(ipv4(seg, 6, src=src, dst=dst, **(ip_kw or {})), 0x0800)


def v6_tcp(src=A6, dst=B6, **kw):
    seg = tcp(pseudo=lambda p, n: pseudo6(src, dst, p, n), **kw)
    return ether(ipv6(seg, 6, src=src, dst=dst), 0x86DD)


def v6_udp(payload=b"hello6", sport=40001, dport=40002, src=A6, dst=B6):
    seg = udp(payload, sport, dport, pseudo=lambda p, n: pseudo6(src, dst, p, n))
    return ether(ipv6(seg, 17, src=src, dst=dst), 0x86DD)


def v6_icmp6(icmp_type, code, body, src=A6, dst=B6, hlim=64, ext=b"", first_nh=58):
    msg = icmp6(icmp_type, code, body, src, dst)
    return ether(ipv6(ext + msg, first_nh if ext else 58, src=src, dst=dst, hlim=hlim), 0x86DD)


def hbh(nh, options, kind=0):
    """A hop-by-hop (or, with kind, any options) header padded to 8 bytes."""
    body = bytes([nh, 0]) + options
    pad = -len(body) % 8
    if pad == 1:
        body += b"\0"
    elif pad:
        body += bytes([1, pad - 2]) + b"\0" * (pad - 2)
    return bytes([body[0], len(body) // 8 - 1]) + body[2:]


# -- the frames --------------------------------------------------------------
def frames_link():
    f = []
    f.append(v4_udp())
    f.append(v4_udp(dst="255.255.255.255"))
    # ethertypes nobody decodes: tcpdump's header line and hex dump
    f.append(ether(b"unknown ethertype payload 0123456789", 0x88B5))
    f.append(ether(b"\x00" * 46, 0x6004))                       # LAT: named, dumped
    f.append(ether(b"", 0x88B6))                                # nothing after the header
    f.append(ether(b"\x01", 0x88B7))
    # 802.1Q: one tag, priorities, DEI, QinQ, 0x9100, a tag with an unknown inner type
    ip_udp = ipv4(udp(b"vlan data", pseudo=lambda p, n: pseudo4(A4, B4, p, n)), 17)
    f.append(vlan_frame(ip_udp, 0x0800, [(0x8100, 100)]))
    f.append(vlan_frame(ip_udp, 0x0800, [(0x8100, 5 << 13 | 1 << 12 | 4094)]))
    f.append(vlan_frame(ip_udp, 0x0800, [(0x88A8, 200), (0x8100, 100)]))
    f.append(vlan_frame(ip_udp, 0x0800, [(0x9100, 7), (0x8100, 8), (0x9200, 9)]))
    f.append(vlan_frame(b"payload of an unknown type", 0x88B5, [(0x8100, 3)]))
    f.append(vlan_frame(arp_packet(1, A4, B4), 0x0806, [(0x8100, 10)]))
    f.append(vlan_frame(ipv6(udp(b"v6 in vlan"), 17), 0x86DD, [(0x8100, 11)]))
    f.append(MAC_B + MAC_A + b"\x81\x00\x00")                   # tag cut short
    # 802.3 with an LLC header
    f.extend(frames_llc())
    return f


def llc_frame(dsap, ssap, ctrl, payload=b"", dst=MAC_B, length=None, pad=0):
    body = bytes([dsap, ssap]) + ctrl + payload
    n = len(body) if length is None else length
    return dst + MAC_A + struct.pack("!H", n) + body + b"\0" * pad


def stp_config(version=0, bpdu_type=0, flags=0, root=b"\x80\x00" + MAC_A, cost=4,
               bridge=b"\x80\x00" + MAC_B, port=0x8001, times=(256, 5120, 512, 3840),
               extra=b""):
    return struct.pack("!HBBB", 0, version, bpdu_type, flags) + root + struct.pack("!I", cost) + \
        bridge + struct.pack("!HHHHH", port, *times) + extra


def mstp_bpdu(nmsti=2, version=3, v3len=None, name=b"region-one", spb=False):
    msti = b""
    for i in range(nmsti):
        msti += bytes([0x7C if i else 0x3D]) + struct.pack("!H", 0x8000 | (i + 1)) + MAC_B + \
            struct.pack("!IBBB", 20000 * (i + 1), 0x80, 0x80, 20 - i)
    v3 = 64 + len(msti) if v3len is None else v3len
    body = stp_config(version=version, bpdu_type=2, flags=0x7C, extra=b"\0")
    body += struct.pack("!H", v3) + b"\x00" + name.ljust(32, b"\0") + struct.pack("!H", 7)
    body += bytes(range(16)) + struct.pack("!I", 200000) + b"\x80\x00" + MAC_A + bytes([20])
    body += msti
    if spb:
        body += struct.pack("!H", 85) + b"\x01" + b"spb-aux".ljust(32, b"\0") + \
            struct.pack("!H", 3) + bytes(range(16, 32)) + bytes([0xD4, 0, 0x21, 0x31]) + \
            struct.pack("!H", 9) + b"\0" * 8 + bytes(range(32, 52))
    return body


def frames_llc():
    f = []
    ui = b"\x03"
    # spanning tree: STP config (flags), TCN, RSTP (port roles), MSTP with MSTIs, SPB
    f.append(llc_frame(0x42, 0x42, ui, stp_config(), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, stp_config(flags=0x81), dst=STP_MAC, pad=8))
    f.append(llc_frame(0x42, 0x42, ui, struct.pack("!HBB", 0, 0, 0x80), dst=STP_MAC, pad=39))
    for flags in (0x3C, 0x0E, 0x7D, 0x52):
        f.append(llc_frame(0x42, 0x42, ui, stp_config(version=2, bpdu_type=2, flags=flags,
                                                      extra=b"\0"), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, mstp_bpdu(), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, mstp_bpdu(nmsti=0), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, mstp_bpdu(version=4, nmsti=1, spb=True), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, mstp_bpdu(v3len=500), dst=STP_MAC))      # v3len too big
    f.append(llc_frame(0x42, 0x42, ui, stp_config()[:20], dst=STP_MAC))         # too short
    f.append(llc_frame(0x42, 0x42, ui, stp_config(version=2, bpdu_type=2)[:35], dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, stp_config(version=7), dst=STP_MAC))    # unknown version
    f.append(llc_frame(0x42, 0x42, ui, stp_config(bpdu_type=0x55), dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, b"\x00\x01" + stp_config()[2:], dst=STP_MAC))
    f.append(llc_frame(0x42, 0x42, ui, b"\x00\x00\x00", dst=STP_MAC))
    # the 802.3 length is shorter than the frame: the rest is padding
    f.append(llc_frame(0x42, 0x42, ui, stp_config(), dst=STP_MAC, length=38, pad=10))
    # unnumbered, supervisory, information frames; XID; unknown SAPs
    for ctrl in (b"\x03", b"\x13", b"\xe3", b"\x63", b"\x43", b"\x0f", b"\x6f", b"\x87",
                 b"\x2b"):
        f.append(llc_frame(0x04, 0x05, ctrl, b"unnumbered payload"))
    f.append(llc_frame(0xF0, 0xF1, b"\xaf", b"\x81\x01\x00"))
    f.append(llc_frame(0xF0, 0xF0, b"\xbf", b"\x81\x01"))
    f.append(llc_frame(0x12, 0x12, b"\xaf"))
    for ctrl in (b"\x01\x02", b"\x05\x03", b"\x09\x80", b"\x0d\x00"):
        f.append(llc_frame(0x06, 0x07, ctrl, b"supervisory"))
    f.append(llc_frame(0x04, 0x04, b"\x00\xff", b"information frame payload"))
    f.append(llc_frame(0x7E, 0x7F, b"\x22\x11", b"information frame payload"))
    f.append(llc_frame(0x55, 0x54, b"\x03", b"unknown saps"))
    f.append(llc_frame(0x42, 0x43, b"\x03", stp_config()))         # STP SAPs, response bit
    f.append(llc_frame(0x42, 0x42, b"\xe3", b"stp saps, not UI"))
    f.append(llc_frame(0x42, 0x42, b""))                          # cut after the SAPs
    f.append(MAC_B + MAC_A + struct.pack("!H", 2) + b"\x42\x42")
    f.append(llc_frame(0x04, 0x04, b"\x00"))                       # I frame, control cut
    # RFC 948 IP over LLC
    f.append(llc_frame(0x06, 0x06, ui, ipv4(udp(b"ip over llc"), 17)))
    # SNAP: IPv4 and ARP in SNAP, an unknown ethertype, an unknown OUI, bridged Ethernet,
    # Cisco PVST+, a BPDU in RFC 2684 bridging
    snap = b"\xaa\xaa\x03"
    f.append(MAC_B + MAC_A + struct.pack("!H", 8 + 33) + snap + b"\0\0\0\x08\x00" +
             ipv4(udp(b"snap"), 17))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\0\0\0\x08\x06" + arp_packet(1, A4, B4)))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\0\0\0\x88\xb5snap payload"))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x00\x00\x5e\x12\x34snap payload"))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x12\x34\x56\x00\x01snap payload"))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x00\x80\xc2\x00\x07\x00\x00" + v4_udp()))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x00\x80\xc2\x00\x0e" + stp_config()))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x00\x00\x0c\x01\x0b" +
                       stp_config(version=2, bpdu_type=2, flags=0x3C, extra=b"\0") +
                       b"\x00\x00\x00\x02\x00\x64", dst=bytes.fromhex("01000ccccccd")))
    f.append(llc_frame(0xAA, 0xAA, ui, b"\x00\x00"))              # SNAP cut short
    return f


def arp_packet(op, spa, tpa, sha=MAC_A, tha=b"\0" * 6, htype=1, ptype=0x0800, hln=None,
               pln=None, sp=None, tp=None):
    sp = ip4(spa) if sp is None else sp
    tp = ip4(tpa) if tp is None else tp
    hln = len(sha) if hln is None else hln
    pln = len(sp) if pln is None else pln
    return struct.pack("!HHBBH", htype, ptype, hln, pln, op) + sha + sp + tha + tp


def frames_arp():
    f = []
    f.append(ether(arp_packet(1, A4, B4), 0x0806, dst=BCAST))
    f.append(ether(arp_packet(1, A4, B4, tha=MAC_B), 0x0806))
    f.append(ether(arp_packet(1, A4, A4), 0x0806, dst=BCAST))                 # gratuitous
    f.append(ether(arp_packet(2, B4, A4, sha=MAC_B, tha=MAC_A), 0x0806))
    f.append(ether(arp_packet(3, "0.0.0.0", "0.0.0.0", tha=MAC_A), 0x8035, dst=BCAST))
    f.append(ether(arp_packet(4, B4, A4, tha=MAC_A), 0x8035))
    f.append(ether(arp_packet(8, A4, "0.0.0.0", tha=MAC_B), 0x0806))
    f.append(ether(arp_packet(9, B4, A4, sha=MAC_B), 0x0806))
    f.append(ether(arp_packet(29953, A4, B4), 0x0806))                       # unknown op
    f.append(ether(arp_packet(10, A4, B4), 0x0806))
    # other hardware types, address lengths, protocol types
    f.append(ether(arp_packet(1, A4, B4, htype=6), 0x0806))
    f.append(ether(arp_packet(1, A4, B4, htype=32, sha=b"\x11" * 20, tha=b"\0" * 20), 0x0806))
    f.append(ether(arp_packet(2, A4, B4, htype=24, sha=b"\x01\x02\x03\x04\x05\x06\x07\x08",
                              tha=b"\0" * 8), 0x0806))
    f.append(ether(arp_packet(1, A4, B4, htype=1234), 0x0806))
    f.append(ether(arp_packet(1, A4, B4, ptype=0x86DD), 0x0806))
    f.append(ether(arp_packet(1, "", "", sp=ip6(A6), tp=ip6(B6), ptype=0x86DD), 0x0806))
    f.append(ether(arp_packet(1, "", "", sp=b"\1\2", tp=b"\3\4"), 0x0806))
    f.append(ether(arp_packet(1, A4, B4, sha=b"", tha=b""), 0x0806))         # hln 0
    f.append(ether(arp_packet(1, A4, B4, ptype=0x1000), 0x0806))             # trailer ptype
    f.append(ether(arp_packet(1, A4, B4, ptype=0x88B5), 0x0806))
    # truncated ARP: header cut, addresses cut
    f.append(ether(arp_packet(1, A4, B4)[:6], 0x0806))
    f.append(ether(arp_packet(1, A4, B4)[:20], 0x0806))
    f.append(ether(arp_packet(1, A4, B4)[:27], 0x0806))
    return f


def frames_ipv4():
    f = []
    pudp = udp(b"x" * 12, pseudo=lambda p, n: pseudo4(A4, B4, p, n))
    # header fields seen with -v: tos/ECN, ttl, id, offset, flags, options
    for tos in (0, 1, 2, 3, 0xB8):
        f.append(ether(ipv4(pudp, 17, tos=tos), 0x0800))
    f.append(ether(ipv4(pudp, 17, ttl=0, flags=0), 0x0800))
    f.append(ether(ipv4(pudp, 17, flags=0x8000 | 0x4000), 0x0800))
    f.append(ether(ipv4(pudp, 17, cksum=0x1234), 0x0800))                    # bad header sum
    # options: record route, timestamps, source routes, router alert, NOPs, bad lengths
    rr = bytes([7, 11, 8]) + ip4("1.1.1.1") + ip4("2.2.2.2") + b"\0"
    ts_only = bytes([68, 12, 9, 0]) + struct.pack("!II", 1000, 0)
    ts_addr = bytes([68, 20, 13, 1]) + ip4("3.3.3.3") + struct.pack("!I", 5) + b"\0" * 8
    ts_pre = bytes([68, 12, 5, 0x13]) + ip4("4.4.4.4") + struct.pack("!I", 6)
    ts_bad = bytes([68, 8, 5, 2]) + b"\0" * 4
    lsrr = bytes([131, 11, 4]) + ip4("5.5.5.5") + ip4(C4) + b"\1"
    ssrr = bytes([137, 7, 4]) + ip4(C4) + b"\1"
    ra = bytes([148, 4, 0, 0])
    ra_value = bytes([148, 4, 0, 5])
    for opts in (rr, ts_only, ts_addr, ts_pre, ts_bad, lsrr, ssrr, ra, ra_value,
                 b"\1\1\1\0", bytes([7, 2, 0, 0]), bytes([7, 40, 4, 0]), bytes([130, 4, 0, 0]),
                 bytes([25, 4, 0, 0]), bytes([7, 1, 0, 0]), bytes([7, 3, 9, 0])):
        dst = C4 if opts in (lsrr, ssrr) else B4
        seg = udp(b"opts", pseudo=lambda p, n, d=dst: pseudo4(A4, d, p, n))
        f.append(ether(ipv4(seg, 17, options=opts), 0x0800))
    # TCP behind a source route: its checksum uses the final destination
    seg = tcp(flags="S", pseudo=lambda p, n: pseudo4(A4, C4, p, n))
    f.append(ether(ipv4(seg, 6, options=lsrr), 0x0800))
    # fragments: first (MF), middle and last (offset, ip-proto-N), tiny
    f.append(ether(ipv4(udp(b"f" * 32, ulen=1008), 17, flags=0x2000, ident=77), 0x0800))
    f.append(ether(ipv4(b"m" * 40, 17, flags=0x2000 | 125, ident=77), 0x0800))
    f.append(ether(ipv4(b"l" * 40, 17, flags=250, ident=77), 0x0800))
    f.append(ether(ipv4(b"t" * 16, 6, flags=0x2000 | 3, ident=78), 0x0800))
    f.append(ether(ipv4(b"i" * 16, 1, flags=9, ident=79), 0x0800))
    f.append(ether(ipv4(b"g" * 16, 47, flags=1, ident=80), 0x0800))
    # lengths: total 0 (TSO / BIG TCP), shorter than the header, longer than the frame,
    # header length < 20, frame shorter than 20 bytes, other versions
    f.append(ether(ipv4(pudp, 17, total=0), 0x0800))
    f.append(ether(ipv4(pudp, 17, total=12), 0x0800))
    f.append(ether(ipv4(pudp, 17, total=400), 0x0800))
    f.append(ether(ipv4(pudp, 17, ihl=4), 0x0800))
    f.append(ether(ipv4(pudp, 17)[:16], 0x0800))
    f.append(ether(ipv4(pudp, 17, version=6), 0x0800))
    f.append(ether(ipv4(pudp, 17, version=5), 0x0800))
    f.append(ether(ipv4(pudp, 17, ihl=15), 0x0800))           # header longer than the data
    # protocols tcpdump prints generically, IP in IP, no next header
    for proto in (99, 253, 255, 77, 59):
        f.append(ether(ipv4(b"\0" * 20, proto), 0x0800))
    f.append(ether(ipv4(ipv4(pudp, 17), 4), 0x0800))
    f.append(ether(ipv4(ipv6(udp(b"6in4"), 17), 41), 0x0800))
    f.append(ether(ipv4(ipv6(udp(b"6in4"), 17)[:30], 41), 0x0800))
    return f


def frames_udp():
    f = []
    f.append(v4_udp(b""))
    f.append(v4_udp(b"a" * 100, sport=33333, dport=44444))
    p = lambda pr, n: pseudo4(A4, B4, pr, n)  # noqa: E731
    f.append(ether(ipv4(udp(b"abc", ulen=4), 17), 0x0800))            # ulen < 8
    f.append(ether(ipv4(udp(b"abc", ulen=8), 17), 0x0800))            # ulen < payload
    f.append(ether(ipv4(udp(b"abc", ulen=300), 17), 0x0800))          # bad length
    f.append(ether(ipv4(udp(b"abc", ulen=300), 17, flags=0x2000), 0x0800))
    f.append(ether(ipv4(udp(b"abc", cksum=0), 17), 0x0800))           # no checksum
    f.append(ether(ipv4(udp(b"abc", cksum=0xBEEF), 17), 0x0800))      # wrong checksum
    f.append(ether(ipv4(udp(b"abc", pseudo=p), 17), 0x0800))
    f.append(ether(ipv4(b"\x9c\x41\x9c", 17), 0x0800))               # 3 bytes: truncated-udp
    f.append(ether(ipv4(b"\x9c\x41\x9c\x42\x00", 17), 0x0800))       # ports, no length
    f.append(ether(ipv4(b"\x9c", 17), 0x0800))
    return f


def tcp_opt(kind, data=b""):
    return bytes([kind, 2 + len(data)]) + data


def mptcp(subtype, rest=b"", low=0):
    return tcp_opt(30, bytes([subtype << 4 | low]) + rest)


def frames_tcp():
    f = []
    # every flag combination tcpdump names, with and without ACK numbers
    for flags in ("S", "SA", "A", "PA", "FA", "R", "RA", "U", "UA", "SEC", "", "FSRPAUEC",
                  "SE", "AC"):
        f.append(v4_tcp(flags=flags, ack=7 if "A" in flags else 0, urg=9 if "U" in flags else 0,
                        payload=b"data" if "P" in flags else b""))
    mss, ws, sok = tcp_opt(2, b"\x05\xb4"), tcp_opt(3, b"\x07"), tcp_opt(4)
    ts = tcp_opt(8, struct.pack("!II", 123456, 654321))
    options = [
        mss + sok + ts + b"\1" + ws,
        b"\1\1" + tcp_opt(5, struct.pack("!II", 2000, 3000)),
        tcp_opt(5, struct.pack("!IIIIII", 1, 2, 3, 4, 5, 6)),
        tcp_opt(5, b"\0" * 7),                                    # invalid sack
        tcp_opt(19, bytes(range(16))),                            # md5
        tcp_opt(34),                                              # tfo cookie request
        tcp_opt(34, bytes.fromhex("0011223344556677")),           # tfo cookie
        tcp_opt(34, b"\1\2\3"),                                   # tfo invalid
        tcp_opt(254, b"\xf9\x89"),                                # exp-tfo cookie request
        tcp_opt(254, b"\xf9\x89" + bytes.fromhex("a1a2a3a4")),
        tcp_opt(254, b"\xac\xc0"),                                # exp-acc0
        tcp_opt(254, b"\xac\xc1\x00\x00\x01"),
        tcp_opt(254, b"\x12"),                                    # too short
        tcp_opt(161),                                             # empty unknown
        tcp_opt(99, b"\xde\xad\xbe\xef"),
        tcp_opt(253, b"\x01\x02"),
        tcp_opt(28, b"\x80\x3d"), tcp_opt(28, b"\x00\x3c"),       # user timeout (min, s)
        tcp_opt(29, b"\x01\x02" + bytes(range(12))),              # tcp-ao
        tcp_opt(29, b"\x01"),
        tcp_opt(29, b"\x07\x08"),
        tcp_opt(20, b"\x0f\x02"),                                 # scps
        tcp_opt(6, b"\0\0\0\1"), tcp_opt(7, b"\0\0\0\2"),         # echo, echoreply
        tcp_opt(11, b"\0\0\1\0"), tcp_opt(12, b"\0\0\1\1"), tcp_opt(13, b"\0\0\1\2"),
        b"\0" + mss,                                              # eol ends the list
        tcp_opt(2, b"\x05"),                                      # mss with a short length
        bytes([2, 1, 0, 0]),                                      # length 1
        bytes([2, 40]),                                           # longer than the header
        ts + tcp_opt(8, b"\0" * 4),
        tcp_opt(3, b"\x0e\x00"),                                  # [len 4]
    ]
    for opts in options:
        f.append(v4_tcp(flags="S", options=opts))
    # MPTCP, every subtype: the lengths and flags each must have, and wrong ones
    key_a, key_b = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
    mp = [
        ("S", mptcp(0, b"\x81" + key_a, low=0)),                  # v0 capable, csum
        ("S", mptcp(0, b"\x01", low=1)),                          # v1 SYN (no key)
        ("A", mptcp(0, b"\x01" + key_a + key_b, low=1)),
        ("PA", mptcp(0, b"\x01" + key_a + key_b + b"\x00\x10", low=1)),
        ("S", mptcp(0, b"\x01" + key_a, low=5)),                  # unknown version
        ("SA", mptcp(0, b"\x01" + key_a, low=1)),                 # SYN/ACK with a key: ok
        ("A", mptcp(0, b"\x01" + key_a, low=1)),                  # 12 bytes without SYN: bad
        ("S", mptcp(1, b"\x05" + b"\xaa\xbb\xcc\xdd" + b"\x01\x02\x03\x04", low=1)),
        ("SA", mptcp(1, b"\x05" + key_a + b"\x01\x02\x03\x04")),
        ("A", mptcp(1, b"\x00" + bytes(range(20)))),
        ("S", mptcp(1, b"\x05" + key_a)),                         # bad length for a join
        ("A", mptcp(2, b"\x01" + struct.pack("!I", 99))),          # dss: ack
        ("A", mptcp(2, b"\x03" + struct.pack("!Q", 2 ** 40))),     # 8-byte ack
        ("PA", mptcp(2, b"\x05" + struct.pack("!IIIH", 1, 2, 3, 4))),
        ("PA", mptcp(2, b"\x1d" + struct.pack("!IQIHH", 1, 5, 6, 7, 0xabcd))),
        ("FA", mptcp(2, b"\x10")),
        ("S", mptcp(2, b"\x01" + struct.pack("!I", 99))),          # dss on a SYN: bad
        ("A", mptcp(2, b"\x05" + struct.pack("!I", 1))),           # seq cut: bad
        ("A", mptcp(3, b"\x07" + ip4(C4), low=0)),                 # add-addr v1
        ("A", mptcp(3, b"\x07" + ip4(C4) + b"\x1f\x90", low=0)),
        ("A", mptcp(3, b"\x07" + ip4(C4) + key_a, low=0)),
        ("A", mptcp(3, b"\x07" + ip4(C4) + b"\x1f\x90" + key_a, low=1)),
        ("A", mptcp(3, b"\x08" + ip6(C6), low=6)),
        ("A", mptcp(3, b"\x08" + ip6(C6) + b"\x00\x50", low=0)),
        ("A", mptcp(3, b"\x08" + ip6(C6) + key_b, low=0)),
        ("A", mptcp(3, b"\x08" + ip6(C6) + b"\x00\x50" + key_b, low=1)),
        ("A", mptcp(3, b"\x02" + ip4(C4), low=4)),                 # v0 ipv4
        ("A", mptcp(3, b"\x02\x01", low=9)),                       # bad length
        ("A", mptcp(4, b"\x03\x04\x05")),                          # rem-addr
        ("A", mptcp(4, b"")),
        ("A", mptcp(5, b"", low=1)),                               # prio, backup
        ("A", mptcp(5, b"\x02", low=0)),
        ("A", mptcp(5, b"\x02\x03", low=0)),
        ("A", mptcp(6, b"\x00" + struct.pack("!Q", 12345))),       # fail
        ("A", mptcp(7, b"\x00" + key_b)),                          # fast-close
        ("A", mptcp(7, b"\x00" + key_b[:4])),
        ("RA", mptcp(8, b"\x01")),                                 # tcp-rst: unknown here
        ("A", mptcp(15, b"\x00")),
        ("A", bytes([30, 2])),
    ]
    for flags, opt in mp:
        f.append(v4_tcp(flags=flags, ack=5 if "A" in flags else 0, options=opt,
                        payload=b"mp" if "P" in flags else b""))
    f.append(v4_tcp(flags="A", ack=5, options=mptcp(2, b"\x01" + struct.pack("!I", 9)) + ts))
    # header length: too short, longer than the segment
    f.append(v4_tcp(flags="S", doff=4))
    f.append(v4_tcp(flags="S", doff=15))
    f.append(v4_tcp(flags="A", ack=1, doff=2))
    # data, RST carrying text, urgent pointer, a wrong checksum, absolute numbers
    f.append(v4_tcp(flags="PA", seq=5, ack=6, payload=b"y" * 64))
    f.append(v4_tcp(flags="R", seq=5, payload=b"reset: connection refused\x01\x80 ok"))
    f.append(v4_tcp(flags="RA", seq=5, ack=6, payload=b"short rst"))
    f.append(v4_tcp(flags="PAU", seq=5, ack=6, urg=3, payload=b"urgent"))
    f.append(v4_tcp(flags="PA", seq=5, ack=6, payload=b"z", cksum=0x1111))
    f.append(v4_tcp(flags="S", sport=40300, dport=40300, seq=0xFFFFFFF0))   # equal ports
    # IPv6
    f.append(v6_tcp(flags="S", options=mss + sok + ts + b"\1" + ws))
    f.append(v6_tcp(flags="PA", seq=9, ack=10, payload=b"v6 data"))
    # segments cut by the capture: only the ports, inside the options
    f.append(ether(ipv4(tcp(flags="S")[:3], 6), 0x0800))
    f.append(ether(ipv4(tcp(flags="S")[:10], 6), 0x0800))
    return f


def u32s(*values):
    return b"".join(struct.pack("!I", v & 0xFFFFFFFF) for v in values)


def conversation(src, dst, sport, dport, v6=False, isn_c=0x11110000, isn_s=0x22220000):
    """A TCP conversation with SACK blocks in both directions and a retransmission."""
    mk = v6_tcp if v6 else v4_tcp
    sack_ok = tcp_opt(2, b"\x05\xb4") + tcp_opt(4) + tcp_opt(3, b"\x07")
    c = dict(src=src, dst=dst, sport=sport, dport=dport)
    s = dict(src=dst, dst=src, sport=dport, dport=sport)
    f = [mk(flags="S", seq=isn_c, options=sack_ok, **c),
         mk(flags="SA", seq=isn_s, ack=isn_c + 1, options=sack_ok, **s),
         mk(flags="A", seq=isn_c + 1, ack=isn_s + 1, **c)]
    for i in range(4):
        f.append(mk(flags="PA", seq=isn_c + 1 + 100 * i, ack=isn_s + 1, payload=b"c" * 100, **c))
    sack = tcp_opt(5, u32s(isn_c + 201, isn_c + 401, isn_c + 501, isn_c + 601))
    f.append(mk(flags="A", seq=isn_s + 1, ack=isn_c + 101, options=b"\1\1" + sack, **s))
    f.append(mk(flags="PA", seq=isn_c + 101, ack=isn_s + 1, payload=b"c" * 100, **c))
    for i in range(3):
        f.append(mk(flags="PA", seq=isn_s + 1 + 50 * i, ack=isn_c + 401, payload=b"s" * 50, **s))
    sack = tcp_opt(5, u32s(isn_s + 101, isn_s + 151))
    f.append(mk(flags="A", seq=isn_c + 401, ack=isn_s + 51, options=b"\1\1" + sack, **c))
    f.append(mk(flags="FA", seq=isn_c + 401, ack=isn_s + 151, **c))
    f.append(mk(flags="FA", seq=isn_s + 151, ack=isn_c + 402, **s))
    f.append(mk(flags="A", seq=isn_c + 402, ack=isn_s + 152, **c))
    # a new connection on the same ports: the SYN resets the bases
    f.append(mk(flags="S", seq=isn_c + 7777, options=sack_ok, **c))
    f.append(mk(flags="SA", seq=isn_s + 8888, ack=isn_c + 7778, **s))
    return f


def frames_conversations():
    f = conversation(A4, B4, 40500, 40600)
    f += conversation(B4, A4, 40700, 40650)         # server port below client port
    f += conversation(A6, B6, 40800, 40900, v6=True, isn_c=0xFFFFFF00, isn_s=5)
    return f


def quoted(proto_payload, proto, src=B4, dst=C4):
    return ipv4(proto_payload, proto, src=src, dst=dst, ttl=1)


def frames_icmp():
    f = []
    q_udp = quoted(udp(b"", 40001, 40002)[:8], 17)
    q_tcp = quoted(tcp(flags="S")[:8], 6)
    q_other = quoted(b"\x00\x01\x00\x02\0\0\0\0", 253)

    def e(t, c, rest=b"\0\0\0\0", data=b"", **kw):
        return ether(ipv4(icmp(t, c, rest, data, **kw), 1), 0x0800)
    f.append(e(8, 0, struct.pack("!HH", 7, 1), b"ping" * 14))
    f.append(e(0, 0, struct.pack("!HH", 7, 1), b"ping" * 14))
    f.append(e(8, 0, struct.pack("!HH", 7, 2), b"bad", cksum=0x4242))
    for code in range(17):
        data = q_udp if code != 3 else q_udp
        rest = b"\0\0\x05\xdc" if code == 4 else b"\0\0\0\0"
        f.append(e(3, code, rest, data))
    f.append(e(3, 3, data=q_tcp))
    f.append(e(3, 3, data=q_other))
    f.append(e(3, 4, b"\0\0\0\0", q_udp))                     # need frag without mtu
    f.append(e(3, 3, data=q_udp[:10]))                        # quote cut short
    f.append(e(3, 3, data=q_udp[:22]))
    for code in range(5):
        f.append(e(5, code, ip4("10.9.9.9"), q_udp))
    f.append(e(4, 0, data=q_udp))
    f.append(e(11, 0, data=q_udp))
    f.append(e(11, 1, data=q_udp))
    f.append(e(11, 7, data=q_udp))
    f.append(e(12, 0, b"\x14\0\0\0", q_udp))
    f.append(e(12, 2, b"\x14\0\0\0", q_udp))
    f.append(e(9, 0, struct.pack("!BBH", 2, 2, 1800), ip4("10.0.0.1") + struct.pack("!I", 0) +
               ip4("10.0.0.2") + struct.pack("!i", 5)))
    f.append(e(9, 0, struct.pack("!BBH", 1, 2, 30), ip4("10.0.0.1") + struct.pack("!I", 1)))
    f.append(e(9, 0, struct.pack("!BBH", 1, 2, 7300), ip4("10.0.0.1") + struct.pack("!I", 1)))
    f.append(e(9, 0, struct.pack("!BBH", 1, 3, 300)))
    f.append(e(9, 0, struct.pack("!BBH", 3, 2, 300), ip4("10.0.0.1")))   # cut
    f.append(e(10, 0))
    f.append(e(13, 0, struct.pack("!HH", 3, 4), struct.pack("!III", 1000, 0, 0)))
    f.append(e(14, 0, struct.pack("!HH", 3, 4), struct.pack("!III", 3723004, 86399999, 5)))
    f.append(e(14, 0, struct.pack("!HH", 3, 4), struct.pack("!I", 5)))   # cut
    f.append(e(15, 0))
    f.append(e(16, 0))
    f.append(e(17, 0, struct.pack("!HH", 1, 1), b"\0\0\0\0"))
    f.append(e(18, 0, struct.pack("!HH", 1, 1), ip4("255.255.255.0")))
    f.append(e(42, 0))
    f.append(e(200, 9))
    # RFC 4884: a quoted datagram padded to 128 bytes, then an MPLS label stack object
    orig = quoted(udp(b"q" * 20, 40001, 40002), 17).ljust(128, b"\0")
    obj = struct.pack("!HBB", 8, 1, 1) + struct.pack("!I", 16000 << 12 | 5 << 9 | 1 << 8 | 64)
    ext = struct.pack("!BBH", 0x20, 0, 0) + obj
    ext = ext[:2] + struct.pack("!H", in_cksum(ext)) + ext[4:]
    f.append(e(11, 0, struct.pack("!BBH", 0, 32, 0), orig + ext))
    obj2 = struct.pack("!HBB", 12, 2, 1) + b"\1\2\3\4\5\6\7\x08"
    ext2 = struct.pack("!BBH", 0x20, 0, 0) + obj2
    ext2 = ext2[:2] + struct.pack("!H", in_cksum(ext2)) + ext2[4:]
    f.append(e(3, 1, struct.pack("!BBH", 0, 32, 0), orig + ext2))
    f.append(e(8, 0, b"\0\1"))                                 # echo cut short
    f.append(ether(ipv4(b"\x08", 1), 0x0800))
    return f


def nd_opt(kind, data):
    body = bytes([kind, 0]) + data
    body += b"\0" * (-len(body) % 8)
    return bytes([kind, len(body) // 8]) + body[2:]


def frames_icmp6():
    f = []
    q = ipv6(udp(b"", 40001, 40002), 17, src=B6, dst=C6)
    qt = ipv6(tcp(flags="S")[:8], 6, src=B6, dst=C6)
    f.append(v6_icmp6(128, 0, struct.pack("!HH", 9, 1) + b"ping6" * 8))
    f.append(v6_icmp6(129, 0, struct.pack("!HH", 9, 1) + b"ping6" * 8))
    for code in range(7):
        f.append(v6_icmp6(1, code, b"\0" * 4 + q))
    f.append(v6_icmp6(1, 4, b"\0" * 4 + qt))
    f.append(v6_icmp6(1, 4, b"\0" * 4 + ipv6(b"\0" * 8, 132, src=B6, dst=C6)))
    f.append(v6_icmp6(1, 4, b"\0" * 4 + ipv6(hbh(17, b"") + udp(b"", 1, 40002), 0, src=B6,
                                              dst=C6)))
    f.append(v6_icmp6(1, 4, b"\0" * 4 + q[:30]))
    f.append(v6_icmp6(2, 0, struct.pack("!I", 1280) + q))
    f.append(v6_icmp6(3, 0, b"\0" * 4 + q))
    f.append(v6_icmp6(3, 1, b"\0" * 4 + q))
    f.append(v6_icmp6(3, 9, b"\0" * 4 + q))
    for code in range(5):
        f.append(v6_icmp6(4, code, struct.pack("!I", 40) + q))
    # MLD v1 query/report/done, v2 query and report, from :: as during address set-up
    mld = struct.pack("!HH", 1000, 0) + ip6("ff02::1:ff00:1")
    f.append(v6_icmp6(130, 0, mld, src=C6, dst="ff02::1", hlim=1))
    f.append(v6_icmp6(131, 0, mld, src=C6, dst="ff02::1:ff00:1", hlim=1))
    f.append(v6_icmp6(132, 0, mld, src=C6, dst="ff02::2", hlim=1))
    f.append(v6_icmp6(130, 0, struct.pack("!HH", 10000, 0) + bytes(16) + b"\x0a\x7d\x00\x00",
                      src=C6, dst="ff02::1", hlim=1))
    f.append(v6_icmp6(130, 0, struct.pack("!HH", 0x8123, 0) + ip6("ff05::2") + b"\x0a\x85\x00\x02"
                      + ip6(A6) + ip6(B6), src=C6, dst="ff05::2", hlim=1))
    f.append(v6_icmp6(130, 0, struct.pack("!HH", 100, 0) + b"\0" * 4, src=C6, dst="ff02::1"))
    ra = hbh(58, bytes([5, 2, 0, 0]))
    records = (bytes([4, 0]) + struct.pack("!H", 0) + ip6("ff02::1:ff00:1") +
               bytes([1, 0]) + struct.pack("!H", 2) + ip6("ff02::fb") + ip6(A6) + ip6(B6))
    f.append(v6_icmp6(143, 0, struct.pack("!HH", 0, 2) + records, src="::", dst="ff02::16",
                      hlim=1, ext=ra, first_nh=0))
    f.append(v6_icmp6(143, 0, struct.pack("!HH", 0, 1) + records, src=C6, dst="ff02::16",
                      hlim=1, ext=ra, first_nh=0))
    f.append(v6_icmp6(143, 0, struct.pack("!HH", 0, 5) + records[:10], src=C6, dst="ff02::16"))
    f.append(v6_icmp6(143, 0, b"\0\0", src=C6, dst="ff02::16"))
    f.append(v6_icmp6(131, 0, mld, src="::", dst="ff02::1:ff00:1", hlim=1, ext=ra, first_nh=0))
    # neighbour discovery: RS, RA (flags, options), NS (from ::, DAD), NA (flags), redirect
    src_ll = nd_opt(1, MAC_A)
    f.append(v6_icmp6(133, 0, b"\0" * 4 + src_ll, src=C6, dst="ff02::2", hlim=255))
    pinfo = nd_opt(3, bytes([64, 0xC0]) + struct.pack("!III", 2592000, 604800, 0) + ip6(
        "2001:db8:1::"))
    mtu = nd_opt(5, b"\0\0" + struct.pack("!I", 1500))
    rdnss = nd_opt(25, b"\0\0" + struct.pack("!I", 600) + ip6(A6) + ip6(B6))
    route = nd_opt(24, bytes([48, 0x08]) + struct.pack("!I", 0xFFFFFFFF) + ip6("2001:db8:2::")[:8])
    adv = nd_opt(7, b"\0\0" + struct.pack("!I", 30000))
    ha = nd_opt(8, b"\0\0" + struct.pack("!HH", 5, 100))
    dnssl = nd_opt(31, b"\0\0" + struct.pack("!I", 300) + b"\x07example\x03com\x00\x04test\x00")
    unknown_opt = nd_opt(99, b"\xde\xad\xbe\xef\x00\x00")
    for flags in (0x00, 0xC8, 0x38, 0x22):
        body = struct.pack("!BBHII", 64, flags, 1800, 30000, 1000)
        f.append(v6_icmp6(134, 0, body + src_ll + mtu + pinfo + rdnss + route + adv + ha + dnssl,
                          src=C6, dst="ff02::1", hlim=255))
    f.append(v6_icmp6(134, 0, struct.pack("!BBHII", 64, 0, 0, 0, 0) + unknown_opt, src=C6,
                      dst="ff02::1", hlim=255))
    f.append(v6_icmp6(134, 0, struct.pack("!BBHII", 64, 0, 0, 0, 0) + b"\x01\x00" + b"\0" * 6,
                      src=C6, dst="ff02::1", hlim=255))
    f.append(v6_icmp6(135, 0, b"\0" * 4 + ip6(B6) + src_ll, src=A6, dst="ff02::1:ff00:2",
                      hlim=255))
    f.append(v6_icmp6(135, 0, b"\0" * 4 + ip6(C6), src="::", dst="ff02::1:ff01:4", hlim=255))
    for flags in (0xE0000000, 0x40000000, 0):
        f.append(v6_icmp6(136, 0, struct.pack("!I", flags) + ip6(B6) + nd_opt(2, MAC_B),
                          src=B6, dst=A6, hlim=255))
    f.append(v6_icmp6(137, 0, b"\0" * 4 + ip6(C6) + ip6(B6) + nd_opt(2, MAC_B) +
                      nd_opt(4, b"\0" * 6 + q[:40]), src=C6, dst=A6, hlim=255))
    f.append(v6_icmp6(135, 0, b"\0" * 4 + ip6(B6)[:8], src=A6, dst="ff02::1:ff00:2"))
    # others: home agent, mobile prefix, unknown types, node info, inverse ND
    f.append(v6_icmp6(144, 0, struct.pack("!HH", 0x1234, 0)))
    f.append(v6_icmp6(145, 0, struct.pack("!HH", 0x1234, 0) + ip6(A6) + ip6(B6)))
    f.append(v6_icmp6(146, 0, struct.pack("!HH", 0x4321, 0)))
    f.append(v6_icmp6(147, 0, struct.pack("!HH", 0x4321, 0xC000) + pinfo))
    f.append(v6_icmp6(141, 0, b"\0" * 4))
    f.append(v6_icmp6(200, 0, b"\0" * 4))
    f.append(v6_icmp6(250, 1, b"\0\1\2\3\4\5\6\7"))
    f.append(ether(ipv6(b"", 58), 0x86DD))                        # length 0
    f.append(ether(ipv6(b"\x80", 58), 0x86DD))
    return f


def frames_ipv6():
    f = []
    p6 = lambda pr, n: pseudo6(A6, B6, pr, n)  # noqa: E731
    body = udp(b"exthdr", pseudo=p6)
    f.append(v6_udp())
    f.append(ether(ipv6(body, 17, flow=0x12345, tclass=0xB8), 0x86DD))
    f.append(ether(ipv6(body, 17, tclass=0x01), 0x86DD))
    # hop-by-hop: router alert, padding, unknown options, jumbograms valid and not
    f.append(ether(ipv6(hbh(17, bytes([5, 2, 0, 0])) + body, 0), 0x86DD))
    f.append(ether(ipv6(hbh(17, b"\0" + bytes([1, 1, 0]) + bytes([0x3e, 2, 1, 2])) + body, 0),
                   0x86DD))
    f.append(ether(ipv6(hbh(17, bytes([5, 3, 0, 0, 0])) + body, 0), 0x86DD))     # bad rtalert
    jumbo_udp = udp(b"j" * 20, ulen=0)
    f.append(ether(ipv6(hbh(17, bytes([0xC2, 4]) + struct.pack("!I", 70000)) + jumbo_udp, 0,
                        plen=0), 0x86DD))
    f.append(ether(ipv6(hbh(6, bytes([0xC2, 4]) + struct.pack("!I", 100000)) +
                        tcp(flags="PA", ack=1, payload=b"j" * 20), 0, plen=0), 0x86DD))
    f.append(ether(ipv6(hbh(17, bytes([0xC2, 4]) + struct.pack("!I", 1000)) + body, 0, plen=0),
                   0x86DD))                                             # jumbo < 65536
    f.append(ether(ipv6(hbh(17, bytes([0xC2, 4]) + struct.pack("!I", 70000)) + body, 0),
                   0x86DD))                                             # payload len != 0
    f.append(ether(ipv6(hbh(17, bytes([0xC2, 3, 0, 0, 0])) + body, 0, plen=0), 0x86DD))
    f.append(ether(ipv6(hbh(17, bytes([1, 0])) + body, 0, plen=0), 0x86DD))   # no jumbo option
    f.append(ether(ipv6(hbh(0, b"") + hbh(17, b"") + body, 0), 0x86DD))        # HBH twice
    f.append(ether(ipv6(hbh(17, bytes([0xC9, 16]) + ip6(C6)) + body, 60), 0x86DD))
    f.append(ether(ipv6(hbh(0, b"") + hbh(17, b"") + body, 60), 0x86DD))       # HBH not first
    # destination options (homeaddr, unknown), then UDP
    f.append(ether(ipv6(hbh(17, bytes([0xC9, 16]) + ip6(C6)) + body, 60), 0x86DD))
    f.append(ether(ipv6(hbh(17, bytes([0xC9, 20]) + ip6(C6) + b"\0\1\4\0") + body, 60), 0x86DD))
    f.append(ether(ipv6(hbh(17, bytes([0x1E, 2, 9, 9])) + body, 60), 0x86DD))
    # routing headers: type 0 (deprecated) with addresses, type 2, segment routing (4), others
    rt0 = bytes([17, 4, 0, 2]) + b"\0\0\0\0" + ip6(C6) + ip6(B6)
    f.append(ether(ipv6(rt0 + udp(b"rt0", pseudo=lambda pr, n: pseudo6(A6, B6, pr, n)), 43),
                   0x86DD))
    rt0r = bytes([17, 2, 0, 1]) + b"\0\0\1\0" + ip6(C6)
    f.append(ether(ipv6(rt0r + udp(b"rt0"), 43), 0x86DD))
    rt2 = bytes([6, 2, 2, 1]) + b"\0\0\0\0" + ip6(C6)
    f.append(ether(ipv6(rt2 + tcp(flags="S", pseudo=lambda pr, n: pseudo6(A6, C6, pr, n)), 43),
                   0x86DD))
    srh = bytes([17, 6, 4, 1, 2, 0]) + struct.pack("!H", 0x1234) + ip6("2001:db8::100") + \
        ip6("2001:db8::200") + ip6("2001:db8::300")
    f.append(ether(ipv6(srh + udp(b"srh", pseudo=lambda pr, n: pseudo6(A6, "2001:db8::100", pr,
                                                                     n)), 43), 0x86DD))
    srh_f = bytes([58, 2, 4, 0, 0, 0x80]) + struct.pack("!H", 0) + ip6("2001:db8::100")
    f.append(ether(ipv6(srh_f + icmp6(128, 0, struct.pack("!HH", 1, 1), A6,
                                      "2001:db8::100"), 43), 0x86DD))
    f.append(ether(ipv6(bytes([17, 0, 3, 0]) + b"\0" * 4 + udp(b"x"), 43), 0x86DD))
    f.append(ether(ipv6(bytes([17, 3, 0, 1]) + b"\0" * 28 + udp(b"x"), 43), 0x86DD))
    f.append(ether(ipv6(bytes([17, 2, 0, 1]) + b"\0" * 4 + ip6(C6)[:8], 43), 0x86DD))  # cut
    # fragments: first, middle, last; a fragment header with no room left
    frag = lambda nh, off, m, ident: bytes([nh, 0]) + struct.pack("!HI", off << 3 | m, ident)  # noqa
    f.append(ether(ipv6(frag(17, 0, 1, 0xABCD) + udp(b"f" * 40, ulen=1000), 44), 0x86DD))
    f.append(ether(ipv6(frag(17, 150, 1, 0xABCD) + b"m" * 40, 44), 0x86DD))
    f.append(ether(ipv6(frag(6, 300, 0, 0xABCD) + b"l" * 40, 44), 0x86DD))
    f.append(ether(ipv6(frag(58, 0, 1, 7) + icmp6(128, 0, b"\0\1\0\1" + b"z" * 20), 44), 0x86DD))
    f.append(ether(ipv6(frag(17, 0, 0, 8), 44), 0x86DD))
    f.append(ether(ipv6(hbh(44, b"") + frag(17, 0, 1, 9) + udp(b"hf"), 0), 0x86DD))
    # other next headers: IPv4/IPv6 in IPv6, no next header, unknown, payload length 0
    f.append(ether(ipv6(ipv4(udp(b"4in6"), 17), 4), 0x86DD))
    f.append(ether(ipv6(ipv6(udp(b"6in6"), 17, src=C6), 41), 0x86DD))
    f.append(ether(ipv6(b"", 59), 0x86DD))
    f.append(ether(ipv6(b"\0" * 8, 253), 0x86DD))
    f.append(ether(ipv6(body, 17, plen=0), 0x86DD))
    f.append(ether(ipv6(body, 17, plen=300), 0x86DD))         # truncated-ip6: bytes missing
    f.append(ether(ipv6(body, 17, version=5), 0x86DD))
    f.append(ether(ipv6(body, 17)[:30], 0x86DD))
    f.append(ether(ipv6(hbh(17, b"")[:4], 0), 0x86DD))        # extension header cut
    f.append(ether(ipv6(ipv6(body, 17)[:20], 41), 0x86DD))
    return f


def frames_other_ip():
    f = []
    igmp = lambda t, mrt, grp, extra=b"": (lambda m: m[:2] + struct.pack("!H", in_cksum(m)) +  # noqa
                                           m[4:])(struct.pack("!BBH", t, mrt, 0) + ip4(grp) + extra)
    for msg in (igmp(0x11, 0, "0.0.0.0"), igmp(0x11, 100, "0.0.0.0"), igmp(0x11, 50, "239.1.1.1"),
                igmp(0x12, 0, "239.1.1.2"), igmp(0x16, 0, "239.1.1.3"), igmp(0x17, 0, "239.1.1.4"),
                igmp(0x11, 100, "0.0.0.0", b"\x02\x7d\x00\x00"),
                igmp(0x11, 200, "239.1.1.5", b"\x0a\x7d\x00\x02" + ip4(A4) + ip4(B4)),
                igmp(0x11, 10, "239.1.1.5", b"\x0a\x7d\x00\x01"),
                igmp(0x22, 0, "0.0.0.2", struct.pack("!BBH", 4, 0, 0) + ip4("239.1.1.6") +
                     struct.pack("!BBH", 1, 0, 2) + ip4("239.1.1.7") + ip4(A4) + ip4(B4)),
                igmp(0x22, 0, "0.0.0.5", struct.pack("!BBH", 4, 0, 0) + ip4("239.1.1.6")),
                igmp(0x99, 0, "1.2.3.4")):
        f.append(ether(ipv4(msg, 2, dst="224.0.0.1", ttl=1), 0x0800))
    bad = igmp(0x16, 0, "239.1.1.3")
    f.append(ether(ipv4(bad[:2] + b"\0\0" + bad[4:], 2, dst="224.0.0.22", ttl=1), 0x0800))
    f.append(ether(ipv4(b"\x16\x00", 2, dst="224.0.0.22"), 0x0800))
    f.append(ether(ipv6(b"\x16\x00\x00\x00" + bytes(4), 2), 0x86DD))   # IGMP in IPv6
    f.append(ether(ipv6(b"\x08\0\0\0\0\0\0\0", 1), 0x86DD))          # ICMP in IPv6
    f.append(ether(ipv4(icmp6(128, 0, b"\0\1\0\1"), 58), 0x0800))     # ICMPv6 in IPv4
    # IPsec: ESP, AH before TCP and before ESP, IPComp
    esp = struct.pack("!II", 0x1000, 7) + b"\xee" * 24
    f.append(ether(ipv4(esp, 50), 0x0800))
    f.append(ether(ipv4(esp[:8], 50), 0x0800))
    f.append(ether(ipv6(esp, 50), 0x86DD))
    ah = bytes([6, 4, 0, 0]) + struct.pack("!II", 0x2000, 9) + b"\xaa" * 12
    f.append(ether(ipv4(ah + tcp(flags="S"), 51), 0x0800))
    f.append(ether(ipv4(bytes([50, 4, 0, 0]) + struct.pack("!II", 0x2000, 9) + b"\xaa" * 12 + esp,
                        51), 0x0800))
    f.append(ether(ipv4(ah[:10], 51), 0x0800))
    f.append(ether(ipv4(ah[:20], 51), 0x0800))
    f.append(ether(ipv6(ah + tcp(flags="S"), 51), 0x86DD))
    f.append(ether(ipv4(b"\x11\x00\x12\x34" + b"\x99" * 20, 108), 0x0800))
    return f


def gre(payload, proto, flags=0, version=0, fields=b""):
    """A GRE header: flags and version, protocol, then the optional fields
    as given (checksum/offset, key, sequence, routing...)."""
    return struct.pack("!HH", flags | version, proto) + fields + payload


def mpls(payload, labels):
    """An MPLS label stack [(label, tc, ttl), ...]; the last one has S set."""
    out = b""
    for i, (label, tc, ttl) in enumerate(labels):
        out += struct.pack("!I", label << 12 | tc << 9 | (i == len(labels) - 1) << 8 | ttl)
    return out + payload


def vxlan(inner, vni=42, flags=0x08):
    return struct.pack("!BxxxI", flags, vni << 8) + inner


def frames_tunnels():
    """GRE (v0 with every optional field, source routes, PPTP's v1), MPLS
    label stacks over Ethernet and GRE, VXLAN on UDP 4789."""
    f = []
    inner4 = ipv4(udp(b"in gre", pseudo=lambda p, n: pseudo4(C4, A4, p, n)), 17, src=C4, dst=A4)
    inner6 = ipv6(udp(b"in gre 6", pseudo=lambda p, n: pseudo6(C6, A6, p, n)), 17, src=C6,
                  dst=A6)
    inner_eth = ether(ipv4(icmp(8, 0, b"\0\7\0\1", b"teb"), 1, src=C4, dst=A4), 0x0800)
    csum, key, seq = struct.pack("!HH", 0xBEEF, 0), struct.pack("!I", 0x1234ABCD), \
        struct.pack("!I", 77)
    for payload, proto, flags, fields in (
            (inner4, 0x0800, 0, b""),
            (inner6, 0x86DD, 0x8000 | 0x2000 | 0x1000, csum + key + seq),
            (inner_eth, 0x6558, 0x2000, key),
            (mpls(inner4, [(1000, 0, 64)]), 0x8847, 0x1000, seq),
            (b"unknown payload", 0x1234, 0, b""),
            (b"", 0x0000, 0, b""),                  # Cisco's keep-alive: not named by 4.99
            (inner4, 0x883E, 0, b""),               # nor is WCCP
            (inner4, 0x0800, 0x0800 | 0x4000, csum),                 # flags only routing
            (inner4, 0x0800, 0x4000 | 0x8000, csum + struct.pack("!HBB", 0x0800, 4, 12) +
             ip4(A4) + ip4(B4) + ip4(C4) + struct.pack("!HBB", 0xFFFE, 2, 4) +
             struct.pack("!HH", 64512, 64513) + struct.pack("!HBB", 0x1111, 0, 4) + b"\0" * 4 +
             struct.pack("!HBB", 0, 0, 0)),
            (inner4, 0x0800, 0x4000 | 0x8000, csum + struct.pack("!HBB", 0x0800, 2, 8) +
             bytes(8) + struct.pack("!HBB", 0x0800, 4, 6) + bytes(6) +
             struct.pack("!HBB", 0x0800, 8, 8) + bytes(8) + struct.pack("!HBB", 0, 0, 0)),
            (inner4, 0x0800, 0x4000, csum + struct.pack("!HBB", 0x0800, 0, 8) + bytes(6))):
        f.append(ether(ipv4(gre(payload, proto, flags, 0, fields), 47), 0x0800))
    f.append(ether(ipv6(gre(inner4, 0x0800), 47), 0x86DD))
    f.append(ether(ipv4(gre(inner4, 0x0800, version=2), 47), 0x0800))
    f.append(ether(ipv4(b"\x00", 47), 0x0800))
    f.append(ether(ipv4(gre(b"", 0x0800, 0x2000)[:6], 47), 0x0800))
    # PPTP's enhanced GRE: call id, sequence and acknowledgement
    # and the PPP it carries: IP (HDLC header, compressed protocol field,
    # pppd's direction header), compressed data, an unknown protocol, cut short
    for ppp in (b"\xff\x03\x00\x21" + inner4, b"\x57" + inner6,
                b"\x00\x03\x02\x81" + mpls(inner4, [(9, 0, 3)]), b"\xff\x03\x00\xfd\x01\x02",
                b"\xff\x03\x12\x34abc", b"\xff\x03\x00", b"\xff"):
        f.append(ether(ipv4(gre(ppp, 0x880B, 0x3000, 1, struct.pack("!HHI", len(ppp), 7, 5)), 47),
                       0x0800))
    ppp = b"\xff\x03\x00\x21" + inner4
    f.append(ether(ipv4(gre(ppp, 0x880B, 0x3000 | 0x0080, 1, struct.pack("!HHII", len(ppp), 7,
                                                                           5, 4)), 47), 0x0800))
    f.append(ether(ipv4(gre(b"", 0x880B, 0x2000 | 0x0080, 1, struct.pack("!HHI", 0, 7, 5)), 47),
                   0x0800))
    f.append(ether(ipv4(gre(b"x", 0x880B, 0x3000, 1, struct.pack("!HHI", 1, 7, 5))[:10], 47),
                   0x0800))
    # MPLS over Ethernet: one label, a stack, the NULL labels, unknown payloads
    for labels, payload, etype in (
            ([(100, 0, 64)], inner4, 0x8847),
            ([(16, 5, 255), (200, 1, 63), (300, 0, 62)], inner6, 0x8847),
            ([(0, 0, 1)], inner4, 0x8847),
            ([(1, 7, 1), (2, 0, 1)], inner6, 0x8847),
            ([(3, 0, 1)], inner4, 0x8848),
            ([(500, 0, 9)], b"\x00payload of no known kind", 0x8847),
            ([(501, 0, 9)], b"", 0x8847),
            ([(15, 0, 9)], b"\x50 first byte between", 0x8847)):
        f.append(ether(mpls(payload, labels), etype))
    f.append(ether(b"\x00\x06\x40", 0x8847))                     # shorter than a label
    f.append(ether(struct.pack("!I", 100 << 12 | 64), 0x8847))  # no bottom of stack
    # VXLAN: on either port, the I flag clear, too short for its header; a
    # destination-only application port (3456) as the source doesn't hide it
    for sport, dport, body in ((51000, 4789, vxlan(inner_eth)),
                               (4789, 52000, vxlan(inner_eth, vni=0xFFFFFF, flags=0)),
                               (3456, 4789, vxlan(inner_eth, vni=7)),
                               (51000, 4789, b"\x08\0\0"),
                               (51000, 4789, vxlan(inner_eth[:10])),
                               (4789, 4789, vxlan(ether(arp_packet(1, A4, B4), 0x0806))),
                               (4789, 2049, vxlan(inner_eth))):
        f.append(v4_udp(body, sport, dport))
    f.append(v6_udp(vxlan(ether(inner6, 0x86DD), vni=9), 51001, 4789))
    return f


def all_frames():
    return (frames_link() + frames_arp() + frames_ipv4() + frames_udp() + frames_tcp() +
            frames_conversations() + frames_icmp() + frames_icmp6() + frames_ipv6() +
            frames_other_ip() + frames_tunnels())


def cut_frames():
    """A few frames, each cut at every length."""
    picks = [v4_udp(b"0123456789"), v4_tcp(flags="S", options=tcp_opt(2, b"\x05\xb4") +
                                           tcp_opt(4) + tcp_opt(8, b"\0" * 8) + b"\1" +
                                           tcp_opt(3, b"\x07") + mptcp(0, b"\x81" +
                                                                        bytes(8))),
             v6_icmp6(135, 0, b"\0" * 4 + ip6(B6) + nd_opt(1, MAC_A), src=A6, dst="ff02::1:ff00:2"),
             ether(arp_packet(1, A4, B4), 0x0806),
             vlan_frame(ipv4(udp(b"q"), 17), 0x0800, [(0x88A8, 5), (0x8100, 6)]),
             llc_frame(0x42, 0x42, b"\x03", mstp_bpdu(nmsti=1), dst=STP_MAC),
             ether(ipv4(icmp(3, 3, b"\0" * 4, quoted(udp(b"", 40001, 40002)[:8], 17)), 1), 0x0800),
             ether(ipv6(bytes([17, 2, 4, 0, 0, 0, 0, 0]) + ip6(C6) + udp(b"r"), 43), 0x86DD),
             ether(ipv4(udp(b"o"), 17, options=bytes([68, 12, 9, 0]) + bytes(8)), 0x0800),
             ether(ipv4(gre(mpls(ipv4(b"", 59), [(7, 0, 1)]), 0x8847, 0x8000 | 0x2000 | 0x1000,
                            0, bytes(12)), 47), 0x0800),
             v4_udp(vxlan(ether(ipv4(b"", 59), 0x0800)), 51000, 4789)]
    out = []
    for frame in picks:
        for n in range(len(frame) + 1):
            out.append((frame[:n], len(frame)))
    return out


def mangled_frames(seed=20240613, count=600):
    """Frames with 1-4 bytes changed, away from the bytes that choose a
    protocol (ethertype, IP protocol, next header, ports, ICMP type)."""
    rng = random.Random(seed)
    base = [v4_udp(b"0123456789abcdef"), v4_tcp(flags="SA", ack=9, options=tcp_opt(2, b"\x05\xb4")
                                                + tcp_opt(8, b"\0" * 8) + tcp_opt(4)),
            v6_udp(), v6_tcp(flags="PA", ack=3, payload=b"abc"),
            ether(ipv4(icmp(8, 0, b"\0\1\0\2", b"payload"), 1), 0x0800),
            ether(arp_packet(1, A4, B4), 0x0806),
            llc_frame(0x42, 0x42, b"\x03", stp_config(version=2, bpdu_type=2, extra=b"\0"),
                      dst=STP_MAC),
            v6_icmp6(135, 0, b"\0" * 4 + ip6(B6) + nd_opt(1, MAC_A), src=A6, dst="ff02::1:ff00:2"),
            ether(ipv6(bytes([17, 2, 0, 1]) + b"\0" * 4 + ip6(C6) + udp(b"x"), 43), 0x86DD)]
    fixed = {0: {12, 13, 23, 34, 35, 36, 37}, 1: {12, 13, 23, 34, 35, 36, 37},
             2: {12, 13, 20, 54, 55, 56, 57}, 3: {12, 13, 20, 54, 55, 56, 57},
             4: {12, 13, 23, 34}, 5: {12, 13}, 6: {12, 13, 14, 15, 16},
             7: {12, 13, 20, 54}, 8: {12, 13, 20, 54, 78, 79, 80, 81}}
    out = []
    for _ in range(count):
        k = rng.randrange(len(base))
        d = bytearray(base[k])
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(d))
            if i not in fixed[k]:
                d[i] = rng.randrange(256)
        out.append(bytes(d))
    return out


def cooked_frames(version):
    """Linux cooked captures (the v2 ones name interface 1, lo on every
    machine, and 999, which is no interface): in/out/broadcast/multicast/other-host, VLAN,
    802.2 LLC, unknown types."""
    body_ip = ipv4(udp(b"cooked"), 17)
    frames = []
    for pkttype, proto, payload in (
            (0, 0x0800, body_ip), (4, 0x0800, body_ip), (1, 0x0806, arp_packet(1, A4, B4)),
            (2, 0x86DD, ipv6(udp(b"c6"), 17)), (3, 0x0800, body_ip), (7, 0x0800, body_ip),
            (0, 0x8100, struct.pack("!HH", 0x2064, 0x0800) + body_ip),
            (0, 0x8100, struct.pack("!HH", 0x0064, 0x0030) + b"\x42\x42\x03" + stp_config()),
            (0, 0x0004, b"\x42\x42\x03" + stp_config()),
            (0, 0x0004, b"\x04\x04\xe3unknown llc"),
            (0, 0x0060, b"odd"),
            (0, 0x88B5, b"unknown ethertype"), (0, 0x8100, b"\0")):
        if version == 1:
            hdr = struct.pack("!HHH", pkttype, 1, 6) + MAC_A + b"\0\0" + struct.pack("!H", proto)
        else:
            hdr = struct.pack("!HHIHBB", proto, 0, 1 if pkttype != 3 else 999, 1, pkttype, 6) + \
                MAC_A + b"\0\0"
        frames.append(hdr + payload)
    frames.append(b"\0" * (10 if version == 1 else 15))
    return frames


def null_frames(order):
    """BSD loopback (address family in host order, or swapped) and OpenBSD
    loop (network order) headers."""
    fam = lambda v: struct.pack(order + "I", v)  # noqa: E731
    frames = [fam(2) + ipv4(udp(b"lo"), 17), fam(30) + ipv6(udp(b"lo6"), 17),
              fam(24) + ipv6(udp(b"lo6"), 17), fam(28) + ipv6(tcp(flags="S"), 6),
              fam(99) + b"unknown family", fam(0) + b"", fam(2) + b"\x60\0\0\0", b"\x02\0"]
    if order == "<":
        frames.append(struct.pack(">I", 2) + ipv4(udp(b"swapped"), 17))
    return frames


def raw_frames():
    return [ipv4(udp(b"raw"), 17), ipv6(udp(b"raw6"), 17), ipv4(b"", 6)[:12], b"\x50\x00",
            ipv6(b"", 59), ipv4(tcp(flags="S"), 6)]


# -- files -------------------------------------------------------------------
BASE_SEC = 1700000000


def timestamps(n):
    """Strictly ordered, except for one step back (seen by -ttt)."""
    out = []
    sec, frac = BASE_SEC, 123456789
    for i in range(n):
        out.append((sec, frac))
        step = [1_000, 999_999_999, 250_000_000, 3_600_000_000_123, 17][i % 5]
        if i == 7:
            step = -2_000_000_000
        frac += step
        sec, frac = sec + frac // 1_000_000_000, frac % 1_000_000_000
    return out


def write_pcap(path, records, linktype, nano=False):
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144,
                             linktype))
        for (sec, frac), data, wirelen in records:
            sub = frac if nano else frac // 1000
            fh.write(struct.pack("<IIII", sec, sub, len(data), wirelen) + data)


def _block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, records, linktype):
    """A pcapng with nanosecond timestamps (if_tsresol 9)."""
    with open(path, "wb") as fh:
        fh.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) +
                        struct.pack("<HH", 0, 0)))
        opts = struct.pack("<HHB", 9, 1, 9) + b"\0\0\0" + struct.pack("<HH", 0, 0)
        fh.write(_block(1, struct.pack("<HHI", linktype, 0, 262144) + opts))
        for (sec, frac), data, wirelen in records:
            t = sec * 1_000_000_000 + frac
            fh.write(_block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data),
                                           wirelen) + data))


def main(outdir=HERE):
    frames = all_frames()
    recs = [(ts, d, len(d)) for ts, d in zip(timestamps(len(frames)), frames)]
    write_pcap(os.path.join(outdir, "ether.pcap"), recs, 1)
    write_pcapng(os.path.join(outdir, "ether.pcapng"), recs, 1)
    cuts = cut_frames()
    write_pcap(os.path.join(outdir, "cuts.pcap"),
               [(ts, d, n) for ts, (d, n) in zip(timestamps(len(cuts)), cuts)], 1, nano=True)
    mangled = mangled_frames()
    write_pcap(os.path.join(outdir, "mangled.pcap"),
               [(ts, d, len(d)) for ts, d in zip(timestamps(len(mangled)), mangled)], 1)
    for name, frames, lt in (("cooked.pcap", cooked_frames(1), 113),
                             ("cooked2.pcap", cooked_frames(2), 276),
                             ("raw.pcap", raw_frames(), 101),
                             ("rawip.pcap", raw_frames(), 228),
                             ("null.pcap", null_frames("<"), 0),
                             ("loop.pcap", null_frames(">"), 108),
                             ("user0.pcap", [b"frames of a link type nobody decodes",
                                             b"\x00"], 147)):
        write_pcap(os.path.join(outdir, name),
                   [(ts, d, len(d)) for ts, d in zip(timestamps(len(frames)), frames)], lt)


if __name__ == "__main__":
    main(*sys.argv[1:])
