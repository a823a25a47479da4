"""The printer on real traffic, judged by tcpdump: each test makes traffic
in throwaway namespaces (a TCP transfer with losses and SACK, MPTCP with a
second subflow, TCP Fast Open, IPv6 neighbour discovery and MLD from ::,
a Linux bridge's spanning tree, fragments, ICMP and ICMPv6 errors, VLANs,
a VXLAN tunnel),
tcpdump -w records it, and every line of ``tcpdump -nn -r`` must equal
ours for every printing option set.  Then ``pyxring read`` itself, and
``pyxring capture``'s printing options against tcpdump on the same packets.
"""
import contextlib
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import ROOT, privileged, pyxring_cmd, require_root, require_tool, wait_listening
from printer_compare import (OPTION_SETS, assert_file_matches_tcpdump, assert_same_lines,
                             option_id, tcpdump_lines)
from test_examples import wait_capturing

PORT = 40123


@contextlib.contextmanager
def tcpdump_writing(lab, path, expr, iface=None, side="b", snaplen=2048):
    """tcpdump -w on ``iface`` (default the b end) for the body's traffic."""
    require_tool("tcpdump")
    dump = lab.popen(side, ["tcpdump", "-i", iface or lab.if_b, "--immediate-mode", "-s",
                            str(snaplen), "-U", "-w", str(path), expr],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(dump)
        yield
        time.sleep(0.5)         # what is in flight reaches the file (-U writes each packet)
    finally:
        dump.terminate()
        try:
            dump.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dump.kill()
            dump.wait()
        dump.stderr.close()


def _ip(ns, *args, check=True):
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, timeout=10, check=check)


def _sysctl(lab, side, name, value):
    lab.run(side, ["sysctl", "-qw", f"{name}={value}"])


def _listener(lab, side, family=socket.AF_INET, proto=0, addr=None, port=PORT):
    with (lab.enter_b() if side == "b" else lab.enter_a()):
        srv = socket.socket(family, socket.SOCK_STREAM, proto)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(4)
    srv.settimeout(10)
    return srv


def _serve(srv, reply=b"", want=1 << 30, conns=1):
    """Accept ``conns`` connections; read each until EOF (or ``want`` bytes)
    and answer ``reply``."""
    def run():
        for _ in range(conns):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                got = 0
                try:
                    while got < want:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    if reply:
                        conn.sendall(reply)
                except OSError:
                    pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _client(lab, family=socket.AF_INET, proto=0):
    with lab.enter_a():
        c = socket.socket(family, socket.SOCK_STREAM, proto)
    c.settimeout(10)
    return c


