"""The printer judged by the installed tcpdump on committed frames of our own
making (tests/printer_corpus/, written by make_frames.py): every file, every
printing option set, every line of the output -- hex dumps included.  Plus
tcpdump's timestamps for out-of-range values, and the API's own promises."""
import importlib.util
import os
import random
import struct
import subprocess
import time

import pytest

from conftest import require_tool
from printer_compare import (OPTION_SETS, assert_file_matches_tcpdump, assert_same_lines,
                             option_id, our_batch_lines, tcpdump_lines)

from pyxring.printer import Printer, format_ts
from pyxring.printer.timestamps import CONVERSION_ERROR
from pyxring.summary import Summarizer, summarize

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "printer_corpus")
FILES = ["ether.pcap", "ether.pcapng", "cuts.pcap", "mangled.pcap", "cooked.pcap",
         "cooked2.pcap", "raw.pcap", "rawip.pcap", "null.pcap", "loop.pcap", "user0.pcap"]


def _generator():
    spec = importlib.util.spec_from_file_location("make_frames",
                                                  os.path.join(CORPUS, "make_frames.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("opts", OPTION_SETS, ids=option_id)
@pytest.mark.parametrize("name", FILES)
def test_corpus_matches_tcpdump(name, opts):
    assert_file_matches_tcpdump(os.path.join(CORPUS, name), opts)


def test_committed_corpus_is_what_the_generator_writes(tmp_path):
    _generator().main(str(tmp_path))
    for name in FILES:
        with open(os.path.join(CORPUS, name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), f"{name} differs: run tests/printer_corpus/make_frames.py"


def test_corpus_holds_the_cases_real_captures_showed_wrong():
    """The frames cover what issue 13 found printed wrongly on real captures
    (if the generator loses one, this says so before the comparison can't)."""
    require_tool("tcpdump")
    text = "".join(subprocess.run(["tcpdump", "-nn", "-r", os.path.join(CORPUS, "ether.pcap"),
                                   *opts], capture_output=True, timeout=60).stdout.decode("latin-1")
                   for opts in ([], ["-e"], ["-v"]))
    for needle in (
            "802.3, length", "STP 802.1d, Config", "STP 802.1w, Rapid STP", "STP 802.1s",
            "STP 802.1aq", "Topology Change", "MSTI", "Unnumbered, xid", "Supervisory",
            "Information, send seq", "SNAP, ethertype",
            ": ip-proto-17", "IP bad-len 0", "UDP, bad length 292 > 3", "truncated-udp",
            "RT6 (len=4, type=0 [Deprecated]", "type=4, segleft=1, last-entry=2",
            "HBH ", "DSTOPT ", "frag (", "no next header",
            "IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2",
            "IP6 :: > ff02::1:ff00:1: HBH ICMP6, multicast listener report",
            "mptcp 12 capable v0 csum", "mptcp 20 capable v1", "join backup id 5", "dss ack",
            "add-addr v1-echo", "rem-addr id", "prio backup", "fail seq", "fast-close key",
            "exp-tfo cookiereq", "exp-acc0", "md5 shared secret", "unknown-161,", "tfo  cookie",
            "sack 2 {", "sack 1 {", "[bad opt]", "uto 0x803d", "tcp-ao keyid",
            "ARP, Unknown (29953)", "[|arp]", "ARP, IEEE 1394 (len 8)", "InfiniBand (len 20)",
            "ICMP 192.0.2.77 udp port 40002 unreachable", "need to frag (mtu 1500)",
            "time stamp reply", "router advertisement lifetime", "ICMP6, destination unreachable",
            "neighbor solicitation, who has", "neighbor advertisement, tgt is", "mtu 1280",
            "igmp query v3", "ESP(spi=0x00001000,seq=0x7)", "AH(spi=0x00002000"):
        assert needle in text, needle


def _write_pcap(path, records, nano=False):
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for sec, sub, frame in records:
            fh.write(struct.pack("<IIII", sec, sub, len(frame), len(frame)) + frame)


def _block(btype, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def _write_pcapng(path, tsresol, tsoffset, units, frame):
    opts = struct.pack("<HHB", 9, 1, tsresol) + b"\0\0\0"
    if tsoffset is not None:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    with open(path, "wb") as fh:
        fh.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        fh.write(_block(1, struct.pack("<HHI", 1, 0, 65535) + opts + b"\0\0\0\0"))
        for t in units:
            fh.write(_block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(frame),
                                           len(frame)) + frame))


TS_FRAME = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + b"time"
TS_OPTIONS = [[], ["-t"], ["-tt"], ["-ttt"], ["-tttt"], ["-ttttt"], ["--nano"],
              ["-tt", "--nano"], ["-ttt", "--nano"], ["-ttttt", "--nano"], ["-tttt", "--nano"]]


def _timestamp_cases(tmp_path):
    """(file, the (sec, frac_ns) pairs the contract hands the printer for
    its records)."""
    cases = []
    us = [(1700000000, 1500000), (1700000000, 999999), (1700000001, 0xFFFFFFFF),
          (0xFFFFFFFF, 5), (0, 0), (0, 7), (1700000000, 0), (0x80000000, 1), (0x7FFFFFFF, 0)]
    path = tmp_path / "us.pcap"
    _write_pcap(path, [(s, u, TS_FRAME) for s, u in us])
    cases.append((path, [(s, u * 1000) for s, u in us]))
    ns = [(1700000000, 1500000000), (1700000000, 0xFFFFFFFF), (1700000000, 999),
          (1700000000, 2147483999), (1700000002, 1)]
    path = tmp_path / "ns.pcap"
    _write_pcap(path, [(s, n, TS_FRAME) for s, n in ns], nano=True)
    cases.append((path, ns))
    for name, offset in (("off62", 2 ** 62), ("offneg", -2 ** 62), ("offmax", 2 ** 63 - 1),
                         ("offsmall", -5), ("year", 67767976233316800), ("off32", 2 ** 32)):
        units = [5 * 10 ** 9 + 123, 2 ** 64 - 1, 10 ** 18]
        path = tmp_path / f"{name}.pcapng"
        _write_pcapng(path, 9, offset, units, TS_FRAME)
        cases.append((path, [(t // 10 ** 9 + offset, t % 10 ** 9) for t in units]))
    path = tmp_path / "pow2.pcapng"
    _write_pcapng(path, 0x80 | 20, None, [2 ** 20 * 3 + 2 ** 19, 2 ** 20 * 1700000000 + 1],
                  TS_FRAME)
    cases.append((path, [(3, 500000000), (1700000000, 953)]))
    return cases


@pytest.mark.parametrize("opts", TS_OPTIONS, ids=option_id)
def test_timestamps_as_tcpdump_prints_them(tmp_path, opts):
    """Out-of-range sub-second fields, seconds past 2038 and 2106, negative
    and huge pcapng offsets: tcpdump's text for each, in every -t mode."""
    from printer_compare import printer_kwargs, tcpdump_lines
    seen_error = False
    for path, parts in _timestamp_cases(tmp_path):
        theirs = tcpdump_lines(path, opts)
        printer = Printer(**printer_kwargs(opts))
        ours = "\n".join(printer.format_packet(TS_FRAME, 1, None, p) for p in parts)
        assert_same_lines((ours + "\n").split("\n"), theirs, f"{path.name} {option_id(opts)}")
        seen_error |= CONVERSION_ERROR in ours
    assert seen_error or opts in (["-t"], ["-ttt"], ["-ttttt"], ["-ttt", "--nano"],
                                  ["-ttttt", "--nano"])


def test_timestamp_modes_by_hand():
    tz = time.strftime("%H:%M:%S", time.localtime(1700000123))
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1700000123))
    frame = TS_FRAME

    def first_line(p, ts):
        return p.format_packet(frame, 1, None, ts).split(" 02:00")[0]
    assert first_line(Printer(), (1700000123, 456789012)) == f"{tz}.456789"
    assert first_line(Printer(nano=True), (1700000123, 456789012)) == f"{tz}.456789012"
    assert first_line(Printer(timestamps=2), (1700000123, 5)) == "1700000123.000000"
    assert first_line(Printer(timestamps=4), (1700000123, 0)) == f"{date}.000000"
    p = Printer(timestamps=3)
    assert [first_line(p, t) for t in ((10, 5000), (12, 2000), (11, 0))] == \
        [" 00:00:00.000000", " 00:00:01.999997", "-00:00:01.000002"]
    assert first_line(Printer(), (-1, 0)) == CONVERSION_ERROR
    assert Printer(timestamps=1).format_packet(frame, 1).startswith("02:00")
    with pytest.raises(ValueError):
        Printer(timestamps=6)


def test_format_ts_local_time():
    ts = 1_700_000_123_456_789_012
    hms = time.strftime("%H:%M:%S", time.localtime(1_700_000_123))
    assert format_ts(ts) == f"{hms}.456789"
    assert format_ts(ts, 9) == f"{hms}.456789012"
    assert format_ts(ts, 3) == f"{hms}.456"
    assert format_ts(ts, 0) == hms


def test_garbage_never_raises():
    """Random bytes and cuts for every link type: always text, never an
    exception (tcpdump's own behaviour on them is judged on the corpus)."""
    from pyxring import netlab
    frame = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1",
                                  "10.0.0.2", 1234, 5678, b"payload!")
    rng = random.Random(1234)
    printers = [Printer(**kw) for kw in ({}, {"verbose": 3}, {"link": 1, "hex_ascii": 2},
                                         {"quiet": 2, "ascii": 1})]
    seen_marker = False
    for i in range(3000):
        d = bytearray(frame if i % 3 else rng.randbytes(rng.randint(0, 120)))
        for _ in range(rng.randint(0, 6) if d else 0):
            d[rng.randrange(len(d))] = rng.randrange(256)
        d = bytes(d[:rng.randint(0, len(d))])
        for lt in (1, 101, 113, 276, 228, 229, 0, 108, 147):
            text = printers[i % 4].format_packet(d, lt, len(d) + rng.randint(0, 3), (i, 0))
            assert isinstance(text, str)
            seen_marker |= "[|" in text
    assert seen_marker


def test_summary_aliases_keep_their_meaning():
    """pyxring.summary's names print what tcpdump prints after the time:
    summarize with absolute sequence numbers (-S), Summarizer relative."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    syn = bytes(Ether() / IP(src="10.1.1.1", dst="10.1.1.2") /
                TCP(sport=1000, dport=2000, flags="S", seq=7, window=100))
    ack = bytes(Ether() / IP(src="10.1.1.1", dst="10.1.1.2") /
                TCP(sport=1000, dport=2000, flags="PA", seq=8, ack=50, window=100) / b"abc")
    assert summarize(syn) == "IP 10.1.1.1.1000 > 10.1.1.2.2000: Flags [S], seq 7, win 100, length 0"
    assert summarize(ack) == ("IP 10.1.1.1.1000 > 10.1.1.2.2000: Flags [P.], seq 8:11, ack 50, "
                              "win 100, length 3")
    rel = Summarizer()
    rel(ack)
    assert rel(ack).endswith("seq 0:3, ack 1, win 100, length 3")
    hdr = bytes.fromhex("0180c200000e020000000001")
    assert summarize(hdr + b"\x88\xcc" + b"\0" * 46).startswith(
        "02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype LLDP (0x88cc), length 60: \n\t0x0000:")
    from pyxring import netlab
    tagged = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1",
                                   "10.0.0.2", 1234, 5678, b"x" * 12, vlan=100)
    assert summarize(tagged) == "IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 12"
    assert summarize(tagged, link=True).endswith(
        "length 58: vlan 100, p 0, ethertype IPv4 (0x0800), 10.0.0.1.1234 > 10.0.0.2.5678: "
        "UDP, length 12")
    assert summarize(b"") == "[Invalid header: caplen==0, len==0]"


def test_print_batch_and_records_write_whole_lines(tmp_path):
    """print_record buffers and flush() writes; print_packet writes at once;
    every packet ends with a newline, as tcpdump's do."""
    import io
    buf = io.StringIO()
    p = Printer(buf, timestamps=1)
    frame = TS_FRAME
    p.print_packet(frame, 1, None, (0, 0))
    assert buf.getvalue().endswith("\n") and buf.getvalue().count("\n") == 2

    class Rec:
        data, linktype, wirelen, ts_parts = frame, 1, len(frame), (0, 5)
    p.print_record(Rec())
    assert buf.getvalue().count("\n") == 2
    p.flush()
    assert buf.getvalue().count("\n") == 4
    assert_same_lines(buf.getvalue().split("\n")[2:], buf.getvalue().split("\n")[:2] + [""],
                      "record and packet")


@pytest.mark.parametrize("kw", [{}, {"link": 1}, {"quiet": 1}, {"link": 1, "quiet": 1},
                                {"verbose": 1}, {"verbose": 2}, {"link": 1, "verbose": 1},
                                {"absolute_seq": True}, {"hex": 1}, {"hex_ascii": 2}],
                         ids=lambda kw: "-".join(kw) or "default")
def test_fast_path_takes_the_common_frames(kw):
    """The C fast path prints the everyday frames itself (so it is the one
    the speed figures measure), exactly as the Python printers do, with the
    common options too."""
    mf = _generator()
    frames = [mf.v4_udp(b"x" * 30), mf.v6_udp(), mf.v4_tcp(flags="S", options=mf.tcp_opt(
        2, b"\x05\xb4") + mf.tcp_opt(4) + mf.tcp_opt(8, b"\0" * 8) + b"\1" + mf.tcp_opt(3, b"\7")),
              mf.v4_tcp(flags="PA", ack=9, payload=b"data", options=b"\1\1" + mf.tcp_opt(
                  5, b"\0\0\0\1\0\0\0\2")),
              mf.v6_tcp(flags="A", ack=3), mf.vlan_frame(mf.ipv4(mf.udp(b"v"), 17), 0x0800,
                                                         [(0x8100, 5), (0x8100, 6)]),
              mf.ether(mf.ipv4(mf.icmp(8, 0, b"\0\1\0\2", b"ping"), 1), 0x0800),
              mf.ether(mf.ipv4(mf.tcp(flags="A", ack=5, cksum=0x1234), 6), 0x0800),
              mf.ether(mf.ipv6(mf.udp(b"offloaded", cksum=0x4321), 17), 0x86DD),
              mf.v4_udp(b"x" * 30, ttl=0, tos=0x03, flags=0x0000, ident=7)]
    if not kw.get("verbose"):               # -v's ICMPv6 is the Python printers'
        frames.append(mf.v6_icmp6(129, 0, b"\0\1\0\2"))
    fast, slow, probe = Printer(**kw), Printer(fast=False, **kw), Printer(**kw)
    for frame in frames:
        assert probe._fast.line(frame, len(frame)) is not None, frame.hex()
        assert fast.format_packet(frame, 1, None, (7, 0)) == \
            slow.format_packet(frame, 1, None, (7, 0))
    # and gives the rest to the Python printers (-q prints no TCP options)
    rest = [mf.ether(b"?" * 40, 0x88B5), mf.ether(mf.ipv4(b"f" * 16, 17, flags=9), 0x0800),
            mf.v4_udp()[:40], mf.v4_udp(b"vxlan?", 50000, 4789)]
    if not kw.get("quiet"):
        rest.append(mf.v4_tcp(flags="S", options=mf.tcp_opt(19, bytes(16))))
    for frame in rest:
        assert probe._fast.line(frame, len(frame) + 10) is None


@pytest.mark.parametrize("opts", [[], ["-e"], ["-v"], ["-x"], ["-q", "-e"], ["-tt", "--nano"]],
                         ids=option_id)
def test_batch_of_several_link_types(tmp_path, opts):
    """A pcapng whose interfaces differ (Ethernet, raw IP, Linux cooked v2,
    interleaved): print_batch prints each packet by its own link type.
    tcpdump stops at a file's second link type, so each interface's packets
    are judged by tcpdump on a file of their own, then interleaved."""
    mf = _generator()
    kinds = [(1, [mf.v4_udp(b"eth"), mf.v4_tcp(flags="S"), mf.v6_udp()]),
             (101, mf.raw_frames()[:2]),
             (276, mf.cooked_frames(2)[:3])]
    order = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2), (2, 2)]
    stamps = mf.timestamps(len(order))
    expected = {}
    for k, (lt, frames) in enumerate(kinds):
        mine = [(stamps[i], frames[j], len(frames[j])) for i, (kk, j) in enumerate(order)
                if kk == k]
        mf.write_pcap(str(tmp_path / f"{k}.pcap"), mine, lt, nano=True)
        lines = tcpdump_lines(tmp_path / f"{k}.pcap", opts)[:-1]
        # a packet may print on several lines (-v, -x): group them by packet
        groups = []
        for line in lines:
            if line.startswith((" ", "\t")) and groups:
                groups[-1].append(line)
            else:
                groups.append([line])
        assert len(groups) == len(mine), (k, lines)
        expected[k] = iter(groups)
    want = [line for kk, _ in order for line in next(expected[kk])] + [""]
    blocks = [mf._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for lt, _ in kinds:
        blocks.append(mf._block(1, struct.pack("<HHI", lt, 0, 262144) +
                                struct.pack("<HHB", 9, 1, 9) + b"\0\0\0" + bytes(4)))
    for i, (k, j) in enumerate(order):
        frame = kinds[k][1][j]
        t = stamps[i][0] * 1_000_000_000 + stamps[i][1]
        blocks.append(mf._block(6, struct.pack("<IIIII", k, t >> 32, t & 0xFFFFFFFF, len(frame),
                                               len(frame)) + frame))
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(b"".join(blocks))
    assert_same_lines(our_batch_lines(path, opts), want, "several link types, print_batch")


def test_c_dumps_equal_the_python_ones():
    """-x/-X/-A text from C and from the Python loops, for every length
    and offset of some bytes (all 256 values, CRs before newlines)."""
    from pyxring.printer import _fast, dump
    data = bytes(range(256)) + b"ab\r\ncd\r\r\nx\r" * 3
    view = memoryview(data)
    for off in (0, 1, 14, 255):
        for n in list(range(0, min(40, len(data) - off))) + [len(data) - off]:
            for with_ascii in (False, True):
                assert _fast.hex_dump(view, off, n, with_ascii, b"\n\t") == \
                    dump.py_hex_dump(view, off, n, with_ascii, "\n\t"), (off, n)
            assert _fast.ascii_dump(view, off, n) == dump.py_ascii_dump(view, off, n), (off, n)
    big = bytes(70000)
    assert _fast.hex_dump(big, 0, len(big), True, b"\n") == dump.py_hex_dump(big, 0, len(big),
                                                                            True, "\n")
