"""The paired flat-out comparison's statistics (bench/duel.py): pure logic,
no traffic."""
import math

import pytest

from bench import duel


def binom_tail(n, j):
    """P(X <= j), X ~ Bin(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n


@pytest.mark.parametrize("n", range(6, 61))
def test_median_interval_is_the_widest_order_statistics_that_hold_the_level(n):
    xs = [float(i) for i in range(n, 0, -1)]      # unsorted on purpose
    med, low, high, cov = duel.median_ci(xs, 0.95)
    k = int(low)                                  # x(k) = k for these values
    assert high == n + 1 - k
    assert med == (n + 1) / 2
    assert cov == pytest.approx(1 - 2 * binom_tail(n, k - 1))
    assert cov >= 0.95
    # one order statistic further in would no longer cover 95%
    assert 1 - 2 * binom_tail(n, k) < 0.95


def test_known_intervals():
    # n = 16: x(4)..x(13), coverage 1 - 2 * 697 / 65536
    med, low, high, cov = duel.median_ci(range(1, 17))
    assert (low, high) == (4, 13)
    assert cov == pytest.approx(1 - 2 * 697 / 65536)
    # n = 6 is the smallest sample with a 95% interval: its extremes
    assert duel.median_ci([3, 1, 2, 6, 5, 4])[1:3] == (1, 6)


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
def test_too_few_values_give_no_interval(values):
    med, low, high, cov = duel.median_ci(values)
    assert (low, high, cov) == (None, None, None)
    assert med == (None if not values else sorted(values)[len(values) // 2])


def test_blocks_alternate_the_slots_and_pair_each_a_with_its_neighbouring_b():
    assert [duel.block_order(b) for b in (1, 2, 3, 4)] == ["ABBA", "BAAB", "ABBA", "BAAB"]
    assert duel.block_pairs("ABBA", ["A1", "B1", "B2", "A2"]) == [("A1", "B1"), ("A2", "B2")]
    assert duel.block_pairs("BAAB", ["B1", "A1", "A2", "B2"]) == [("A1", "B1"), ("A2", "B2")]


@pytest.mark.parametrize("low, high, word", [(1.01, 1.2, "higher"), (0.8, 0.99, "lower"),
                                             (0.9, 1.1, "no difference resolved"),
                                             (None, None, "too few pairs to say")])
def test_verdict(low, high, word):
    assert duel.verdict(low, high) == word


def run(tool, pps, sender_us, problems=(), loss=0.0):
    return {"tool": tool, "achieved_pps": pps, "sender_cpu_us_per_pkt": sender_us,
            "problems": list(problems), "loss_pct": loss}


def test_pairs_with_a_problem_are_named_and_left_out():
    a, b = duel.COMPARISONS[1]
    key = f"{a} / {b}"
    pairs = [duel.pair_record(key, i, run(a, 301_000 + 1000 * i, 3.0),
                                 run(b, 300_000, 3.0)) for i in range(8)]
    pairs.append(duel.pair_record(key, 9, run(a, 100_000, 9.0, loss=2.5),
                                  run(b, 300_000, 3.0)))
    pairs.append(duel.pair_record(key, 10, run(a, 300_000, 3.0),
                                  run(b, 50_000, 3.0, problems=["sent 1 of 500000"])))
    s = duel.summarize(pairs)[key]
    assert (s["pairs"], s["pairs_used"]) == (10, 8)
    assert s["problems"] == [f"block 9: {a} lost 2.5%",
                             f"block 10: {b}: sent 1 of 500000"]
    assert s["rate_ratio"]["n"] == 8
    assert s["rate_ratio"]["median"] == pytest.approx((305_000 + 304_000) / 2 / 300_000, abs=1e-4)
    assert s["rate_verdict"] == "higher"          # every kept pair is (slightly) above 1
    assert s["sender_cpu_ratio"]["median"] == 1.0


def test_markdown_has_one_row_per_comparison(tmp_path):
    pairs = []
    for a, b in duel.COMPARISONS:
        key = f"{a} / {b}"
        pairs += [duel.pair_record(key, i, run(a, 290_000 + 2000 * i, 3.1),
                                   run(b, 300_000, 3.0)) for i in range(12)]
    results = {"started": "now", "machine": "m", "kernel": "k", "blocks": 6,
               "count": 500_000, "pairs": pairs, "summary": duel.summarize(pairs)}
    path = tmp_path / "duel.md"
    duel.write_markdown(results, path)
    text = path.read_text()
    for a, b in duel.COMPARISONS:
        assert f"| {a} | {b} | 12 of 12 |" in text
    assert "no difference resolved" in text
    # two tables, each a header line and then one row per comparison or pair
    assert text.count("\n| ") == (1 + len(duel.COMPARISONS)) + (1 + len(pairs))


def test_rounds_rotate_the_order():
    from bench.run import rotated
    assert [rotated("abc", i) for i in range(4)] == ["abc", "bca", "cab", "abc"]
    assert rotated([], 3) == []