@pytest.fixture(scope="module")
def mixed_capture(tmp_path_factory):
    """UDP, TCP (handshake, data, close), ICMP echo, ARP, IPv6 UDP and a
    VLAN-tagged UDP frame."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("mixed") / "mixed.pcap"
    with netlab.VethPair(prefix="pprm") as lab:
        expr = (f"udp port {PORT} or tcp port {PORT} or icmp or arp or vlan "
                f"or (ip6 and udp port {PORT})")
        srv = _listener(lab, "b", addr=lab.ip_b)
        with srv, tcpdump_writing(lab, path, expr):
            with lab.enter_a():
                u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with u4, u6:
                u4.sendto(b"hello pyxring", (lab.ip_b, PORT))
                u6.sendto(b"hello over ipv6!", (lab.ip6_b, PORT))
            lab.run_a(["ping", "-c", "1", "-W", "2", lab.ip_b])
            t = _serve(srv, reply=b"y" * 10, want=100)
            with _client(lab) as cli:
                cli.connect((lab.ip_b, PORT))
                cli.sendall(b"x" * 100)
                cli.recv(100)
            t.join(10)
            arp = (b"\xff" * 6 + netlab.mac_bytes(lab.mac_a) + b"\x08\x06" +
                   struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + netlab.mac_bytes(lab.mac_a) +
                   socket.inet_aton(lab.ip_a) + b"\0" * 6 + socket.inet_aton(lab.ip_b))
            lab.send_frames([arp, lab.udp_frames(1, size=64, dport=PORT, vlan=100)[0]])
    return path


@pytest.fixture(scope="module")
def sack_capture(tmp_path_factory):
    """A 300 kB TCP transfer whose receiver loses one frame in 16: SACK
    blocks, retransmissions.  (Behind tcpdump's tap, tc steals the frames
    arriving at b whose IP id ends in 7 into b's loopback, where they die;
    a retransmission has a new id, so the transfer always completes.)"""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("sack") / "sack.pcap"
    with netlab.VethPair(prefix="pprs", ipv6=False) as lab:
        # one segment a frame: no TSO/GSO super-frames from a, no GRO at b
        lab.run_a(["ethtool", "-K", lab.if_a, "tso", "off", "gso", "off"])
        lab.run_b(["ethtool", "-K", lab.if_b, "gro", "off"])
        lab.run_b(["tc", "qdisc", "add", "dev", lab.if_b, "clsact"])
        lab.run_b(["tc", "filter", "add", "dev", lab.if_b, "ingress", "protocol", "ip", "u32",
                   "match", "ip", "dport", str(PORT), "0xffff", "match", "u16", "0x0007",
                   "0x000f", "at", "4", "action", "mirred", "egress", "redirect", "dev", "lo"])
        srv = _listener(lab, "b", addr=lab.ip_b)
        with srv, tcpdump_writing(lab, path, f"tcp port {PORT}", snaplen=200):
            t = _serve(srv, reply=b"done")
            with _client(lab) as cli:
                cli.connect((lab.ip_b, PORT))
                cli.sendall(os.urandom(300_000))
                cli.shutdown(socket.SHUT_WR)
                cli.recv(10)
            t.join(10)
    return path


@pytest.fixture(scope="module")
def mptcp_capture(tmp_path_factory):
    """MPTCP with a second subflow from a second address (MP_CAPABLE,
    MP_JOIN, DSS, ADD_ADDR as the kernel sends them)."""
    require_root()
    try:
        with open("/proc/sys/net/mptcp/enabled") as fh:
            enabled = fh.read().strip() == "1"
    except OSError:
        enabled = False
    if not enabled or not hasattr(socket, "IPPROTO_MPTCP"):
        pytest.skip("this kernel has no MPTCP")
    from pyxring import netlab
    path = tmp_path_factory.mktemp("mptcp") / "mptcp.pcap"
    with netlab.VethPair(prefix="pprp") as lab:
        extra_a = lab.ip_a.rsplit(".", 1)[0] + ".11"
        _ip(lab.ns_a, "addr", "add", f"{extra_a}/24", "dev", lab.if_a)
        _ip(lab.ns_b, "neigh", "replace", extra_a, "lladdr", lab.mac_a, "dev", lab.if_b, "nud",
            "permanent")
        for ns in (lab.ns_a, lab.ns_b):
            _ip(ns, "mptcp", "limits", "set", "subflow", "2", "add_addr_accepted", "2")
        _ip(lab.ns_a, "mptcp", "endpoint", "add", extra_a, "dev", lab.if_a, "subflow")
        srv = _listener(lab, "b", proto=socket.IPPROTO_MPTCP, addr=lab.ip_b)
        with srv, tcpdump_writing(lab, path, f"tcp port {PORT}", snaplen=200):
            t = _serve(srv, reply=b"ok" * 1000)
            with _client(lab, proto=socket.IPPROTO_MPTCP) as cli:
                cli.connect((lab.ip_b, PORT))
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    cli.sendall(b"m" * 20000)
                    time.sleep(0.1)
                cli.shutdown(socket.SHUT_WR)
                while cli.recv(65536):
                    pass
            t.join(10)
    return path


@pytest.fixture(scope="module")
def tfo_capture(tmp_path_factory):
    """TCP Fast Open: a cookie request, then a SYN carrying the cookie and data."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("tfo") / "tfo.pcap"
    with netlab.VethPair(prefix="pprf") as lab:
        for side in "ab":
            _sysctl(lab, side, "net.ipv4.tcp_fastopen", 3)
        srv = _listener(lab, "b", addr=lab.ip_b)
        srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        with srv, tcpdump_writing(lab, path, f"tcp port {PORT}"):
            t = _serve(srv, reply=b"hi", want=5, conns=2)
            for _ in range(2):
                with _client(lab) as cli:
                    cli.settimeout(None)      # a timeout makes the socket non-blocking
                    cli.sendto(b"hello", socket.MSG_FASTOPEN, (lab.ip_b, PORT))
                    cli.settimeout(10)
                    cli.recv(10)
            t.join(10)
    return path


