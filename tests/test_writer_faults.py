"""The writer when the disk fails: full (ENOSPC on a small loop-mounted
ext4), dying (EIO after an ext4 shutdown), stalled (a frozen file system,
so every io_uring buffer is in flight), a file system that refuses
O_DIRECT (ramfs) and a kernel that refuses io_uring (seccomp).  Each time:
one error naming the file, a file that ends on a record, and counts that
are the file's."""
import os
import subprocess
import sys
import threading
import time

import pytest

import pyxring
from conftest import ROOT, require_root, require_tool
from fsfaults import freeze, loop_ext4, ramfs, remount, shut_down, thaw
from pyxring.errors import PyxringError, WriteError
from pyxring.writer import open_writer

TS0 = 1_700_000_000_000_000_000
# incompressible payloads (a pool larger than the codecs' windows), so
# compressed files fill the disk too
POOL = os.urandom(8 << 20)


def frame(i):
    start = (i * 104_729) % (len(POOL) - 1500)
    return i.to_bytes(8, "big") + POOL[start:start + 100 + (i * 37) % 1400]


def write_frames(w, lo, hi):
    for i in range(lo, hi):
        w.write(frame(i), ts_ns=TS0 + i)


def reference(path, n, engine="write", direct=False):
    """The same ``n`` frames written by one engine in one go."""
    r = open_writer(path, engine=engine, direct=direct)
    write_frames(r, 0, n)
    r.write_stats(received=n, start_ns=TS0, end_ns=TS0 + 1)
    r.close()
    return path.read_bytes()


def tshark_frames(path):
    """tshark must read the whole file: no 'cut short', exit 0."""
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e",
                        "frame.cap_len"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert b"cut short" not in r.stderr
    return [int(x) for x in r.stdout.split()]


def records(path):
    with pyxring.open_reader(path) as r:
        return [rec.data for rec in r]


