"""Columns decoded in C, judged field by field by scapy on the committed
frame set (tests/data/columns-*.pcap, see tests/columns_corpus/frames.py).

The same comparison runs on every path a batch can come from: frames in
memory (every link type), a TPACKET_V3 capture and an AF_XDP capture of the
frames sent over a veth, a snapshot-length capture, and the real traffic of
the namespaces' own stacks.
"""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import pyxring
import pyxring.columns as columns
import pyxring.file
import pyxring.memory
from conftest import ROOT, require_root

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "columns_corpus"))
import reference  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data")
LINKS = {"ether": 1, "sll": 113, "sll2": 276, "raw": 101, "ipv4": 228, "ipv6": 229, "null": 0,
         "loop": 108}


def corpus(link):
    """[(name, frame bytes, wirelen)] of tests/data/columns-LINK.pcap."""
    with open(os.path.join(DATA, f"columns-{link}.names")) as f:
        names = f.read().split()
    with pyxring.open_reader(os.path.join(DATA, f"columns-{link}.pcap")) as rd:
        assert rd.linktype == LINKS[link]
        recs = [(bytes(r.data), r.wirelen) for r in rd]
    assert len(names) == len(recs)
    return [(n, d, w) for n, (d, w) in zip(names, recs)]


def decoded_value(cols, field, i):
    if not cols["valid"][i] & columns.VALID[field]:
        return None
    v = cols[field][i]
    return bytes(v) if v.ndim else int(v)


def mismatches(cols, frames, linktype, limit=20):
    """Where the columns and scapy disagree (frames: (name, data, wirelen)
    in row order); also checks the descriptor columns."""
    out = []
    for i, (name, data, wirelen) in enumerate(frames):
        if (int(cols["caplen"][i]), int(cols["wirelen"][i])) != (len(data), wirelen):
            out.append(f"{name}: caplen/wirelen {cols['caplen'][i]}/{cols['wirelen'][i]}, "
                       f"expected {len(data)}/{wirelen}")
        exp = reference.expected(data, wirelen, linktype)
        for field in reference.FIELDS:
            got = decoded_value(cols, field, i)
            if got != exp[field]:
                out.append(f"{name}: {field} = {got!r}, scapy says {exp[field]!r}")
        if len(out) >= limit:
            break
    return out


def decode_all(src, fields=None):
    """Decode every batch of ``src`` and concatenate the columns."""
    parts = [b.columns(fields) for b in src.batches()]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# Where the committed frames can come from as batches: (link, frames) ->
# a source.  The file source adds one entry here (reading the pcap itself).
SOURCES = {
    "memory": lambda link, frames: pyxring.memory.open(
        [d for _, d, _ in frames], wirelen=[w for _, _, w in frames], linktype=LINKS[link],
        batch_size=777),
    "file": lambda link, frames: pyxring.file.open_file(
        os.path.join(DATA, f"columns-{link}.pcap"), batch_packets=777),
}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("link", list(LINKS))
def test_every_column_matches_scapy(link, source):
    frames = corpus(link)
    src = SOURCES[source](link, frames)
    cols = decode_all(src)
    assert len(cols["valid"]) == len(frames)
    assert mismatches(cols, frames, LINKS[link]) == []


def test_the_corpus_has_what_the_columns_need():
    """The set covers every field with values and without (a broad set, not
    one the decoder passes by finding nothing)."""
    frames = corpus("ether")
    present = dict.fromkeys(reference.FIELDS, 0)
    for _, data, wirelen in frames:
        for f, v in reference.expected(data, wirelen, 1).items():
            present[f] += v is not None
    assert all(n >= 200 for n in present.values()), present
    assert len(frames) > 10000


def test_link_type_per_interface():
    """A source with frames of several link types (a capture file with
    several interfaces) gives a link type per interface number."""
    mixed = []
    for link in ("ether", "sll", "raw", "ipv6", "loop"):
        mixed += [(link, f) for f in corpus(link)[:80]]
    order = list(LINKS)
    src = pyxring.memory.open([f[1] for _, f in mixed], wirelen=[f[2] for _, f in mixed],
                              ifindex=[order.index(link) for link, _ in mixed],
                              interface_linktypes=[LINKS[k] for k in order])
    cols = decode_all(src)
    assert cols["linktype"].tolist() == [LINKS[link] for link, _ in mixed]
    for i, (link, (name, data, wirelen)) in enumerate(mixed):
        exp = reference.expected(data, wirelen, LINKS[link])
        got = {f: decoded_value(cols, f, i) for f in reference.FIELDS}
        assert got == exp, f"{link} {name}"


