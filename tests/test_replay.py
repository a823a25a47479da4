"""pyxring replay: what the far side of a veth captures (TPACKET_V3) is the
file, byte for byte and in order, in every timing mode; its gaps follow the
schedule; limits give exact counts; tcpreplay, on the same file, agrees."""
import subprocess
import time

import pytest

from conftest import require_tool
from replay_lab import (FILE_T0, FarSide, corpus, gaps, kernel_keeps, lab, median,  # noqa: F401
                        quiet, write_file)

MODES = [({}, "file"), ({"multiplier": 4.0}, "file"), ({"pps": 20000}, "pps"),
         ({"mbps": 80.0}, "mbps"), ({"topspeed": True}, "top")]


def vlan_edges():
    """Tagged frames around the length the receiver needs to read a tag."""
    base = bytes.fromhex("020000000002020000000001")
    return [base + tpid + bytes(range(n - 14)) for tpid in (b"\x81\x00", b"\x88\xa8")
            for n in (16, 19, 20, 21)]


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
@pytest.mark.parametrize("options,mode", MODES, ids=[m[1] + str(i) for i, m in enumerate(MODES)])
def test_every_frame_arrives_in_order(lab, tmp_path, backend, options, mode):
    from pyxring.replay import replay
    frames = corpus() + vlan_edges()
    path = tmp_path / "corpus.pcap"
    write_file(path, frames, gaps_ns=50_000)
    kept = [f for f in frames if kernel_keeps(f)]
    assert len(kept) >= len(frames) - 12
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, backend=backend, **options)
        arrived = [data for _ts, data in far.collect(len(kept))]
    assert res["backend"] == backend and res["mode"] == mode
    assert res["sent"] == len(frames) and res["failed"] == 0 and res["stopped"] == "end"
    assert res["bytes"] == sum(map(len, frames))
    # every frame left; the receiver drops only tags it can't read
    assert arrived == kept
    assert (res["timing"] is None) == (mode == "top")


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
def test_frames_longer_than_the_mtu_are_counted_not_sent(lab, tmp_path, backend):
    from pyxring.replay import replay
    udp = lab.udp_frames(6, size=1514)
    tag = bytes.fromhex("8100" "0064")
    frames = [
        udp[0],                                     # 1514: the most an MTU of 1500 takes
        udp[1] + b"x",                              # 1515: one too many
        udp[2][:12] + tag + udp[2][12:],            # 1518: 802.1Q-tagged, allowed
        udp[3][:12] + tag + udp[3][12:] + b"x",     # 1519
        udp[4][:12] + bytes.fromhex("88a80064") + udp[4][12:],   # 1518 with 802.1ad: not allowed
        udp[5][:13],                                # shorter than an Ethernet header
        udp[5],
    ]
    path = tmp_path / "mtu.pcap"
    write_file(path, frames)
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, backend=backend, topspeed=True)
        arrived = [d for _t, d in far.collect(3)]
    assert arrived == [frames[0], frames[2], frames[6]]
    assert (res["sent"], res["too_big"], res["too_short"], res["failed"]) == (3, 3, 1, 4)
    assert res["first_too_big"] == 2 and res["first_too_big_len"] == 1515
    assert res["first_too_short"] == 6


def test_jumbo_frames_go_out_in_order():
    """With MTU 9000, frames larger than an AF_XDP chunk leave through the
    AF_PACKET ring of the same interface, in file order."""
    import tempfile
    from pyxring import netlab
    from pyxring.replay import replay
    with netlab.VethPair(prefix="pxr", ipv6=False, mtu=9000) as lab, tempfile.TemporaryDirectory() as tmp:
        quiet(lab)
        frames = []
        for _ in range(6):
            frames += lab.udp_frames(3, size=200) + lab.udp_frames(1, size=9014)
        path = f"{tmp}/jumbo.pcap"
        write_file(path, frames)
        with FarSide(lab) as far:
            with lab.enter_a():
                res = replay(path, lab.if_a, backend="xdp", pps=5000)
            arrived = [d for _t, d in far.collect(len(frames))]
        assert res["sent"] == len(frames) and res["failed"] == 0
        assert arrived == frames