@pytest.mark.parametrize("engine,direct", [("write", False), ("uring", False), ("uring", True)])
@pytest.mark.parametrize("name", ["full.pcapng", "full.pcap", "full.pcapng.zst", "full.pcap.gz"])
def test_disk_full_ends_the_file_at_its_last_whole_packet(tmp_path, engine, direct, name):
    with loop_ext4(tmp_path, mib=6) as mnt:
        path = mnt / name
        w = open_writer(path, "pcapng" if "pcapng" in name else "pcap", engine=engine,
                        direct=direct)
        with pytest.raises(WriteError) as info:
            write_frames(w, 0, 100_000)
        w.close()
        msg = str(info.value)
        n = info.value.records_in_file
        assert msg == (f"writing {path}: No space left on device "
                       f"(the file holds {n} whole packets)")
        assert 0 < n < 100_000 and w.packets_written == n
        assert len(tshark_frames(path)) == n
        assert records(path) == [frame(i) for i in range(n)]
        tool = {".zst": "zstd", ".gz": "gzip"}.get(path.suffix)
        if tool:                                 # the compressed stream is ended properly
            r = subprocess.run([require_tool(tool), "-t", str(path)], capture_output=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("engine,direct", [("write", False), ("uring", False), ("uring", True)])
def test_io_error_leaves_the_file_as_last_written(tmp_path, engine, direct):
    """After an ext4 shutdown every write fails with EIO (and ftruncate
    too): the file holds what was written before, whole."""
    with loop_ext4(tmp_path, mib=32) as mnt:
        path = mnt / "eio.pcapng"
        w = open_writer(path, engine=engine, direct=direct)
        write_frames(w, 0, 2000)
        w.flush()
        shut_down(mnt)
        with pytest.raises(WriteError, match=f"writing {path}: Input/output error "
                                             r"\(the file holds 2000 whole packets\)"):
            write_frames(w, 2000, 20000)
            w.flush()
        w.close()
        assert w.packets_written == 2000
        remount(mnt)
        assert len(tshark_frames(path)) == 2000
        assert records(path) == [frame(i) for i in range(2000)]


def frozen_after(path, n):
    """A writer with two small io_uring buffers whose first ``n`` frames
    reached the disk; then the file system is frozen."""
    w = open_writer(path, engine="uring", buffers=2, buffer_size=65536, direct=True)
    write_frames(w, 0, n)
    w.flush()
    freeze(path.parent)
    return w


def test_a_frozen_disk_fills_the_ring_and_the_wait_is_counted(tmp_path):
    """All buffers in flight on a stalled disk: the writer waits (counted,
    timed) and goes on when the disk does; the file is as write(2)'s."""
    with loop_ext4(tmp_path, mib=64) as mnt:
        path = mnt / "frozen.pcapng"
        w = frozen_after(path, 100)
        thawer = threading.Timer(0.5, thaw, (mnt,))
        thawer.start()
        try:
            write_frames(w, 100, 1100)
        finally:
            thawer.join()
        st = w.stats()
        w.write_stats(received=1100, start_ns=TS0, end_ns=TS0 + 1)
        w.close()
        assert st["full_waits"] >= 1 and st["full_wait_ms"] >= 300, st
        assert path.read_bytes() == reference(tmp_path / "ref.pcapng", 1100)


def test_a_stalled_disk_gives_up_at_the_deadline(tmp_path):
    """A disk that never completes: close() returns at its deadline with one
    error and the count of packets known to be in the file."""
    with loop_ext4(tmp_path, mib=64) as mnt:
        path = mnt / "stalled.pcapng"
        w = frozen_after(path, 500)
        try:
            write_frames(w, 500, 560)            # less than two buffers: no wait yet
            w.set_deadline(1.0)
            t0 = time.monotonic()
            with pytest.raises(WriteError, match="the disk did not complete 1 writes in time"):
                w.close()
            assert time.monotonic() - t0 < 5
            assert w.packets_written == 500
        finally:
            thaw(mnt)
        got = []
        try:
            with pyxring.open_reader(path) as r:
                for rec in r:
                    got.append(rec.data)
        except PyxringError:
            pass                                 # a write the disk finished after we left
        assert got[:500] == [frame(i) for i in range(500)]


def test_where_o_direct_is_refused_io_uring_writes_through_the_page_cache(tmp_path):
    ref = reference(tmp_path / "ref.pcapng", 3000, engine="uring", direct=True)
    with ramfs(tmp_path) as mnt:
        for engine, direct in (("auto", False), ("uring", False), ("auto", True),
                               ("uring", True)):
            notices = []
            path = mnt / f"{engine}-{direct}.pcapng"
            w = open_writer(path, engine=engine, direct=direct, notice=notices.append)
            write_frames(w, 0, 3000)
            w.write_stats(received=3000, start_ns=TS0, end_ns=TS0 + 1)
            st = w.stats()
            w.close()
            assert st["writer"] == "io_uring" and st.get("direct_io") is False, st
            # a notice only where O_DIRECT was asked for
            assert notices == ([f"pyxring: {mnt} does not take O_DIRECT; writing {path} "
                                f"through the page cache"] if direct else [])
            assert path.read_bytes() == ref


# The child process installs a seccomp filter that refuses io_uring_setup
# with EPERM (what a container's default profile does), then writes.
SECCOMP_CHILD = r"""
import ctypes, struct, sys
from pyxring.writer import open_writer
libc = ctypes.CDLL(None, use_errno=True)
AUDIT_ARCH_X86_64, NR_IO_URING_SETUP = 0xC000003E, 425
prog = [(0x20, 0, 0, 4), (0x15, 1, 0, AUDIT_ARCH_X86_64), (0x06, 0, 0, 0x7FFF0000),
        (0x20, 0, 0, 0), (0x15, 0, 1, NR_IO_URING_SETUP), (0x06, 0, 0, 0x00050000 | 1),
        (0x06, 0, 0, 0x7FFF0000)]
raw = b"".join(struct.pack("=HBBI", *i) for i in prog)
buf = ctypes.create_string_buffer(raw)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(len(prog), ctypes.addressof(buf))
assert libc.prctl(38, 1, 0, 0, 0) == 0                          # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(fp), 0, 0) == 0           # PR_SET_SECCOMP, FILTER
try:
    w = open_writer(sys.argv[1], engine=sys.argv[2])
except Exception as exc:
    print("error:", exc)
    sys.exit(1)
w.write(b"\x00" * 60, ts_ns=1)
print("writer:", w.stats()["writer"])
w.close()
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the seccomp filter is for x86_64")
def test_io_uring_refused_by_seccomp(tmp_path):
    path = tmp_path / "s.pcapng"
    r = subprocess.run([sys.executable, "-c", SECCOMP_CHILD, str(path), "auto"],
                       capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "writer: write\n"
    assert r.stderr.decode() == (f"pyxring: io_uring unavailable (io_uring_setup: Operation not "
                                 f"permitted); writing {path} with write(2)\n")
    assert len(records(path)) == 1
    r = subprocess.run([sys.executable, "-c", SECCOMP_CHILD, str(path), "uring"],
                       capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 1
    assert r.stdout.decode() == ("error: --writer uring: io_uring_setup: Operation not "
                                 "permitted\n")


def test_a_signal_during_a_flush_loses_nothing(tmp_path):
    """Ctrl-C while an idle flush waits for the disk: the writer goes on
    from where the flush was, and the file is as write(2) makes it."""
    import signal

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted()
    with loop_ext4(tmp_path, mib=32) as mnt:
        path = mnt / "sig.pcapng"
        w = open_writer(path, engine="uring")
        write_frames(w, 0, 50)
        w.flush()
        write_frames(w, 50, 120)
        freeze(mnt)
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(Interrupted):
                w.flush()                         # its write can't complete: frozen
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            thaw(mnt)
        write_frames(w, 120, 2000)
        w.write_stats(received=2000, start_ns=TS0, end_ns=TS0 + 1)
        w.close()
        assert path.read_bytes() == reference(tmp_path / "ref.pcapng", 2000)


@pytest.mark.parametrize("name", ["ring.pcapng", "ring.pcapng.zst"])
def test_a_signal_while_every_buffer_is_in_flight_loses_nothing(tmp_path, name):
    """Ctrl-C while the writer waits for a free io_uring buffer (in the
    middle of a record, or of compressed data): what was accepted stays in
    order, and the file is as write(2) makes it in one go."""
    import signal

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted()
    with loop_ext4(tmp_path, mib=64) as mnt:
        path = mnt / name
        w = frozen_after(path, 100)
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(Interrupted):
                write_frames(w, 100, 100_000)     # the ring fills up, the writer waits
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            thaw(mnt)
        done = w.packets_accepted
        assert 100 < done < 100_000
        write_frames(w, done, done + 500)
        w.write_stats(received=done + 500, start_ns=TS0, end_ns=TS0 + 1)
        w.close()
        want = reference(tmp_path / "ref.pcapng", done + 500)
        if path.suffix == ".zst":                 # the flush before the freeze split a block
            r = subprocess.run([require_tool("zstd"), "-dc", str(path)], capture_output=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            assert r.stdout == want
        else:
            assert path.read_bytes() == want