@pytest.fixture(scope="module")
def nd_capture(tmp_path_factory):
    """IPv6 coming up on a new link: duplicate address detection and MLDv2
    reports from ::, router solicitations, then neighbour discovery and
    echo.  (A second veth pair between the namespaces, raised while
    tcpdump watches its b end.)"""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("nd") / "nd.pcap"
    with netlab.VethPair(prefix="pprn") as lab:
        va, vb = lab.if_a[:-1] + "x", lab.if_b[:-1] + "y"
        _ip(lab.ns_a, "link", "add", va, "type", "veth", "peer", "name", vb, "netns", lab.ns_b)
        _ip(lab.ns_b, "link", "set", vb, "up")
        _ip(lab.ns_b, "addr", "add", "fd77::2/64", "dev", vb, "nodad")
        with tcpdump_writing(lab, path, "ip6", iface=vb):
            _ip(lab.ns_a, "link", "set", va, "up")
            _ip(lab.ns_a, "addr", "add", "fd77::1/64", "dev", va)
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                if lab.run_a(["ping", "-6", "-c", "1", "-W", "1", "fd77::2"],
                             check=False).returncode == 0:
                    break
                time.sleep(0.3)
    return path


@pytest.fixture(scope="module")
def stp_capture(tmp_path_factory):
    """A Linux bridge with the kernel's spanning tree on: its BPDUs."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("stp") / "stp.pcap"
    with netlab.VethPair(prefix="pprb", ipv6=False) as lab:
        _ip(lab.ns_a, "link", "add", "br0", "type", "bridge", "stp_state", "1", "hello_time",
            "100", "forward_delay", "400")
        _ip(lab.ns_a, "link", "set", lab.if_a, "master", "br0")
        with tcpdump_writing(lab, path, "stp"):
            _ip(lab.ns_a, "link", "set", "br0", "up")
            time.sleep(3.5)
    return path


@pytest.fixture(scope="module")
def frag_capture(tmp_path_factory):
    """Datagrams larger than the link MTU: IPv4 and IPv6 fragments."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("frag") / "frag.pcap"
    with netlab.VethPair(prefix="pprg", mtu=1280) as lab:
        with tcpdump_writing(lab, path, "ip[6:2] & 0x3fff != 0 or udp port 40123 or ip6"):
            with lab.enter_a():
                u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with u4, u6:
                u4.sendto(bytes(range(256)) * 12, (lab.ip_b, PORT))
                u6.sendto(bytes(range(256)) * 12, (lab.ip6_b, PORT))
    return path