# --- timing: gaps of 5-20 ms, compared on the far side's kernel timestamps -----
# A loaded 2-core machine wakes a process late now and then, by up to a few
# milliseconds, but not most of the time: the tests hold the median gap error
# to 2 ms (it is tens of microseconds on a quiet machine; see bench.replay).
GAP_TOLERANCE_NS = 2_000_000


def timed_file(lab, tmp_path, n=40, size=200):
    import random
    rng = random.Random(19)
    frames = lab.udp_frames(n, size=size)
    file_gaps = [rng.choice((5, 10, 20)) * 1_000_000 for _ in range(n - 1)]
    path = tmp_path / "timed.pcap"
    write_file(path, frames, gaps_ns=file_gaps)
    return path, frames, file_gaps


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
@pytest.mark.parametrize("multiplier", [None, 2.0])
def test_gaps_follow_the_file(lab, tmp_path, backend, multiplier):
    from pyxring.replay import replay
    path, frames, file_gaps = timed_file(lab, tmp_path)
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, backend=backend, multiplier=multiplier)
        got = far.collect(len(frames))
    assert [d for _t, d in got] == frames
    want = [g / (multiplier or 1.0) for g in file_gaps]
    errors = [abs(g - w) for g, w in zip(gaps([t for t, _d in got]), want)]
    assert median(errors) <= GAP_TOLERANCE_NS, sorted(errors)
    assert res["timing"]["median_ns"] <= GAP_TOLERANCE_NS
    assert res["elapsed"] >= sum(want) / 1e9


@pytest.mark.parametrize("options,gap_ns", [({"pps": 100}, 10_000_000),
                                             ({"mbps": 0.16}, 10_000_000)])
def test_rates_space_frames_evenly(lab, tmp_path, options, gap_ns):
    """--pps 100: 10 ms apart; --mbps 0.16 with 200-byte frames: 1600 bits
    at 160 kbit/s, 10 ms apart too; the file's own gaps are ignored."""
    from pyxring.replay import replay
    path, frames, _ = timed_file(lab, tmp_path, n=30)
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, **options)
        got = far.collect(len(frames))
    assert [d for _t, d in got] == frames
    errors = [abs(g - gap_ns) for g in gaps([t for t, _d in got])]
    assert median(errors) <= GAP_TOLERANCE_NS, sorted(errors)
    assert res["elapsed"] >= 0.29 and res["mode"] in options


def test_file_time_only_moves_forward_and_loops_continue(lab, tmp_path):
    """As tcpreplay: a timestamp earlier than one seen adds no time (the frame
    goes at once) and a new loop starts right after the last frame.  The
    gaps are 0.4 / 0.2 s or nothing, told apart with 0.1 s to spare for a
    loaded machine (a gap is never shorter than its schedule)."""
    from pyxring.replay import replay
    frames = lab.udp_frames(4, size=100)
    path = tmp_path / "backwards.pcap"
    write_file(path, frames, gaps_ns=[400_000_000, -200_000_000, 400_000_000])  # 0, .4, .2, .6 s
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, loop=2)
        got = far.collect(8)
    assert [d for _t, d in got] == frames + frames
    measured = [g / 1e6 for g in gaps([t for t, _d in got])]
    for g, want in zip(measured, [400, 0, 200, 0, 400, 0, 200]):
        assert want - 5 <= g < want + 100, measured
    assert res["loops"] == 2 and res["sent"] == 8


def test_a_file_faster_than_the_rings_catches_up_instead_of_slipping(lab, tmp_path):
    """Frames 0.1 µs apart: each is later than the last (the rings' pace, not
    a stall), so they go in batches and the schedule does not keep moving."""
    from pyxring.replay import replay
    frames = lab.udp_frames(20000, size=64)
    path = tmp_path / "dense.pcap"
    write_file(path, frames, gaps_ns=100)           # 10M pps: no veth keeps that pace
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, topspeed=False)
        got = far.collect(len(frames), timeout=30)
    assert [d for _t, d in got] == frames
    assert res["slips"] <= 3, res
    assert res["timing"]["max_ns"] > 1_000_000          # it was late, and caught up


