"""Files judged by real clients: tshark, capinfos and tcpdump read what
pyxring writes, and for the same traffic pyxring's file and tcpdump's hold
the same frames."""
import subprocess
import time

import pytest

import pyxring
from conftest import require_tool, wait_listening
from test_cli import finish, lab_capture


def capture_to(lab, writers, n, frames):
    with lab.enter_b():
        cap = pyxring.capture(lab.if_b, filter="udp", backend="tpacket")
    lab.send_frames(frames)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < n and time.monotonic() < deadline:
        with cap.batch(100) as b:
            for w in writers:
                w.write_batch(b)
            got.extend(p.ts_ns for p in b)
    st = cap.stats()
    for w in writers:
        w.write_stats(received=st["received"], dropped=st["dropped"], delivered=len(got))
        w.close()
    cap.close()
    return got


def tshark_fields(path, *fields):
    tshark = require_tool("tshark")
    cmd = [tshark, "-r", str(path), "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.decode().splitlines()]


@pytest.mark.parametrize("fmt,precision", [("pcapng", "ns"), ("pcap", "ns"), ("pcap", "us")])
def test_tshark_reads_our_files_with_exact_timestamps(lab, tmp_path, fmt, precision):
    path = tmp_path / f"t.{fmt}"
    frames = lab.udp_frames(200, size=100) + lab.udp_frames(20, size=100, vlan=5)
    w = pyxring.open_writer(path, fmt, precision=precision, ifname=lab.if_b)
    ts = capture_to(lab, [w], 220, frames)
    assert len(ts) == 220
    rows = tshark_fields(path, "frame.time_epoch", "frame.len", "frame.cap_len", "vlan.id")
    assert len(rows) == 220
    for (epoch, flen, clen, vid), t, f in zip(rows, ts, frames):
        sec, frac = epoch.split(".")
        want = t if precision == "ns" else t // 1000 * 1000
        assert int(sec) * 10**9 + int(frac.ljust(9, "0")[:9]) == want
        assert int(flen) == int(clen) == len(f)
    assert [r[3] for r in rows[200:]] == ["5"] * 20


def test_capinfos_sees_nanosecond_resolution_and_statistics(lab, tmp_path):
    capinfos = require_tool("capinfos")
    path = tmp_path / "s.pcapng"
    w = pyxring.open_writer(path, "pcapng", ifname=lab.if_b)
    capture_to(lab, [w], 50, lab.udp_frames(50))
    out = subprocess.run([capinfos, str(path)], capture_output=True, timeout=60).stdout.decode()
    assert "Number of packets:   50" in out
    assert "Time resolution = 0x09" in out
    assert "Number of stat entries = 1" in out
    assert f"Name = {lab.if_b}" in out
    # the statistics block as tshark sees it
    tshark = require_tool("tshark")
    r = subprocess.run([tshark, "-r", str(path), "-q", "-z", "io,stat,0"], capture_output=True,
                       timeout=60)
    assert r.returncode == 0


def test_same_frames_as_tcpdump(lab, tmp_path):
    """tcpdump and pyxring capture the same traffic at the same time."""
    tcpdump = require_tool("tcpdump")
    theirs = tmp_path / "tcpdump.pcap"
    ours = tmp_path / "ours.pcapng"
    td = lab.popen("b", [tcpdump, "-i", lab.if_b, "-w", str(theirs), "-U", "-s", "0",
                         "--time-stamp-precision=nano", "udp"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    px = lab_capture(lab, "-w", str(ours), "udp")
    try:
        assert b"listening on" in td.stderr.readline()
        wait_listening(px)
        lab.send_frames(lab.udp_frames(100) + lab.udp_frames(10, vlan=77))
        time.sleep(1.0)
    finally:
        td.send_signal(2)
        px.send_signal(2)
    td.communicate(timeout=20)
    code, _, err = finish(px)
    assert code == 0, err
    with pyxring.open_reader(theirs) as a, pyxring.open_reader(ours) as b:
        theirs_frames = [(r.data, r.wirelen) for r in a]
        ours_frames = [(r.data, r.wirelen) for r in b]
    assert len(ours_frames) == 110
    assert ours_frames == theirs_frames       # VLAN tags put back the same way


def test_writer_api_for_kept_packets(tmp_path):
    """Python callers can write packets they built or kept themselves."""
    path = tmp_path / "k.pcap"
    with pyxring.open_writer(path, "pcap") as w:
        w.write(b"\x01" * 60, ts_ns=1_700_000_000_123_456_789)
        w.write(b"\x02" * 70, ts_ns=1_700_000_001_000_000_000, wirelen=1500)
    with pyxring.open_reader(path) as r:
        recs = [(r.data, r.ts_ns, r.wirelen) for r in r]
    assert recs == [(b"\x01" * 60, 1_700_000_000_123_456_789, 60),
                    (b"\x02" * 70, 1_700_000_001_000_000_000, 1500)]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_records_are_clipped_to_the_snaplen_and_span_buffer_flushes(tmp_path, fmt):
    path = tmp_path / f"big.{fmt}"
    big = bytes(range(256)) * 1200          # 307200 bytes, more than any snaplen
    n = 12                                  # ~3 MB in all: several buffer flushes
    with pyxring.open_writer(path, fmt) as w:
        for i in range(n):
            w.write(bytes([i]) * 64, ts_ns=10 + i)
            w.write(big, ts_ns=20 + i)
    with pyxring.open_reader(path) as r:
        recs = [(rec.data, rec.wirelen) for rec in r]
    assert len(recs) == 2 * n
    assert recs[0] == (b"\x00" * 64, 64)
    assert recs[1] == (big[:262144], len(big))
    assert recs[-2] == (bytes([n - 1]) * 64, 64)
    with pytest.raises(ValueError, match="snaplen 0"):
        pyxring.open_writer(tmp_path / "x", fmt, snaplen=0)


def test_bad_format_and_precision_are_named():
    with pytest.raises(pyxring.PyxringError, match="unknown file format 'pcapx'"):
        pyxring.open_writer("/dev/null", "pcapx")
    with pytest.raises(pyxring.PyxringError, match="unknown time precision 'ms'"):
        pyxring.open_writer("/dev/null", "pcap", precision="ms")
