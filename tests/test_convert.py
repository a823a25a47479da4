"""pyxring convert: pcap and pcapng files go through Arrow IPC and Parquet
and come back byte for byte (judged by cmp), on the committed corpus (several
interfaces and link types, statistics and decryption-secrets blocks, pcap
variants), on the same files in the other byte order, in several sections,
with packet options, simple and obsolete packet blocks and time resolutions
nanoseconds can't hold; tshark and capinfos read every file written, and
DuckDB reads the Parquet."""
import os
import struct
import subprocess
import sys

import pytest

from capfiles import (ALL_READABLE, LIBPCAP_FILES, block, corpus, epb, idb, opt, pcap_header,
                      pcap_record, shb, swap_pcap, swap_pcapng, tshark_rows, udp_frame)
from conftest import ROOT, require_tool, run_pyxring

from pyxring.convert import convert, format_of_name
from pyxring.errors import CaptureFileError, ConfigError, PyxringError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

PCAPNG_FILES = [f for f in ALL_READABLE if f.endswith(".pcapng")]
PCAP_FILES = [f for f in ALL_READABLE if f.endswith(".pcap")]
COLUMN_SETS = [os.path.join(ROOT, "tests", "data", f"columns-{k}.pcap")
               for k in ("ether", "ipv4", "ipv6", "loop", "null", "raw", "sll", "sll2")]


def ext(name):
    return ".pcapng" if str(name).endswith(".pcapng") else ".pcap"


def round_trip(src, tmp_path, table="arrow", **kw):
    """src -> table -> the same capture format: the bytes written back."""
    mid = tmp_path / f"mid.{table}"
    back = tmp_path / f"back{ext(src)}"
    convert(src, mid, **kw)
    r = convert(mid, back)
    assert r.exact
    return back.read_bytes()


# --- byte for byte --------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_READABLE)
@pytest.mark.parametrize("table", ["arrow", "parquet"])
def test_corpus_round_trips_byte_for_byte(tmp_path, name, table):
    path = corpus(name)
    assert round_trip(path, tmp_path, table) == open(path, "rb").read()


@pytest.mark.parametrize("path", COLUMN_SETS, ids=os.path.basename)
def test_malformed_and_truncated_frames_round_trip(tmp_path, path):
    """12,700 frames of eight link types, with every cut of the headers and
    broken lengths (the columns' frame set)."""
    assert round_trip(path, tmp_path, "parquet") == open(path, "rb").read()


@pytest.mark.parametrize("name", PCAPNG_FILES + PCAP_FILES)
def test_other_byte_order_round_trips(tmp_path, name):
    raw = open(corpus(name), "rb").read()
    swapped = swap_pcapng(raw) if name.endswith("ng") else swap_pcap(raw)
    src = tmp_path / f"swapped{ext(name)}"
    src.write_bytes(swapped)
    assert tshark_rows(src) == tshark_rows(corpus(name))       # the same file to tshark
    assert round_trip(src, tmp_path, "arrow") == swapped


def test_several_sections_round_trip(tmp_path):
    """Three sections (one in the other byte order), each with its own
    interfaces and statistics: the file source numbers the interfaces
    across the file, the blocks go back where they were."""
    a = open(corpus("dumpcap_two_links.pcapng"), "rb").read()
    b = open(corpus("editcap_pcapng.pcapng"), "rb").read()
    data = a + swap_pcapng(b) + open(corpus("mergecap_three_links.pcapng"), "rb").read()
    src = tmp_path / "sections.pcapng"
    src.write_bytes(data)
    assert len(tshark_rows(src)) == 50 + 26 + 82
    for table in ("arrow", "parquet"):
        assert round_trip(src, tmp_path, table) == data


def spb(e, data, wirelen=None):
    return block(e, 3, struct.pack(e + "I", len(data) if wirelen is None else wirelen) + data)


def obsolete_pb(e, ifid, drops, units, data):
    return block(e, 2, struct.pack(e + "HHIIII", ifid, drops, units >> 32, units & 0xFFFFFFFF,
                                   len(data), len(data)) + data)