@pytest.fixture(scope="module")
def icmp_capture(tmp_path_factory):
    """ICMP errors: port unreachable (v4 and v6), time exceeded and
    "need to frag" from the b side acting as a router."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("icmp") / "icmp.pcap"
    with netlab.VethPair(prefix="ppri") as lab:
        # b routes to 198.51.100.0/24 over a narrow link (both its ends in b)
        _sysctl(lab, "b", "net.ipv4.ip_forward", 1)
        narrow, peer = lab.if_b[:-1] + "n", lab.if_b[:-1] + "m"
        _ip(lab.ns_b, "link", "add", narrow, "mtu", "576", "type", "veth", "peer", "name", peer)
        _ip(lab.ns_b, "link", "set", peer, "up")
        _ip(lab.ns_b, "link", "set", narrow, "up")
        _ip(lab.ns_b, "addr", "add", "198.51.100.1/24", "dev", narrow)
        _ip(lab.ns_b, "neigh", "replace", "198.51.100.7", "lladdr", "02:00:00:00:00:07", "dev",
            narrow, "nud", "permanent")
        _ip(lab.ns_a, "route", "add", "198.51.100.0/24", "via", lab.ip_b)
        with tcpdump_writing(lab, path, "icmp or icmp6 or udp"):
            with lab.enter_a():
                u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                big = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with u4, u6, big:
                u4.sendto(b"nobody listens", (lab.ip_b, PORT + 1))
                u6.sendto(b"nobody listens", (lab.ip6_b, PORT + 1))
                u4.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
                u4.sendto(b"short lived", ("198.51.100.7", PORT))
                # IP_MTU_DISCOVER (10) = IP_PMTUDISC_PROBE (3): DF set, our PMTU ignored
                big.setsockopt(socket.IPPROTO_IP, 10, 3)
                big.sendto(b"z" * 1000, ("198.51.100.7", PORT))
                time.sleep(0.3)
    return path


@pytest.fixture(scope="module")
def vxlan_capture(tmp_path_factory):
    """A VXLAN tunnel over the veth pair (VNI 42, UDP 4789): ARP, ping,
    UDP and a TCP exchange inside it, IPv6 neighbour discovery too."""
    require_root()
    from pyxring import netlab
    path = tmp_path_factory.mktemp("vxlan") / "vxlan.pcap"
    with netlab.VethPair(prefix="pprx") as lab:
        for ns, dev, local, remote, addr in ((lab.ns_a, lab.if_a, lab.ip_a, lab.ip_b, "10.99.0.1"),
                                             (lab.ns_b, lab.if_b, lab.ip_b, lab.ip_a, "10.99.0.2")):
            _ip(ns, "link", "add", "vx42", "type", "vxlan", "id", "42", "dstport", "4789",
                "local", local, "remote", remote, "dev", dev)
            _ip(ns, "addr", "add", addr + "/24", "dev", "vx42")
            _ip(ns, "addr", "add", "fd99::" + addr[-1] + "/64", "dev", "vx42", "nodad")
            _ip(ns, "link", "set", "vx42", "up")
        srv = _listener(lab, "b", addr="10.99.0.2")
        with srv, tcpdump_writing(lab, path, "udp port 4789"):
            lab.run_a(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.99.0.2"])
            lab.run_a(["ping", "-6", "-c", "1", "-W", "2", "fd99::2"], check=False)
            with lab.enter_a():
                u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with u4:
                u4.sendto(b"inside the tunnel", ("10.99.0.2", PORT))
            t = _serve(srv, reply=b"v" * 20, want=50)
            with _client(lab) as cli:
                cli.connect(("10.99.0.2", PORT))
                cli.sendall(b"w" * 50)
                cli.recv(20)
            t.join(10)
    return path


CAPTURES = ["mixed_capture", "sack_capture", "mptcp_capture", "tfo_capture", "nd_capture",
            "stp_capture", "frag_capture", "icmp_capture", "vxlan_capture"]

# What each capture must hold (tcpdump's own text), so none is vacuous.
EXPECTED = {
    "mixed_capture": ["UDP, length 13", "Flags [S]", "Flags [F.]", "ICMP echo request",
                      "ARP, Request who-has", "IP6 ", "UDP, length 16"],
    "sack_capture": ["sack 1 {", "options [mss"],
    "mptcp_capture": ["mptcp 12 capable", "mptcp 20 capable", "join", "dss"],
    "tfo_capture": ["tfo  cookiereq", "tfo  cookie "],
    "nd_capture": ["IP6 :: > ff02::", "multicast listener report v2",
                   "neighbor solicitation, who has fd77::1"],
    "stp_capture": ["STP 802.1d, Config"],
    "frag_capture": ["ip-proto-17", "frag ("],
    "icmp_capture": ["udp port 40124 unreachable", "time exceeded in-transit",
                     "need to frag (mtu 576)", "unreachable port"],
    "vxlan_capture": ["VXLAN, flags [I] (0x08), vni 42", "ARP, Request who-has 10.99.0.2",
                      "ICMP echo request", "Flags [S]", "UDP, length 17"],
}


@privileged
@pytest.mark.parametrize("capture", CAPTURES)
def test_real_capture_holds_its_traffic(request, capture):
    path = request.getfixturevalue(capture)
    text = "\n".join(tcpdump_lines(path, []) + tcpdump_lines(path, ["-e"]))
    for needle in EXPECTED[capture]:
        assert needle in text, f"{capture}: {needle!r} not in\n{text[:3000]}"


@privileged
@pytest.mark.parametrize("opts", OPTION_SETS, ids=option_id)
@pytest.mark.parametrize("capture", CAPTURES)
def test_real_capture_matches_tcpdump(request, capture, opts):
    assert_file_matches_tcpdump(request.getfixturevalue(capture), opts)


@privileged
@pytest.mark.parametrize("snap", [20, 38, 56, 60, 70, 100])
def test_cut_real_capture_matches_tcpdump(mixed_capture, tmp_path, snap):
    """The same packets cut by a snap length: tcpdump's [|proto] at the same place."""
    require_tool("editcap")
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-s", str(snap), str(mixed_capture), str(cut)], check=True,
                   capture_output=True, timeout=30)
    seen = []
    for opts in ([], ["-v"], ["-x"]):
        seen += assert_file_matches_tcpdump(cut, opts)
    assert any("[|" in ln for ln in seen) or snap == 100     # (100 bytes hold the headers)