def test_fields_are_chosen_and_structured_matches():
    frames = corpus("ether")[:3000]
    src = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                              batch_size=len(frames))
    with src.batch() as b:
        full = b.columns()
        some = b.columns("dport src4, proto")
        rec = b.columns(["src6", "sport", "ts_ns"], structured=True)
        empty = b.columns([])
    assert list(full) == list(columns.FIELDS) + ["valid"]
    assert list(some) == ["dport", "src4", "proto", "valid"]
    wanted = columns.VALID["src4"] | columns.VALID["proto"] | columns.VALID["dport"]
    assert np.array_equal(some["valid"], full["valid"] & wanted)
    for k in ("src4", "proto", "dport"):
        assert np.array_equal(some[k], full[k])
    assert rec.dtype.names == ("src6", "sport", "ts_ns", "valid")
    assert np.array_equal(rec["src6"], full["src6"]) and np.array_equal(rec["sport"], full["sport"])
    assert np.array_equal(rec["ts_ns"], full["ts_ns"])
    assert list(empty) == ["valid"] and not empty["valid"].any()
    assert full["src6"].shape == (len(frames), 16) and full["src6"].dtype == np.uint8
    assert full["flow_hash"].dtype == np.uint64 and full["ts_ns"].dtype == np.uint64


def test_descriptor_fields_and_invalid_zeros():
    frames = [b"", b"\x01", bytes(60)]
    src = pyxring.memory.open(frames, ts_ns=[5, 2**63 + 7, 2**64 - 1], wirelen=[100, 1, 70],
                              ifindex=[3, 4, 5], queue=[0, 1, 65535])
    with src.batch() as b:
        cols = b.columns()
    assert cols["ts_ns"].tolist() == [5, 2**63 + 7, 2**64 - 1]
    assert cols["caplen"].tolist() == [0, 1, 60] and cols["wirelen"].tolist() == [100, 1, 70]
    assert cols["ifindex"].tolist() == [3, 4, 5] and cols["queue"].tolist() == [0, 1, 65535]
    assert cols["linktype"].tolist() == [1, 1, 1] and cols["epb_flags"].tolist() == [0, 0, 0]
    # an all-zero Ethernet frame has an 802.3 length of 0, so nothing is valid
    assert cols["valid"].tolist() == [0, 0, 0]
    for f in reference.FIELDS:
        assert not cols[f].any(), f


def test_mask_and_errors():
    frames = corpus("ether")[:500]
    src = pyxring.memory.open([d for _, d, _ in frames], batch_size=len(frames))
    with src.batch() as b:
        cols = b.columns(["sport", "dport", "tcp_seq"])
        m = columns.mask(cols, "sport", "dport", "wirelen")
        assert m.dtype == bool
        assert np.array_equal(m, ((cols["valid"] & columns.VALID["sport"]) != 0)
                              & ((cols["valid"] & columns.VALID["dport"]) != 0))
        with pytest.raises(pyxring.PyxringError, match="unknown column 'dprt'"):
            b.columns(["dprt"])
        with pytest.raises(pyxring.PyxringError, match="unknown decoded field 'nope'"):
            columns.mask(cols, "nope")
    with pytest.raises(ValueError, match="released"):
        b.columns()


