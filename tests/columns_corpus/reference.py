"""The judge of the column decoder: each header is dissected by scapy.

``expected(data, wirelen, linktype)`` gives, for every decoded column, the
value scapy reads (``None`` where the packet doesn't have the field).  The
walk from header to header follows the protocol documents (which header
comes next, where it starts); every field's value comes from scapy's
dissection of that header, and a field counts as present only when all of
its bytes were captured (and, for transport fields, lie inside the IP
datagram's length: what follows is the link's padding).  Headers are handed
to scapy zero-padded, so a cut header still dissects; the padding is never
read as a value because of that rule.
"""
import socket
import struct

import xxhash

FIELDS = ("vlan_tci", "vlan_tci_inner", "ethertype", "ip_version", "src4", "dst4", "src6", "dst6",
          "proto", "ttl", "ip_id", "frag", "sport", "dport", "tcp_flags", "tcp_seq", "tcp_ack",
          "tcp_win", "icmp_type", "icmp_code", "l4_offset", "payload_len", "flow_hash")
TPIDS = (0x8100, 0x88A8, 0x9100)
EXT_WALKED = (0, 43, 44, 51, 60)
PORT_PROTOS = (6, 17, 132)

_cache = {}


def _scapy():
    from scapy.layers import inet, inet6, l2, sctp
    from scapy.layers.ipsec import AH
    return inet, inet6, l2, sctp, AH


def expected(data, wirelen, linktype):
    key = (bytes(data), wirelen, linktype)
    if key not in _cache:
        _cache[key] = _Frame(bytes(data), wirelen).decode(linktype)
    return _cache[key]


