"""The realistic job's parts (bench/talkers.py) without its timing: on a
small file of the benchmark's traffic mix, pyxring, dpkt, scapy and tshark
give the same ten talkers, and the report comes out of a result."""
import pytest

from bench import talkers as bt
from conftest import require_tool


@pytest.fixture(scope="module")
def mix_file(tmp_path_factory):
    import pyxring
    import pyxring.memory
    from bench.columns import frame_mix
    path = tmp_path_factory.mktemp("talkers") / "mix.pcap"
    frames = frame_mix(4000, seed=4)
    src = pyxring.memory.open(frames, batch_size=1000)
    with pyxring.open_writer(path, "pcap", precision="us") as w:
        for b in src.batches():
            w.write_batch(b)
    return str(path)


def test_every_tool_gives_the_same_answer(mix_file):
    require_tool("tshark")
    answers = {tool: bt.JOBS[tool](mix_file, 0) for tool in bt.TOOLS}
    top, seen = answers["pyxring"]
    assert seen == 4000 and len(top) == bt.TOP
    assert top == sorted(top, key=lambda r: (-r[1], r[0]))
    for tool, (other, n) in answers.items():
        assert (other, n) == (top, seen), tool
    # the same on a sample (as scapy is run on the full benchmark)
    assert bt.job_pyxring(mix_file, 500) == bt.job_scapy(mix_file, 500)


def test_ipv6_talkers_count(tmp_path):
    """Only IPv6 traffic: the 16-byte addresses are counted as such."""
    import pyxring
    import pyxring.memory
    from bench.columns import _eth, _ipv6, _udp
    a, b = bytes.fromhex("20010db8" + "00" * 11 + "01"), bytes.fromhex("20010db8" + "00" * 11 + "02")
    frames = [_eth(0) + b"\x86\xdd" + _ipv6(17, a if i % 3 else b, b, _udp(1, 2, 10 + i))
              for i in range(30)]
    path = tmp_path / "v6.pcap"
    with pyxring.open_writer(path, "pcap") as w:
        for bt_ in pyxring.memory.open(frames).batches():
            w.write_batch(bt_)
    top, seen = bt.job_pyxring(str(path), 0)
    assert seen == 30
    assert top == bt.job_dpkt(str(path), 0)[0]
    assert [r[0] for r in top] == ["2001:db8::1", "2001:db8::2"]
    assert [r[2] for r in top] == [20, 10]


def test_report(tmp_path):
    rows = {t: {"tool": t, "label": bt.LABELS[t], "packets": 1000, "wall_s": 1.0, "cpu_s": 0.5,
                "wall_s_file": 1.0, "cpu_s_file": 0.5 * (i + 1), "extrapolated": False,
                "same_answer": True} for i, t in enumerate(bt.TOOLS)}
    rows["scapy"].update(extrapolated=True, packets=100, startup_cpu_s=0.2)
    res = {"quick": True, "started": "now", "machine": "m", "load": 1.0, "packets": 1000,
           "runs": 1, "file_mb": 1.0, "args": "--quick", "results": rows,
           "top": [["10.0.0.1", 500, 5]]}
    path = tmp_path / "t.md"
    bt.write_markdown(res, path)
    text = path.read_text()
    assert "| pyxring `batch.columns()` + numpy | 1,000 | 1.00 | 0.50 | 1.0× | yes |" in text
    assert "measured on 100 packets" in text and "| 10.0.0.1 | 500 | 5 |" in text
