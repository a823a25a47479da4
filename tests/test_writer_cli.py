"""``pyxring capture -w`` on real traffic when files rotate, are compressed,
the disk fills, the capture is killed, or the reader of a pipe stops: the
closing lines count what the files hold, and tshark reads every file whole."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import pyxring
from conftest import ROOT, pyxring_cmd, require_tool, wait_listening
from fsfaults import loop_ext4
from pyxring.cli import ExitStatus, main
from test_cli import finish, frame_lengths, lab_capture


def captured_count(err):
    return int(re.search(r"^(\d+) packets captured$", err, re.M).group(1))


def records(path):
    with pyxring.open_reader(path) as r:
        return [rec.data for rec in r]


def readable(path):
    """Records that can be read from a file still being written."""
    n = 0
    try:
        with pyxring.open_reader(path) as r:
            for _ in r:
                n += 1
    except pyxring.PyxringError:
        pass
    return n


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def noise_frames(lab, n, size=1500):
    """UDP frames with random payloads: compression can't shrink them."""
    from pyxring.netlab import ipv4_udp_frame
    return [ipv4_udp_frame(lab.mac_a, lab.mac_b, lab.ip_a, lab.ip_b, 40000, 9999,
                           os.urandom(size - 42), ident=i) for i in range(n)]


def isb(path):
    with pyxring.open_reader(path) as r:
        list(r)
        return r.interface_stats[0]


@pytest.mark.parametrize("argv,message", [
    (["-w", "x.pcapng", "-C", "0"], "invalid file size 0"),
    (["-w", "x.pcapng", "-C", "1k"], "invalid file size 1k"),
    (["-w", "x.pcapng", "-W", "0"], "invalid number of output files 0"),
    (["-w", "x.pcapng", "-G", "-1"], "invalid number of seconds -1"),
    (["-C", "1"], "-C, -G, -W, -z and --rotate-align need -w FILE"),
    (["-w", "-", "-C", "1"], "need a file name, not '-w -'"),
    (["-w", "x.pcapng", "-z", "no-such-program-xyz"], "-z no-such-program-xyz: no such program"),
    (["-w", "x.pcapng", "--rotate-align"], "--rotate-align needs -G SECONDS"),
    (["-w", "x.pcapng", "--writer", "fast"], "invalid choice: 'fast'"),
    (["-w", "x.pcapng", "--uring-buffer-size", "6"], "io_uring buffer size 6 KiB must be a "
                                                     "multiple of 4"),
    (["-w", "x.pcapng", "--uring-buffers", "1"], "invalid io_uring buffer count 1"),
])
def test_bad_writer_options_are_usage_errors(capsys, argv, message):
    status = main(["capture", "nosuchif0", *argv])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert message in err and len(err.strip().splitlines()) == 1, err


def listening(proc, timeout=20):
    """Standard error up to and with the 'listening on' line."""
    head = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        head.append(line)
        if "listening on" in line or not line:
            break
    assert "listening on" in head[-1], head
    return "".join(head)


def capture_and_stop(lab, args, frames, wait=None, sig=signal.SIGINT):
    proc = lab_capture(lab, *args, "udp")
    try:
        head = listening(proc)
        lab.send_frames(frames)
        if wait is not None:
            assert wait_for(wait), "the capture did not get the traffic"
        else:
            time.sleep(1.0)
        proc.send_signal(sig)
        code, _, err = finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return code, head + err


def test_size_rotation_splits_the_traffic_exactly(lab, tmp_path):
    out = tmp_path / "rot.pcapng"
    frames = lab.udp_frames(3000, size=1000)
    code, err = capture_and_stop(lab, ["-w", str(out), "-C", "1", "-v"], frames,
                                 wait=lambda: sum(map(readable, tmp_path.iterdir())) == 3000)
    assert code == 0, err
    assert captured_count(err) == 3000
    names = ["rot.pcapng", "rot.pcapng1", "rot.pcapng2", "rot.pcapng3"]
    assert sorted(os.listdir(tmp_path)) == names
    assert ", 4 files" in err
    got = []
    for name in names:
        path = tmp_path / name
        assert len(frame_lengths(path)) == len(records(path))      # tshark reads it whole
        assert os.path.getsize(path) < 1_000_000 + 1100 * 2
        got += records(path)
    assert got == frames                                          # none lost, none twice
    stats = [isb(tmp_path / n) for n in names]
    assert [s["usrdeliv"] for s in stats] == [len(records(tmp_path / n)) for n in names]
    assert sum(s["ifrecv"] for s in stats) == 3000
    assert sum(s["osdrop"] for s in stats) == 0


