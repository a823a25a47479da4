"""The CLI: exit statuses and one-line messages for bad input; signals and
-c leave complete files; -w - streams to tshark."""
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, pyxring_cmd, require_tool, wait_listening
from pyxring.cli import ExitStatus, main
from unprivileged import as_nobody, readable_copy  # noqa: F401 (a fixture)


def run_main(capsys, *argv):
    status = main(list(argv))
    err = capsys.readouterr().err
    return status, err


@pytest.mark.parametrize("argv,status,message", [
    ([], ExitStatus.USAGE, "a command is required"),
    (["capture"], ExitStatus.USAGE, "IFACE"),
    (["capture", "x0", "-c", "zero"], ExitStatus.USAGE, "invalid count 'zero'"),
    (["capture", "x0", "-c", "0"], ExitStatus.USAGE, "count must be positive"),
    (["capture", "x0", "-s", "999999"], ExitStatus.USAGE, "snaplen must be between 1 and 262144"),
    (["capture", "x0", "--backend", "pcap"], ExitStatus.USAGE, "invalid choice: 'pcap'"),
    (["capture", "x0", "-Q", "sideways"], ExitStatus.USAGE, "invalid choice: 'sideways'"),
    (["capture", "x0", "--bogus"], ExitStatus.USAGE, "unrecognized arguments: --bogus"),
    (["capture", "nosuchif0", "-q"], ExitStatus.ERROR, "no such interface: nosuchif0"),
])
def test_usage_and_lookup_errors_are_one_line(capsys, argv, status, message):
    got, err = run_main(capsys, *argv)
    assert got == status
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def lab_capture(lab, *args, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return lab.popen("b", pyxring_cmd("capture", lab.if_b, *args), cwd=ROOT, **kw)


def finish(proc, timeout=20):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err.decode()


@pytest.mark.parametrize("args,status,message", [
    (["udp prt 5"], ExitStatus.USAGE, "invalid filter expression 'udp prt 5'"),
    (["--block-size", "1000"], ExitStatus.USAGE, "block size 1000"),
    (["--block-count", "0"], ExitStatus.USAGE, "block count 0"),
    (["-w", "/nonexistent-dir/x.pcapng"], ExitStatus.ERROR, "cannot write /nonexistent-dir/x.pcapng"),
])
def test_bad_input_on_a_real_interface(lab, args, status, message):
    proc = lab_capture(lab, "--backend", "tpacket", *args)
    code, _, err = finish(proc)
    assert code == status, err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_interface_down(lab):
    lab.run_b(["ip", "link", "set", lab.if_b, "down"])
    code, _, err = finish(lab_capture(lab, "--backend", "tpacket"))
    assert code == ExitStatus.ERROR
    assert f"interface {lab.if_b} is down" in err and "Traceback" not in err


def test_not_enough_privilege(lab, readable_copy):
    proc = lab.run_b(as_nobody(readable_copy, "capture", lab.if_b, "--backend", "tpacket"),
                     check=False, cwd="/")
    err = proc.stderr.decode()
    assert proc.returncode == ExitStatus.NO_PERMISSION, err
    assert "Operation not permitted" in err and "root" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def frame_lengths(path):
    """The frame lengths tshark reads from ``path`` (it must read it whole)."""
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e", "frame.len"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().split()


def capture_through(lab, out, frames, then, backend="tpacket", **kw):
    """Capture ``frames`` UDP frames into ``out``, then call ``then(proc)``;
    the capture must end by itself within 10 s.  (status, stderr)."""
    proc = lab_capture(lab, "-w", str(out), "--backend", backend, "udp", **kw)
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(frames))
        time.sleep(0.5)
        then(proc)
        code, _, err = finish(proc, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return code, err


# SIG_IGN inherited: what a script's `pyxring capture ... &` gets for SIGINT;
# `kill -INT` must still stop it.
@pytest.mark.parametrize("sig,inherited", [(signal.SIGINT, signal.SIG_DFL),
                                           (signal.SIGTERM, signal.SIG_DFL),
                                           (signal.SIGINT, signal.SIG_IGN)])
def test_signal_mid_capture_leaves_a_complete_file(lab, tmp_path, sig, inherited):
    out = tmp_path / "cap.pcapng"
    code, err = capture_through(lab, out, 300, lambda proc: proc.send_signal(sig),
                                preexec_fn=lambda: signal.signal(sig, inherited))
    assert code == 0, err
    assert "300 packets captured" in err
    assert "300 packets received by filter" in err and "0 packets dropped by kernel" in err
    assert frame_lengths(out) == ["64"] * 300
    info = subprocess.run([require_tool("capinfos"), str(out)], capture_output=True,
                          timeout=60).stdout.decode()
    assert "Description = pyxring tpacket backend; timestamps: kernel, at receive" in info


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_interface_removed_mid_capture(lab, tmp_path, backend):
    # tcpdump's behaviour: the capture ends with an error naming the reason,
    # the file complete up to the last packet.
    out = tmp_path / "cap.pcapng"
    code, err = capture_through(lab, out, 40, lambda proc: lab.run_b(["ip", "link", "del", lab.if_b]),
                                backend=backend)
    assert code == ExitStatus.ERROR, err
    assert f"pyxring: capture on {lab.if_b}: the interface disappeared" in err
    assert "40 packets captured" in err and "Traceback" not in err
    assert frame_lengths(out) == ["64"] * 40


def test_link_down_mid_capture_tpacket(lab, tmp_path):
    out = tmp_path / "cap.pcapng"
    code, err = capture_through(lab, out, 20,
                                lambda proc: lab.run_b(["ip", "link", "set", lab.if_b, "down"]))
    assert code == ExitStatus.ERROR, err
    assert f"pyxring: capture on {lab.if_b}: the interface went down" in err
    assert "20 packets captured" in err
    assert frame_lengths(out) == ["64"] * 20


def test_live_status_line_on_a_terminal(lab, tmp_path):
    import pty
    import select
    master, slave = pty.openpty()
    proc = lab.popen("b", pyxring_cmd("capture", lab.if_b, "-w", str(tmp_path / "s.pcapng"), "udp"),
                     stdout=subprocess.DEVNULL, stderr=slave, cwd=ROOT)
    os.close(slave)
    seen = b""

    def read_until(token, timeout=20):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        return token in seen
    try:
        assert read_until(b"listening on"), seen
        lab.send_frames(lab.udp_frames(250))
        assert read_until(b"\r250 packets"), seen
        assert b"0 dropped" in seen.split(b"\r250 packets", 1)[1]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    read_until(b"dropped by kernel")
    os.close(master)
    assert proc.returncode == 0
    assert b"250 packets captured" in seen


def test_count_stops_exactly(lab, tmp_path):
    out = tmp_path / "c.pcap"
    proc = lab_capture(lab, "-w", str(out), "-c", "10", "--format", "pcap", "udp")
    wait_listening(proc)
    frames = lab.udp_frames(50)
    lab.send_frames(frames)
    code, _, err = finish(proc)
    assert code == 0 and "10 packets captured" in err, err
    from pyxring import open_reader
    with open_reader(out) as r:
        assert [rec.data for rec in r] == frames[:10]


def test_print_mode_one_line_per_packet(lab):
    proc = lab_capture(lab, "-c", "3", "udp")
    wait_listening(proc)
    lab.send_frames(lab.udp_frames(3))
    code, out, err = finish(proc)
    lines = out.decode().splitlines()
    assert code == 0 and len(lines) == 3, err
    assert all(f"IP {lab.ip_a}.40000 > {lab.ip_b}.9999: UDP, length" in ln for ln in lines)


def test_stdout_streams_to_tshark(lab):
    tshark = require_tool("tshark")
    cap = lab_capture(lab, "-w", "-", "-c", "40", "udp")
    reader = subprocess.Popen([tshark, "-r", "-", "-T", "fields", "-e", "udp.dstport"],
                              stdin=cap.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cap.stdout.close()
    wait_listening(cap)
    lab.send_frames(lab.udp_frames(40))
    code, _, err = finish(cap)
    out, terr = reader.communicate(timeout=60)
    assert code == 0, err
    assert out.decode().split() == ["9999"] * 40, terr
