"""The writer sink without a live capture: both output engines give the
same bytes, compressed files are read back by tshark, the codecs' own tools
and pyxring, several interfaces share one pcapng, and rotation names and
splits files exactly as tcpdump does (the installed tcpdump judges)."""
import os
import random
import subprocess

import pytest

import pyxring
from conftest import require_root, require_tool
from pyxring.compress import CompressedFileError, open_decompressed
from pyxring.errors import PyxringError
from pyxring.writer import FileLimitReached, open_file, open_writer

TS0 = 1_700_000_000_000_000_000


def frames(n=3000, seed=7):
    """Frames of every awkward size: empty, tiny, odd, jumbo, beyond any snaplen."""
    rnd = random.Random(seed)
    sizes = [0, 1, 3, 60, 61, 1514, 9000, 65535, 300000]
    out = []
    for i in range(n):
        size = sizes[i] if i < len(sizes) else rnd.choice([60, 64, 100, 590, 1514, 1515, 4000])
        out.append((bytes((i + j) & 0xFF for j in range(size)), TS0 + i * 1_234_567,
                    size + (i % 3) * 10))
    return out


FRAMES = frames()


def write_all(path, fmt="pcapng", precision="ns", **kw):
    w = open_writer(path, fmt, precision=precision, **kw)
    for data, ts, wirelen in FRAMES:
        w.write(data, ts_ns=ts, wirelen=wirelen)
    w.write_stats(received=len(FRAMES), dropped=0, start_ns=TS0, end_ns=TS0 + 10**12)
    w.close()
    return w


def tshark_count(path):
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e",
                        "frame.cap_len"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return [int(x) for x in r.stdout.split()]


def expected_caplens(snaplen=262144):
    return [min(len(d), snaplen) for d, _, _ in FRAMES]


def read_back(path):
    with pyxring.open_reader(path) as r:
        return [(rec.data, rec.ts_ns, rec.wirelen) for rec in r]


