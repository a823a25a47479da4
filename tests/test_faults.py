"""Faults injected on purpose into live captures (the real CLI, on veth pairs
between throwaway namespaces): SIGKILL in the middle of an AF_XDP capture,
two captures racing for one interface and queue, and a locked-memory limit
too small for the UMEM.  Each case checks the one error line and the exit
status, what is left in the kernel (bpftool), the files tshark reads whole,
and exact counts."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, pyxring_cmd, require_root, require_tool, wait_listening
from pyxring.cli import ExitStatus
from test_cli import finish, frame_lengths

DPORT = 9999


@pytest.fixture(autouse=True)
def _privileged():
    require_root()
    require_tool("bpftool")


@pytest.fixture
def lab2(request):
    """A veth pair whose ends have two RX queues each."""
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxf", ipv6=False, queues=2) as pair:
        yield pair


def start(lab, out, *args, backend="xdp"):
    """``pyxring capture`` on lab's b side, writing ``out``, UDP only."""
    return lab.popen("b", pyxring_cmd("capture", lab.if_b, "--backend", backend, "-w", str(out),
                                      *args, "udp"),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def stop(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    return finish(proc)


def kill_all(*procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.communicate()


def bpftool(*args, lab=None):
    """bpftool's JSON answer, or None when it reports an error (e.g. no such id)."""
    cmd = ["bpftool", "-j", *args]
    r = lab.run_b(cmd, check=False) if lab else subprocess.run(cmd, capture_output=True, timeout=30)
    out = json.loads(r.stdout or b"null")
    return None if r.returncode or (isinstance(out, dict) and "error" in out) else out


def xdp_on(lab):
    """Programs attached to lab's b end, by bpftool net show and by ip link."""
    net = bpftool("net", "show", lab=lab)
    progs = [x["id"] for entry in net for x in entry.get("xdp", []) if x["devname"] == lab.if_b]
    link = lab.run_b(["ip", "-d", "link", "show", "dev", lab.if_b]).stdout.decode()
    return progs, re.findall(r"prog/xdp id (\d+)", link)


def bpf_objects(lab):
    """Every BPF object a capture on lab's b end holds, found from the
    attached program: {'prog': ids, 'map': ids, 'link': ids}.  Ids only,
    never "whatever is new": other captures on this machine load programs too."""
    progs, _ = xdp_on(lab)
    objs = {"prog": set(progs), "map": set(), "link": set()}
    todo = list(progs)
    while todo:
        info = bpftool("prog", "show", "id", str(todo.pop()))
        for m in info.get("map_ids", []):
            objs["map"].add(m)
            if (bpftool("map", "show", "id", str(m)) or {}).get("type") == "prog_array":
                # the filter program sits in the tail-call slot
                for entry in bpftool("map", "dump", "id", str(m)) or []:
                    p = entry["formatted"]["value"]
                    if p not in objs["prog"]:
                        objs["prog"].add(p)
                        todo.append(p)
    objs["link"] = {ln["id"] for ln in bpftool("link", "show") or [] if ln.get("prog_id") in objs["prog"]}
    return objs


def left_over(objs, timeout=5.0):
    """Those of ``objs`` the kernel still knows after ``timeout`` (freeing is
    deferred a little after the owner dies)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {kind: {i for i in ids if bpftool(kind, "show", "id", str(i)) is not None}
                 for kind, ids in objs.items()}
        if not any(alive.values()) or time.monotonic() > deadline:
            return {k: v for k, v in alive.items() if v}
        time.sleep(0.1)


def promiscuity(lab):
    link = lab.run_b(["ip", "-d", "link", "show", "dev", lab.if_b]).stdout.decode()
    return int(re.search(r"promiscuity (\d+)", link).group(1))


def closing_counts(err):
    return tuple(int(re.search(rf"(\d+) packets? {what}", err).group(1))
                 for what in ("captured", "received by filter", "dropped by kernel"))


def assert_one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(f in lines[0] for f in fragments), err


def capture_exactly(lab, out, n, *args, backend="xdp"):
    """A fresh capture of ``n`` frames with -c: exit 0, exact counts, and
    tshark reads every frame."""
    proc = start(lab, out, "-c", str(n), *args, backend=backend)
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(n, dport=DPORT))
        code, _, err = finish(proc)
    finally:
        kill_all(proc)
    assert code == ExitStatus.OK, err
    assert closing_counts(err)[0] == n and "Traceback" not in err, err
    assert frame_lengths(out) == ["64"] * n


# --- SIGKILL during an AF_XDP capture ---------------------------------------

@pytest.mark.parametrize("mode", ["native", "generic"])
def test_sigkill_during_xdp_capture_leaves_nothing_behind(lab, tmp_path, mode):
    """No program, link or map survives (the filter program in the tail-call
    slot included), promiscuous mode ends, and a new capture on the same
    interface works."""
    proc = start(lab, tmp_path / "killed.pcapng", "--xdp-mode", mode)
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(200, dport=DPORT))
        objs = bpf_objects(lab)
        assert len(objs["prog"]) == 2 and len(objs["link"]) == 1 and objs["map"], objs
        assert promiscuity(lab) == 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)
        assert proc.returncode == -signal.SIGKILL
    finally:
        kill_all(proc)
    # nothing pinned either: a pinned map or program would still be alive
    assert left_over(objs) == {}
    assert xdp_on(lab) == ([], [])
    assert promiscuity(lab) == 0
    capture_exactly(lab, tmp_path / "after.pcapng", 30, "--xdp-mode", mode)
    assert xdp_on(lab) == ([], [])


# --- two captures racing for one interface and queue -------------------------

def test_second_xdp_capture_on_a_busy_queue_fails_cleanly(lab, tmp_path):
    first = start(lab, tmp_path / "first.pcapng")
    try:
        wait_listening(first)
        objs = bpf_objects(lab)
        code, _, err = finish(start(lab, tmp_path / "second.pcapng"))
        assert code == ExitStatus.ERROR
        assert_one_error_line(err, f"{lab.if_b} already has XDP program id", "another capture?")
        assert not (tmp_path / "second.pcapng").exists()
        # the first capture kept its program, link and maps, and everything sent
        assert bpf_objects(lab) == objs
        lab.send_frames(lab.udp_frames(40, dport=DPORT))
        time.sleep(0.5)
        code, _, err = stop(first)
    finally:
        kill_all(first)
    assert code == ExitStatus.OK, err
    assert closing_counts(err) == (40, 40, 0), err
    assert frame_lengths(tmp_path / "first.pcapng") == ["64"] * 40


# What the loser of a simultaneous start may be told, depending on where the
# two set-ups cross: the program check, the queue's socket bind, the attach.
RACE_LOSER = re.compile(r"already has XDP program id \d+|another AF_XDP socket is bound to this queue"
                        r"|Device or resource busy")


@pytest.mark.parametrize("queues", [("0", "0"), ("0", "1")], ids=["same-queue", "other-queue"])
def test_xdp_captures_started_together(lab2, tmp_path, queues):
    """Started at the same moment (on one queue, or on two queues of one
    interface): exactly one wins and captures everything, the other says so
    in one line and exits 1 without harming the winner.  Three rounds, so
    the set-ups cross at different points."""
    for rnd in range(3):
        outs = [tmp_path / f"r{rnd}-{i}.pcapng" for i in range(2)]
        procs = [start(lab2, outs[i], "--queue", queues[i], "--xdp-mode", "native") for i in range(2)]
        try:
            # the loser ends by itself; the winner says "listening on"
            deadline = time.monotonic() + 30
            while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
                time.sleep(0.05)
            losers = [i for i, p in enumerate(procs) if p.poll() is not None]
            assert len(losers) == 1, [p.poll() for p in procs]
            loser, winner = losers[0], 1 - losers[0]
            code, _, err = finish(procs[loser])
            assert code == ExitStatus.ERROR, err
            assert_one_error_line(err)
            assert RACE_LOSER.search(err), err
            assert not outs[loser].exists()
            wait_listening(procs[winner])
            # steer every frame to the winner's queue: XPS on the sending CPU
            q = int(queues[winner])
            lab2.run_a(["sh", "-c", f"echo 1 > /sys/class/net/{lab2.if_a}/queues/tx-0/xps_cpus; "
                                    f"echo 2 > /sys/class/net/{lab2.if_a}/queues/tx-1/xps_cpus"])
            code = (f"import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0); "
                    f"s.bind(({lab2.if_a!r}, 0))\n"
                    f"for f in {lab2.udp_frames(40, dport=DPORT)!r}: s.send(f)")
            lab2.run_a(["taskset", "-c", str(q), sys.executable, "-c", code])
            time.sleep(0.5)
            code, _, err = stop(procs[winner])
        finally:
            kill_all(*procs)
        assert code == ExitStatus.OK, err
        assert closing_counts(err) == (40, 40, 0), err
        assert frame_lengths(outs[winner]) == ["64"] * 40
        assert xdp_on(lab2) == ([], [])


def test_two_tpacket_captures_both_see_everything(lab, tmp_path):
    """AF_PACKET lets any number of sockets watch one interface: two
    captures started together each get every frame."""
    outs = [tmp_path / f"t{i}.pcapng" for i in range(2)]
    procs = [start(lab, out, backend="tpacket") for out in outs]
    try:
        for p in procs:
            wait_listening(p)
        lab.send_frames(lab.udp_frames(60, dport=DPORT))
        time.sleep(0.5)
        results = [stop(p) for p in procs]
    finally:
        kill_all(*procs)
    for (code, _, err), out in zip(results, outs):
        assert code == ExitStatus.OK, err
        assert closing_counts(err) == (60, 60, 0), err
        assert frame_lengths(out) == ["64"] * 60


# --- the locked-memory limit ---------------------------------------------------

def test_locked_memory_limit_is_one_line_and_status_1(lab, tmp_path):
    """A UMEM over `ulimit -l` without CAP_IPC_LOCK: the kernel's ENOBUFS
    becomes one line saying what to do, exit status 1, no file, nothing
    left attached; a UMEM within the limit captures."""
    require_tool("prlimit")
    require_tool("setpriv")
    out = tmp_path / "m.pcapng"
    argv = pyxring_cmd("capture", lab.if_b, "--backend", "xdp", "-w", str(out), "-c", "20", "udp")
    limited = ["prlimit", "--memlock=65536", "setpriv", "--inh-caps=-ipc_lock",
               "--bounding-set=-ipc_lock"]
    r = lab.run_b([*limited, *argv], check=False, cwd=ROOT, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == ExitStatus.ERROR, err
    assert_one_error_line(err, "registering a 64 MiB UMEM", "No buffer space available",
                          "ulimit -l", "CAP_IPC_LOCK")
    assert not out.exists()
    assert xdp_on(lab) == ([], [])
    # a UMEM that fits (4 MiB under 8 MiB; a hard limit can't be raised here)
    fits = ["prlimit", "--memlock=" + str(8 << 20), *limited[2:]]
    argv[-3:-3] = ["--xdp-frames", "2048"]
    proc = lab.popen("b", [*fits, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(20, dport=DPORT))
        code, _, err = finish(proc)
    finally:
        kill_all(proc)
    assert code == ExitStatus.OK, err
    assert closing_counts(err) == (20, 20, 0), err
    assert frame_lengths(out) == ["64"] * 20
