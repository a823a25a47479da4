"""The file source (pyxring.file) judged by real tools: files written by
tcpdump, dumpcap, editcap (every pcap variant it writes) and mergecap
(several link types in one pcapng) in tests/corpus/, byte-swapped and
multi-section copies of them, and hand-built corner cases, each compared
record by record with what tshark, tcpdump and scapy read."""
import gzip
import io
import os
import struct
import subprocess
import sys
import warnings

import pytest

from pyxring import open_reader
from pyxring.errors import CaptureFileError, PyxringError
from pyxring.file import open_file

import capfiles as cf
from capfiles import corpus


def ours(path_or_obj, **kw):
    """(sec, frac ns, wirelen, caplen, interface id, linktype, data) per packet."""
    with open_file(path_or_obj, **kw) as src:
        return [(*p.ts_parts, p.wirelen, p.caplen, p.ifindex, p.linktype, p.copy()) for p in src]


def scapy_data(path):
    from scapy.utils import RawPcapNgReader, RawPcapReader
    with open(path, "rb") as f:
        magic = f.read(4)
    reader = RawPcapNgReader if magic == b"\x0a\x0d\x0d\x0a" else RawPcapReader
    with reader(path) as r:
        return [bytes(data) for data, _meta in r]


@pytest.mark.parametrize("name", cf.ALL_READABLE)
def test_real_files_agree_with_tshark_and_scapy(name):
    path = corpus(name)
    got = ours(path)
    ref = cf.tshark_rows(path)
    assert len(got) == len(ref) > 0
    # one section in each: tshark's interface ids are ours
    assert [g[:5] for g in got] == [r[:5] for r in ref]
    assert [cf.WTAP_ENCAP[g[5]] for g in got] == [r[5] for r in ref]
    # scapy reads no Kuznetsov files: editcap made that one from tcpdump's
    same = "tcpdump_us.pcap" if name == "editcap_modpcap.pcap" else name
    assert [g[6] for g in got] == scapy_data(corpus(same))
    # open_reader's records are the same, with their own copies of the bytes
    with open_reader(path) as rd:
        recs = list(rd)
    assert [(*r.ts_parts, r.wirelen, r.caplen, r.interface_id, r.linktype, r.data)
            for r in recs] == got
    assert all(r.ts_ns == s * 10**9 + f for r, (s, f, *_) in zip(recs, got))


def test_interfaces_and_statistics_of_a_dumpcap_file():
    with open_file(corpus("dumpcap_two_links.pcapng")) as src:
        assert src.format == "pcapng"
        assert [i.linktype for i in src.interfaces] == [1, 113]
        assert src.interfaces[1].name == "any"
        assert src.interfaces[0].name.startswith("pxc")
        assert all(i.tsresol == 9 for i in src.interfaces)
        assert src.linktype == 1 and src.snaplen == 262144
        n = {0: 0, 1: 0}
        for p in src:
            n[p.ifindex] += 1
            assert p.linktype == src.interfaces[p.ifindex].linktype
        # dumpcap ends with one statistics block per interface
        assert sorted(src.interface_stats) == [0, 1]
        assert src.interface_stats[0]["ifrecv"] >= n[0]
        assert src.interface_stats[1]["ifrecv"] >= n[1]


def test_merged_link_types_are_those_of_the_inputs():
    """mergecap's interfaces keep the link types tcpdump names for the inputs."""
    with open_file(corpus("mergecap_three_links.pcapng")) as src:
        lts = [i.linktype for i in src.interfaces]
        per_if = {}
        for p in src:
            per_if[p.ifindex] = per_if.get(p.ifindex, 0) + 1
    assert lts == [1, 101, 1, 113]
    for name, want in (("tcpdump_us.pcap", "EN10MB"), ("rawip.pcap", "RAW")):
        _, _, err = cf.tcpdump_run(corpus(name))
        assert f"link-type {want} " in err[0]
    assert per_if[1] == 6 and sum(per_if.values()) == len(cf.tshark_rows(
        corpus("mergecap_three_links.pcapng")))


