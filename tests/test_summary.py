"""Packet summaries judged by tcpdump: real traffic on a throwaway veth is
captured by ``tcpdump -w``, then each line of ``tcpdump -r -nn`` must equal
ours (timestamp included).  The one normalisation: for frames tcpdump can't
decode it adds a hex dump below the line, which we don't print.
"""
import random
import socket
import struct
import subprocess
import time

import pytest

from pyxring.reader import open_reader
from pyxring.summary import Summarizer, format_ts, summarize

from conftest import privileged, require_root, wait_listening  # noqa: E402

PORT_UDP, PORT_TCP = 40123, 40124


def _tcpdump_text(path, *extra):
    out = subprocess.run(["tcpdump", "-r", path, "-nn", *extra], capture_output=True,
                         timeout=30, check=True)
    # Hex dump lines (start with whitespace) follow undecodable frames: not ours to print.
    return [ln for ln in out.stdout.decode().splitlines() if ln and not ln[0].isspace()]


def _our_text(path, link=False):
    summ = Summarizer(link=link)
    with open_reader(path) as rd:
        return [f"{format_ts(r.ts_ns)} {summ(r.data, r.linktype, r.wirelen)}".rstrip() for r in rd]


@pytest.fixture(scope="module")
def mixed_capture(tmp_path_factory):
    """A pcap written by tcpdump of UDP, TCP (handshake, data, close), ICMP
    echo, ARP, IPv6 UDP and VLAN-tagged UDP on a veth in namespaces."""
    require_root()
    from pyxring import netlab
    path = str(tmp_path_factory.mktemp("summary") / "mixed.pcap")
    with netlab.VethPair(prefix="psum") as lab:
        # Immediate mode makes libpcap use a ring of snaplen-sized frames: a
        # small snaplen keeps enough of them for a burst.
        # Only our own traffic: IPv6 router/MLD chatter would make counts vary.
        expr = (f"udp port {PORT_UDP} or tcp port {PORT_TCP} or icmp or arp or vlan "
                f"or (ip6 and udp port {PORT_UDP})")
        dump = lab.popen("b", ["tcpdump", "-i", lab.if_b, "--immediate-mode", "-s", "2048", "-U", "-w", path, expr],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(dump)
            # UDP over IPv4 and IPv6, sent by the kernel of namespace a
            with lab.enter_a():
                u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with u4, u6:
                u4.sendto(b"hello pyxring", (lab.ip_b, PORT_UDP))
                u6.sendto(b"hello over ipv6!", (lab.ip6_b, PORT_UDP))
            # ICMP echo request and reply
            lab.run_a(["ping", "-c", "1", "-W", "2", lab.ip_b])
            # TCP: handshake, data both ways, orderly close
            with lab.enter_b():
                srv = socket.socket()
            srv.bind((lab.ip_b, PORT_TCP))
            srv.listen(1)
            with lab.enter_a():
                cli = socket.socket()
            cli.settimeout(5)
            srv.settimeout(5)
            cli.connect((lab.ip_b, PORT_TCP))
            conn, _ = srv.accept()
            cli.sendall(b"x" * 100)
            conn.recv(1000)
            conn.sendall(b"y" * 10)
            cli.recv(100)
            cli.close()
            conn.close()
            srv.close()
            # ARP request answered by namespace b's kernel, and a VLAN-tagged UDP frame
            arp = (b"\xff" * 6 + netlab.mac_bytes(lab.mac_a) + b"\x08\x06" +
                   struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + netlab.mac_bytes(lab.mac_a) +
                   socket.inet_aton(lab.ip_a) + b"\0" * 6 + socket.inet_aton(lab.ip_b))
            vlan = lab.udp_frames(1, size=64, dport=PORT_UDP, vlan=100)[0]
            lab.send_frames([arp, vlan])
            time.sleep(0.5)
        finally:
            dump.terminate()
            try:
                dump.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dump.kill()
                dump.wait()
            dump.stderr.close()
    return path


@privileged
def test_lines_match_tcpdump(mixed_capture):
    theirs = _tcpdump_text(mixed_capture)
    ours = _our_text(mixed_capture)
    assert len(ours) == len(theirs)
    kinds = " ".join(theirs)
    # The capture really holds the mix this test is about.
    for needle in ("UDP, length 13", "Flags [S]", "Flags [S.]", "Flags [P.]", "Flags [F.]",
                   "ICMP echo request", "ICMP echo reply", "ARP, Request who-has",
                   "ARP, Reply", "IP6 ", "UDP, length 16"):
        assert needle in kinds, needle
    for mine, ref in zip(ours, theirs):
        assert mine == ref.rstrip()


@privileged
def test_link_level_lines_match_tcpdump_e(mixed_capture):
    theirs = _tcpdump_text(mixed_capture, "-e")
    ours = _our_text(mixed_capture, link=True)
    assert any("vlan 100, p 0, ethertype IPv4 (0x0800)" in ln for ln in theirs)
    assert ours == [ln.rstrip() for ln in theirs]


@privileged
@pytest.mark.parametrize("snap", [20, 38, 56, 60, 70])
def test_truncated_frames_match_tcpdump(mixed_capture, tmp_path, snap):
    """Frames cut by a snap length get tcpdump's [|proto] markers at the same place."""
    cut = str(tmp_path / "cut.pcap")
    subprocess.run(["editcap", "-s", str(snap), mixed_capture, cut], check=True, capture_output=True,
                   timeout=30)
    theirs = _tcpdump_text(cut)
    ours = _our_text(cut)
    assert any("[|" in ln for ln in ours)
    assert ours == [ln.rstrip() for ln in theirs]


def test_absolute_sequence_numbers_without_state():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    syn = bytes(Ether() / IP(src="10.1.1.1", dst="10.1.1.2") /
                TCP(sport=1000, dport=2000, flags="S", seq=7, window=100))
    ack = bytes(Ether() / IP(src="10.1.1.1", dst="10.1.1.2") /
                TCP(sport=1000, dport=2000, flags="PA", seq=8, ack=50, window=100) / b"abc")
    assert summarize(syn) == "IP 10.1.1.1.1000 > 10.1.1.2.2000: Flags [S], seq 7, win 100, length 0"
    assert summarize(ack) == ("IP 10.1.1.1.1000 > 10.1.1.2.2000: Flags [P.], seq 8:11, ack 50, "
                              "win 100, length 3")


def test_garbage_never_raises():
    from pyxring import netlab
    frame = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1",
                                  "10.0.0.2", 1234, 5678, b"payload!")
    rng = random.Random(1234)
    seen_marker = False
    for i in range(3000):
        d = bytearray(frame)
        for _ in range(rng.randint(0, 6)):
            d[rng.randrange(len(d))] = rng.randrange(256)
        d = bytes(d[:rng.randint(0, len(d))])
        for lt in (1, 101, 113, 276, 228, 229, 147):
            text = summarize(d, lt)
            assert isinstance(text, str) and "\n" not in text
            seen_marker |= "[|" in text
    assert seen_marker
    assert summarize(b"") == "[|ether]"
    assert summarize(frame[:40]).endswith(":  [|udp]")