def _read_cli(argv):
    proc = subprocess.run(pyxring_cmd("read", *argv), capture_output=True, timeout=60, cwd=ROOT)
    return proc


@privileged
@pytest.mark.parametrize("argv", [[], ["-c", "3"], ["tcp"], ["-c", "2", "icmp", "or", "arp"],
                                  ["-e", "vlan"], ["--nano", "udp"], ["-vv", "-x"], ["-XX", "-e"],
                                  ["-A", "tcp"], ["-ttt", "-S"], ["-q", "-#"],
                                  ["--time-stamp-precision", "nano", "-tttt"], ["-nn", "-tt"]])
def test_read_command_matches_tcpdump_r(mixed_capture, sack_capture, argv):
    for path in (mixed_capture, sack_capture):
        proc = _read_cli([str(path), *argv])
        assert proc.returncode == 0, proc.stderr
        tflags = [a.replace("--nano", "--time-stamp-precision=nano") for a in argv]
        assert_same_lines(proc.stdout.decode("latin-1").split("\n"), tcpdump_lines(path, tflags),
                          f"pyxring read {' '.join(argv)}")


def test_read_command_refuses_six_t(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    proc = _read_cli([str(path), "-tttttt"])
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().endswith("only -t, -tt, -ttt, -tttt and -ttttt are "
                                                  "supported")


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


@privileged
def test_scapy_built_packets_match_tcpdump(tmp_path):
    """Frames scapy builds (not this project's generator): MLDv2 behind a
    hop-by-hop header, IGMP, ICMP/ICMPv6 errors, ESP, TCP flags and options."""
    from scapy.all import wrpcap
    from scapy.layers.igmp import IGMP
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
    from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6MLReport2, ICMPv6ND_RA,
                                    ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IPv6,
                                    IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                    RouterAlert)
    from scapy.layers.ipsec import ESP
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    def eth():
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.9"
    quoted = IP(src=b, dst=c) / UDP(sport=7, dport=8)
    frames = [
        eth() / IPv6(src="::", dst="ff02::16", hlim=1) /
        IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2(),
        eth() / IP(src=a, dst="224.0.0.22", ttl=1) / IGMP(type=0x16, gaddr="224.1.1.1"),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6DestUnreach(code=4) /
        IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=5, dport=6),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6PacketTooBig(mtu=1280) /
        IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=5, dport=6),
        eth() / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA(),
        eth() / IPv6(src="::", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fd00::2"),
        eth() / IPv6(src="fd00::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fd00::2") /
        ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrRouting(addresses=["fd00::9"]) /
        UDP(sport=5, dport=6),
        eth() / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(offset=100, m=1) /
        (b"\0" * 16),
        eth() / IP(src=a, dst=b) / ICMP(type=3, code=1) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=3, code=4, nexthopmtu=1400) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=5, gw="10.0.0.3") / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=11, code=1) / quoted,
        eth() / IP(src=a, dst=b) / ICMP(type=12) / quoted,
        eth() / IP(src=a, dst=b, options=[IPOption_RR()]) / UDP(sport=1000, dport=2000) / b"x",
        eth() / IP(src=a, dst=b, flags="MF", frag=0) / UDP(sport=1000, dport=2000) / (b"x" * 40),
        eth() / IP(src=a, dst=b, frag=64) / (b"x" * 40),
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="SEC"),
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="U", urgptr=5) / b"abc",
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="",
                                       options=[("MSS", 1460), ("SAckOK", b""), ("NOP", None),
                                                ("WScale", 7), ("Timestamp", (1, 2))]),
        eth() / IP(src=a, dst=b) / TCP(sport=1000, dport=2000, flags="A",
                                       options=[("SAck", (10, 20, 30, 40))]),
        eth() / IP(src=a, dst=b) / ESP(spi=5, seq=1) / (b"\0" * 8),
        eth() / Dot1Q(vlan=5, prio=3) / ARP(pdst=b, psrc=a),
        eth() / Dot1Q(vlan=6) / Dot1Q(vlan=7) / IP(src=a, dst=b) / UDP(sport=1000, dport=2000),
    ]
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), frames)
    for opts in OPTION_SETS:
        theirs = assert_file_matches_tcpdump(path, opts)
    assert len([ln for ln in theirs if ln and not ln[0].isspace()]) == len(frames)