@pytest.mark.parametrize("name", cf.FOREIGN_PCAP_FILES)
def test_pcap_variants_libpcap_cannot_read_fail_as_tcpdump_does(name):
    """Nokia, Red Hat 6.1 and SuSE 6.3 record headers: libpcap misreads the
    first record and stops at the second; so does the file source, with
    tcpdump's reason."""
    code, out, err = cf.tcpdump_run(corpus(name), "-nn", "-q")
    assert code == 1
    theirs = [ln for ln in out if ln and not ln[0].isspace()]
    reason = err[-1].split("pcap_loop: ", 1)[1]
    reason = reason.replace("truncated dump file; tried to read", "")
    seen = []
    with pytest.raises(CaptureFileError) as exc:
        with open_file(corpus(name)) as src:
            for p in src:
                seen.append(p.copy())
    assert len(seen) == len(theirs)
    msg = str(exc.value)
    assert msg.startswith(name) or msg.startswith(corpus(name))
    number = [w for w in reason.split() if w.isdigit()][0]
    assert number in msg and "(at byte offset " in msg


@pytest.mark.parametrize("name", [n for n in cf.LIBPCAP_FILES if n.endswith(".pcap")])
def test_byte_swapped_pcap_reads_the_same(tmp_path, name):
    raw = open(corpus(name), "rb").read()
    swapped = cf.swap_pcap(raw)
    assert swapped[:4] == raw[:4][::-1]
    path = tmp_path / ("swapped_" + name)
    path.write_bytes(swapped)
    assert ours(str(path)) == ours(corpus(name))
    assert cf.tshark_rows(path) == cf.tshark_rows(corpus(name))


@pytest.mark.parametrize("name", [n for n in cf.ALL_READABLE if n.endswith(".pcapng")])
def test_byte_swapped_pcapng_reads_the_same(tmp_path, name):
    raw = open(corpus(name), "rb").read()
    path = tmp_path / ("swapped_" + name)
    path.write_bytes(cf.swap_pcapng(raw))
    assert cf.tshark_rows(path) == cf.tshark_rows(corpus(name))     # the swap is right
    assert ours(str(path)) == ours(corpus(name))
    with open_file(str(path)) as a, open_file(corpus(name)) as b:
        list(a), list(b)
        assert a.interface_stats == b.interface_stats


def test_sections_in_both_byte_orders(tmp_path):
    """Three sections: little-endian, big-endian (a swapped copy), little
    again; interface ids restart per section for tshark, not for us."""
    le = open(corpus("dumpcap_two_links.pcapng"), "rb").read()
    be = cf.swap_pcapng(open(corpus("editcap_pcapng.pcapng"), "rb").read())
    path = tmp_path / "sections.pcapng"
    path.write_bytes(le + be + le)
    ref = cf.tshark_rows(path)
    with open_file(str(path)) as src:
        got = [(*p.ts_parts, p.wirelen, p.caplen, p.ifindex) for p in src]
        assert src.sections == 3
        assert [i.section for i in src.interfaces] == [0, 0, 1, 2, 2]
    assert [g[:4] for g in got] == [r[:4] for r in ref]
    n1, n2 = len(ours(corpus("dumpcap_two_links.pcapng"))), len(ours(corpus("editcap_pcapng.pcapng")))
    base = [0] * n1 + [2] * n2 + [3] * n1
    assert [g[4] - b for g, b in zip(got, base)] == [r[4] for r in ref]


def test_kuznetsov_and_nanosecond_variants_match_the_original():
    us = ours(corpus("tcpdump_us.pcap"))
    assert ours(corpus("editcap_modpcap.pcap")) == us
    ns = ours(corpus("editcap_nsecpcap.pcap"))
    assert [r[1] for r in ns] == [r[1] for r in us]       # same µs values, in ns
    with open_file(corpus("editcap_modpcap.pcap")) as src:
        assert src.snaplen == 262144 + 14         # libpcap's allowance for cooked captures