# --- exact counts ------------------------------------------------------------

@pytest.mark.parametrize("options,expect", [
    ({"limit": 7, "loop": 3}, [0, 1, 2, 3, 4, 0, 1]),
    ({"loop": 3}, [0, 1, 2, 3, 4] * 3),
    ({"limit": 3}, [0, 1, 2]),
    ({"pps": 100, "duration": 0.5, "loop": 0}, [0, 1, 2, 3, 4] * 10),
    ({"duration": 0.35}, [0, 1, 2, 3]),               # file gaps of 100 ms: due at 0 .. 300 ms
])
def test_limits_give_exact_counts(lab, tmp_path, options, expect):
    from pyxring.replay import replay
    frames = lab.udp_frames(5, size=120)
    path = tmp_path / "five.pcap"
    write_file(path, frames, gaps_ns=100_000_000)
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, **options)
        got = [d for _t, d in far.collect(len(expect))]
    assert got == [frames[i] for i in expect]
    assert res["sent"] == len(expect)
    if "duration" in options:
        assert res["stopped"] == "duration"
        assert options["duration"] <= res["elapsed"] < options["duration"] + 1.0
    elif "limit" in options:
        assert res["stopped"] == "limit"


def test_duration_at_top_speed_ends_on_time(lab, tmp_path):
    from pyxring.replay import replay
    frames = lab.udp_frames(50, size=64)
    path = tmp_path / "small.pcap"
    write_file(path, frames)
    with FarSide(lab) as far:
        with lab.enter_a():
            res = replay(str(path), lab.if_a, topspeed=True, loop=0, duration=0.3)
        got = far.collect(res["sent"], timeout=20)
    assert res["stopped"] == "duration" and 0.3 <= res["elapsed"] < 1.3
    assert res["sent"] > len(frames) and len(got) == res["sent"]
    assert [d for _t, d in got] == [frames[i % len(frames)] for i in range(res["sent"])]


# --- several interfaces ----------------------------------------------------------

def add_second_pair(lab, suffix):
    """Another veth between the pair's two namespaces (removed with them)."""
    a, b = f"pxm{suffix}a", f"pxm{suffix}b"
    lab.run_a(["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", lab.ns_b])
    lab.run_a(["ip", "link", "set", a, "up"])
    lab.run_b(["ip", "link", "set", b, "up"])
    quiet(lab, ("a", a), ("b", b))
    return a, b


def merged(tmp_path, parts, linktypes=None):
    """A pcapng with one interface per part (mergecap -I none), frames
    interleaved by time; returns its path, checked by tshark."""
    paths = []
    for k, (frames, offset) in enumerate(parts):
        p = tmp_path / f"part{k}.pcap"
        write_file(p, frames, gaps_ns=2_000_000)
        if linktypes and linktypes[k] != 1:
            subprocess.run([require_tool("editcap"), "-T", "rawip", str(p), str(p) + ".raw"],
                           check=True, capture_output=True)
            p = tmp_path / f"part{k}.pcap.raw"
        paths.append((p, offset))
    shifted = []
    for k, (p, offset) in enumerate(paths):
        q = tmp_path / f"shifted{k}.pcap"
        subprocess.run([require_tool("editcap"), "-t", str(offset), str(p), str(q)],
                       check=True, capture_output=True)
        shifted.append(str(q))
    out = tmp_path / "multi.pcapng"
    subprocess.run([require_tool("mergecap"), "-I", "none", "-F", "pcapng", "-w", str(out), *shifted],
                   check=True, capture_output=True)
    return out