def _capture_lines(lab, argv, traffic, tcpdump_path, expr):
    """Run ``pyxring capture`` on the b end with printing options ``argv``
    while tcpdump writes the same packets; returns pyxring's stdout lines."""
    cmd = pyxring_cmd("capture", lab.if_b, "--backend", "tpacket", *argv, expr)
    proc = lab.popen("b", cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_capturing(lab, proc)         # (-q prints no "listening on" line)
        with tcpdump_writing(lab, tcpdump_path, expr):
            traffic()
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode(errors="replace")
    return out.decode("latin-1").split("\n"), err.decode(errors="replace")


@privileged
@pytest.mark.parametrize("opts", [["-t"], ["-t", "-e"], ["-t", "-v"], ["-t", "-x"],
                                  ["-t", "-XX"], ["-t", "-A"], ["-t", "-q"], ["-t", "-S", "-vv"],
                                  ["-t", "-nn", "-e", "-v", "-x"]], ids=option_id)
def test_capture_prints_what_tcpdump_prints(tmp_path, opts):
    """``pyxring capture IFACE OPTIONS`` prints the packets tcpdump -w
    recorded at the same time exactly as ``tcpdump -r OPTIONS`` prints them
    (-t: the two captures time their packets independently)."""
    require_root()
    from pyxring import netlab
    with netlab.VethPair(prefix="pprc") as lab:
        srv = _listener(lab, "b", addr=lab.ip_b)

        def traffic():
            t = _serve(srv, reply=b"r" * 300)
            with _client(lab) as cli:
                cli.connect((lab.ip_b, PORT))
                cli.sendall(b"q" * 500)
                cli.shutdown(socket.SHUT_WR)
                cli.recv(1000)
            t.join(10)
            with lab.enter_a():
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with u:
                u.sendto(b"udp line", (lab.ip_b, PORT))
            lab.send_frames(lab.udp_frames(2, size=90, dport=PORT, vlan=42))
        with srv:
            path = tmp_path / "same.pcap"
            ours, err = _capture_lines(lab, opts, traffic, path, f"port {PORT} or vlan")
    theirs = tcpdump_lines(path, opts)
    assert len(theirs) > 8
    assert_same_lines(ours, theirs, f"capture {' '.join(opts)}")
    assert "packets captured" in err


@privileged
def test_print_batch_equals_packet_by_packet():
    """A live batch printed by the C loop (timestamps, numbers, TCP state
    across batches) is what the Python printers print packet by packet."""
    require_root()
    import io
    import pyxring
    from pyxring import netlab
    from pyxring.printer import Printer
    variants = [{}, {"timestamps": 2}, {"timestamps": 4}, {"timestamps": 3}, {"timestamps": 1},
                {"nano": True}, {"number": True}, {"absolute_seq": True}]
    pairs = [(Printer(io.StringIO(), **kw), Printer(io.StringIO(), fast=False, **kw))
             for kw in variants]
    seen = 0
    with netlab.VethPair(prefix="pprq") as lab:
        with lab.enter_b():
            cap = pyxring.capture(lab.if_b, backend="tpacket")
        with cap:
            srv = _listener(lab, "b", addr=lab.ip_b)
            with srv:
                t = _serve(srv, reply=b"k" * 3000)
                with _client(lab) as cli:
                    cli.connect((lab.ip_b, PORT))
                    cli.sendall(b"j" * 5000)
                    cli.shutdown(socket.SHUT_WR)
                    while cli.recv(65536):
                        pass
                t.join(10)
            lab.send_frames(lab.udp_frames(3, size=80, dport=PORT, vlan=9) +
                            lab.udp_frames(3, size=70, dport=PORT))
            lab.run_a(["ping", "-c", "2", "-i", "0.2", "-W", "2", lab.ip_b])
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                with cap.batch(200) as batch:
                    for fast, slow in pairs:
                        fast.print_batch(batch)
                        for p in batch:
                            slow.print_packet(p, 1, p.wirelen, divmod(p.ts_ns, 1_000_000_000))
                    seen += len(batch)
    assert seen > 20
    for (fast, slow), kw in zip(pairs, variants):
        assert_same_lines(fast.out.getvalue().split("\n"), slow.out.getvalue().split("\n"),
                          f"print_batch {kw}")