# --- hand-built pcap corner cases, judged by tcpdump ---------------------------

def _tcpdump_times(path, nano=True):
    """tcpdump -tt [--nano]: (sec, frac) or None ([Error converting time])."""
    code, out, err = cf.tcpdump_run(path, "-tt", *(["--nano"] if nano else []), "-nn", "-q")
    times = []
    for ln in out:
        if ln.startswith("[Error converting time]"):
            times.append(None)
        else:
            sec, frac = ln.split()[0].split(".")
            times.append((int(sec), int(frac)))
    return times


def _agrees_with_tcpdump(parts, theirs):
    sec, frac = parts
    if theirs is None:
        return sec % 2**32 >= 2**31
    return theirs == (sec % 2**32, frac)


def test_pcap_times_out_of_range_as_tcpdump_reads_them(tmp_path):
    f = cf.udp_frame(1)
    cases = [(0xFFFFFFFF, 0), (0x80000000, 5), (1_700_000_000, 1_500_000),
             (1_700_000_000, 0xFFFFFFFF), (1_700_000_000, 999_999), (0, 0)]
    for magic, mul in ((0xA1B2C3D4, 1000), (0xA1B23C4D, 1)):
        raw = cf.pcap_header(magic=magic) + b"".join(cf.pcap_record("<", s, u, f) for s, u in cases)
        path = tmp_path / f"t{mul}.pcap"
        path.write_bytes(raw)
        with open_file(str(path)) as src:
            pkts = [(p.ts_parts, p.ts_ns, p.flags) for p in src]
        sec32 = [s - 2**32 if s >= 2**31 else s for s, _ in cases]
        assert [p[0] for p in pkts] == [(s, u * mul) for s, (_, u) in zip(sec32, cases)]
        # ts_ns: exact when it can be, clamped at 0 before 1970
        assert [p[1] for p in pkts] == [max(0, s * 10**9 + u * mul) for s, (_, u) in
                                        zip(sec32, cases)]
        raw_flag = [bool(p[2] & 0x40) for p in pkts]
        assert raw_flag == [True, True, mul == 1000, True, False, False]
        # tcpdump prints the sub-second field as the file has it
        theirs = _tcpdump_times(path, nano=mul == 1)
        assert theirs == [None if s < 0 else (s, u) for s, (_, u) in zip(sec32, cases)]


def test_pcap_old_versions_swap_the_lengths(tmp_path):
    """Before 2.3 the caplen and len fields were the other way round (in
    2.3 files when caplen > len), as libpcap reads them; tcpdump reads the
    same record whole from each, and stops on it as truncated in a 2.4 file."""
    f = cf.udp_frame(2)
    record = struct.pack("<IIII", 1, 0, len(f) + 10, len(f)) + f
    for version in ((2, 0), (2, 2), (2, 3), (543, 0), (2, 4)):
        path = tmp_path / f"v{version[0]}_{version[1]}.pcap"
        path.write_bytes(cf.pcap_header(version=version) + record)
        code, out, err = cf.tcpdump_run(path, "-nn", "-q")
        if version == (2, 4):
            assert code == 1 and "truncated dump file" in err[-1]
            with pytest.raises(CaptureFileError, match=f"truncated packet 1: record says {len(f) + 10}"):
                ours(str(path))
            continue
        assert code == 0 and len(out) == 1 and "UDP, length" in out[0]
        with open_file(str(path)) as src:
            p = next(iter(src))
            assert (p.caplen, p.wirelen, p.copy()) == (len(f), len(f) + 10, f)
    path = tmp_path / "archaic.pcap"
    path.write_bytes(cf.pcap_header(version=(1, 0)))
    with pytest.raises(CaptureFileError, match="archaic pcap savefile format"):
        open_file(str(path))
    path.write_bytes(cf.pcap_header(version=(2, 5)))
    with pytest.raises(CaptureFileError, match=r"unsupported pcap savefile version 2\.5"):
        open_file(str(path))


