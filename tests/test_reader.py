"""The pcap/pcapng reader against files written by real tools (tcpdump,
tshark/dumpcap, editcap) and against hand-built pcapng corner cases
checked with tshark."""
import os
import struct
import subprocess
import sys
import time

import pytest

from pyxring.reader import CaptureFileError, open_reader
from pyxring.errors import PyxringError

from conftest import privileged, require_root  # noqa: E402
N = 50
PORT = 40125


def _start(lab, cmd, ready):
    proc = lab.popen("b", cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if ready in line or not line:
            break
    if ready not in line:
        proc.terminate()
        proc.wait(timeout=10)
        pytest.fail(f"{cmd[0]} did not start: {line!r}")
    return proc


def _finish(proc, timeout=20):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: tshark then stops its dumpcap child too.
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pytest.fail("capture tool did not stop after its packet count")
    finally:
        proc.stderr.close()


def _tshark_fields(path):
    """(epoch ns, frame length, captured length, interface id) per packet, as
    tshark reads them."""
    # "-Y eth": tshark also lists unknown pcapng blocks, as records of their own
    out = subprocess.run(["tshark", "-r", path, "-Y", "eth", "-T", "fields",
                          "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len",
                          "-e", "frame.interface_id"],
                         capture_output=True, timeout=60, check=True).stdout.decode()
    rows = []
    for line in out.splitlines():
        ep, ln, cl, ifid = line.split("\t")
        sec, _, frac = ep.partition(".")
        rows.append((int(sec or 0) * 10**9 + int((frac + "000000000")[:9]), int(ln), int(cl),
                     int(ifid or 0)))
    return rows


@pytest.fixture(scope="module")
def real_captures(tmp_path_factory):
    """The same N UDP frames captured by tcpdump (pcap, µs and ns) and by
    tshark (pcapng, and pcap)."""
    require_root()
    from pyxring import netlab
    d = tmp_path_factory.mktemp("reader")
    files = {}
    with netlab.VethPair(prefix="prd") as lab:
        frames = lab.udp_frames(N, size=100, dport=PORT)
        flt = f"udp port {PORT}"
        for name, cmd, ready in (
            ("tcpdump_us.pcap", ["tcpdump", "-i", lab.if_b, "-c", str(N),
                                 "-w", "{}", flt], b"listening on"),
            ("tcpdump_ns.pcap", ["tcpdump", "-i", lab.if_b, "-c", str(N),
                                 "--time-stamp-precision", "nano", "-w", "{}", flt],
             b"listening on"),
            ("tshark.pcapng", ["tshark", "-i", lab.if_b, "-c", str(N), "-w", "{}", "-f", flt],
             b"Capture started"),
            ("tshark.pcap", ["tshark", "-i", lab.if_b, "-c", str(N), "-F", "pcap", "-w", "{}",
                             "-f", flt], b"Capture started"),
        ):
            path = str(d / name)
            # dumpcap drops privileges: let it write into the directory
            os.chmod(d, 0o777)
            cmd = [path if c == "{}" else c for c in cmd]
            proc = _start(lab, cmd, ready)
            try:
                t0 = time.time_ns()
                lab.send_frames(frames)
                t1 = time.time_ns()
            finally:
                _finish(proc)
            files[name] = (path, t0, t1)
    return frames, files


@privileged
@pytest.mark.parametrize("name", ["tcpdump_us.pcap", "tcpdump_ns.pcap", "tshark.pcapng",
                                  "tshark.pcap"])
def test_real_files_read_back(real_captures, name):
    frames, files = real_captures
    path, t0, t1 = files[name]
    with open_reader(path) as rd:
        recs = list(rd)
        assert rd.linktype == 1
        assert rd.format == ("pcapng" if name.endswith("pcapng") else "pcap")
    assert len(recs) == N
    assert [r.data for r in recs] == frames
    assert all(r.caplen == r.wirelen == len(f) for r, f in zip(recs, frames))
    ts = [r.ts_ns for r in recs]
    assert ts == sorted(ts)
    # Timestamps are the kernel's receive times: within the sending window
    # (1 µs slack for microsecond files, which round down).
    assert t0 - 1000 <= ts[0] and ts[-1] <= t1 + 1000
    # tshark reads the same timestamps and lengths
    ref = _tshark_fields(path)
    assert [(r.ts_ns, r.wirelen, r.caplen, r.interface_id) for r in recs] == ref
    if name == "tcpdump_us.pcap":
        assert all(t % 1000 == 0 for t in ts)
    if name == "tshark.pcapng":
        # dumpcap writes an interface statistics block at the end
        assert 0 in rd.interface_stats
        assert rd.interface_stats[0].get("ifrecv", N) >= N
        assert rd.interfaces[0].name


@privileged
def test_stdin_and_fileobj(real_captures):
    frames, files = real_captures
    path = files["tshark.pcapng"][0]
    with open(path, "rb") as f, open_reader(f) as rd:
        assert [r.data for r in rd] == frames
    # "-" is standard input, also when it is a pipe
    code = ("import sys\nfrom pyxring.reader import open_reader\n"
            "print(sum(len(r.data) for r in open_reader('-')))")
    with open(path, "rb") as f:
        out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True,
                             timeout=60, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert int(out.stdout) == sum(map(len, frames))


# --- hand-built pcapng corner cases, judged by tshark ----------------------

from capfiles import block as _block, epb as _epb, idb as _idb, opt as _opt, shb as _shb  # noqa: E402,F401


def _frame(i):
    from pyxring import netlab
    return netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.9.9.1",
                                 "10.9.9.2", 1000 + i, 2000, bytes([i]) * (10 + i))