class _Frame:
    def __init__(self, data, wirelen):
        self.data = data
        self.caplen = len(data)
        self.wirelen = wirelen
        self.out = dict.fromkeys(FIELDS)
        self.fragment = False

    def have(self, off, n, end=None):
        return off + n <= (self.caplen if end is None else end)

    def at(self, cls, off, size):
        """scapy's dissection of the ``size``-byte header at ``off``
        (zero-padded; options past ``size`` and the payload are not read)."""
        hdr = cls()
        hdr.do_dissect((self.data[off:off + size] + b"\0" * size)[:size])
        return hdr

    def set(self, field, value, off, n, end=None):
        if self.have(off, n, end):
            self.out[field] = value

    # --- link layer ---

    def decode(self, linktype):
        inet, inet6, l2, sctp, AH = _scapy()
        et, off = None, 0
        if linktype == 1:
            eth = self.at(l2.Ether, 0, 14)
            if self.have(12, 2):
                et, off = eth.type, 14
        elif linktype == 113:
            sll = self.at(l2.CookedLinux, 0, 16)
            if self.have(14, 2):
                et, off = sll.proto, 16
        elif linktype == 276:
            sll2 = self.at(l2.CookedLinuxV2, 0, 20)
            if self.have(0, 2):
                et, off = sll2.proto, 20
                if not self.have(0, 20):
                    et = None
        elif linktype in (101, 12, 14):
            if self.have(0, 1):
                et = {4: 0x0800, 6: 0x86DD}.get(self.data[0] >> 4)
                self.out["ethertype"] = et
                return self.network(et, 0)
            return self.out
        elif linktype in (228, 229):
            et = 0x0800 if linktype == 228 else 0x86DD
            self.out["ethertype"] = et
            return self.network(et, 0)
        elif linktype in (0, 108):
            if not self.have(0, 4):
                return self.out
            fam = struct.unpack("<I" if linktype == 0 else ">I", self.data[:4])[0]
            if fam > 0xFFFF:
                fam = struct.unpack(">I" if linktype == 0 else "<I", self.data[:4])[0]
            et = {2: 0x0800, 10: 0x86DD, 24: 0x86DD, 28: 0x86DD, 30: 0x86DD}.get(fam)
            self.out["ethertype"] = et
            return self.network(et, 4)
        if et is None:
            return self.out
        tags = 0
        while et in TPIDS:
            # scapy names 0x8100 and 0x88a8 tags; 0x9100 (pre-802.1ad QinQ)
            # has the same layout, so the same class reads it
            tag = self.at(l2.Dot1Q, off, 4)
            if not self.have(off, 2):
                return self.out
            tci = (int(tag.prio) << 13) | (int(tag.dei) << 12) | int(tag.vlan)
            if tags < 2:
                self.out["vlan_tci" if tags == 0 else "vlan_tci_inner"] = tci
            tags += 1
            if not self.have(off + 2, 2):
                return self.out
            et = tag.type
            off += 4
        if et < 0x600:
            return self.out
        self.out["ethertype"] = et
        return self.network(et, off)

    # --- network layer ---

    def network(self, et, off):
        if et == 0x0800:
            self.ipv4(off)
        elif et == 0x86DD:
            self.ipv6(off)
        if self.out["ip_version"] is not None:
            self.flow_hash()
        return self.out

    def ipv4(self, o):
        inet = _scapy()[0]
        ip = self.at(inet.IP, o, 20)
        if not self.have(o, 1) or ip.version != 4:
            return
        self.out["ip_version"] = 4
        if ip.ihl < 5:
            return
        frag = (int(ip.flags) << 13) | ip.frag
        self.set("ip_id", ip.id, o + 4, 2)
        self.set("frag", frag, o + 6, 2)
        self.set("ttl", ip.ttl, o + 8, 1)
        self.set("proto", ip.proto, o + 9, 1)
        self.set("src4", int.from_bytes(socket.inet_aton(ip.src), "big"), o + 12, 4)
        self.set("dst4", int.from_bytes(socket.inet_aton(ip.dst), "big"), o + 16, 4)
        self.fragment = bool(ip.flags.MF) or ip.frag != 0
        hlen = ip.ihl * 4
        if not self.have(o, hlen):
            return
        total = ip.len
        if total == 0 and self.wirelen > o:
            total = self.wirelen - o         # TSO send: the frame's length
        if total < hlen or ip.frag != 0:
            return
        self.transport(ip.proto, 4, o + hlen, min(self.caplen, o + total), total - hlen)

    def ipv6(self, o):
        _, inet6, _, _, AH = _scapy()
        ip = self.at(inet6.IPv6, o, 40)
        if not self.have(o, 1) or ip.version != 6:
            return
        self.out["ip_version"] = 6
        self.set("ttl", ip.hlim, o + 7, 1)
        self.set("src6", socket.inet_pton(socket.AF_INET6, ip.src), o + 8, 16)
        self.set("dst6", socket.inet_pton(socket.AF_INET6, ip.dst), o + 24, 16)
        if not self.have(o, 7):
            return
        plen = ip.plen
        if plen == 0 and self.wirelen - o >= 40:
            plen = self.wirelen - o - 40     # jumbogram / GSO send
        end = min(self.caplen, o + 40 + plen)
        nh, pos, frag, later = ip.nh, o + 40, None, False
        while nh in EXT_WALKED:
            if nh == 44:
                if not self.have(pos, 8, end):
                    return
                fh = self.at(inet6.IPv6ExtHdrFragment, pos, 8)
                frag = fh.offset | (fh.m << 13)
                # known once the header is read, whatever follows it
                self.out["frag"], self.out["ip_id"] = frag, fh.id
                self.fragment = fh.offset != 0 or fh.m != 0
                nh, pos = fh.nh, pos + 8
                if fh.offset:
                    later = True
                    break
                continue
            if not self.have(pos, 2, end):
                return
            if nh == 51:
                ah = self.at(AH, pos, 12)
                nh, pos = ah.nh, pos + (ah.payloadlen + 2) * 4
            else:
                cls = {0: inet6.IPv6ExtHdrHopByHop, 43: inet6.IPv6ExtHdrRouting,
                       60: inet6.IPv6ExtHdrDestOpt}[nh]
                ext = self.at(cls, pos, 8)
                nh, pos = ext.nh, pos + (ext.len + 1) * 8
        self.out["proto"] = nh
        self.out["frag"] = frag if frag is not None else 0   # walked to the end: none
        if not self.have(o, 40) or later or pos > o + 40 + plen:
            return
        self.transport(nh, 6, pos, end, plen - (pos - o - 40))

    # --- transport layer ---

    def transport(self, proto, version, l4, end, ip_payload):
        inet, inet6, _, sctp, _ = _scapy()
        if l4 > end:
            return
        self.out["l4_offset"] = l4
        hlen = None
        if proto in PORT_PROTOS:
            cls = {6: inet.TCP, 17: inet.UDP, 132: sctp.SCTP}[proto]
            th = self.at(cls, l4, {6: 20, 17: 8, 132: 12}[proto])
            self.set("sport", th.sport, l4, 2, end)
            self.set("dport", th.dport, l4 + 2, 2, end)
            if proto == 6:
                self.set("tcp_seq", th.seq, l4 + 4, 4, end)
                self.set("tcp_ack", th.ack, l4 + 8, 4, end)
                self.set("tcp_flags", int(th.flags), l4 + 12, 2, end)
                self.set("tcp_win", th.window, l4 + 14, 2, end)
                if self.have(l4 + 12, 1, end) and th.dataofs >= 5:
                    hlen = th.dataofs * 4
            else:
                hlen = 8 if proto == 17 else 12
        elif (proto, version) in ((1, 4), (58, 6)):
            ic = self.at(inet.ICMP if version == 4 else inet6.ICMPv6Unknown, l4, 64)
            self.set("icmp_type", ic.type, l4, 1, end)
            self.set("icmp_code", ic.code, l4 + 1, 1, end)
            hlen = 8
        if hlen is not None and not self.fragment and ip_payload >= hlen:
            self.out["payload_len"] = ip_payload - hlen

    def flow_hash(self):
        o = self.out
        if o["ip_version"] == 4:
            src, dst = o["src4"], o["dst4"]
            src = None if src is None else src.to_bytes(4, "big")
            dst = None if dst is None else dst.to_bytes(4, "big")
        else:
            src, dst = o["src6"], o["dst6"]
        if src is None or dst is None or o["proto"] is None:
            return
        sport = dport = 0
        if o["proto"] in PORT_PROTOS and not self.fragment:
            if o["sport"] is None or o["dport"] is None:
                return
            sport, dport = o["sport"], o["dport"]
        a, b = src + struct.pack("!H", sport), dst + struct.pack("!H", dport)
        lo, hi = sorted((a, b))
        o["flow_hash"] = xxhash.xxh3_64_intdigest(lo + hi + bytes([o["proto"], o["ip_version"]]))