def test_flow_hash_is_the_same_both_ways():
    """Each conversation of the set, turned around (addresses and ports
    swapped by scapy), hashes to the same value; different conversations
    don't collide."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    forward, backward = [], []
    for name, data, _ in corpus("ether"):
        if "~" in name or len(data) < 14:
            continue
        pkt = Ether(data)
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            continue
        rev = pkt.copy()
        rip = rev.getlayer(IP) or rev.getlayer(IPv6)
        rip.src, rip.dst = ip.dst, ip.src
        l4 = rev.getlayer(TCP) or rev.getlayer(UDP)
        if l4 is not None:
            l4.sport, l4.dport = l4.dport, l4.sport
        try:
            turned = bytes(rev)
        except Exception:      # scapy can't rebuild some of the malformed ones
            continue
        there = reference.expected(data, len(data), 1)
        back = reference.expected(turned, len(turned), 1)
        if (back["sport"], back["src4"], back["src6"]) != (there["dport"], there["dst4"],
                                                            there["dst6"]):
            continue           # scapy didn't see the ports (after AH, a bad length)
        forward.append(data)
        backward.append(turned)
    src = pyxring.memory.open(forward + backward, batch_size=2 * len(forward))
    with src.batch() as b:
        cols = b.columns(["flow_hash"])
    ok = columns.mask(cols, "flow_hash")
    n = len(forward)
    assert ok[:n].sum() > 100 and np.array_equal(ok[:n], ok[n:])
    h = cols["flow_hash"]
    assert np.array_equal(h[:n][ok[:n]], h[n:][ok[n:]])
    assert len(set(h[:n][ok[:n]].tolist())) > 0.5 * ok[:n].sum()


# --- the same judgement on batches captured from a veth ---

SENDABLE = (14, 1514)       # an Ethernet header at least, and the veth's MTU


def sendable(frames):
    return [f for f in frames if SENDABLE[0] <= len(f[1]) <= SENDABLE[1]]


def capture_rows(src, want, seconds=10.0):
    """(frame bytes, wirelen, decoded fields) of every packet captured
    until ``want`` arrived (or time's up), decoding each batch as it comes."""
    rows = []
    deadline = time.monotonic() + seconds
    while len(rows) < want and time.monotonic() < deadline:
        with src.batch(100) as b:
            cols = b.columns()
            for i, p in enumerate(b):
                rows.append((p.copy(), p.wirelen,
                             {f: decoded_value(cols, f, i) for f in reference.FIELDS}))
    with src.batch(100) as b:       # anything extra that is already there
        cols = b.columns()
        rows += [(p.copy(), p.wirelen, {f: decoded_value(cols, f, i) for f in reference.FIELDS})
                 for i, p in enumerate(b)]
    return rows


def judged(rows, limit=20):
    """Rows whose decoded fields disagree with scapy's reading of the bytes."""
    bad = []
    for data, wirelen, got in rows:
        exp = reference.expected(data, wirelen, 1)
        diff = {f: (got[f], exp[f]) for f in got if got[f] != exp[f]}
        if diff:
            bad.append((data[:40].hex(), diff))
            if len(bad) >= limit:
                break
    return bad


def in_order(sent, captured):
    """The sent frames missing from ``captured`` (which may also hold the
    namespaces' own traffic), keeping order."""
    it = iter(captured)
    missing = []
    for s in sent:
        for c in it:
            if c == s:
                break
        else:
            missing.append(s)
            it = iter(captured)
    return missing


def untagged_by_kernel_drop(frame):
    """The kernel drops a tagged frame too short to untag (fewer than 6
    bytes after the Ethernet header) before any AF_PACKET socket sees it."""
    return frame[12:14] in (b"\x81\x00", b"\x88\xa8") and len(frame) < 20


@pytest.fixture
def quiet_lab():
    """A veth pair without IPv6 (so only our frames are on the link)."""
    require_root()
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxq", ipv6=False) as lab:
        yield lab


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_every_column_matches_scapy_on_frames_sent_over_a_veth(quiet_lab, backend):
    lab = quiet_lab
    frames = sendable(corpus("ether"))
    with lab.enter_b():
        src = pyxring.capture(lab.if_b, backend=backend)
    with src:
        lab.send_frames([d for _, d, _ in frames])
        rows = capture_rows(src, len(frames))
    sent = [d for _, d, _ in frames]
    expect = sent if backend == "xdp" else [f for f in sent if not untagged_by_kernel_drop(f)]
    assert in_order(expect, [r[0] for r in rows]) == []
    assert len(rows) >= len(expect)
    assert judged(rows) == []


@pytest.mark.parametrize("snaplen", [34, 58])
def test_snapshot_length_truncation_is_judged_the_same(quiet_lab, snaplen):
    lab = quiet_lab
    frames = [f for f in sendable(corpus("ether")) if "~" not in f[0]]
    with lab.enter_b():
        src = pyxring.capture(lab.if_b, backend="tpacket", snaplen=snaplen)
    with src:
        lab.send_frames([d for _, d, _ in frames])
        rows = capture_rows(src, len(frames))
    assert all(len(d) == min(w, snaplen) for d, w, _ in rows)
    cut = sum(1 for d, w, _ in rows if len(d) < w)
    assert cut >= sum(1 for _, d, _ in frames if len(d) > snaplen) > 50
    assert judged(rows) == []


def test_live_traffic_of_the_namespaces_own_stacks(lab):
    """Pings (IPv4, IPv6), UDP datagrams and a TCP conversation made by the
    kernels of both namespaces, captured with TPACKET_V3 and decoded."""
    with lab.enter_b():
        src = pyxring.capture(lab.if_b, backend="tpacket")
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind((lab.ip_b, 0))
        srv.listen(1)
        udp_b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp_b.bind((lab.ip6_b, 0))
    with src, srv, udp_b:
        lab.run_a(["ping", "-c", "3", "-i", "0.2", "-W", "1", lab.ip_b])
        lab.run_a(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", lab.ip6_b])
        with lab.enter_a():
            cli = socket.create_connection((lab.ip_b, srv.getsockname()[1]), timeout=5)
            udp_a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        conn, _ = srv.accept()
        with cli, conn, udp_a:
            for i in range(20):
                cli.sendall(b"x" * (100 * i + 1))
                udp_a.sendto(b"d" * (50 + i), (lab.ip6_b, udp_b.getsockname()[1]))
            conn.sendall(b"y" * 50000)
            got = 0
            while got < 50000:
                got += len(cli.recv(65536))
        rows = capture_rows(src, 10**9, seconds=1.5)
    assert judged(rows) == []
    kinds = {(r[2]["ip_version"], r[2]["proto"]) for r in rows}
    assert {(4, 1), (6, 58), (4, 6), (6, 17)} <= kinds, kinds
    tcp = [r[2] for r in rows if r[2]["proto"] == 6]
    assert len({r["flow_hash"] for r in tcp}) == 1           # one conversation, both ways
    assert sum(r["payload_len"] for r in tcp) >= sum(100 * i + 1 for i in range(20)) + 50000


def test_columns_of_different_batches_never_share_memory():
    """The columns' memory comes from a pool of blocks: arrays still alive
    keep theirs, released ones are reused, and values never change."""
    frames = corpus("ether")[:6000]
    src = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                              batch_size=600)
    kept, copies = [], []
    for i, b in enumerate(src.batches()):
        cols = b.columns(None if i % 2 else ["sport", "src6", "flow_hash"])
        copies.append({k: v.copy() for k, v in cols.items()})
        if i % 3:
            kept.append((i, cols))
        del cols                     # every third one goes back to the pool
    for i, cols in kept:
        for k, v in cols.items():
            assert np.array_equal(v, copies[i][k]), (i, k)
            assert v.flags.writeable and v.base is not None
    bases = {id(cols["valid"].base) for _, cols in kept}
    assert len(bases) == len(kept)


def test_chunks_of_many_batches_equal_one_decode():
    frames = corpus("ether")[:5000]
    data, wl = [d for _, d, _ in frames], [w for _, _, w in frames]
    whole = pyxring.memory.open(data, wirelen=wl, batch_size=len(frames)).batch().columns(
        ["src4", "src6", "sport", "valid"])
    for rows in (1000, 777, 5000, 10**6):
        src = pyxring.memory.open(data, wirelen=wl, batch_size=333)
        parts = list(columns.chunks(src.batches(), ["src4", "src6", "sport"], rows=rows))
        assert [len(p["valid"]) for p in parts[:-1]] == [rows] * (len(parts) - 1)
        for k in whole:
            assert np.array_equal(np.concatenate([p[k] for p in parts]), whole[k]), (rows, k)
    with pytest.raises(pyxring.PyxringError, match="at least 1"):
        next(columns.chunks([], rows=0))


def test_asyncio_over_frames_in_memory():
    """A source without a descriptor to wait on (frames in memory, files)
    is read straight through by the asyncio API too."""
    import asyncio
    frames = corpus("ether")[:3000]

    async def main():
        got = 0
        async with pyxring.memory.open([d for _, d, _ in frames], batch_size=256) as src:
            async for b in src.abatches():
                got += len(b.columns(["proto"])["proto"])
        return got

    assert asyncio.run(main()) == len(frames)


def test_whole_frames_agree_with_dpkt_too():
    """A second judge on the set's whole frames: dpkt's reading of VLAN tags,
    addresses, protocols, ports, TCP and ICMP fields.  Left out: MPLS and
    PPPoE, which dpkt walks into and the columns don't (their IP fields are
    not valid), and three stacked tags, of which dpkt doesn't keep the outer."""
    import dpkt
    frames = [f for f in corpus("ether") if "~" not in f[0] and f[0] != "vlan-triple"]
    src = pyxring.memory.open([d for _, d, _ in frames], batch_size=len(frames))
    with src.batch() as b:
        cols = b.columns()
    compared, bad = 0, []
    for i, (name, data, _) in enumerate(frames):
        try:
            eth = dpkt.ethernet.Ethernet(data)
        except Exception:         # dpkt gives up on some of the odd ones
            continue
        if eth.type in (0x8847, 0x8848, 0x8864):
            continue
        exp = {}
        tags = getattr(eth, "vlan_tags", [])
        if tags:
            exp["vlan_tci"] = (tags[0].pri << 13) | (tags[0].cfi << 12) | tags[0].id
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP):
            exp.update(ip_version=4, src4=int.from_bytes(ip.src, "big"),
                       dst4=int.from_bytes(ip.dst, "big"), proto=ip.p, ttl=ip.ttl, ip_id=ip.id)
        elif isinstance(ip, dpkt.ip6.IP6):
            exp.update(ip_version=6, src6=ip.src, dst6=ip.dst, ttl=ip.hlim)
            if not any(ip.extension_hdrs.values()):
                exp["proto"] = ip.nxt
        else:
            continue
        l4 = ip.data
        if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
            exp.update(sport=l4.sport, dport=l4.dport)
            if isinstance(l4, dpkt.tcp.TCP):
                exp.update(tcp_seq=l4.seq, tcp_ack=l4.ack, tcp_flags=l4.flags, tcp_win=l4.win)
        elif isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
            exp.update(icmp_type=l4.type, icmp_code=l4.code)
        compared += 1
        bad += [(name, f, v, decoded_value(cols, f, i)) for f, v in exp.items()
                if decoded_value(cols, f, i) != v]
    assert compared > 100 and bad == []


