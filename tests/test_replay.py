"""pyxring replay: what the peer captures equals the file."""
import os
import struct
import time

import pytest

from conftest import require_root

DPORT = 9999


@pytest.fixture(autouse=True)
def _privileged():
    require_root()


@pytest.fixture
def lab():
    from pyxring import netlab
    with netlab.VethPair(prefix="pxr", ipv6=False) as lab:
        yield lab


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)


def ours(frame):
    return frame[12:14] == b"\x08\x00" and frame[23] == 17 and frame[36:38] == DPORT.to_bytes(2, "big")


def capture_on_b(lab):
    import pyxring.xdp as X
    with lab.enter_b():
        return X.open(lab.if_b, xdp_mode="native")


def drain(src, want, seconds=5.0):
    got = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        with src.batch(100) as b:
            got += [p.copy() for p in b if ours(p.copy())]
    with src.batch(50) as b:
        got += [p.copy() for p in b if ours(p.copy())]
    return got


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
def test_replay_sends_the_file(lab, tmp_path, backend):
    from pyxring.replay import replay
    frames = []
    for size in (60, 100, 500, 1514):
        frames += lab.udp_frames(50, size=size, dport=DPORT)
    path = tmp_path / "in.pcap"
    write_pcap(path, frames)
    cap = capture_on_b(lab)
    try:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, loop=2, backend=backend)
        assert res["backend"] == backend
        assert res["sent"] == 2 * len(frames) and res["errors"] == 0
        assert drain(cap, 2 * len(frames)) == frames + frames
    finally:
        cap.close()


def test_replay_with_rate_and_cli_line(lab, tmp_path, capsys):
    from pyxring.cli import main
    frames = lab.udp_frames(100, size=80, dport=DPORT)
    path = tmp_path / "in.pcap"
    write_pcap(path, frames)
    cap = capture_on_b(lab)
    try:
        with lab.enter_a():
            status = main(["replay", str(path), lab.if_a, "--rate", "5000", "--backend", "xdp"])
        assert status == 0
        assert "100 packets sent, 0 errors (xdp" in capsys.readouterr().err
        assert drain(cap, 100) == frames
    finally:
        cap.close()


def test_replay_errors_name_the_problem(lab, tmp_path):
    from pyxring.cli import main
    from pyxring.errors import ConfigError
    from pyxring.replay import replay
    with pytest.raises(ConfigError, match="no such file"):
        replay(str(tmp_path / "missing.pcap"), lab.if_a)
    path = tmp_path / "in.pcap"
    write_pcap(path, lab.udp_frames(1))
    with pytest.raises(ConfigError, match="--rate"):
        replay(str(path), lab.if_a, rate=0)
    with lab.enter_a():
        assert main(["replay", str(path), "nosuchif0", "--backend", "xdp"]) != 0


def test_auto_falls_back_to_af_packet_when_the_queue_is_taken(lab, tmp_path):
    """An AF_XDP capture holds queue 0 of the sending interface: replay says
    so and sends with AF_PACKET instead."""
    import pyxring.xdp as X
    from pyxring.replay import replay
    frames = lab.udp_frames(30, size=120, dport=DPORT)
    path = tmp_path / "in.pcap"
    write_pcap(path, frames)
    cap = capture_on_b(lab)
    with lab.enter_a():
        holder = X.open(lab.if_a, xdp_mode="generic")
    notices = []
    try:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, backend="auto", notice=notices.append)
        assert res["backend"] == "tpacket" and res["sent"] == 30 and res["errors"] == 0
        assert len(notices) == 1 and "AF_XDP TX unavailable" in notices[0]
        assert drain(cap, 30) == frames
    finally:
        holder.close()
        cap.close()


def test_jumbo_frames_replay_in_order():
    """Frames larger than a UMEM chunk leave through AF_PACKET, in order."""
    from pyxring import netlab
    from pyxring.replay import replay
    import tempfile
    with netlab.VethPair(prefix="pxr", ipv6=False, mtu=9000) as lab, tempfile.TemporaryDirectory() as tmp:
        frames = []
        for i in range(5):
            frames += lab.udp_frames(3, size=200, dport=DPORT) + lab.udp_frames(1, size=9014, dport=DPORT)
        path = os.path.join(tmp, "jumbo.pcap")
        write_pcap(path, frames)
        cap = capture_on_b(lab)
        try:
            with lab.enter_a():
                res = replay(path, lab.if_a, backend="xdp")
            assert res["sent"] == len(frames) and res["errors"] == 0
            assert drain(cap, len(frames)) == frames
        finally:
            cap.close()