def epb_with(e, ifid, units, data, options, pad=b""):
    body = struct.pack(e + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    body += data + (pad or b"\0" * (-len(data) % 4)) + options
    return block(e, 6, body)


def odd_pcapng(e="<"):
    """Records pyxring would not write itself: options on packets
    (comments, flags, a hash, a drop count, a packet id, an unknown code),
    non-zero padding, a simple packet block, an obsolete packet block, a
    picosecond interface with an offset, a 2^-30 s interface, a name
    resolution block between packets, a block of a type no reader knows."""
    t = 1_700_000_000_000_000
    parts = [shb(e) if e == "<" else shb(e),
             idb(e, 1, tsresol=6, name=b"eth0", snaplen=65535),
             idb(e, 1, tsresol=12, tsoffset=1_600_000_000, name=b"ps"),
             idb(e, 101, tsresol=0x80 | 30, name=b"bin")]
    f = [udp_frame(i, 7 + i) for i in range(8)]
    opts = (opt(e, 1, "first comment ü".encode()) + opt(e, 1, b"second")
            + opt(e, 2, struct.pack(e + "I", 0x1)) + opt(e, 3, b"\x02" + bytes(range(20)))
            + opt(e, 4, struct.pack(e + "Q", 7)) + opt(e, 5, struct.pack(e + "Q", 99))
            + opt(e, 0x4321, b"xyz") + opt(e, 0, b""))
    parts += [epb_with(e, 0, t, f[0], opts),
              epb(e, 0, t + 1, f[1], flags=0x2),
              epb_with(e, 0, t + 2, f[2], b"", pad=b"\xAA" * (-len(f[2]) % 4)),
              spb(e, f[3]),
              obsolete_pb(e, 0, 3, t + 3, f[4]),
              block(e, 4, struct.pack(e + "HH", 1, 9) + bytes([10, 0, 0, 1]) + b"host\0\0\0\0"
                    + struct.pack(e + "HH", 0, 0)),
              epb(e, 1, 123_456_789_012_345, f[5]),
              epb(e, 2, (1_700_000_000 << 30) + 12345, bytes(f[6][14:])),
              block(e, 0x80000001, b"a local block type"),
              epb(e, 0, t + 7, f[7], wirelen=len(f[7]) + 100)]
    return b"".join(parts)


@pytest.mark.parametrize("e", ["<", ">"])
def test_options_odd_blocks_and_fine_resolutions_round_trip(tmp_path, e):
    data = odd_pcapng(e)
    src = tmp_path / "odd.pcapng"
    src.write_bytes(data)
    rows = tshark_rows(src)
    assert len(rows) == 8
    for table in ("arrow", "parquet"):
        assert round_trip(src, tmp_path, table) == data
    t = pa.ipc.open_file(tmp_path / "mid.arrow").read_all()
    assert t.column("comment").to_pylist()[:2] == ["first comment ü\nsecond", None]
    assert t.column("epb_flags").to_pylist()[:2] == [1, 2]
    # the picosecond interface's time: ts_raw exact, ts_ns as tshark reads it
    ps = t.column("ts_raw").to_pylist()[5]
    assert ps == 123_456_789_012_345
    ns = t.column("ts_ns").cast(pa.int64()).to_pylist()[5]
    assert ns == (1_600_000_000 + 123) * 10**9 + 456_789_012
    # (tshark 4.0 reads this one's fraction wrong: its 64-bit arithmetic
    # overflows on units finer than nanoseconds)
    assert rows[5][0] == 1_600_000_123
    ts_ns = t.column("ts_ns").cast(pa.int64()).to_pylist()
    ours = [(v // 10**9, v % 10**9, w, c) for v, w, c in
            zip(ts_ns, t.column("wirelen").to_pylist(), t.column("caplen").to_pylist())]
    # the simple packet block has no time (tshark shows none)
    assert [r[:4] for i, r in enumerate(rows) if i not in (3, 5)] == \
        [o for i, o in enumerate(ours) if i not in (3, 5)]
    heads = t.column("record_head").to_pylist()
    assert heads[3] is not None and heads[4] is not None       # the SPB and the PB
    assert [h is None for h in heads] == [True, True, True, False, False, True, True, True]


# --- pcap variants --------------------------------------------------------------------

@pytest.mark.parametrize("version", [(2, 2), (2, 3), (2, 4)])
def test_pcap_length_orders_and_bytes_past_the_snapshot(tmp_path, version):
    """Before 2.3 the lengths are the other way round; a record longer than
    the header's snapshot length is cut by readers but kept by a convert."""
    frames = [udp_frame(i, 40 + i) for i in range(4)]
    recs = []
    for i, f in enumerate(frames):
        caplen, wirelen = len(f), len(f) + 10
        if version < (2, 3) or (version == (2, 3) and i % 2):
            caplen, wirelen = wirelen, caplen
        recs.append(struct.pack("<IIII", 1000 + i, 5 * i, caplen, wirelen) + f)
    data = pcap_header("<", snaplen=64, version=version) + b"".join(recs)
    # 2.2/2.3 with swapped lengths: caplen is the smaller of the two
    if version < (2, 3):
        data = pcap_header("<", snaplen=64, version=version) + b"".join(
            struct.pack("<IIII", 1000 + i, 5 * i, len(f) + 10, len(f)) + f
            for i, f in enumerate(frames))
    src = tmp_path / "v.pcap"
    src.write_bytes(data)
    assert round_trip(src, tmp_path, "arrow") == data
    t = pa.ipc.open_file(tmp_path / "mid.arrow").read_all()
    assert t.column("caplen").to_pylist() == [64] * 4              # cut as libpcap cuts
    assert [len(x) if x else 0 for x in t.column("record_tail").to_pylist()] == \
        [len(f) - 64 for f in frames]


def test_pcap_with_seconds_before_1970_and_a_fraction_out_of_range(tmp_path):
    frames = [udp_frame(i) for i in range(3)]
    data = (pcap_header("<") + pcap_record("<", 0xFFFFFFF0, 5, frames[0])
            + pcap_record("<", 100, 1_500_000, frames[1]) + pcap_record("<", 7, 8, frames[2]))
    src = tmp_path / "odd.pcap"
    src.write_bytes(data)
    for table in ("arrow", "parquet"):
        assert round_trip(src, tmp_path, table) == data


# --- conversions between formats --------------------------------------------------------

def frames_and_times(path):
    from pyxring.file import open_file
    with open_file(path) as src:
        return [(p.copy(), p.ts_ns, p.wirelen, p.linktype) for p in src]


@pytest.mark.parametrize("name", LIBPCAP_FILES)
def test_pcap_and_pcapng_convert_into_each_other(tmp_path, name):
    src = corpus(name)
    other = tmp_path / ("x.pcap" if name.endswith("ng") else "x.pcapng")
    r = convert(src, other)
    assert not r.exact and r.packets == len(tshark_rows(src))
    assert frames_and_times(other) == frames_and_times(src)
    assert tshark_rows(other) == [row[:4] + (0, row[5]) for row in tshark_rows(src)]
    capinfos = require_tool("capinfos")
    out = subprocess.run([capinfos, "-M", "-c", str(other)], capture_output=True, text=True)
    assert out.returncode == 0 and f"{r.packets}" in out.stdout
    back = tmp_path / f"back{ext(name)}"
    convert(other, back)
    assert frames_and_times(back) == frames_and_times(src)


def test_pcap_output_in_microseconds(tmp_path):
    src = corpus("tcpdump_ns.pcap")
    out = tmp_path / "us.pcap"
    convert(src, out, precision="us")
    assert open(out, "rb").read(4) == struct.pack("<I", 0xA1B2C3D4)
    assert [t for _, t, _, _ in frames_and_times(out)] == \
        [t // 1000 * 1000 for _, t, _, _ in frames_and_times(src)]


def test_several_link_types_dont_go_into_pcap(tmp_path):
    with pytest.raises(PyxringError, match="2 link types.*write pcapng"):
        convert(corpus("dumpcap_two_links.pcapng"), tmp_path / "x.pcap")
    assert not (tmp_path / "x.pcap").exists()


def test_tables_convert_into_each_other_and_keep_exactness(tmp_path):
    src = corpus("dumpcap_two_links.pcapng")
    convert(src, tmp_path / "a.arrow")
    convert(tmp_path / "a.arrow", tmp_path / "b.parquet")
    convert(tmp_path / "b.parquet", tmp_path / "c.arrow", compression="zstd")
    convert(tmp_path / "c.arrow", tmp_path / "back.pcapng")
    assert (tmp_path / "back.pcapng").read_bytes() == open(src, "rb").read()


@pytest.mark.parametrize("suffix,tool", [(".gz", "gzip"), (".zst", "zstd"), (".lz4", "lz4")])
def test_compressed_captures_in_and_out(tmp_path, suffix, tool):
    src = corpus("mergecap_three_links.pcapng")
    out = tmp_path / f"x.pcapng{suffix}"
    convert(src, out)
    plain = subprocess.run([require_tool(tool), "-dc", str(out)], capture_output=True,
                           check=True).stdout
    assert plain == open(src, "rb").read()
    convert(out, tmp_path / "t.parquet")
    convert(tmp_path / "t.parquet", tmp_path / "back.pcapng")
    assert (tmp_path / "back.pcapng").read_bytes() == plain


# --- what a table holds -----------------------------------------------------------------

def test_duckdb_reads_the_parquet_as_tshark_reads_the_file(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    src = corpus("dumpcap_two_links.pcapng")
    out = tmp_path / "t.parquet"
    convert(src, out)
    con = duckdb.connect()
    con.sql("SET threads TO 1")         # rows in the file's order
    got = con.sql(f"SELECT epoch_ns(ts_ns), wirelen, octet_length(frame), ifindex, "
                  f"src4, dport FROM '{out}'").fetchall()
    want = tshark_rows(src)
    assert [(g[0] // 10**9, g[0] % 10**9, g[1], g[2], g[3]) for g in got] == \
        [r[:5] for r in want]
    fields = subprocess.run([require_tool("tshark"), "-r", str(src), "-T", "fields", "-e",
                             "ip.src", "-e", "ip.proto", "-e", "udp.dstport", "-e",
                             "tcp.dstport"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    import ipaddress
    assert len(fields) == len(got)
    for (_, _, _, _, src4, dport), line in zip(got, fields):
        ip, proto, udp, tcp = (line.split("\t") + ["", "", "", ""])[:4]
        ip = ip.split(",")[0]            # an ICMP error's quoted header comes second
        assert src4 == (int(ipaddress.IPv4Address(ip)) if ip else None)
        if proto.split(",")[0] in ("6", "17"):
            assert dport == int((udp or tcp).split(",")[0])
    (meta,) = con.sql(f"SELECT count(*), sum(wirelen), count(blocks_after) FROM '{out}'").fetchall()
    assert meta == (50, sum(r[2] for r in want), 1)             # the two statistics blocks


def test_fields_and_no_frames(tmp_path):
    src = corpus("editcap_pcapng.pcapng")
    convert(src, tmp_path / "f.parquet", fields="src4,dst4,dport", frames=False)
    schema = pq.read_schema(tmp_path / "f.parquet")
    assert schema.names == ["ts_ns", "ifindex", "caplen", "wirelen", "queue", "linktype",
                            "epb_flags", "src4", "dst4", "dport", "ts_raw", "record_head",
                            "record_tail", "blocks_after", "comment"]
    with pytest.raises(PyxringError, match="no frame column"):
        convert(tmp_path / "f.parquet", tmp_path / "x.pcapng")
    with pytest.raises(ConfigError, match="unknown column"):
        convert(src, tmp_path / "g.parquet", fields=["src4", "nope"])


def test_schema_metadata_describes_the_file(tmp_path):
    import json
    convert(corpus("dumpcap_two_links.pcapng"), tmp_path / "m.arrow")
    meta = {k.decode(): v.decode() for k, v in
            pa.ipc.open_file(tmp_path / "m.arrow").schema.metadata.items()}
    assert meta["pyxring.format"] == "pcapng"
    ifaces = json.loads(meta["pyxring.interfaces"])
    assert [(i["linktype_name"], i["name"], i["tsresol"]) for i in ifaces] == \
        [("EN10MB", "pxc26583723db", 9), ("LINUX_SLL", "any", 9)]
    assert ifaces[1]["filter"] == "udp port 40201 or icmp"
    assert ifaces[0]["os"].startswith("Linux")
    assert json.loads(meta["pyxring.section"])["hardware"].startswith("AMD")
    assert len(json.loads(meta["pyxring.head"])) == 3            # SHB and two IDBs


# --- changed tables --------------------------------------------------------------------

def test_a_changed_table_writes_its_changes(tmp_path):
    """The columns win over the stored parts: a new comment, new flags and a
    shifted time reach the file (as tshark reads it), the rest stays."""
    src = tmp_path / "odd.pcapng"
    src.write_bytes(odd_pcapng())
    convert(src, tmp_path / "t.arrow")
    t = pa.ipc.open_file(tmp_path / "t.arrow").read_all()
    comments = t.column("comment").to_pylist()
    comments[0] = "changed"
    comments[1] = "new on a flags-only packet"
    flags = t.column("epb_flags").to_pylist()
    flags[2] = 0x3
    ts = t.column("ts_ns").cast(pa.int64()).to_pylist()
    ts[1] += 1000                       # a microsecond interface
    t = t.set_column(t.schema.get_field_index("comment"), "comment", pa.array(comments))
    t = t.set_column(t.schema.get_field_index("epb_flags"), "epb_flags",
                     pa.array(flags, pa.uint32()))
    t = t.set_column(t.schema.get_field_index("ts_ns"), t.schema.field("ts_ns"),
                     pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")))
    with pa.OSFile(str(tmp_path / "c.arrow"), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
        w.write_table(t)
    convert(tmp_path / "c.arrow", tmp_path / "c.pcapng")
    out = subprocess.run([require_tool("tshark"), "-r", str(tmp_path / "c.pcapng"), "-T",
                          "fields", "-e", "frame.comment", "-e", "frame.packet_flags",
                          "-e", "frame.time_epoch"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].split("\t")[0] == "changed"
    assert out[1].split("\t")[0] == "new on a flags-only packet"
    assert int(out[2].split("\t")[1], 16) == 3
    before = tshark_rows(src)
    after = tshark_rows(tmp_path / "c.pcapng")
    assert (after[1][0], after[1][1]) == (before[1][0], before[1][1] + 1000)
    assert [r for i, r in enumerate(after) if i != 1] == [r for i, r in enumerate(before)
                                                          if i != 1]
    # the options no column carries are kept (here the packet id)
    first = subprocess.run([require_tool("tshark"), "-r", str(tmp_path / "c.pcapng"), "-V",
                            "-c", "1"], capture_output=True, text=True, check=True).stdout
    assert "Packet id: 99" in first and "\n    changed\n" in first
    assert "\n    second\n" not in first


def test_a_table_without_pyxring_metadata_becomes_a_capture(tmp_path):
    """A table made elsewhere (here: DuckDB's COPY of some columns) is
    written as pyxring writes captures: interfaces from the rows."""
    duckdb = pytest.importorskip("duckdb")
    src = corpus("dumpcap_two_links.pcapng")
    convert(src, tmp_path / "t.parquet")
    con = duckdb.connect()
    con.sql("SET threads TO 1")
    con.sql(f"COPY (SELECT ts_ns, wirelen, ifindex, linktype, frame FROM "
            f"'{tmp_path / 't.parquet'}') TO '{tmp_path / 'duck.parquet'}' (FORMAT parquet)")
    r = convert(tmp_path / "duck.parquet", tmp_path / "d.pcapng")
    assert not r.exact
    assert frames_and_times(tmp_path / "d.pcapng") == frames_and_times(src)
    assert tshark_rows(tmp_path / "d.pcapng") == tshark_rows(src)


# --- filters, counts, damage, the command line --------------------------------------------

def test_filter_keeps_what_tcpdump_keeps_and_the_blocks(tmp_path):
    tcpdump = require_tool("tcpdump")
    src = corpus("editcap_secrets.pcapng")
    for expr in ("udp", "icmp or tcp", "vlan", "ip6"):
        out = tmp_path / "f.pcapng"
        convert(src, out, filter=expr)
        ref = subprocess.run([tcpdump, "-r", str(src), "-w", "-", expr], capture_output=True,
                             check=True).stdout
        (tmp_path / "ref.pcap").write_bytes(ref)
        assert frames_and_times(out) == frames_and_times(tmp_path / "ref.pcap"), expr
        # the section header, the secrets and the interface block are kept as they were
        assert out.read_bytes()[:108 + 196 + 20] == open(src, "rb").read()[:108 + 196 + 20]


def test_filter_on_a_table_and_count(tmp_path):
    src = corpus("dumpcap_two_links.pcapng")
    convert(src, tmp_path / "t.arrow")
    convert(tmp_path / "t.arrow", tmp_path / "u.pcapng", filter="udp", count=7)
    direct = tmp_path / "d.pcapng"
    convert(src, direct, filter="udp", count=7)
    assert (tmp_path / "u.pcapng").read_bytes() == direct.read_bytes()
    assert len(frames_and_times(direct)) == 7
    all_udp = tmp_path / "all.pcapng"
    convert(src, all_udp, filter="udp")
    assert frames_and_times(direct) == frames_and_times(all_udp)[:7]
    # the statistics blocks after the last packet are kept when nothing is cut
    assert all_udp.read_bytes().endswith(open(src, "rb").read()[-216:])


def test_damaged_capture_converts_up_to_the_damage(tmp_path):
    raw = open(corpus("tcpdump_us.pcap"), "rb").read()
    src = tmp_path / "cut.pcap"
    src.write_bytes(raw[:-30])
    with pytest.raises(CaptureFileError) as info:
        convert(src, tmp_path / "t.parquet")
    assert info.value.packets_converted == 25
    assert pq.read_table(tmp_path / "t.parquet").num_rows == 25
    r = run_pyxring("convert", str(src), str(tmp_path / "x.pcapng"))
    assert r.returncode == 1
    err = r.stderr.decode().strip()
    assert err.startswith("pyxring convert: ") and "truncated" in err and len(err.splitlines()) == 1
    assert "the 25 packets before it were converted" in err
    assert len(tshark_rows(tmp_path / "x.pcapng")) == 25


def test_command_line(tmp_path):
    src = corpus("editcap_pcapng.pcapng")
    udp = len(subprocess.run([require_tool("tcpdump"), "-r", src, "udp"], capture_output=True,
                             check=True).stdout.splitlines())
    r = run_pyxring("convert", src, str(tmp_path / "a.parquet"), "-v", "--fields", "src4,dport",
                    "udp")
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().strip() == (f"pyxring convert: {udp} packets, pcapng -> parquet "
                                         "(records as stored)")
    assert pq.read_table(tmp_path / "a.parquet").num_rows == udp
    # options after the filter words, as with tcpdump
    r = run_pyxring("convert", str(tmp_path / "a.parquet"), str(tmp_path / "b.pcap"), "udp",
                    "-c", "3")
    assert r.returncode == 0, r.stderr
    assert len(frames_and_times(tmp_path / "b.pcap")) == 3
    # standard input and output
    with open(src, "rb") as f:
        r = subprocess.run([sys.executable, "-m", "pyxring", "convert", "-", "-", "-F", "pcap"],
                           stdin=f, capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    (tmp_path / "o.pcap").write_bytes(r.stdout)
    assert frames_and_times(tmp_path / "o.pcap") == frames_and_times(src)


@pytest.mark.parametrize("args,status,words", [
    (["OUT.txt"], 2, "can't tell the format"),
    (["OUT.pcapng", "tcp port"], 2, "syntax error"),
    (["OUT.parquet", "--fields", "src4,bogus"], 2, "unknown column 'bogus'"),
    (["OUT.pcap", "-z", "snappy"], 2, "compressions"),
    (["OUT.arrow", "--time-precision", "us"], 2, "pcap output"),
    (["IN"], 2, "is the input"),
    (["/nonexistent/dir/x.pcapng"], 1, "No such file or directory"),
])
def test_command_line_errors(tmp_path, args, status, words):
    src = tmp_path / "in.pcapng"
    src.write_bytes(open(corpus("editcap_pcapng.pcapng"), "rb").read())
    args = [str(src) if a == "IN" else str(tmp_path / ("out" + a[3:])) if a.startswith("OUT.")
            else a for a in args]
    r = run_pyxring("convert", str(src), *args)
    err = r.stderr.decode().strip()
    assert r.returncode == status, err
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_missing_input_is_one_line(tmp_path):
    r = run_pyxring("convert", str(tmp_path / "none.pcap"), str(tmp_path / "x.parquet"))
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines() == [
        f"pyxring convert: {tmp_path / 'none.pcap'}: No such file or directory"]


def test_without_pyarrow_one_clear_error(tmp_path):
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from pyxring.cli import main\n"
            f"sys.exit(main(['convert', {corpus('rawip.pcap')!r}, "
            f"{str(tmp_path / 'x.parquet')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("pyxring convert: Arrow output needs pyarrow, which is "
                                         "not installed (pip install pyarrow)")
    # captures convert without it
    code2 = code.replace("x.parquet", "x.pcapng")
    r = subprocess.run([sys.executable, "-c", code2], capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


def test_format_of_name():
    assert format_of_name("a.pcapng.zst") == "pcapng"
    assert format_of_name("a.PCAP.gz") == "pcap"
    assert format_of_name("a.parquet") == "parquet"
    assert format_of_name("a.feather") == "arrow"
    assert format_of_name("a.bin") is None