GUARDED = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/columns_corpus"]
import numpy as np
import pyxring.memory
from test_columns import LINKS, corpus, fuzzed
sets = [(link, corpus(link)) for link in LINKS] + [("ether", fuzzed(20000))]
for link, frames in sets:
    kw = dict(wirelen=[w for _, _, w in frames], linktype=LINKS[link], batch_size=1000)
    data = [d for _, d, _ in frames]
    plain = pyxring.memory.open(data, **kw)
    guarded = pyxring.memory.open(data, guard_pages=True, **kw)
    for a, b in zip(plain.batches(), guarded.batches()):
        ca, cb = a.columns(), b.columns()
        assert all(np.array_equal(ca[k], cb[k]) for k in ca), link
        b.to_arrow()
        sum(len(p.copy()) for p in b)
print("OK", sum(len(f) for _, f in sets))
"""


def fuzzed(n, seed=0xF022):
    """``n`` frames of the set with random bytes written over their headers
    (lengths, versions, next headers, tags) and random cuts."""
    import random
    rng = random.Random(seed)
    base = [f for f in corpus("ether") if "~" not in f[0] and len(f[1]) > 14]
    out = []
    for i in range(n):
        name, data, _ = rng.choice(base)
        data = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(12, min(len(data), 100))
            data[pos] = rng.randrange(256)
        cut = len(data) if rng.random() < 0.5 else rng.randrange(0, len(data) + 1)
        out.append((f"{name}~fuzz{i}", bytes(data[:cut]), len(data)))
    return out


def test_fuzzed_frames_match_scapy():
    frames = fuzzed(20000)
    src = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                              batch_size=4096)
    assert mismatches(decode_all(src), frames, 1) == []


def test_the_decoder_never_reads_past_a_frame():
    """Every frame of every set, and the fuzzed ones, ends against a page
    nobody may read: a byte read past the captured length would kill the
    process (it runs in a child, so that shows as a failure here).  The
    columns are the same as without the guard pages."""
    r = subprocess.run([sys.executable, "-c", GUARDED, os.path.dirname(__file__)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.startswith("OK ")


def test_read_columns_of_a_file_and_its_filter_judged_by_tcpdump(tmp_path):
    """pyxring.read_columns over a whole file: the same columns as the
    frames decoded from memory, in chunks; with a filter, the rows tcpdump
    keeps for the same expression."""
    from conftest import require_tool
    path = os.path.join(DATA, "columns-ether.pcap")
    frames = corpus("ether")
    parts = list(pyxring.read_columns(path, ["src4", "dport", "flow_hash"], rows=4000))
    assert [len(p["valid"]) for p in parts[:-1]] == [4000] * (len(parts) - 1)
    got = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    want = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                               batch_size=len(frames)).batch().columns(["src4", "dport",
                                                                        "flow_hash"])
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    tcpdump = require_tool("tcpdump")
    kept = tmp_path / "udp.pcap"
    subprocess.run([tcpdump, "-r", path, "-w", str(kept), "udp or icmp6"], check=True,
                   capture_output=True, timeout=60)
    theirs = [bytes(r.data) for r in pyxring.open_reader(str(kept))]
    ours = [rb.column("frame").to_pylist()
            for rb in pyxring.read_columns(path, ["proto"], filter="udp or icmp6", arrow=True)]
    assert sum(ours, []) == theirs and len(theirs) > 500
    with pytest.raises(ValueError, match="invalid filter expression .udp prt 53."):
        next(pyxring.read_columns(path, filter="udp prt 53"))
