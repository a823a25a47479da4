"""pyxring replay on the command line: the end line; one line and exit 2 for
a bad option; exit 1 for a missing or broken file (as ``read``); the real
error alone for a missing interface or missing privilege (no fallback
notice first); Ctrl-C and SIGTERM end a run with its end line."""
import os
import re
import signal
import subprocess
import tempfile
import time
import warnings

import pytest

from conftest import ROOT, pyxring_cmd, require_root, require_tool
from replay_lab import FarSide, lab, write_file  # noqa: F401

END_LINE = re.compile(r"^(\d+) packets sent \((\d+) bytes\), (\d+) failed, \d+\.\d{3} s, "
                      r"[\d.]+ pps, [\d.]+ Mbps, (timing error median (<1 us|\d+ us|\d+ ms), "
                      r"p99 \S+ \S+, max \S+ \S+|top speed)(, schedule moved [\d.]+ ms)? \((.+)\)$")


def run_cli(argv, capsys):
    from pyxring.cli import main
    status = main(argv)
    return status, capsys.readouterr().err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def small_file(tmp_path):
    from pyxring.netlab import ipv4_udp_frame
    frames = [ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.9.0.1", "10.9.0.2",
                             4000, 9999, bytes([i]) * 40) for i in range(20)]
    path = tmp_path / "small.pcap"
    write_file(path, frames, gaps_ns=1_000_000)
    return path


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
def test_the_end_line(lab, small_file, capsys, backend):
    with lab.enter_a():
        status, err = run_cli(["replay", str(small_file), lab.if_a, "--backend", backend,
                               "-p", "2000"], capsys)
    assert status == 0
    m = END_LINE.match(one_line(err))
    assert m, err
    assert (m.group(1), m.group(2), m.group(3)) == ("20", str(20 * 82), "0")
    assert m.group(7) == f"{backend} on {lab.if_a}"
    with lab.enter_a():
        status, err = run_cli(["replay", str(small_file), "-i", lab.if_a, "-t", "-l", "2"], capsys)
    m = END_LINE.match(one_line(err))
    assert status == 0 and m and m.group(1) == "40" and m.group(4) == "top speed", err


def test_old_option_names_still_work(lab, small_file, capsys):
    from pyxring.replay import replay
    with FarSide(lab) as far:
        with lab.enter_a():
            status, err = run_cli(["replay", str(small_file), lab.if_a, "--rate", "5000",
                                   "--loop", "2", "-q"], capsys)
            res = replay(str(small_file), lab.if_a, rate=5000)
        assert len(far.collect(60)) == 60
    assert status == 0 and err == ""
    assert res["mode"] == "pps" and res["sent"] == 20