def test_fallback_for_unknown_ethertype_and_vlan():
    hdr = bytes.fromhex("0180c200000e020000000001")
    assert summarize(hdr + b"\x88\xcc" + b"\0" * 46) == \
        "02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype LLDP (0x88cc), length 60:"
    from pyxring import netlab
    tagged = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1",
                                   "10.0.0.2", 1234, 5678, b"x" * 12, vlan=100)
    assert summarize(tagged) == "IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 12"
    assert summarize(tagged, link=True).endswith(
        "length 58: vlan 100, p 0, ethertype IPv4 (0x0800), 10.0.0.1.1234 > 10.0.0.2.5678: "
        "UDP, length 12")


def test_format_ts_local_time():
    ts = 1_700_000_123_456_789_012
    hms = time.strftime("%H:%M:%S", time.localtime(1_700_000_123))
    assert format_ts(ts) == f"{hms}.456789"
    assert format_ts(ts, 9) == f"{hms}.456789012"
    assert format_ts(ts, 3) == f"{hms}.456"


@privileged
@pytest.mark.parametrize("argv", [[], ["-c", "3"], ["tcp"], ["-c", "2", "icmp", "or", "arp"],
                                  ["-e", "vlan"], ["--nano", "udp"]])
def test_read_command_matches_tcpdump_r(mixed_capture, capsys, argv):
    from pyxring.cli import read as readcmd
    assert readcmd.main([mixed_capture, *argv]) == readcmd.EXIT_OK
    ours = capsys.readouterr().out.splitlines()
    tflags = [a.replace("--nano", "--time-stamp-precision=nano") for a in argv]
    theirs = _tcpdump_text(mixed_capture, *tflags)
    assert ours and ours == [ln.rstrip() for ln in theirs]


