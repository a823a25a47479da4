"""Filters run in C over a batch (_libpcap.BatchFilter) and `pyxring read
FILE EXPR`, judged by libpcap's own per-packet verdict and by `tcpdump -r
FILE EXPR` on the committed corpus, also for pcapng files whose interfaces
have different link types."""
import os
import subprocess
import sys

import pytest

import pyxring
from pyxring import _libpcap
from pyxring._libpcap import BatchFilter, FilterError
from pyxring.file import open_file

import capfiles as cf
from capfiles import corpus

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "filter_corpus"))
import packets  # noqa: E402

EXPRESSIONS = packets.expressions()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory):
    """The filter corpus's frames (crafted, mutated, truncated) in a pcap."""
    path = tmp_path_factory.mktemp("bf") / "frames.pcap"
    frames = [d for _, d in packets.frames()]
    with pyxring.open_writer(path, "pcap") as w:
        for i, d in enumerate(frames):
            w.write(d, ts_ns=10**9 * (i + 1), wirelen=len(d) + (i % 3))
    return str(path), frames


def _per_packet(expr, path):
    """libpcap's verdict packet by packet (offline_filter), per link type."""
    progs, keep = {}, []
    with open_file(path) as src:
        for p in src:
            if p.linktype not in progs:
                progs[p.linktype] = _libpcap.compile_filter(expr, p.linktype)
            keep.append(_libpcap.offline_filter(progs[p.linktype], p.copy(), p.wirelen) != 0)
    return keep


def _batched(expr, path, batch_packets):
    flt = BatchFilter(expr)
    kept = []
    with open_file(path, batch_packets=batch_packets) as src:
        for batch in src.batches():
            before = [(p.ts_ns, p.ifindex, p.copy()) for p in batch]
            n = flt.apply(batch)
            assert n == len(batch)
            kept.append((before, [(p.ts_ns, p.ifindex, p.copy()) for p in batch]))
    return flt, kept


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_batch_filter_gives_libpcaps_verdicts(frames_file, expr):
    path, frames = frames_file
    want = _per_packet(expr, path)
    flt, kept = _batched(expr, path, 37)
    got = []
    for before, after in kept:
        # the batch keeps the matching packets, in order, at its front
        it = iter(after)
        nxt = next(it, None)
        for pkt in before:
            if pkt == nxt:
                got.append(True)
                nxt = next(it, None)
            else:
                got.append(False)
        assert nxt is None
    assert got == want
    assert flt.matched == sum(want) and flt.filtered == len(want) - sum(want)
    assert any(want) and not all(want), f"{expr!r} must match some frames and miss some"


@pytest.mark.parametrize("name", cf.ALL_READABLE)
@pytest.mark.parametrize("expr", ["udp", "tcp port 40202", "ip6", "icmp or vlan", "len > 100",
                                  "ip host 10.9.9.9", "greater 1000"])
def test_per_link_type_programs_on_real_files(name, expr):
    path = corpus(name)
    try:
        want = _per_packet(expr, path)
    except FilterError:
        with pytest.raises(FilterError, match="link type"):
            _batched(expr, path, 4096)
        return
    flt, kept = _batched(expr, path, 7)
    assert sum(len(a) for _, a in kept) == sum(want)
    with open_file(path) as src:
        lts = {p.linktype for p in src}
    assert flt.matched == sum(want) and "link type" in repr(flt)
    assert len(lts) == (1 if name in cf.LIBPCAP_FILES else len(lts)) >= 1


def test_filter_from_a_program_refuses_other_link_types():
    flt = BatchFilter.from_program(_libpcap.compile_filter("udp"), 1)
    with open_file(corpus("tcpdump_us.pcap")) as src:
        b = src.batch()
        assert flt.apply(b) > 0
    with open_file(corpus("rawip.pcap")) as src:
        with pytest.raises(FilterError, match="compiled for link type 1, not 101"):
            flt.apply(src.batch())


# --- pyxring read FILE EXPR against tcpdump -r FILE EXPR --------------------------

def _read(*args, stdin=None):
    r = subprocess.run([sys.executable, "-m", "pyxring", "read", *args], capture_output=True,
                       timeout=60, cwd=ROOT, stdin=stdin, env={**os.environ, "TZ": "UTC"})
    return r.returncode, r.stdout.decode().splitlines(), r.stderr.decode().splitlines()