@pytest.mark.parametrize("args,message", [
    (["-p", "0"], "argument -p/--pps: must be a positive number, not 0"),
    (["-p", "-5"], "argument -p/--pps: must be a positive number, not -5"),
    (["-x", "nan"], "argument -x/--multiplier: must be a positive number, not nan"),
    (["-M", "inf"], "argument -M/--mbps: must be a positive number, not inf"),
    (["--pps", "fast"], "argument -p/--pps: invalid number 'fast'"),
    (["-x", "2", "-p", "5"], "argument -p/--pps: not allowed with argument -x/--multiplier"),
    (["-t", "-M", "3"], "argument -M/--mbps: not allowed with argument -t/--topspeed"),
    (["-l", "-1"], "argument -l/--loop: must be at least 0, not -1"),
    (["-L", "0"], "argument -L/--limit: must be at least 1, not 0"),
    (["--limit", "x"], "argument -L/--limit: invalid whole number 'x'"),
    (["--duration", "0"], "argument --duration: must be a positive number, not 0"),
    (["--backend", "foo"], "argument --backend: invalid choice: 'foo'"),
    (["--iface-map", "0veth"], "--iface-map '0veth': expected INTERFACE_ID=IFACE"),
    (["--iface-map", "0=a,0=b"], "--iface-map: interface 0 is mapped twice"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_options_are_one_line_and_exit_2(small_file, capsys, args, message):
    status, err = run_cli(["replay", str(small_file), "veth-unused", *args], capsys)
    assert status == 2
    assert message in one_line(err)


def test_no_interface_and_two_interfaces_are_usage_errors(small_file, capsys):
    status, err = run_cli(["replay", str(small_file)], capsys)
    assert status == 2 and "an interface to send on is required (IFACE or --iface-map)" in one_line(err)
    status, err = run_cli(["replay", str(small_file), "a0", "-i", "b0"], capsys)
    assert status == 2 and "two interfaces given (a0 and -i b0)" in one_line(err)


def test_missing_or_broken_file_exits_1_as_read_does(tmp_path, capsys):
    missing = str(tmp_path / "missing.pcap")
    status, err = run_cli(["replay", missing, "veth-unused"], capsys)
    assert status == 1 and one_line(err) == f"pyxring: {missing}: No such file or directory"
    status, err = run_cli(["read", missing], capsys)
    assert status == 1 and "No such file or directory" in one_line(err)
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture file at all")
    status, err = run_cli(["replay", str(junk), "veth-unused"], capsys)
    assert status == 1 and "not a pcap or pcapng file" in one_line(err)


def test_a_damaged_file_sends_what_comes_before_the_damage(lab, small_file, tmp_path, capsys):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(small_file.read_bytes()[:-30])      # the last record is truncated
    with FarSide(lab) as far:
        with lab.enter_a():
            status, err = run_cli(["replay", str(cut), lab.if_a, "-t"], capsys)
        assert len(far.collect(19)) == 19
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 2 and "Traceback" not in err, err
    assert END_LINE.match(lines[0]).group(1) == "19"
    assert lines[1].startswith(f"pyxring: {cut}: truncated")


@pytest.mark.parametrize("backend", ["auto", "xdp", "tpacket"])
def test_missing_or_down_interface_is_the_error_alone(lab, small_file, capsys, backend):
    with lab.enter_a():
        status, err = run_cli(["replay", str(small_file), "nosuchif0", "--backend", backend], capsys)
    assert status == 1 and one_line(err) == "pyxring: no such interface: nosuchif0"
    lab.run_a(["ip", "link", "set", lab.if_a, "down"])
    with lab.enter_a():
        status, err = run_cli(["replay", str(small_file), lab.if_a, "--backend", backend], capsys)
    assert status == 1 and one_line(err) == f"pyxring: interface {lab.if_a} is down"


@pytest.mark.parametrize("backend", ["auto", "xdp", "tpacket"])
def test_without_privilege_the_permission_error_alone(lab, backend):
    require_tool("setpriv")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "in.pcap")
        write_file(path, lab.udp_frames(3))
        os.chmod(path, 0o644)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all", *pyxring_cmd("replay", path, lab.if_a, "--backend", backend)]
        proc = lab.run_a(cmd, check=False, env={**os.environ, "PYTHONPATH": ROOT})
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    line = one_line(err)
    assert "Operation not permitted" in line and "root" in line and "unavailable" not in line


def test_fallback_notice_when_the_queue_is_taken(lab, tmp_path):
    """An AF_XDP capture holds queue 0 of the sending interface: auto says so
    in one notice and sends with AF_PACKET instead."""
    import pyxring.xdp as X
    from pyxring.replay import replay
    frames = lab.udp_frames(30, size=120)
    path = tmp_path / "in.pcap"
    write_file(path, frames)
    with lab.enter_a(), warnings.catch_warnings():
        warnings.simplefilter("ignore", X.XdpWarning)     # about VLAN offload: not this test's
        holder = X.open(lab.if_a, xdp_mode="generic")
    notices = []
    try:
        with FarSide(lab) as far:
            with lab.enter_a():
                res = replay(str(path), lab.if_a, backend="auto", notice=notices.append, topspeed=True)
            assert [d for _t, d in far.collect(30)] == frames
    finally:
        holder.close()
    assert res["backend"] == "tpacket" and res["sent"] == 30 and res["failed"] == 0
    assert len(notices) == 1 and notices[0].startswith(f"pyxring: AF_XDP TX unavailable on {lab.if_a} (")


def test_unmapped_interface_of_the_file_is_a_usage_error(lab, tmp_path, capsys):
    require_tool("mergecap")
    parts = []
    for k in range(2):
        p = tmp_path / f"p{k}.pcap"
        write_file(p, lab.udp_frames(2))
        parts.append(str(p))
    path = tmp_path / "two.pcapng"
    subprocess.run(["mergecap", "-I", "none", "-w", str(path), *parts], check=True, capture_output=True)
    with lab.enter_a():
        status, err = run_cli(["replay", str(path), "--iface-map", f"0={lab.if_a}"], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and "Traceback" not in err
    assert lines[-1] == (f"pyxring: {path}: interface 1 has no interface to go to "
                         f"(add 1=IFACE to --iface-map)")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_long_wait_with_the_end_line(lab, tmp_path, sig):
    """Two frames a minute apart: the signal ends the wait at once."""
    require_root()
    frames = lab.udp_frames(2)
    path = tmp_path / "slow.pcap"
    write_file(path, frames, gaps_ns=60 * 10**9)
    with FarSide(lab) as far:
        proc = lab.popen("a", pyxring_cmd("replay", str(path), lab.if_a), cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert len(far.collect(1, timeout=20, settle=0.2)) == 1
            proc.send_signal(sig)
            _out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    err = err.decode()
    assert proc.returncode == 0, err
    m = END_LINE.match(one_line(err))
    assert m and m.group(1) == "1", err


def test_loop_forever_stops_at_the_limit(lab, small_file, capsys):
    with FarSide(lab) as far:
        with lab.enter_a():
            status, err = run_cli(["replay", str(small_file), lab.if_a, "-l", "0", "-L", "50", "-t"],
                                  capsys)
        assert len(far.collect(50)) == 50
    assert status == 0 and END_LINE.match(one_line(err)).group(1) == "50"


def test_time_to_wait_is_bounded(lab, small_file, capsys):
    """--duration ends a run whose file gaps are longer."""
    slow = small_file.parent / "gaps.pcap"
    write_file(slow, lab.udp_frames(3), gaps_ns=30 * 10**9)
    t0 = time.monotonic()
    with lab.enter_a():
        status, err = run_cli(["replay", str(slow), lab.if_a, "--duration", "0.5"], capsys)
    assert status == 0 and 0.5 <= time.monotonic() - t0 < 5
    assert END_LINE.match(one_line(err)).group(1) == "1"


@pytest.mark.parametrize("backend", ["xdp", "tpacket"])
@pytest.mark.parametrize("action,what", [(["set", "down"], "went down"), (["del"], "disappeared")])
def test_interface_lost_mid_replay(lab, tmp_path, backend, action, what):
    """The end line for what was sent, then the reason, exit 1."""
    path = tmp_path / "long.pcap"
    write_file(path, lab.udp_frames(2000, size=100), gaps_ns=1_000_000)
    with FarSide(lab) as far:
        proc = lab.popen("a", pyxring_cmd("replay", str(path), lab.if_a, "--backend", backend),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert len(far.collect(100, timeout=20, settle=0)) >= 100
            lab.run_a(["ip", "link", *action[:1], lab.if_a, *action[1:]])
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    err = err.decode()
    lines = [ln for ln in err.strip().splitlines() if "refused or did not complete" not in ln]
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert len(lines) == 2 and END_LINE.match(lines[0]), err
    assert lines[1] == f"pyxring: sending on {lab.if_a}: the interface {what}"


def test_standard_input_is_read_once_for_all_loops(lab, small_file):
    with FarSide(lab) as far:
        with open(small_file, "rb") as f:
            proc = lab.run_a(pyxring_cmd("replay", "-", lab.if_a, "-l", "3", "-t"), stdin=f,
                             check=False, cwd=ROOT)
        assert len(far.collect(60)) == 60
    err = proc.stderr.decode()
    assert proc.returncode == 0 and END_LINE.match(one_line(err)).group(1) == "60", err