def test_read_command_errors(tmp_path, capsys):
    from pyxring.cli import read as readcmd
    assert readcmd.main([str(tmp_path / "missing.pcap")]) == readcmd.EXIT_ERROR
    assert "missing.pcap: No such file" in capsys.readouterr().err
    from pyxring import netlab
    frame = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1",
                                  "10.0.0.2", 1234, 5678, b"payload!")
    raw = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    raw += (struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame) * 2
    path = tmp_path / "cut.pcap"
    path.write_bytes(raw[:-5])
    assert readcmd.main([str(path), "udp", "port", "5678"]) == readcmd.EXIT_ERROR
    out = capsys.readouterr()
    assert out.out.count("UDP, length 8") == 1 and "cut.pcap: truncated packet 2" in out.err
    assert readcmd.main([str(path), "udp", "prot"]) == readcmd.EXIT_USAGE
    assert "invalid filter expression" in capsys.readouterr().err


def test_less_common_packets_match_tcpdump(tmp_path):
    """Frames built with scapy, judged by tcpdump -r: MLDv2 behind a hop-by-hop
    header, IGMP, ICMP/ICMPv6 errors, ESP, unusual TCP flags and options."""
    from scapy.all import wrpcap
    from scapy.layers.igmp import IGMP
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
    from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6MLReport2, ICMPv6ND_RA,
                                    ICMPv6PacketTooBig, IPv6, IPv6ExtHdrHopByHop, RouterAlert)
    from scapy.layers.ipsec import ESP
    from scapy.layers.l2 import Ether

    def eth():
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.9"
    quoted = IP(src=b, dst=c) / UDP(sport=7, dport=8)
    frames = [
        eth() / IPv6(src="fe80::1", dst="ff02::16", hlim=1) /
        IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2(),
        eth() / IP(src=a, dst="224.0.0.22", ttl=1) / IGMP(type=0x16, gaddr="224.1.1.1"),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6DestUnreach(code=4) /
        IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=5, dport=6),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6PacketTooBig(mtu=1280) /
        IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=5, dport=6),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6ND_RA(),
        eth() / IP(src=a, dst=b) / ICMP(type=3, code=1) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=3, code=4, nexthopmtu=1400) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=5, gw="10.0.0.3") / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=11, code=1) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=12) / quoted,
        eth() / IP(src=a, dst=b, options=[IPOption_RR()]) / UDP(sport=1000, dport=2000) / b"x",
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="SEC"),
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="U", urgptr=5) / b"abc",
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags=""),
        eth() / IP(src=a, dst=b) / ESP(spi=5, seq=1) / (b"\0" * 8),
    ]
    path = str(tmp_path / "rare.pcap")
    wrpcap(path, frames)
    summ = Summarizer()
    with open_reader(path) as rd:
        ours = [summ(r.data, r.linktype, r.wirelen) for r in rd]
    theirs = [ln.split(" ", 1)[1] for ln in _tcpdump_text(path)]
    assert len(ours) == len(frames)
    assert ours == theirs