def test_time_rotation_with_a_file_limit_ends_the_capture(lab, tmp_path):
    pattern = str(tmp_path / "t-%s.pcapng")
    proc = lab_capture(lab, "-w", pattern, "-G", "1", "-W", "2", "udp")
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(20))
        code, _, err = finish(proc, timeout=20)          # ends by itself after two files
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0, err
    assert "pyxring: maximum file limit reached: 2" in err
    files = sorted(tmp_path.iterdir())
    assert len(files) == 2 and all(re.fullmatch(r"t-\d{10}\.pcapng", f.name) for f in files)
    assert sum(len(records(f)) for f in files) == captured_count(err) == 20


@pytest.mark.parametrize("ext,tool", [(".gz", "gzip"), (".zst", "zstd"), (".lz4", "lz4")])
def test_sigkill_leaves_a_readable_compressed_file(lab, tmp_path, ext, tool):
    out = tmp_path / f"killed.pcapng{ext}"
    frames = lab.udp_frames(300, size=200)
    proc = lab_capture(lab, "-w", str(out), "udp")
    got = []

    def flushed():
        got.clear()
        try:
            with pyxring.open_reader(out) as r:
                for rec in r:
                    got.append(rec.data)
        except pyxring.PyxringError:
            pass
        return len(got) == 300
    try:
        wait_listening(proc)
        lab.send_frames(frames)
        assert wait_for(flushed), len(got)      # an idle moment flushed the compressed stream
        proc.kill()
        proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert got == frames
    assert len(frame_lengths(out)) == 300                         # tshark
    r = subprocess.run([require_tool(tool), "-dc", str(out)], capture_output=True, timeout=60)
    with pyxring.open_reader(__import__("io").BytesIO(r.stdout)) as rd:
        assert [rec.data for rec in rd] == frames                 # the codec's own tool
    r = subprocess.run(pyxring_cmd("read", str(out)), capture_output=True, timeout=60, cwd=ROOT)
    assert len(r.stdout.decode().splitlines()) == 300
    if r.returncode:                  # zstd and LZ4: the frame was never ended
        assert r.returncode == 1 and "cut short" in r.stderr.decode()


@pytest.mark.parametrize("name,fmt", [("full.pcapng", []), ("full.pcap", ["--format", "pcap"]),
                                      ("full.pcapng.zst", [])])
@pytest.mark.parametrize("engine", ["auto", "write"])
def test_disk_full_mid_capture(lab, tmp_path, name, fmt, engine):
    """Issues 16 and 20: the file ends on a record, the closing lines are
    printed and count what the file holds, one error line, exit 1."""
    with loop_ext4(tmp_path, mib=4) as mnt:
        out = mnt / name
        proc = lab_capture(lab, "-w", str(out), "--writer", engine, *fmt, "udp")
        try:
            wait_listening(proc)
            frames = noise_frames(lab, 5000)
            lab.send_frames(frames)
            code, _, err = finish(proc, timeout=30)       # ends by itself
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert code == ExitStatus.ERROR, err
        lines = err.strip().splitlines()
        n = captured_count(err)
        assert lines[-1] == (f"pyxring: writing {out}: No space left on device "
                             f"(the file holds {n} whole packets)"), err
        assert re.search(r"^\d+ packets received by filter$", err, re.M)
        assert re.search(r"^\d+ packets not written$", err, re.M)
        assert "Traceback" not in err
        assert records(out) == frames[:n] and n > 1000
        assert len(frame_lengths(out)) == n


def test_sigterm_while_blocked_on_a_stalled_fifo(lab, tmp_path):
    """Issue 20: a reader that never reads; SIGTERM ends the capture within
    seconds, what could not be written is reported, and what the pipe got
    is whole records."""
    fifo = tmp_path / "stalled"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = lab_capture(lab, "-w", str(fifo), "udp")
        try:
            wait_listening(proc)
            lab.send_frames(lab.udp_frames(400, size=1500))
            time.sleep(1.0)                               # the pipe is full, the writer waits
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code, _, err = finish(proc, timeout=30)
            elapsed = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        data = b""
        while True:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
    assert elapsed < 8, elapsed
    assert code == ExitStatus.ERROR, err
    n = captured_count(err)
    assert err.strip().splitlines()[-1] == (
        f"pyxring: writing {fifo}: the reader stopped reading (gave up at the stop) "
        f"(the file holds {n} whole packets)")
    assert f"{400 - n} packets not written" in err
    import io
    with pyxring.open_reader(io.BytesIO(data)) as r:
        assert len([rec for rec in r]) == n                        # whole records only
    assert 0 < n < 400


