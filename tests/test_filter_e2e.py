"""In-kernel filters end to end on a throwaway veth pair: with the AF_XDP
backend and a filter, exactly the matching frames are captured and the others
still reach the receiver's stack (a ping keeps working, UDP datagrams are
delivered); the CLI does the same; an expression XDP can't run makes
``--backend auto`` fall back to TPACKET_V3 with a notice, never unfiltered."""
import os
import socket
import subprocess
import sys
import time
import warnings

import pytest

from conftest import require_root

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTHER_PORT = 9999


@pytest.fixture(autouse=True)
def _privileged():
    require_root()


@pytest.fixture
def lab():
    from pyxring import netlab
    with netlab.VethPair(prefix="pxf", ipv6=False) as lab:
        yield lab


def open_xdp(lab, **kw):
    import pyxring.xdp as X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # generic mode's VLAN notice
        with lab.enter_b():
            return X.open(lab.if_b, **kw)


def drain(src, seconds):
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with src.batch(100) as b:
            got += [p.copy() for p in b]
    return got


def udp_listener(lab, port):
    with lab.enter_b():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((lab.ip_b, port))
    s.settimeout(0.5)
    return s


def received_datagrams(sock, want):
    n = 0
    try:
        while n < want:
            sock.recv(2048)
            n += 1
    except socket.timeout:
        pass
    return n


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_only_matching_frames_are_captured_the_rest_reach_the_stack(lab, mode):
    src = open_xdp(lab, xdp_mode=mode, filter="udp port 53")
    sock = udp_listener(lab, OTHER_PORT)
    try:
        assert src.info()["xdp_mode"] == mode
        dns = lab.udp_frames(25, size=80, dport=53)
        other = lab.udp_frames(25, size=80, dport=OTHER_PORT)
        lab.send_frames([f for pair in zip(dns, other) for f in pair])
        ping = lab.run_a(["ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ip_b], check=False)
        got = drain(src, 1.5)
        assert got == dns                       # all of them, in order, nothing else
        assert ping.returncode == 0, ping.stdout.decode()
        assert received_datagrams(sock, len(other)) == len(other)
        st = src.stats()
        assert st["xdp_redirected"] == len(dns) == st["received"]
        # the other UDP frames, 3 echo requests, and whatever else the kernel sent
        assert st["xdp_filtered"] >= len(other) + 3
        assert st["xdp_seen"] == st["xdp_redirected"] + st["xdp_filtered"] + st["xdp_passed"]
    finally:
        sock.close()
        src.close()


def test_vlan_filter_sees_in_band_tags(lab):
    src = open_xdp(lab, xdp_mode="native", filter="vlan 100 and udp port 53")
    try:
        tagged = lab.udp_frames(10, size=80, dport=53, vlan=100)
        wrong_vid = lab.udp_frames(10, size=80, dport=53, vlan=200)
        untagged = lab.udp_frames(10, size=80, dport=53)
        lab.send_frames(tagged + wrong_vid + untagged)
        got = drain(src, 1.0)
        assert got == tagged
    finally:
        src.close()


def _wait_attached(lab, proc, timeout=15):
    """The backend attaches its XDP program last, once the filter and the
    sockets are in place: from then on the capture is live."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"capture exited early: {proc.stderr.read().decode()}")
        out = subprocess.run(["ip", "-n", lab.ns_b, "link", "show", "dev", lab.if_b],
                             capture_output=True, timeout=5).stdout.decode()
        if "xdp" in out:
            return
        time.sleep(0.05)
    raise AssertionError("the capture never attached its XDP program")


def test_cli_capture_with_xdp_filter(lab, tmp_path):
    out = tmp_path / "dns.pcap"
    proc = lab.popen("b", [sys.executable, "-m", "pyxring", "capture", lab.if_b, "--backend", "xdp",
                           "-q", "-c", "20", "-w", str(out), "udp", "port", "53"],
                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_attached(lab, proc)
        dns = lab.udp_frames(20, size=90, dport=53)
        lab.send_frames(lab.udp_frames(20, size=90, dport=OTHER_PORT) + dns)
        ping = lab.run_a(["ping", "-c", "2", "-i", "0.2", "-W", "2", lab.ip_b], check=False)
        proc.wait(timeout=20)
        assert proc.returncode == 0, proc.stderr.read().decode()
        assert ping.returncode == 0
        lines = subprocess.run(["tcpdump", "-r", str(out), "-nn"], capture_output=True,
                               timeout=20, check=True).stdout.decode().splitlines()
        assert len(lines) == 20
        assert all(f"{lab.ip_a}.40000 > {lab.ip_b}.53:" in ln for ln in lines), lines[:3]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_auto_falls_back_to_tpacket_on_unsupported_filter(lab):
    from pyxring.backends import open_capture
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with lab.enter_b():
            src = open_capture(lab.if_b, backend="auto", direction="in", filter="inbound",
                               notice=notes.append)
    try:
        assert "tpacket" in type(src).__module__.lower() or "TPacket" in type(src).__name__
        assert len(notes) == 1 and "\n" not in notes[0]
        assert "pkttype" in notes[0] and "tpacket" in notes[0]
        # and the fallback really filters: frames arrive (inbound), no XDP program left
        frames = lab.udp_frames(5, size=80, dport=OTHER_PORT)
        lab.send_frames(frames)
        got = drain(src, 1.0)
        assert [g for g in got if g in frames] == frames
        link = subprocess.run(["ip", "-n", lab.ns_b, "link", "show", "dev", lab.if_b],
                              capture_output=True, timeout=5).stdout.decode()
        assert "xdp" not in link
    finally:
        src.close()


def test_explicit_xdp_backend_refuses_unsupported_filter(lab):
    from pyxring.bpf import FilterUnsupported
    with pytest.raises(FilterUnsupported, match="pkttype"):
        open_xdp(lab, filter="outbound")
    link = subprocess.run(["ip", "-n", lab.ns_b, "link", "show", "dev", lab.if_b],
                          capture_output=True, timeout=5).stdout.decode()
    assert "xdp" not in link
