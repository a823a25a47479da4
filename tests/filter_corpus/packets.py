"""Frames for the differential test of the XDP filter compiler.

``frames()`` returns a deterministic list of ``(name, bytes)``: frames
crafted with scapy so that every expression of expressions.txt has
something to match (and something to miss), then copies with random bytes
changed in the headers, then truncated copies (XDP's BPF_PROG_TEST_RUN needs
at least an Ethernet header, so no frame is shorter than 14 bytes).

``python tests/filter_corpus/packets.py out.pcap`` writes them for a look
with tcpdump/tshark.
"""
import random

SEED = 0x5EED
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
BCAST = "ff:ff:ff:ff:ff:ff"


def _crafted():
    from scapy.layers.inet import GRE, ICMP, IP, IPOption_RR, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, LLC, STP, Dot1AD, Dot1Q, Ether
    from scapy.layers.sctp import SCTP
    from scapy.packet import Raw
    try:
        from scapy.layers.igmp import IGMP
    except ImportError:       # scapy < 2.5 keeps it in contrib
        from scapy.contrib.igmp import IGMP

    e = Ether(src=MAC_A, dst=MAC_B)
    e_rev = Ether(src=MAC_B, dst=MAC_A)
    out = []

    def add(name, pkt):
        out.append((name, bytes(pkt)))

    # IPv4 transport mix over several hosts and ports
    hosts = [("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "192.168.1.20"),
             ("192.168.7.7", "172.16.5.5"), ("8.8.8.8", "10.9.9.9"), ("172.31.0.1", "8.8.4.4")]
    for i, (s, d) in enumerate(hosts):
        ee = e if i % 2 == 0 else e_rev
        add(f"udp53-{i}", ee / IP(src=s, dst=d, ttl=64 - 20 * (i % 3)) / UDP(sport=33000 + i, dport=53) / (b"q" * (8 + 30 * i)))
        add(f"udp5353-{i}", ee / IP(src=s, dst=d) / UDP(sport=5353, dport=5353) / b"mdns")
        add(f"tcp80-syn-{i}", ee / IP(src=s, dst=d) / TCP(sport=40000 + i, dport=80, flags="S"))
        add(f"tcp443-synack-{i}", ee / IP(src=d, dst=s) / TCP(sport=443, dport=40000 + i, flags="SA"))
        add(f"tcp22-ack-{i}", ee / IP(src=s, dst=d) / TCP(sport=1024, dport=22, flags="A") / (b"x" * (40 * i)))
    add("tcp-get", e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1500, dport=80, flags="PA") / b"GET / HTTP/1.1\r\n\r\n")
    add("tcp-get-opts", e / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1500, dport=80, flags="PA", options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
        / b"GET /x HTTP/1.1\r\n\r\n")
    add("tcp443-syn", e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1025, dport=443, flags="S"))
    add("ip-tos2", e / IP(src="10.0.0.1", dst="10.0.0.2", tos=2) / ICMP(type=8) / (b"p" * 57))
    add("zeros-120", e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4, dport=4) / (b"\0" * 100))
    add("tcp2222-fin", e / IP(src="10.0.0.3", dst="10.0.0.4") / TCP(sport=2100, dport=2222, flags="F"))
    add("tcp21", e / IP(src="10.1.2.3", dst="10.3.2.1") / TCP(sport=21, dport=60000, flags="PA") / b"220 ok")
    add("udp-range", e / IP(src="192.168.0.9", dst="10.0.0.9") / UDP(sport=5500, dport=1900) / b"ssdp")
    add("udp-small", e / IP(src="10.0.0.5", dst="10.0.0.6") / UDP(sport=7, dport=7))
    add("udp-3344", e / IP(src="10.0.0.5", dst="10.0.0.6") / UDP(sport=9, dport=9) / bytes.fromhex("19a2") / b"zz")
    add("udp-big", e / IP(src="10.0.0.7", dst="10.0.0.8") / UDP(sport=1234, dport=4321) / (b"B" * 700))
    add("ip-options", e / IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_RR()]) / UDP(sport=53, dport=53) / b"opt")
    add("ip-frag", e / IP(src="10.0.0.1", dst="10.0.0.2", frag=100, proto=17) / (b"\0\x35\0\x35" + b"f" * 20))
    add("ip-frag-first", e / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / UDP(sport=53, dport=53) / b"first")
    add("ip-ttl1", e / IP(src="10.0.0.1", dst="10.0.0.2", ttl=1) / ICMP(type=8) / b"ping")
    add("ip-tos", e / IP(src="10.0.0.1", dst="10.0.0.2", tos=3, len=84) / ICMP(type=0) / (b"p" * 56))
    add("icmp-echo", e / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8) / (b"p" * 56))
    add("icmp-reply", e_rev / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=0) / (b"p" * 56))
    add("icmp-unreach", e / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53))
    add("gre", e / IP(src="10.0.0.1", dst="10.0.0.2") / GRE() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP())
    add("sctp", e / IP(src="10.0.0.1", dst="10.0.0.2") / SCTP(sport=2905, dport=2905))
    add("igmp", Ether(src=MAC_A, dst="01:00:5e:00:00:16") / IP(src="10.0.0.1", dst="224.0.0.22", ttl=1) / IGMP())
    add("mcast-udp", Ether(src=MAC_A, dst="01:00:5e:00:00:fb") / IP(src="10.0.0.1", dst="224.0.0.251") / UDP(sport=5353, dport=5353) / b"m")
    add("bcast-udp", Ether(src=MAC_B, dst=BCAST) / IP(src="10.0.0.2", dst="255.255.255.255") / UDP(sport=68, dport=67) / (b"d" * 240))
    add("geneve", e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=6081, dport=6081)
        / bytes.fromhex("00006558000064 00".replace(" ", "")) / bytes(Ether(src=MAC_A, dst=MAC_B) / IP() / UDP(dport=53)))
    # IPv6
    add("ip6-udp53", e / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53) / b"q6")
    add("ip6-tcp80", e / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=1000, dport=80, flags="S"))
    add("ip6-tcp443", e_rev / IPv6(src="2001:db8:1::5", dst="2001:db9::1") / TCP(sport=443, dport=1000, flags="A") / (b"y" * 120))
    add("ip6-echo", e / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoRequest() / b"ping6")
    add("ip6-mcast", Ether(src=MAC_A, dst="33:33:00:00:00:fb") / IPv6(src="fe80::1", dst="ff02::fb") / UDP(sport=5353, dport=5353) / b"m6")
    add("ip6-hbh-tcp", e / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / TCP(sport=1, dport=80))
    # ARP, RARP, LLDP, LLC/STP, MPLS, PPPoE session
    add("arp-req", Ether(src=MAC_A, dst=BCAST) / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2"))
    add("arp-reply", e_rev / ARP(op=2, psrc="10.0.0.2", pdst="10.0.0.1"))
    add("rarp", Ether(src=MAC_A, dst=BCAST, type=0x8035) / bytes(ARP(op=3)))
    add("lldp", Ether(src=MAC_A, dst="01:80:c2:00:00:0e", type=0x88CC) / (b"\x02\x07\x04" + b"\0" * 40))
    add("stp", Ether(src=MAC_A, dst="01:80:c2:00:00:00") / LLC() / STP())
    add("mpls", Ether(src=MAC_A, dst=MAC_B, type=0x8847) / bytes.fromhex("000641ff") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53))
    add("pppoes", Ether(src=MAC_A, dst=MAC_B, type=0x8864) / bytes.fromhex("1100000100160021") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53))
    # in-band VLAN tags: one 802.1Q tag, and QinQ (802.1ad outer, 802.1Q inner)
    add("vlan100-udp53", e / Dot1Q(vlan=100) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=53) / b"v")
    add("vlan100-tcp80", e / Dot1Q(vlan=100) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80, flags="S"))
    add("vlan7-ip6-tcp", e / Dot1Q(vlan=7) / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=22, flags="S"))
    add("vlan100-arp", Ether(src=MAC_A, dst=BCAST) / Dot1Q(vlan=100) / ARP(psrc="10.0.0.1", pdst="10.0.0.2"))
    add("qinq-200-300-udp", e / Dot1AD(vlan=200) / Dot1Q(vlan=300) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53) / b"qq")
    add("qinq-200-301-tcp", e / Dot1AD(vlan=200) / Dot1Q(vlan=301) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=443))
    add("vlan-8100-8100-ip6", e / Dot1Q(vlan=5) / Dot1Q(vlan=6) / IPv6(src="fe80::1", dst="ff02::1") / UDP(dport=547))
    # odd ones: runt, padding-only, unknown ethertype, a jumbo-ish frame
    add("runt-eth", Ether(src=MAC_A, dst=MAC_B, type=0x0800))
    add("unknown-type", Ether(src=MAC_A, dst=MAC_B, type=0x1234) / (b"\0" * 46))
    add("big-udp", e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5001, dport=5001) / (b"J" * 1400))
    add("raw-ipv4-junk", e / Raw(bytes.fromhex("4f00ffff") + b"\xff" * 60))
    return out


def _mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        # mostly inside the headers, where the filters look
        pos = rng.randrange(12, min(len(data), 80)) if len(data) > 12 else 0
        data[pos] = rng.choice([0, 0xFF, rng.randrange(256), data[pos] ^ (1 << rng.randrange(8))])
    return bytes(data)


def frames():
    rng = random.Random(SEED)
    base = _crafted()
    out = list(base)
    for name, data in base:
        for j in range(2):
            out.append((f"{name}~mut{j}", _mutate(rng, data)))
    for name, data in base:
        if len(data) <= 14:
            continue
        cuts = {14, len(data) - 1, rng.randrange(14, len(data)), rng.randrange(14, min(len(data), 64))}
        for cut in sorted(cuts):
            out.append((f"{name}~cut{cut}", data[:cut]))
    return out


def expressions(path=None):
    import os
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "expressions.txt")
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


if __name__ == "__main__":
    import sys

    from scapy.utils import wrpcap
    from scapy.layers.l2 import Ether
    frs = frames()
    wrpcap(sys.argv[1] if len(sys.argv) > 1 else "filter_corpus.pcap", [Ether(d) for _, d in frs])
    print(f"{len(frs)} frames")
