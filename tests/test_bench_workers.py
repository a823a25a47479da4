"""The workers benchmark's verdicts and table (bench/workers.py): pure
logic, no traffic."""
from bench import workers as bw


def run(rate, delivered, captured):
    return {"rate": rate, "sent": delivered, "delivered": delivered, "captured": captured,
            "dropped": delivered - captured, "per_worker": [captured], "wall": 3.0}


def test_loss_free_rate_is_the_highest_rate_without_loss():
    runs = [run(10, 30, 30), run(20, 60, 60), run(40, 120, 119), run(60, 180, 180)]
    assert bw.loss_free(runs) == 60          # a later clean run counts, at the rate reached
    slow = dict(run(60, 90, 90), wall=3.0)   # asked 60, the sender reached 30
    assert bw.loss_free([slow]) == 30
    assert bw.loss_free([run(10, 30, 29)]) == 0
    assert bw.loss_free([run(10, 0, 0)]) == 0   # nothing delivered proves nothing


def test_the_table_and_the_target(tmp_path, monkeypatch):
    monkeypatch.setattr(bw, "RESULTS", str(tmp_path))
    results = {"handler_us": 5.0, "iterations": 100, "rates": [10, 20], "quick": True,
               "when": "now", "consumers": {
                   "tpacket, 1 worker": {"runs": [run(10, 30, 30)], "loss_free_pps": 10},
                   "tpacket, 2 workers": {"runs": [run(20, 60, 60)], "loss_free_pps": 20},
                   "xdp, 1 worker": {"runs": [run(10, 30, 30)], "loss_free_pps": 10},
                   "xdp, 2 workers": {"runs": [run(10, 30, 30)], "loss_free_pps": 10}}}
    bw.write(results, "w")
    text = (tmp_path / "w.md").read_text()
    assert "| tpacket, 2 workers | 20 | 2.00x |" in text
    assert "| tpacket, 2 workers | 20 | 20 | 60 | 60 | 60 | 0 |" in text
    assert "- tpacket: yes (20 vs 10 pps)" in text
    assert "- xdp: **no** (10 vs 10 pps)" in text
    assert (tmp_path / "w.json").exists()