@pytest.fixture
def crafted(tmp_path):
    """Two sections (little then big endian), resolutions 10^-6, 10^-9,
    2^-20 and 10^-3 with an offset, an SPB, an OPB, an unknown block, an ISB."""
    f = [_frame(i) for i in range(6)]
    le, be = "<", ">"
    base = 1_700_000_000
    s1 = (_shb(le) + _idb(le) + _idb(le, tsresol=9, name=b"nano0") +
          _block(le, 0x0BAD, b"ignore me") +
          _epb(le, 0, base * 10**6 + 123456, f[0]) +
          _epb(le, 1, base * 10**9 + 123456789, f[1], wirelen=len(f[1]) + 100) +
          _block(le, 3, struct.pack(le + "I", len(f[2])) + f[2]) +
          _block(le, 5, struct.pack(le + "III", 1, 0, 0) +
                 _opt(le, 4, struct.pack(le + "Q", 77)) + _opt(le, 5, struct.pack(le + "Q", 3)) +
                 _opt(le, 0, b"")))
    s2 = (_shb(be) + _idb(be, tsresol=0x80 | 20, name=b"pow2") +
          _idb(be, tsresol=3, tsoffset=base, name=b"offset") +
          _epb(be, 0, (base << 20) + (1 << 19), f[3]) +     # x.5 s in 2^-20 units
          _block(be, 2, struct.pack(be + "HHIIII", 1, 0, 0, 250, len(f[4]), len(f[4])) + f[4]) +
          _epb(be, 1, 1500, f[5]))
    path = tmp_path / "crafted.pcapng"
    path.write_bytes(s1 + s2)
    want_ts = [base * 10**9 + 123456000, base * 10**9 + 123456789, 0,
               base * 10**9 + 500_000_000, base * 10**9 + 250_000_000, base * 10**9 + 1_500_000_000]
    return str(path), f, want_ts


def test_crafted_pcapng(crafted):
    path, frames, want_ts = crafted
    with open_reader(path) as rd:
        recs = list(rd)
        assert [i.name for i in rd.interfaces] == ["eth9", "nano0", "pow2", "offset"]
        assert rd.interface_stats[1]["ifrecv"] == 77 and rd.interface_stats[1]["ifdrop"] == 3
    assert [r.data for r in recs] == frames
    assert [r.ts_ns for r in recs] == want_ts
    assert [r.interface_id for r in recs] == [0, 1, 0, 2, 3, 3]
    assert recs[1].wirelen == len(frames[1]) + 100


def test_crafted_pcapng_agrees_with_tshark(crafted):
    path, frames, _ = crafted
    ref = _tshark_fields(path)
    with open_reader(path) as rd:
        ours = [(r.ts_ns, r.wirelen, r.caplen) for r in rd]
    # tshark shows a simple packet block (no timestamp) with time 0 too.  Its
    # interface ids restart in each section; ours number the whole file.
    assert ours == [row[:3] for row in ref]
    assert [row[3] for row in ref] == [0, 1, 0, 0, 1, 1]


@pytest.mark.parametrize("magic,endian,mult", [(0xA1B2C3D4, "<", 1000), (0xA1B2C3D4, ">", 1000),
                                               (0xA1B23C4D, "<", 1), (0xA1B23C4D, ">", 1)])
def test_pcap_magics_and_byte_orders(tmp_path, magic, endian, mult):
    f = [_frame(i) for i in range(3)]
    raw = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for i, fr in enumerate(f):
        raw += struct.pack(endian + "IIII", 1_700_000_000 + i, 999_999, len(fr), len(fr)) + fr
    path = tmp_path / "x.pcap"
    path.write_bytes(raw)
    with open_reader(str(path)) as rd:
        recs = list(rd)
    assert [r.data for r in recs] == f
    assert [r.ts_ns for r in recs] == [(1_700_000_000 + i) * 10**9 + 999_999 * mult
                                       for i in range(3)]
    assert [(r.ts_ns, r.wirelen, r.caplen, 0) for r in recs] == _tshark_fields(str(path))


# --- damaged files: one clear error naming the file -------------------------

def test_missing_empty_and_foreign_files(tmp_path):
    with pytest.raises(CaptureFileError, match="nope.pcap: No such file"):
        open_reader(str(tmp_path / "nope.pcap"))
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(CaptureFileError, match="empty.pcap: empty"):
        open_reader(str(tmp_path / "empty.pcap"))
    (tmp_path / "text.pcap").write_bytes(b"hello world, not a capture")
    with pytest.raises(PyxringError, match="text.pcap: not a pcap or pcapng file"):
        open_reader(str(tmp_path / "text.pcap"))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_last_record_is_reported(tmp_path, crafted, fmt):
    path, frames, _ = crafted
    if fmt == "pcap":
        raw = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        for fr in frames[:3]:
            raw += struct.pack("<IIII", 1, 0, len(fr), len(fr)) + fr
    else:
        raw = open(path, "rb").read()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(raw[:-7])
    seen = []
    with pytest.raises(CaptureFileError, match=r"cut\.%s: truncated" % fmt):
        with open_reader(str(cut)) as rd:
            for r in rd:
                seen.append(r.data)
    # every complete record before the damage was delivered
    assert seen == frames[:len(seen)] and len(seen) == (2 if fmt == "pcap" else 5)


def test_corrupt_block_length(tmp_path, crafted):
    path, frames, _ = crafted
    raw = bytearray(open(path, "rb").read())
    # the first block after the SHB (the first IDB): give it an odd length
    shb_len = struct.unpack_from("<I", raw, 4)[0]
    struct.pack_into("<I", raw, shb_len + 4, 13)
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CaptureFileError, match=r"bad\.pcapng: corrupt block length 13"):
        list(open_reader(str(bad)))