def test_sigterm_with_a_slow_reader_of_stdout(lab, tmp_path):
    """Issue 20: a slow reader of `-w -` no longer holds a stop for a minute."""
    sink = tmp_path / "slow.pcap"
    slow = ("import sys, time\n"
            f"out = open({str(sink)!r}, 'wb')\n"
            "while True:\n"
            "    b = sys.stdin.buffer.read1(4096)\n"
            "    if not b:\n"
            "        break\n"
            "    out.write(b)\n"
            "    time.sleep(0.2)\n")
    reader = subprocess.Popen([sys.executable, "-c", slow], stdin=subprocess.PIPE)
    proc = lab_capture(lab, "-w", "-", "udp", stdout=reader.stdin)
    reader.stdin.close()
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(2000, size=1500))
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc, timeout=30)
        elapsed = time.monotonic() - t0
        reader.wait(timeout=30)
    finally:
        for p in (proc, reader):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert elapsed < 8, elapsed
    n = captured_count(err)
    lost = re.search(r"^(\d+) packets not written$", err, re.M)
    if code == ExitStatus.ERROR:                # the stop came with more than 3 s of writing left
        assert lost and int(lost.group(1)) > 0 and n + int(lost.group(1)) <= 2000, err
        assert "pyxring: writing -: the reader stopped reading (gave up at the stop)" in err
    else:
        assert code == 0 and not lost, err
    assert len(records(sink)) == n and n > 0


def test_verbose_names_the_writer(lab, tmp_path):
    uring = (r"writer: io_uring \({}, 8 buffers of 2048 KiB\), \d+ writes, \d+ waits for "
             r"a free buffer \(\d+ ms\), longest wait \d+\.\d ms$")
    for engine, first, last in (
            (["auto"], "with io_uring (buffered, 8 buffers of 2048 KiB)", uring.format("buffered")),
            (["uring", "--direct-io"], "with io_uring (O_DIRECT, 8 buffers of 2048 KiB)",
             uring.format("O_DIRECT")),
            (["write"], "with write(2)", r"writer: write\(2\), longest wait \d+\.\d ms$")):
        out = tmp_path / f"{engine[0]}{len(engine)}.pcapng.zst"
        code, err = capture_and_stop(lab, ["-w", str(out), "-v", "--writer", *engine],
                                     lab.udp_frames(50))
        assert code == 0, err
        assert f"pyxring: writing {out} with zstd compression, {first[5:]}" in err, err
        assert re.search(last.replace("writer: ", "writer: zstd compression, "), err, re.M), err
        assert len(records(out)) == 50


def test_sigterm_while_every_io_uring_buffer_is_in_flight(lab, tmp_path):
    """Issue 18: a disk that stops completing writes (a frozen file system)
    fills the ring of in-flight buffers; SIGTERM still ends the capture in
    seconds with the closing lines and one error line, counting only what
    the disk completed."""
    import threading
    from fsfaults import freeze, thaw
    with loop_ext4(tmp_path, mib=64) as mnt:
        out = mnt / "frozen.pcapng"
        proc = lab_capture(lab, "-w", str(out), "--uring-buffers", "2", "--uring-buffer-size",
                           "64", "-v", "udp")
        lines = []

        def pump():
            for raw in iter(proc.stderr.readline, b""):
                lines.append(raw.decode())
        try:
            listening(proc)
            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            lab.send_frames(lab.udp_frames(100, size=1500))
            assert wait_for(lambda: readable(out) == 100), "the first packets never reached the file"
            freeze(mnt)
            lab.send_frames(lab.udp_frames(400, size=1500))
            time.sleep(1.0)                       # both buffers in flight, the loop waits
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert wait_for(lambda: any("pyxring: writing" in ln for ln in lines), timeout=15)
            elapsed = time.monotonic() - t0
        finally:
            thaw(mnt)                             # the kernel finishes the writes; the process exits
            if proc.poll() is None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        err = "".join(lines)
        assert elapsed < 8, elapsed
        assert proc.returncode == ExitStatus.ERROR, err
        n = captured_count(err)
        assert 100 <= n < 500
        assert re.search(r"^pyxring: writing .*frozen\.pcapng: the disk did not complete \d+ writes "
                         r"in time \(gave up at the stop\) \(the file holds \d+ whole packets\)$",
                         err, re.M), err
        assert re.search(r"waits for a free buffer", err)
        got = []
        try:
            with pyxring.open_reader(out) as r:
                for rec in r:
                    got.append(rec.data)
        except pyxring.PyxringError:
            pass                                  # writes the disk finished after the stop
        frames = lab.udp_frames(100, size=1500)
        assert got[:100] == frames and len(got) >= n
