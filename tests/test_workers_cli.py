"""``pyxring capture --workers``: one merged pcapng (or one per worker),
judged by tshark and capinfos; closing lines summed; a killed worker."""
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, pyxring_cmd, require_tool, wait_listening
from workers_lab import numbered_frames, send_on_cpu, two_queue_lab


@pytest.fixture
def lab2():
    with two_queue_lab("pxc") as pair:
        yield pair


def start_capture(lab, *args):
    proc = lab.popen("b", pyxring_cmd("capture", lab.if_b, *args), cwd=ROOT,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_listening(proc)
    return proc


def stop_capture(proc, sig=signal.SIGINT):
    time.sleep(0.3)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def send_flows(lab, total=2000, flows=20):
    frames = []
    per = total // flows
    for f in range(flows):
        frames += numbered_frames(lab, f * per, per, sport=30000 + f)
    send_on_cpu(lab, frames[::2], 0)
    send_on_cpu(lab, frames[1::2], 1)
    return total


def tshark_frames(path):
    """(epoch time text, interface id, sequence number or None) of every
    frame, as tshark reads the file."""
    tshark = require_tool("tshark")
    r = subprocess.run([tshark, "-r", path, "-T", "fields", "-e", "frame.time_epoch",
                        "-e", "frame.interface_id", "-e", "udp.payload"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = []
    for line in r.stdout.splitlines():
        ts, iid, payload = (line.split("\t") + ["", ""])[:3]
        payload = payload.replace(":", "")
        seq = int(payload[8:24], 16) if payload.startswith("5058574b") else None
        rows.append((ts, iid, seq))
    return rows


def assert_time_ordered(rows):
    from decimal import Decimal
    times = [Decimal(r[0]) for r in rows]
    assert times == sorted(times), "the file is not in time order"


def test_merged_file_holds_every_packet_once_in_time_order(lab2, tmp_path):
    out = tmp_path / "out.pcapng"
    proc = start_capture(lab2, "--workers", "2", "-w", str(out), "-v", "udp")
    sent = send_flows(lab2)
    code, err = stop_capture(proc)
    assert code == 0, err
    assert f"{sent} packets captured\n{sent} packets received by filter\n0 packets dropped by kernel" in err
    assert "worker 0 (pid" in err and "worker 1 (pid" in err
    rows = tshark_frames(str(out))
    assert len(rows) == sent
    assert sorted(r[2] for r in rows) == list(range(sent))
    assert {r[1] for r in rows} == {"0"}                    # one interface description
    assert_time_ordered(rows)
    capinfos = require_tool("capinfos")
    info = subprocess.run([capinfos, "-c", "-I", str(out)], capture_output=True, text=True).stdout
    assert f"Number of packets:   {sent}" in info or f"Number of packets = {sent}" in info
    # no spool file left behind
    assert sorted(os.listdir(tmp_path)) == ["out.pcapng"]


def test_split_files_one_per_worker(lab2, tmp_path):
    out = tmp_path / "cap.pcapng"
    proc = start_capture(lab2, "--workers", "2", "--fanout", "lb", "--split", "-w", str(out), "udp")
    sent = send_flows(lab2, 1000)
    code, err = stop_capture(proc, signal.SIGTERM)           # SIGTERM ends it like Ctrl-C
    assert code == 0, err
    files = [tmp_path / "cap.0.pcapng", tmp_path / "cap.1.pcapng"]
    assert sorted(os.listdir(tmp_path)) == ["cap.0.pcapng", "cap.1.pcapng"]
    seqs = []
    for f in files:
        rows = tshark_frames(str(f))
        assert len(rows) > 0
        assert_time_ordered(rows)
        seqs += [r[2] for r in rows]
    assert sorted(seqs) == list(range(sent))
    assert f"{sent} packets captured" in err


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_killed_worker_is_reported_and_exit_status_says_so(lab2, tmp_path):
    out = tmp_path / "out.pcapng"
    proc = start_capture(lab2, "--workers", "2", "--fanout", "lb", "-w", str(out), "udp")
    lab2.send_frames(numbered_frames(lab2, 0, 200))
    time.sleep(0.3)
    kids = _children(proc.pid)
    assert len(kids) >= 2, kids
    # the workers are the children whose command line is the parent's
    workers = [k for k in kids if open(f"/proc/{k}/cmdline", "rb").read() ==
               open(f"/proc/{proc.pid}/cmdline", "rb").read()]
    os.kill(workers[-1], signal.SIGKILL)
    time.sleep(0.3)
    lab2.send_frames(numbered_frames(lab2, 200, 300))
    code, err = stop_capture(proc)
    assert code == 1, err
    assert "killed by SIGKILL" in err
    seqs = {r[2] for r in tshark_frames(str(out))}
    assert set(range(200, 500)) <= seqs             # the survivor took the rest
    assert "500 packets received by filter" in err


def test_count_is_exact_over_workers(lab2, tmp_path):
    out = tmp_path / "c.pcapng"
    proc = start_capture(lab2, "--workers", "2", "--fanout", "lb", "-c", "150", "-w", str(out), "udp")
    lab2.send_frames(numbered_frames(lab2, 0, 400))
    out_, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "150 packets captured" in err.decode()
    assert len(tshark_frames(str(out))) == 150


@pytest.mark.parametrize("args,message", [
    (["--fanout-split", "udp"], "--fanout-split needs --workers N"),
    (["--workers", "2", "-i", "lo", "-i", "IFB"], "--workers captures one interface"),
    (["--workers", "2", "--split"], "--split needs -w FILE"),
    (["--workers", "2", "--fanout", "qm", "--workers", "3"], "3 workers for .* 2 RX queue"),
    (["--workers", "3", "--backend", "xdp"], "3 AF_XDP workers for .* 2 RX queue"),
    (["--workers", "2", "--fanout-split", "udp", "--fanout-split", "tcp", "--fanout-split", "icmp"],
     "3 fanout split expressions for 2 workers"),
    (["--workers", "2", "--fanout-split", "udp prt 53"], "can't parse filter expression"),
])
def test_usage_errors_are_one_line_exit_2(lab2, args, message):
    import re
    args = [a.replace("IFB", lab2.if_b) for a in args]
    if "-i" in args:
        r = lab2.run_b(pyxring_cmd("capture", *args), check=False, cwd=ROOT)
    else:
        r = lab2.run_b(pyxring_cmd("capture", lab2.if_b, *args), check=False, cwd=ROOT)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


def test_fanout_group_in_use_exit_2(lab2):
    from workers_lab import fanout_socket
    other = fanout_socket(lab2, 5151, 2)
    try:
        r = lab2.run_b(pyxring_cmd("capture", lab2.if_b, "--workers", "2", "--fanout-group", "5151",
                                   "-c", "1"), check=False, cwd=ROOT)
    finally:
        other.close()
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "fanout group 5151 is in use on" in err and "mode cpu" in err


def test_xdp_workers_merged_file(lab2, tmp_path):
    out = tmp_path / "x.pcapng"
    proc = start_capture(lab2, "--workers", "2", "--backend", "xdp", "--xdp-mode", "native",
                         "--xdp-frames", "4096", "-w", str(out), "-v", "udp")
    sent = send_flows(lab2, 1000)
    code, err = stop_capture(proc)
    assert code == 0, err
    assert "worker 0 (pid" in err and "queues [0]" in err and "queues [1]" in err
    rows = tshark_frames(str(out))
    assert sorted(r[2] for r in rows) == list(range(sent))
    assert_time_ordered(rows)
    assert f"{sent} packets captured\n{sent} packets received by filter\n0 packets dropped" in err


def test_duration_ends_the_workers(lab2, tmp_path):
    out = tmp_path / "d.pcapng"
    r = lab2.run_b(pyxring_cmd("capture", lab2.if_b, "--workers", "2", "--duration", "0.5",
                               "-w", str(out), "udp"), check=False, cwd=ROOT, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "0 packets captured\n0 packets received by filter\n0 packets dropped by kernel" in err
    assert tshark_frames(str(out)) == []


def test_fanout_prog_a_clang_built_program_splits_by_vlan(lab2, tmp_path):
    """examples/fanout_by_vlan.c, built by clang, chooses the worker: VLAN 10
    to worker 0, VLAN 11 to worker 1 (tag id modulo 2), as tshark reads the
    per-worker files."""
    clang = require_tool("clang")
    obj = tmp_path / "fanout_by_vlan.o"
    arch = os.uname().machine
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", f"-I/usr/include/{arch}-linux-gnu",
                    "-c", os.path.join(ROOT, "examples", "fanout_by_vlan.c"), "-o", str(obj)],
                   check=True, capture_output=True, timeout=120)
    out = tmp_path / "v.pcapng"
    proc = start_capture(lab2, "--workers", "2", "--fanout-prog", str(obj), "--split",
                         "-w", str(out), "vlan")
    frames = []
    for i in range(60):
        frames += lab2.udp_frames(1, vlan=10 + i % 2, sport=4000 + i)
    lab2.send_frames(frames)
    code, err = stop_capture(proc)
    assert code == 0, err
    tshark = require_tool("tshark")
    for i in (0, 1):
        r = subprocess.run([tshark, "-r", str(tmp_path / f"v.{i}.pcapng"), "-T", "fields",
                            "-e", "vlan.id"], capture_output=True, text=True, timeout=60)
        assert r.stdout.split() == [str(10 + i)] * 30, (i, r.stdout)


def test_fanout_prog_that_is_not_a_socket_program_exit_2(lab2):
    xdp_obj = os.path.join(ROOT, "xdp_prog", "pyxring_xdp.o")
    r = lab2.run_b(pyxring_cmd("capture", lab2.if_b, "--workers", "2", "--fanout-prog", xdp_obj,
                               "-c", "1"), check=False, cwd=ROOT)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "is not a socket program" in err and len(err.strip().splitlines()) == 1
