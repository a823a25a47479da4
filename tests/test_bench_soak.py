"""The soak harness (bench/soak.py): its verdicts on made-up runs, the
statistics block as python-pcapng reads it from a file pyxring wrote, and
one short real run per host backend through the harness's own code (the
10^7-frame soak itself is `make soak`)."""
import os
import tempfile

import pytest

from bench import soak
from conftest import require_root, require_tool


def test_plan_covers_every_combination_per_backend():
    runs = soak.plan(soak.BACKENDS)
    assert len(runs) == 8 * len(soak.BACKENDS) == len(set(runs))
    assert {(r, f, ring) for b, r, f, ring in runs if b == "tpacket"} == \
        {(rate, f, ring) for rate in (soak.HOST_FIXED_RATE, 0) for f in (False, True)
         for ring in ("small", "default")}
    assert {r for b, r, _, _ in runs if b == "myring"} == {soak.GUEST_FIXED_RATE, soak.GUEST_FLAT_OUT}


def test_rss_growth_is_judged_after_the_warm_up():
    every = soak.HOST_RSS_EVERY
    warm = int(soak.WARMUP_S / every)
    # rings and buffers touched during the warm-up don't count
    rising_then_flat = [1000 + 100 * min(i, warm) for i in range(60)]
    assert soak.rss_growth(rising_then_flat, every) == (1000 + 100 * warm, 0)
    leaking = [5000 + 40 * i for i in range(60)]
    k = 60 // 5
    assert soak.rss_growth(leaking, every) == (5000 + 40 * k, 40 * (59 - k))
    run = {"problems": []}
    soak.judge_rss(run, leaking, every)
    assert run["problems"] and "RSS grew" in run["problems"][0]
    # too short a run to tell: no verdict rather than a wrong one
    assert soak.rss_growth([100, 200], every) == (200, None)


def test_capture_v_counters_are_parsed():
    text = ("pyxring: listening on x (xdp backend), ...\n5 packets captured\n"
            "5 packets received by filter\n0 packets dropped by kernel\n"
            "rx_packets=5 rx_frames=4096 frames_held=0 fill_ring_level=4096 xdp_seen=9\n")
    v = soak.parse_verbose(text)
    assert v["fill_ring_level"] == "4096" and v["xdp_seen"] == "9"


def test_statistics_block_read_by_python_pcapng(tmp_path):
    pytest.importorskip("pcapng")
    from pyxring.writers import open_writer
    path = str(tmp_path / "s.pcapng")
    with open_writer(path, ifname="x0") as w:
        for i in range(1000):
            w.write(bytes(60), ts_ns=10**18 + i, wirelen=60)
        w.write_stats(received=1234, dropped=234)
    assert soak.isb_counters(path) == (1234, 234)
    run = {"problems": [], "captured": 1000, "received": 1234, "dropped": 234}
    require_tool("capinfos")
    soak.judge_file(run, path)
    assert run["in_file"] == 1000 and run["problems"] == []
    run = {"problems": [], "captured": 999, "received": 1234, "dropped": 0}
    soak.judge_file(run, path)
    assert len(run["problems"]) == 2      # records and statistics block disagree


@pytest.mark.parametrize("backend", ["tpacket", "xdp-native"])
def test_one_short_soak_run_passes(backend):
    require_root()
    for tool in ("trafgen", "capinfos", "taskset"):
        require_tool(tool)
    import sys
    from bench.run import traffic_lab
    tmpdir = tempfile.mkdtemp(prefix="pyxring-soak-test-")
    try:
        with traffic_lab("sktst", tmpdir) as (lab, _cfg):
            cfg = os.path.join(tmpdir, "two.cfg")
            soak.two_port_config(cfg, lab)
            run = soak.host_run(lab, cfg, backend, 50_000, True, "small", 20_000, tmpdir,
                                sys.executable)
    finally:
        import shutil
        shutil.rmtree(tmpdir, ignore_errors=True)
    assert run["problems"] == []
    assert run["wanted"] == 10_000 == run["received"] == run["captured"] + run["dropped"]
    assert run["in_file"] == run["captured"] and run["isb"] == [run["received"], run["dropped"]]
    if backend.startswith("xdp"):
        assert run["umem"]["rx_frames"] == 1024 and run["umem"]["frames_held"] == 0
        assert run["umem"]["fill_ring_level"] >= (1023 if run["dropped"] else 1024)


def test_umem_judged_to_the_chunk():
    def judge(**extra):
        run = {"problems": []}
        soak.judge_umem(run, {k: str(v) for k, v in extra.items()})
        return run["problems"]
    assert judge(frames_held=0, fill_ring_level=1024, rx_frames=1024, rx_ring_full=0) == []
    # one chunk short only after an RX-ring-full drop (the kernel's spare)
    assert judge(frames_held=0, fill_ring_level=1023, rx_frames=1024, rx_ring_full=7) == []
    assert "1023 of 1024" in judge(frames_held=0, fill_ring_level=1023, rx_frames=1024,
                                   rx_ring_full=0)[0]
    assert judge(frames_held=0, fill_ring_level=1022, rx_frames=1024, rx_ring_full=7)
    assert judge(frames_held=0, fill_ring_level=1025, rx_frames=1024, rx_ring_full=0)
    assert "3 held" in judge(frames_held=3, fill_ring_level=1021, rx_frames=1024)[0]