def test_pcap_fcs_bits_and_snapshot(tmp_path):
    f = cf.udp_frame(3, size=200)
    # link type EN10MB with "FCS present, 2 words" in the upper bits
    raw = cf.pcap_header(snaplen=100, linktype=1 | 0x04000000 | (2 << 28))
    raw += cf.pcap_record("<", 5, 6, f)
    path = tmp_path / "fcs.pcap"
    path.write_bytes(raw)
    with open_file(str(path)) as src:
        assert src.interfaces[0].linktype == 1 and src.interfaces[0].fcslen == 4
        p = next(iter(src))
        # a record longer than the file's snapshot is cut to it (libpcap does)
        assert (p.caplen, p.wirelen) == (100, len(f))
    code, out, err = cf.tcpdump_run(path, "-nn", "-q")
    assert "link-type EN10MB" in err[0] and "snapshot length 100" in err[0]
    assert code == 0 and len(out) == 1


# --- pcapng timestamps of every kind, judged by tcpdump ---------------------------

TS_CASES = [  # (if_tsresol, if_tsoffset, units)
    (6, None, 1_700_000_000_123_456), (9, None, 1_700_000_000_123_456_789),
    (0, None, 1_700_000_000), (1, None, 17_000_000_005), (0x80, None, 1_700_000_000),
    (0x80 | 30, None, (1_700_000_000 << 30) | (1 << 29)), (12, None, 1_700_000_000_123_456_789_012 % 2**64),
    (19, None, 2**64 - 1), (0x80 | 20, None, 2**40), (6, 2**62, 1_700_000_000_123_456),
    (6, -2**62, 1_700_000_000_123_456), (9, -1_700_000_001, 1_700_000_000_123_456_789),
    (0, None, 2**64 - 1), (6, 1000, 1_700_000_000_123_456), (3, 2**32 + 7, 1500),
    (20, None, 12345), (40, 5, 2**63), (0x80 | 63, None, 2**63 + 2**62), (0x80 | 100, 9, 2**64 - 1),
    (0xFF, None, 7),
]


def _exact(tsresol, tsoffset, units):
    per = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
    return units // per + (tsoffset or 0), (units % per) * 10**9 // per


@pytest.mark.parametrize("tsresol,tsoffset,units", TS_CASES)
def test_pcapng_times_exact(tmp_path, tsresol, tsoffset, units):
    f = cf.udp_frame(4)
    path = tmp_path / "ts.pcapng"
    path.write_bytes(cf.shb() + cf.idb(tsresol=tsresol, tsoffset=tsoffset) + cf.epb("<", 0, units, f)
                     + cf.block("<", 3, struct.pack("<I", len(f)) + f))
    with open_file(str(path)) as src:
        pkts = [(p.ts_parts, p.ts_ns, p.flags & 0x40) for p in src]
    want = _exact(tsresol, tsoffset, units)
    spb = _exact(tsresol, tsoffset, 0)      # a simple packet block has time 0
    assert [p[0] for p in pkts] == [want, spb]
    for (parts, ts_ns, raw_flag) in pkts:
        ns = parts[0] * 10**9 + parts[1]
        assert ts_ns == min(max(ns, 0), 2**64 - 1)
        assert bool(raw_flag) == (not 0 <= ns < 2**64)
    libpcap_ok = (tsresol & 0x80 and (tsresol & 0x7F) <= 34) or (not tsresol & 0x80 and tsresol <= 19)
    if libpcap_ok:
        theirs = _tcpdump_times(path)
        assert len(theirs) == 2
        assert _agrees_with_tcpdump(want, theirs[0]) and _agrees_with_tcpdump(spb, theirs[1])