@pytest.mark.parametrize("fmt,precision", [("pcapng", "ns"), ("pcap", "ns"), ("pcap", "us")])
def test_both_engines_write_the_same_bytes(tmp_path, fmt, precision):
    ref = tmp_path / f"write.{fmt}"
    w = write_all(ref, fmt, precision, engine="write")
    assert w.stats()["writer"] == "write"
    for name, opts in (("buffered", {}), ("direct", {"direct": True}),
                       ("small-buffers", {"buffer_size": 8192, "buffers": 3, "direct": True})):
        path = tmp_path / f"uring-{name}.{fmt}"
        u = write_all(path, fmt, precision, engine="uring", **opts)
        st = u.stats()
        assert st["writer"] == "io_uring" and st["direct_io"] is opts.get("direct", False), st
        assert path.read_bytes() == ref.read_bytes(), name
    assert tshark_count(ref) == expected_caplens()
    got = read_back(ref)
    assert [g[0] for g in got] == [d[:262144] for d, _, _ in FRAMES]
    want_ts = [t if precision == "ns" else t // 1000 * 1000 for _, t, _ in FRAMES]
    assert [g[1] for g in got] == want_ts


def test_uring_flush_leaves_an_exact_file_that_grows_on(tmp_path):
    """An idle flush ends the file exactly after its last record (the
    direct-I/O padding is cut off) and the next records follow it."""
    path = tmp_path / "flushed.pcapng"
    ref = tmp_path / "ref.pcapng"
    w = open_writer(path, engine="uring")
    r = open_writer(ref, engine="write")
    for k, (data, ts, wirelen) in enumerate(FRAMES[:600]):
        for x in (w, r):
            x.write(data, ts_ns=ts, wirelen=wirelen)
        if k in (10, 11, 299):
            w.flush()
            r.flush()
            assert path.read_bytes() == ref.read_bytes()
            assert len(tshark_count(path)) == k + 1
    for x in (w, r):
        x.write_stats(received=600, start_ns=TS0, end_ns=TS0 + 1)
        x.close()
    assert path.read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("ext,tool", [(".gz", ["gzip", "-dc"]), (".zst", ["zstd", "-dcq"]),
                                      (".lz4", ["lz4", "-dcq"])])
@pytest.mark.parametrize("engine", ["write", "uring"])
def test_compressed_files_read_by_tshark_the_tool_and_pyxring(tmp_path, ext, tool, engine):
    plain = tmp_path / "plain.pcapng"
    write_all(plain, engine="write")
    path = tmp_path / f"c.pcapng{ext}"
    w = write_all(path, engine=engine)
    assert w.stats()["compression"] == {".gz": "gzip", ".zst": "zstd", ".lz4": "lz4"}[ext]
    assert os.path.getsize(path) < os.path.getsize(plain) / 3
    out = subprocess.run([require_tool(tool[0]), *tool[1:], str(path)], capture_output=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain.read_bytes()
    assert tshark_count(path) == expected_caplens()
    assert read_back(path) == read_back(plain)
    info = subprocess.run([require_tool("capinfos"), str(path)], capture_output=True,
                          timeout=60).stdout.decode()
    assert {".gz": "gzip", ".zst": "zstd", ".lz4": "lz4"}[ext] + " compressed" in info


@pytest.mark.parametrize("ext", [".gz", ".zst", ".lz4"])
def test_a_cut_compressed_file_reads_to_its_last_flush(tmp_path, ext):
    """What a killed capture leaves: everything up to the last flush
    decompresses, then one error naming the file."""
    path = tmp_path / f"cut.pcap{ext}"
    w = open_writer(path, "pcap", engine="write")
    for data, ts, wirelen in FRAMES[:500]:
        w.write(data, ts_ns=ts, wirelen=wirelen)
    w.flush()
    flushed = os.path.getsize(path)
    for data, ts, wirelen in FRAMES[500:900]:
        w.write(data, ts_ns=ts, wirelen=wirelen)
    w.flush()
    cut = path.read_bytes()[:os.path.getsize(path) - 7]
    w.close()
    assert len(cut) > flushed
    path.write_bytes(cut)
    got = []
    with pytest.raises(PyxringError, match=f"{path}: .* cut short"):
        with pyxring.open_reader(path) as r:
            for rec in r:
                got.append(rec.data)
    assert len(got) >= 500
    assert got == [d[:262144] for d, _, _ in FRAMES[:len(got)]]


def test_open_decompressed_sniffs_the_bytes_not_the_name(tmp_path):
    plain = tmp_path / "p.pcap.zst"           # misleading name, plain bytes
    write_all(plain, "pcap", compression="none")
    assert open_decompressed(plain) is None
    packed = tmp_path / "z.pcap"               # misleading name, zstd bytes
    write_all(packed, "pcap", compression="zstd")
    with open_decompressed(packed) as f:
        assert f.read(4) == bytes.fromhex("4d3cb2a1")
    with open(packed, "rb") as raw:
        with open_decompressed(raw) as f:
            assert len(f.read()) == os.path.getsize(tmp_path / "p.pcap.zst")
    assert len(read_back(packed)) == len(FRAMES)


def test_pyxring_read_prints_a_compressed_file(tmp_path):
    # the compressed file prints what tcpdump prints of the same file uncompressed
    from conftest import run_pyxring
    plain, packed = tmp_path / "r.pcapng", tmp_path / "r.pcapng.gz"
    write_all(plain)
    write_all(packed)
    r = run_pyxring("read", str(packed), "-c", "20")
    assert r.returncode == 0, r.stderr
    ref = subprocess.run([require_tool("tcpdump"), "-nn", "-r", str(plain), "-c", "20"],
                         capture_output=True, timeout=60)
    assert ref.returncode == 0, ref.stderr
    assert r.stdout.decode().splitlines() == ref.stdout.decode().splitlines()
    assert r.stdout.count(b"\n") >= 20


def test_several_interfaces_in_one_pcapng(tmp_path):
    path = tmp_path / "multi.pcapng"
    w = open_writer(path, ifname="eth-a", ifdescription="first")
    b = w.add_interface(1, 1500, name="eth-b", description="second")
    c = w.add_interface(101, 128, name="raw-c")
    assert (b, c) == (1, 2)
    for i in range(30):
        w.write(bytes([i]) * 2000, ts_ns=TS0 + i, interface_id=i % 3)
    for iid, recv in enumerate((10, 11, 12)):
        w.write_stats(received=recv, dropped=iid, interface_id=iid, end_ns=TS0 + 99)
    with pytest.raises(ValueError, match="interface 3 is not in"):
        w.write(b"x", interface_id=3)
    w.close()
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e",
                        "frame.interface_id", "-e", "frame.interface_name", "-e", "frame.cap_len"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    names = ["eth-a", "eth-b", "raw-c"]
    caps = ["2000", "1500", "128"]
    assert rows == [[str(i % 3), names[i % 3], caps[i % 3]] for i in range(30)]
    info = subprocess.run([require_tool("capinfos"), str(path)], capture_output=True,
                          timeout=60).stdout.decode()
    assert "Number of interfaces in file: 3" in info
    assert info.count("Number of stat entries = 1") == 3
    with pyxring.open_reader(path) as rd:
        list(rd)
        assert {k: v["ifrecv"] for k, v in rd.interface_stats.items()} == {0: 10, 1: 11, 2: 12}
        assert [v["usrdeliv"] for v in rd.interface_stats.values()] == [10, 10, 10]


def test_pcap_holds_one_interface():
    with open_writer("/dev/null", "pcap") as w:
        with pytest.raises(PyxringError, match="a pcap file holds one interface"):
            w.add_interface(1)


@pytest.mark.parametrize("args", [["-C", "1"], ["-C", "1", "-W", "3"], ["-C", "1", "-W", "1"],
                                  ["-C", "1", "-W", "11"], ["-C", "2", "-W", "2"]])
def test_size_rotation_gives_tcpdumps_files_byte_for_byte(tmp_path, args):
    """The same records through tcpdump -r -w -C [-W] and through our
    rotation: the same names, the same split points, the same bytes."""
    tcpdump = require_tool("tcpdump")
    src = tmp_path / "in.pcap"
    w = open_writer(src, "pcap", precision="us", snaplen=65535, engine="write")
    for data, ts, wirelen in FRAMES[9:]:            # tcpdump -r keeps what fits 65535
        w.write(data, ts_ns=ts // 1000 * 1000, wirelen=wirelen)
    w.close()
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    r = subprocess.run([tcpdump, "-Z", "root", "-r", str(src), "-w", str(theirs / "out.pcap"),
                        *args], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    size = int(args[1]) * 1_000_000
    count = int(args[3]) if len(args) > 2 else None
    for engine in ("write", "uring"):
        for f in ours.iterdir():
            f.unlink()
        rot = open_writer(ours / "out.pcap", "pcap", precision="us", snaplen=65535,
                          engine=engine, rotate_size=size, max_files=count)
        n = 0
        for rec in pyxring.open_reader(src):
            rot.write(rec.data, ts_ns=rec.ts_ns, wirelen=rec.wirelen)
            n += 1
        rot.close()
        assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))
        for name in os.listdir(theirs):
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), (engine, name)
        if count is None:
            assert rot.packets_written == n
            assert sum(len(read_back(p)) for p in rot.paths) == n


class FakeClock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def rotating(path, rotation, clock, **kw):
    from pyxring.writer.rotation import RotatingWriter
    return RotatingWriter(path, "pcapng", [{"linktype": 1, "snaplen": 262144}], rotation,
                          clock=clock, **kw)


def test_time_rotation_names_files_by_strftime_and_stops_after_w(tmp_path):
    from pyxring.writer.rotation import Rotation
    clock = FakeClock(1_700_000_000.25)
    pattern = str(tmp_path / "t-%Y%m%d-%H%M%S.pcapng")
    w = rotating(pattern, Rotation(seconds=10, max_files=3), clock)
    sent = 0
    with pytest.raises(FileLimitReached, match="maximum file limit reached: 3"):
        for step in range(100):
            clock.t += 1
            w.write(b"\x00" * 60, ts_ns=int(clock.t * 1e9))
            sent += 1
            w.flush()
    import time as _t
    want = [_t.strftime(pattern, _t.localtime(t)) for t in (1_700_000_000, 1_700_000_010,
                                                            1_700_000_020)]
    assert w.paths == want
    counts = [len(read_back(p)) for p in w.paths]
    assert sum(counts) == w.packets_written == sent       # the 30th came after the end
    assert counts == [9, 10, 10]


def test_aligned_time_rotation_cuts_on_the_boundary(tmp_path):
    from pyxring.writer.rotation import Rotation, _aligned_start
    start = 1_700_000_017.0
    clock = FakeClock(start)
    w = rotating(str(tmp_path / "a-%H%M%S.pcapng"), Rotation(seconds=60, align=True), clock)
    first = _aligned_start(start, 60) + 60
    times = []
    while clock.t < first + 130:
        w.write(b"\x01" * 60, ts_ns=int(clock.t * 1e9))
        times.append(clock.t)
        clock.t += 7
        w.flush()
    w.close()
    assert len(w.paths) == 4
    for path, (lo, hi) in zip(w.paths, [(start, first), (first, first + 60),
                                        (first + 60, first + 120), (first + 120, 10**12)]):
        got = [rec[1] / 1e9 for rec in read_back(path)]
        assert got == [t for t in times if lo <= t < hi]


def test_time_rotation_ends_files_while_idle_and_counts_per_file(tmp_path):
    """Each file's statistics block holds that file's share of the counters."""
    from pyxring.writer.rotation import Rotation
    clock = FakeClock(1_800_000_000.0)
    counters = {"received": 0, "dropped": 0}
    w = rotating(str(tmp_path / "s-%s.pcapng"), Rotation(seconds=5), clock,
                 stats=lambda: dict(counters))
    for k in range(3):
        for _ in range(4 + k):
            w.write(b"\x02" * 60, ts_ns=int(clock.t * 1e9))
        counters["received"] += 4 + k + 1
        counters["dropped"] += 1
        clock.t += 5
        w.flush()                                 # idle: the file's time is over
    w.write_stats(received=counters["received"], dropped=counters["dropped"])
    w.close()
    assert len(w.paths) == 4
    stats = []
    for p in w.paths:
        with pyxring.open_reader(p) as r:
            list(r)
            stats.append((r.interface_stats[0].get("ifrecv"), r.interface_stats[0]["osdrop"],
                          r.interface_stats[0]["usrdeliv"]))
    assert stats == [(5, 1, 4), (6, 1, 5), (7, 1, 6), (0, 0, 0)]


def test_rotation_never_clobbers_a_file_it_did_not_write(tmp_path):
    notices = []
    first = tmp_path / "r.pcap"
    first.write_bytes(b"old first")
    (tmp_path / "r.pcap1").write_bytes(b"unrelated")
    (tmp_path / "r.pcap1.~1~").write_bytes(b"older backup")
    w = open_writer(first, "pcap", rotate_size=1_000_000, notice=notices.append, engine="write")
    for data, ts, wirelen in FRAMES[:1500]:
        w.write(data[:1500], ts_ns=ts, wirelen=wirelen)
    w.close()
    assert (tmp_path / "r.pcap1.~2~").read_bytes() == b"unrelated"
    assert (tmp_path / "r.pcap1.~1~").read_bytes() == b"older backup"
    assert notices == [f"pyxring: {tmp_path}/r.pcap1 existed; renamed it {tmp_path}/r.pcap1.~2~"]
    assert len(read_back(first)) + len(read_back(tmp_path / "r.pcap1")) == 1500


def test_post_rotate_command_runs_on_every_finished_file(tmp_path):
    log = tmp_path / "log"
    script = tmp_path / "post.sh"
    script.write_text(f"#!/bin/sh\necho \"$1\" >> {log}\n")
    script.chmod(0o755)
    w = open_writer(tmp_path / "z.pcap", "pcap", rotate_size=1_000_000, post_rotate=str(script))
    for data, ts, wirelen in FRAMES[:2000]:
        w.write(data[:1500], ts_ns=ts, wirelen=wirelen)
    w.close()
    import time as _t
    deadline = _t.monotonic() + 20
    while _t.monotonic() < deadline and (not log.exists()
                                         or len(log.read_text().split()) < len(w.paths)):
        _t.sleep(0.05)
    assert sorted(log.read_text().split()) == sorted(w.paths) and len(w.paths) == 2


@pytest.mark.parametrize("kw,message", [
    ({"rotate_size": 0, "max_files": 2}, "invalid file size 0"),
    ({"max_files": 0, "rotate_size": 1}, "invalid number of output files 0"),
    ({"rotate_seconds": -1}, "invalid number of seconds -1"),
    ({"post_rotate": "no-such-program-xyz"}, "-z no-such-program-xyz: no such program"),
    ({"engine": "fast"}, "unknown writer 'fast'"),
    ({"compression": "bz2"}, "unknown compression 'bz2'"),
])
def test_bad_writer_options_are_named(tmp_path, kw, message):
    with pytest.raises(PyxringError, match=message):
        open_writer(tmp_path / "x.pcapng", **kw)


def test_uring_refuses_what_is_not_a_regular_file():
    with pytest.raises(PyxringError, match="needs a regular file"):
        open_file("/dev/null", interfaces=[{"linktype": 1, "snaplen": 100}], engine="uring")
    w = open_file("/dev/null", interfaces=[{"linktype": 1, "snaplen": 100}])
    assert w.stats()["writer"] == "write"
    w.close()