def _lines(out):
    # tcpdump adds hex dumps below frames it can't decode: not ours to print
    return [ln for ln in out if ln and not ln[0].isspace()]


READ_EXPRESSIONS = ["", "udp", "tcp", "icmp", "ip6", "vlan 42", "udp port 40201 and len > 60",
                    "not ip", "host 10.9.9.9"]


@pytest.mark.parametrize("name", [n for n in cf.LIBPCAP_FILES])
def test_read_selects_what_tcpdump_selects(name):
    for expr in READ_EXPRESSIONS:
        code, theirs, terr = cf.tcpdump_run(corpus(name), "-nn", *expr.split())
        mine, out, err = _read(corpus(name), *expr.split())
        assert err[0] == terr[0]                     # the header line
        if code != 0:
            # libpcap refuses the expression for this link type: our usage
            # error (exit 2) carries libpcap's reason
            assert mine == 2 and out == [] and terr[-1].split("tcpdump: ")[1] in err[-1]
            continue
        assert mine == 0, err
        assert out == _lines(theirs), expr


@pytest.mark.parametrize("name", cf.ALL_READABLE + cf.FOREIGN_PCAP_FILES)
def test_header_line_is_tcpdumps(name):
    _, _, terr = cf.tcpdump_run(corpus(name), "-c", "1")
    _, _, err = _read(corpus(name), "-c", "1")
    assert err[0] == terr[0]
    with open(corpus(name), "rb") as f:
        _, _, err = _read("-", "-c", "1", stdin=f)
    assert err[0] == terr[0].replace(corpus(name), "-")


def test_read_filters_each_link_type_by_its_own_program(tmp_path):
    """A pcapng of Ethernet and raw-IP interfaces (tcpdump reads neither
    link type after the first): each packet is filtered for its own link
    type, so the lines are those tcpdump prints for each input file."""
    merged = tmp_path / "two.pcapng"
    subprocess.run([cf.require_tool("mergecap"), "-w", str(merged), corpus("tcpdump_us.pcap"),
                    corpus("rawip.pcap")], check=True, timeout=60)
    with open_file(str(merged)) as src:
        assert [i.linktype for i in src.interfaces] == [1, 101]
    for expr in ["udp", "ip", "udp port 40201", "tcp or icmp", "len > 80", ""]:
        want = []
        for name in ("tcpdump_us.pcap", "rawip.pcap"):
            code, out, _ = cf.tcpdump_run(corpus(name), "-nn", *expr.split())
            assert code == 0
            want += _lines(out)
        code, out, err = _read(str(merged), *expr.split())
        assert code == 0, err
        assert sorted(out) == sorted(want), expr
        assert out == sorted(out, key=lambda ln: ln.split()[0])      # in time order


def test_read_bad_expression_and_count(tmp_path):
    code, out, err = _read(corpus("editcap_pcapng.pcapng"), "udp", "prt")
    assert code == 2 and out == [] and err[-1].startswith("pyxring read: invalid filter expression")
    code, out, err = _read(corpus("dumpcap_two_links.pcapng"), "-c", "3", "udp")
    assert code == 0 and len(out) == 3
    # a link type the expression can't be compiled for: a usage error naming it
    code, out, err = _read(corpus("mergecap_three_links.pcapng"), "vlan")
    assert code == 2 and "(link type RAW)" in err[-1]


def test_read_prints_extreme_times_without_failing():
    """if_tsresol 0, 1 and 0x80 and if_tsoffset +-2**62 (issue 20): every packet is
    printed (the times clamped, see Packet.ts_parts for the exact ones), exit 0,
    as tcpdump prints them all (with [Error converting time] where it can't)."""
    seeds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "seeds")
    for name in sorted(os.listdir(seeds)):
        if not name.startswith("ng_ts_"):
            continue
        path = os.path.join(seeds, name)
        code, out, err = _read(path)
        tcode, theirs, _ = cf.tcpdump_run(path, "-nn")
        assert code == 0 and len(err) == 1, err
        if tcode == 0:
            assert len(out) == len(_lines(theirs)) == 2