def test_epb_flags_obsolete_packet_block_and_skipped_blocks(tmp_path):
    f = [cf.udp_frame(i) for i in range(4)]
    e = "<"
    raw = (cf.shb() + cf.block(e, 0x0BAD, b"custom!") + cf.idb(linktype=1) +
           cf.block(e, 4, b"\0" * 8) +                                   # name resolution
           cf.block(e, 0x0A, struct.pack(e + "II", 0x544c534b, 4) + b"keys") +   # DSB
           cf.epb(e, 0, 10**6, f[0], flags=0x1) + cf.epb(e, 0, 2 * 10**6, f[1], flags=0x2) +
           cf.block(e, 2, struct.pack(e + "HHIIII", 0, 7, 0, 3 * 10**6, len(f[2]), len(f[2])) + f[2]) +
           cf.block(e, 0x12345678, b"unknown") + cf.epb(e, 0, 4 * 10**6, f[3]))
    path = tmp_path / "blocks.pcapng"
    path.write_bytes(raw)
    with open_file(str(path)) as src:
        got = [(p.copy(), p.epb_flags, p.ts_ns) for p in src]
    assert got == [(f[0], 1, 10**9), (f[1], 2, 2 * 10**9), (f[2], 0, 3 * 10**9), (f[3], 0, 4 * 10**9)]
    # tshark also lists the custom block, as a frame without encapsulation
    ref = cf.tshark_rows(path)
    assert [(r[0], r[2]) for r in ref if r[5] != -1] == [(i + 1, len(x)) for i, x in enumerate(f)]


# --- damaged files --------------------------------------------------------------

def _boundaries(path):
    """(offset where each packet's record ends, offset where each record or
    block starts) for a file of the corpus."""
    raw = open(path, "rb").read()
    starts, pkt_ends = [], []
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        off = 0
        while off < len(raw):
            btype, total = struct.unpack_from("<II", raw, off)
            starts.append(off)
            off += total
            if btype in (2, 3, 6):
                pkt_ends.append(off)
    else:
        off = 24
        while off < len(raw):
            starts.append(off)
            caplen = struct.unpack_from("<I", raw, off + 8)[0]
            off += 16 + caplen
            pkt_ends.append(off)
    return raw, starts, pkt_ends


def _read_cut(data, how):
    """Packets read from ``data``, and the error (None at a clean end)."""
    seen = []
    try:
        src = open_file(data if how == "path" else io.BytesIO(open(data, "rb").read()),
                        buffer_size=64 if how == "stream" else 4 << 20)
        with src:
            for p in src:
                seen.append(p.copy())
    except CaptureFileError as exc:
        return seen, str(exc)
    return seen, None


@pytest.mark.parametrize("name", ["tcpdump_us.pcap", "dumpcap_two_links.pcapng"])
@pytest.mark.parametrize("how", ["path", "stream"])
def test_every_cut_point(tmp_path, name, how):
    raw, starts, pkt_ends = _boundaries(corpus(name))
    full = ours(corpus(name))
    limit = starts[min(len(starts) - 1, 9)] + 60      # the first blocks and records
    path = str(tmp_path / ("cut_" + name))
    for cut in range(limit):
        with open(path, "wb") as f:
            f.write(raw[:cut])
        seen, err = _read_cut(path, how)
        complete = sum(1 for e in pkt_ends if e <= cut)
        assert seen == [r[6] for r in full[:complete]], cut
        # a cut between records or blocks is a clean (shorter) file
        assert (err is None) == (cut in starts and cut > 0), (cut, err)
        if err is None:
            continue
        assert err.startswith(path if how == "path" else "<file object>"), err
        if cut == 0:
            assert "empty" in err
            continue
        where = max([s for s in starts if s <= cut] + [0])
        if name.endswith(".pcap") and cut < 24:
            where = 0
        assert err.endswith(f"(at byte offset {where})"), (cut, err)
        assert "truncated" in err, err