def tshark_interfaces(path):
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields",
                        "-e", "frame.interface_id"], capture_output=True, timeout=60, check=True)
    return [int(x) for x in r.stdout.split()]


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
def test_each_interface_of_the_file_goes_to_its_own(lab, tmp_path, backend):
    from pyxring.replay import replay
    a2, b2 = add_second_pair(lab, "1")
    zero = lab.udp_frames(20, size=100, dport=1000)
    one = lab.udp_frames(20, size=300, dport=1001)
    path = merged(tmp_path, [(zero, 0), (one, 0.001)])
    assert tshark_interfaces(path) == [0, 1] * 20
    with FarSide(lab) as far0, FarSide(lab, iface=b2) as far1:
        with lab.enter_a():
            res = replay(str(path), iface_map=f"0={lab.if_a},1={a2}", backend=backend, pps=2000)
        got0 = [d for _t, d in far0.collect(20)]
        got1 = [d for _t, d in far1.collect(20)]
    assert got0 == zero and got1 == one
    assert res["sent"] == 40 and res["backends"] == {lab.if_a: backend, a2: backend}


def test_a_file_interface_that_is_not_ethernet_is_refused(lab, tmp_path):
    from pyxring.replay import UnsupportedFile, replay
    path = merged(tmp_path, [(lab.udp_frames(3), 0), (lab.udp_frames(3), 0.001)], linktypes=[1, 101])
    with FarSide(lab) as far:
        with lab.enter_a(), pytest.raises(UnsupportedFile, match="interface 1 has link type 101; only "
                                                               "Ethernet frames"):
            replay(str(path), lab.if_a)
        assert far.collect(1, timeout=0.5) == []


# --- beside tcpreplay --------------------------------------------------------------

@pytest.mark.parametrize("tcpreplay_args,options", [
    (["-t"], {"topspeed": True}),
    (["-L", "700", "-l", "3", "-t"], {"limit": 700, "loop": 3, "topspeed": True}),
    (["-p", "20000"], {"pps": 20000}),
])
def test_same_frames_as_tcpreplay(lab, tmp_path, tcpreplay_args, options):
    """The same file, the same options: tcpreplay and pyxring deliver the same
    frames in the same order (a frame longer than the MTU fails in both, and
    --limit counts frames sent, across loops)."""
    from pyxring.replay import replay
    frames = corpus() + [lab.udp_frames(1, size=1600)[0]]
    path = tmp_path / "corpus.pcap"
    # every 7th record captured short of its length: both send the captured bytes
    write_file(path, frames, gaps_ns=20_000,
               wirelens=[len(f) + (100 if i % 7 == 0 else 0) for i, f in enumerate(frames)])
    sent = [f for _ in range(options.get("loop", 1)) for f in frames if len(f) <= 1514]
    expect = [f for f in sent[:options.get("limit", len(sent))] if kernel_keeps(f)]
    with FarSide(lab) as far:
        r = lab.run_a([require_tool("tcpreplay"), "-q", "-i", lab.if_a, *tcpreplay_args, str(path)],
                      check=False, timeout=120)
        assert r.returncode == 0, r.stderr
        theirs = [d for _t, d in far.collect(len(expect), timeout=20)]
        with lab.enter_a():
            res = replay(str(path), lab.if_a, **options)
        ours = [d for _t, d in far.collect(len(expect), timeout=20)]
    assert theirs == expect
    assert ours == expect
    assert res["too_big"] == 1


def test_a_stall_moves_the_file_schedule_instead_of_a_burst(lab, tmp_path):
    """The sender is stopped for 0.2 s mid-file: with the file's timing the
    frames after the stall keep their 10 ms gaps (no catch-up burst), and
    the end line says by how much the schedule moved."""
    import os
    import re
    import signal
    from conftest import ROOT, pyxring_cmd
    frames = lab.udp_frames(60, size=100)
    path = tmp_path / "steady.pcap"
    write_file(path, frames, gaps_ns=10_000_000)
    with FarSide(lab) as far:
        proc = lab.popen("a", pyxring_cmd("replay", str(path), lab.if_a), cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            got = far.collect(20, timeout=20, settle=0)
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(0.2)
            os.kill(proc.pid, signal.SIGCONT)
            got += far.collect(60 - len(got))
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0 and [d for _t, d in got] == frames, err
    g = gaps([t for t, _d in got])
    assert min(g) > 5_000_000, " ".join(str(x // 1000) for x in g)   # no burst after the stall
    assert max(g) > 150_000_000                        # the stall itself
    moved = re.search(r"schedule moved ([\d.]+) ms", err.decode())
    assert moved and float(moved.group(1)) > 150, err
