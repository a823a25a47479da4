"""The columns benchmark's parts (bench/columns.py) without its timing: the
traffic mix it decodes is judged like the frame set, the dpkt side reads the
same fields, the report and the targets come out of a result."""
import os
import sys

import pyxring.memory
from bench import columns as bc
from test_columns import mismatches

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "columns_corpus"))


def test_the_mix_decodes_as_scapy_reads_it():
    frames = bc.frame_mix(3000, seed=7)
    src = pyxring.memory.open(frames, batch_size=len(frames))
    with src.batch() as b:
        cols = b.columns()
    assert mismatches(cols, [(f"mix{i}", f, len(f)) for i, f in enumerate(frames)], 1) == []
    kinds = {(int(v), int(p)) for v, p in zip(cols["ip_version"], cols["proto"])}
    assert {(4, 6), (4, 17), (4, 1), (6, 6), (6, 17), (0, 0)} <= kinds
    assert (cols["vlan_tci"] != 0).any()


def test_dpkt_reads_the_same_addresses_and_ports():
    frames = bc.frame_mix(2000, seed=3)
    rows = bc.dpkt_fields(frames)
    src = pyxring.memory.open(frames, batch_size=len(frames))
    with src.batch() as b:
        cols = b.columns(["ip_version", "src4", "dport"])
    for i, row in enumerate(rows):
        if len(row) > 1 and row[1] == 4:
            assert int.from_bytes(row[2], "big") == cols["src4"][i]
            if len(row) > 9:
                assert row[10] == cols["dport"][i]


def test_report_and_targets(tmp_path):
    decode = {"frames": 1000, "batch": 100, "repeats": 3, "mean_frame_bytes": 400.0,
              "dpkt_frames": 100, "dpkt_ns": 10000.0, "scapy_frames": 10, "scapy_ns": 200000.0}
    for label in ("all", "talkers"):
        for kind, ns in (("cold", 60.0), ("warm", 40.0)):
            decode[f"pyxring_{label}_{kind}_ns"] = ns
    for kind, ns in (("cold", 60.0), ("warm", 40.0)):
        decode[f"mpps_all_{kind}"] = round(1e3 / ns, 1)
        decode[f"x_dpkt_all_{kind}"] = round(10000.0 / ns, 1)
        decode[f"x_scapy_all_{kind}"] = round(200000.0 / ns, 1)
    live = {"rate": 200000, "count": 1000, "blocks": 1, "comparisons": {
        "columns-tpacket/batch-tpacket": {"a": "A", "b": "B", "pairs": 2, "median_diff_us": 0.04,
                                          "low": None, "high": None, "max_loss_pct": 0,
                                          "a_cpu_us": 0.1}}}
    results = {"started": "now", "quick": True, "machine": "m", "args": "--quick",
               "fields": ["f"] * 28, "decode": decode, "live": live}
    results["targets"] = bc.targets(results)
    assert [t["met"] for t in results["targets"]] == [True, False, True, True]
    decode.update(file_packets=1000, file_mb=1, pyxring_file_ns=80.0, pyxring_file_decode_ns=40.0,
                  dpkt_file_packets=100, dpkt_file_ns=3000.0, x_dpkt_file=37.5)
    results["targets"] = bc.targets(results)
    assert [t["met"] for t in results["targets"]] == [True, False, True, False, True]
    path = tmp_path / "columns.md"
    bc.write_markdown(results, path)
    text = path.read_text()
    assert "| pyxring `batch.columns()` | all 28 | 60.0 | 40.0 | 16.7 / 25.0 |" in text
    assert "+0.0400" in text
    assert "| … of which `batch.columns()` | 40.0 | 25.0 |" in text


def test_file_readers_read_the_whole_file(tmp_path):
    import pyxring
    frames = bc.frame_mix(500, seed=2)
    path = tmp_path / "m.pcap"
    with pyxring.open_writer(path, "pcap") as w:
        for b in pyxring.memory.open(frames).batches():
            w.write_batch(b)
    assert bc.dpkt_file_fields(str(path), 10_000) == 500
    assert bc.dpkt_file_fields(str(path), 300) == 300
    whole, decode = bc.pyxring_file_ns(str(path), None, 1)
    assert whole > decode > 0