def test_truncated_file_through_tcpdump_and_read(tmp_path):
    """tcpdump and `pyxring read` print the same packets of a cut file, and
    pyxring then prints one line naming the offset, exit status 1."""
    raw, starts, pkt_ends = _boundaries(corpus("tcpdump_us.pcap"))
    cut = pkt_ends[4] + 20
    path = tmp_path / "cut.pcap"
    path.write_bytes(raw[:cut])
    _, theirs, terr = cf.tcpdump_run(path, "-nn")
    r = subprocess.run([sys.executable, "-m", "pyxring", "read", str(path)], capture_output=True,
                       timeout=60, env={**os.environ, "TZ": "UTC"})
    assert r.returncode == 1
    assert r.stdout.decode().splitlines() == [ln for ln in theirs if not ln[0].isspace()]
    err = r.stderr.decode().splitlines()
    assert len(err) == 2 and err[1] == (f"pyxring read: {path}: truncated packet 6: record says "
                                        f"{pkt_ends[5] - pkt_ends[4] - 16} bytes, file ends after 4 "
                                        f"(at byte offset {pkt_ends[4]})")
    assert "truncated dump file" in terr[-1]


CORRUPTIONS = [
    # (name, what to change, message)
    ("pcap caplen", lambda raw, s: struct.pack_into("<I", raw, s[3] + 8, 300000),
     "invalid packet capture length 300000, bigger than snaplen of 262144"),
    ("odd block length", lambda raw, s: struct.pack_into("<I", raw, s[3] + 4, 13),
     "corrupt block length 13"),
    ("huge block", lambda raw, s: struct.pack_into("<I", raw, s[3] + 4, 1 << 30),
     "block length 1073741824 larger than the maximum"),
    ("trailer", lambda raw, s: struct.pack_into("<I", raw, s[4] - 4, 1000),
     "block lengths disagree"),
    ("epb caplen", lambda raw, s: struct.pack_into("<I", raw, s[3] + 20, 5000),
     "enhanced packet block: caplen 5000 exceeds the block"),
    ("interface", lambda raw, s: struct.pack_into("<I", raw, s[3] + 8, 7),
     "enhanced packet block refers to undefined interface 7"),
]


@pytest.mark.parametrize("case", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_records_are_named_after_the_good_ones(tmp_path, case):
    label, change, message = case
    name = "tcpdump_us.pcap" if label.startswith("pcap") else "editcap_pcapng.pcapng"
    raw, starts, pkt_ends = _boundaries(corpus(name))
    raw = bytearray(raw)
    change(raw, starts)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(raw))
    full = ours(corpus(name))
    good = sum(1 for e in pkt_ends if e <= starts[3])
    for how in ("path", "stream"):
        seen, err = _read_cut(str(bad), how)
        assert seen == [r[6] for r in full[:good]]
        shown = str(bad) if how == "path" else "<file object>"
        assert err.startswith(f"{shown}: {message}"), err
        assert err.endswith(f"(at byte offset {starts[3]})"), err


def test_not_capture_files(tmp_path):
    cases = {"empty": (b"", "empty or truncated file"),
             "text": (b"hello world, not a capture", "not a pcap or pcapng file"),
             "short": (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header: 6 of 24 bytes"),
             "bom": (cf.shb()[:8] + b"\x11\x22\x33\x44" + cf.shb()[12:],
                     "bad pcapng byte-order magic 0x44332211"),
             "no idb": (cf.shb() + cf.epb("<", 0, 0, b"x" * 20),
                        "enhanced packet block refers to undefined interface 0")}
    for name, (data, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(CaptureFileError, match=msg):
            open_file(str(p))
    with pytest.raises(CaptureFileError, match="nope: No such file"):
        open_file(str(tmp_path / "nope"))
    with pytest.raises(CaptureFileError, match="is a directory"):
        open_file(str(tmp_path))


# --- streams, buffers and the Source API --------------------------------------------

class ReadOnly:
    """A binary file object with read() only."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def read(self, n):
        return self._f.read(min(n, 333))


@pytest.mark.parametrize("name", ["tcpdump_ns.pcap", "mergecap_three_links.pcapng"])
def test_streams_read_what_the_mapping_reads(tmp_path, name):
    want = ours(corpus(name))
    raw = open(corpus(name), "rb").read()
    assert ours(io.BytesIO(raw)) == want
    assert ours(io.BytesIO(raw), buffer_size=64, batch_packets=3) == want
    assert ours(ReadOnly(raw), buffer_size=100) == want
    gz = tmp_path / "x.gz"
    with gzip.open(gz, "wb") as g:
        g.write(raw)
    with gzip.open(gz, "rb") as g:
        assert ours(g) == want
    with open(corpus(name), "rb") as f:
        f.read(1)
        f.seek(0)
        assert ours(f) == want                       # regular file objects are mapped
    # "-": standard input, a pipe and a redirected regular file
    code = ("import sys\nfrom pyxring.file import open_file\n"
            "src = open_file('-')\nprint(sum(len(p) for p in src), src.name)\nsrc.close()")
    total = sum(r[3] for r in want)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(corpus(name), "rb") as f:
        r = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True,
                           timeout=60, check=True, cwd=root)
    assert r.stdout.split() == [str(total).encode(), b"<stdin>"]
    cat = subprocess.Popen(["cat", corpus(name)], stdout=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-c", code], stdin=cat.stdout, capture_output=True,
                       timeout=60, check=True, cwd=root)
    cat.wait(timeout=10)
    assert r.stdout.split() == [str(total).encode(), b"<stdin>"]


def test_held_batches_keep_their_bytes_while_the_stream_goes_on():
    """A stream's chunks are reused only after the batches pointing into
    them are released."""
    raw = open(corpus("tcpdump_us.pcap"), "rb").read()
    want = [r[6] for r in ours(corpus("tcpdump_us.pcap"))]
    with open_file(io.BytesIO(raw), buffer_size=256, batch_packets=2) as src:
        held = []
        while True:
            b = src.batch()
            if len(b) == 0 and src.at_end:
                break
            held.append(b)
        got = [p.copy() for b in held for p in b]
        assert got == want
        for b in held:
            b.release()
        assert src.stats()["packets"] == len(want)


def test_batches_write_back_to_the_same_file(tmp_path):
    """File batches go to the writers unchanged: tshark reads the copy as the original."""
    import pyxring
    src_path = corpus("tcpdump_ns.pcap")
    out = tmp_path / "copy.pcap"
    with open_file(src_path) as src, pyxring.open_writer(out, "pcap", precision="ns") as w:
        for batch in src.batches():
            w.write_batch(batch)
    assert cf.tshark_rows(out) == cf.tshark_rows(src_path)
    assert ours(str(out)) == ours(src_path)


def test_unclosed_source_warns_and_closed_source_refuses():
    src = open_file(corpus("rawip.pcap"))
    with pytest.warns(ResourceWarning, match="unclosed capture file"):
        del src
        import gc
        gc.collect()
    with open_file(corpus("rawip.pcap")) as src:
        pass
    with pytest.raises(ValueError, match="closed"):
        src.batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_file(corpus("rawip.pcap")) as src:
            assert len(list(src)) == 6
        del src


def test_reader_failures_are_pyxring_errors(tmp_path):
    """Every failure of the reader is a PyxringError naming the file."""
    p = tmp_path / "x.pcapng"
    p.write_bytes(cf.shb() + cf.idb(tsresol=0x80 | 127, tsoffset=-2**63) +
                  cf.epb("<", 0, 2**64 - 1, b"\xff" * 30) + b"\x06\x00\x00\x00\xff")
    with pytest.raises(PyxringError, match=str(p)):
        with open_reader(str(p)) as rd:
            assert [r.ts_parts for r in rd] == [(-2**63, 0)]
