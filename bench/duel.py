"""Flat out, pyxring's CLI beside tcpdump in adjacent pairs
(``python -m bench.duel``, run by ``make bench`` after ``bench.run``).

Why a second harness: flat out, the achieved rate is set by what each packet
costs the sender's CPU, and on this shared VM that cost drifts by half
within minutes (in one full run tcpdump's own flat-out rate ranged from 304k
to 473k pps).  ``bench.run`` runs 17 tools per round, so two tools of one
round can be a minute apart.  Here each comparison is a run of A and a run
of B back to back, in blocks of four (ABBA, then BAAB) so that neither a
steady drift nor the slot a tool runs in favours either, and the blocks of
the comparisons take turns so that all of them span the same stretch of time.

What is reported per comparison: the median over the pairs of A's achieved
rate divided by B's (and of A's sender CPU per packet divided by B's), with a
distribution-free confidence interval for that median (from the binomial
order statistics, no assumption about the noise's shape).  The comparison of
tcpdump with itself (A/A) shows what this machine can resolve at all: its
interval is the width of the noise.

The lab, the tools and the per-run reconciliation are bench.run's.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

from bench import run as bench

# (A, B): the ratio is A / B.  pyxring's xdp CLI is also put beside the C
# AF_XDP reference, and that reference beside tcpdump: what the kernel path
# costs is then told apart from what pyxring adds.  The generic-mode capture
# shows the other way into AF_XDP.  The last one is the A/A control.
COMPARISONS = [("pyxring-cli-tpacket-file", "tcpdump-file"),
               ("pyxring-cli-xdp-file", "tcpdump-file"),
               ("pyxring-cli-xdp-file", "ref-afxdp"),
               ("ref-afxdp", "tcpdump-file"),
               ("pyxring-cli-xdp-file-generic", "tcpdump-file"),
               ("tcpdump-file", "tcpdump-file")]
BLOCKS = 20                     # blocks of four runs per comparison: 40 pairs
COUNT = 500_000                 # frames per run: 1.5 to 2 s flat out
LEVEL = 0.95


def block_order(block):
    """Which tool of the pair runs in each of a block's four slots: ABBA in
    odd blocks, BAAB in even ones, so that neither tool always has the outer
    slots (with ABBA only, the A/A control's outer runs came out 1.3% faster,
    inside its interval but not worth leaving to one side)."""
    return "ABBA" if block % 2 else "BAAB"


def block_pairs(order, runs):
    """Pair the four runs of one block, each A with the B next to it:
    [(A run, B run), (A run, B run)]."""
    first = (runs[0], runs[1]) if order[0] == "A" else (runs[1], runs[0])
    second = (runs[3], runs[2]) if order[3] == "A" else (runs[2], runs[3])
    return [first, second]


def median_ci(values, level=LEVEL):
    """(median, low, high, coverage) of ``values``; low/high are order
    statistics x(k) and x(n+1-k) with the largest k whose two-sided
    binomial(n, 1/2) tail stays within 1 - level (None when n is too small
    for any interval at that level)."""
    xs = sorted(values)
    n = len(xs)
    if not n:
        return None, None, None, None
    med = statistics.median(xs)
    tail = 0.0
    k = 0
    # P(X <= j) for X ~ Bin(n, 1/2), summed until it passes the allowed tail
    for j in range(n):
        p = math.comb(n, j) / 2 ** n
        if 2 * (tail + p) > 1 - level:
            break
        tail += p
        k = j + 1
    if k == 0:
        return med, None, None, None
    return med, xs[k - 1], xs[n - k], 1 - 2 * tail


def verdict(low, high):
    if low is None:
        return "too few pairs to say"
    if low > 1:
        return "higher"
    if high < 1:
        return "lower"
    return "no difference resolved"


def summarize(pairs, level=LEVEL):
    """Per comparison: the rate and sender-CPU ratios' medians and intervals;
    pairs where either run had a problem (loss, unreconciled counts, a
    generator failure) are listed and left out of the ratios."""
    out = {}
    for a, b in COMPARISONS:
        key = f"{a} / {b}"
        mine = [p for p in pairs if p["comparison"] == key]
        good = [p for p in mine if not p["problems"]]
        s = {"a": a, "b": b, "pairs": len(mine), "pairs_used": len(good),
             "problems": [f"block {p['block']}: {'; '.join(p['problems'])}"
                          for p in mine if p["problems"]]}
        for name in ("rate_ratio", "sender_cpu_ratio"):
            vals = [p[name] for p in good if p.get(name)]
            med, lo, hi, cov = median_ci(vals, level)
            s[name] = {"median": med, "low": lo, "high": hi, "coverage": cov,
                       "n": len(vals)}
        s["rate_verdict"] = verdict(s["rate_ratio"]["low"], s["rate_ratio"]["high"])
        out[key] = s
    return out


def pair_record(key, block, ra, rb):
    problems = [f"{r['tool']}: {x}" for r in (ra, rb) for x in r["problems"]]
    for r in (ra, rb):
        if r.get("loss_pct"):
            problems.append(f"{r['tool']} lost {r['loss_pct']}%")
    rec = {"comparison": key, "block": block, "problems": problems,
           "a_pps": ra.get("achieved_pps"), "b_pps": rb.get("achieved_pps"),
           "a_sender_us": ra.get("sender_cpu_us_per_pkt"),
           "b_sender_us": rb.get("sender_cpu_us_per_pkt")}
    if rec["a_pps"] and rec["b_pps"]:
        rec["rate_ratio"] = round(rec["a_pps"] / rec["b_pps"], 4)
    if rec["a_sender_us"] and rec["b_sender_us"]:
        rec["sender_cpu_ratio"] = round(rec["a_sender_us"] / rec["b_sender_us"], 4)
    return rec


def fmt_ratio(r):
    if r["median"] is None:
        return "–"
    if r["low"] is None:
        return f"{r['median']:.3f}"
    return f"{r['median']:.3f} ({r['low']:.3f}–{r['high']:.3f})"


def write_markdown(results, path):
    lines = [f"# Flat out, in adjacent pairs ({results['started']})", "",
             f"{results['machine']}, kernel {results['kernel']}; {results['blocks']} blocks "
             f"of four runs (ABBA, BAAB, ...) per comparison, {results['count']:,} frames per "
             f"run, 64-byte frames flat out from trafgen (CPU {bench.GEN_CPU}), the consumer "
             f"on CPU {bench.CONSUMER_CPU}. "
             "Ratios are A / B per pair; the table shows their median and, in brackets, "
             f"a {int(LEVEL * 100)}% distribution-free interval for that median "
             "(actual coverage in the last column).", "",
             "| A | B | pairs | achieved rate A/B | sender CPU per packet A/B | rate | coverage |",
             "|---|---|---|---|---|---|---|"]
    for s in results["summary"].values():
        cov = s["rate_ratio"]["coverage"]
        lines.append(f"| {s['a']} | {s['b']} | {s['pairs_used']} of {s['pairs']} | "
                     f"{fmt_ratio(s['rate_ratio'])} | {fmt_ratio(s['sender_cpu_ratio'])} | "
                     f"{s['rate_verdict']} | {'–' if cov is None else f'{cov:.1%}'} |")
    problems = [f"- {s['a']} / {s['b']}, {p}" for s in results["summary"].values()
                for p in s["problems"]]
    lines += ["", "*rate*: **higher** or **lower** when the whole interval is above or below "
              "1; otherwise this machine did not resolve a difference. The tcpdump / tcpdump "
              "row is the same tool twice: its interval is the noise of the measurement.", ""]
    if problems:
        lines += ["Pairs left out (a run lost packets or failed its checks):", "", *problems, ""]
    if results.get("interrupted"):
        lines += ["**Interrupted**: fewer pairs than asked for.", ""]
    lines += ["Every pair, in the order run:", "",
              "| block | comparison | A pps | B pps | rate A/B | sender µs/pkt A | B |",
              "|---|---|---|---|---|---|---|"]
    for p in results["pairs"]:
        lines.append(f"| {p['block']} | {p['comparison']} | {p['a_pps'] or '–'} | "
                     f"{p['b_pps'] or '–'} | {p.get('rate_ratio', '–')} | "
                     f"{p['a_sender_us'] or '–'} | {p['b_sender_us'] or '–'} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.duel", description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=BLOCKS,
                    help=f"blocks of four runs per comparison "
                         f"(default {BLOCKS}: {2 * BLOCKS} pairs)")
    ap.add_argument("--count", type=int, default=COUNT,
                    help=f"frames per run (default {COUNT:,})")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 block, 250k frames per run (quick-duel.*)")
    ap.add_argument("--out", default=bench.RESULTS, help="results directory")
    args = ap.parse_args(argv)
    if args.blocks < 1 or args.count < 1000:
        ap.error("--blocks must be at least 1 and --count at least 1000")
    status = bench.preflight("duel")
    if status is not None:
        return status
    blocks = 1 if args.quick else args.blocks
    count = COUNT // 2 if args.quick else args.count

    py = sys.executable
    tmpdir = tempfile.mkdtemp(prefix="pyxring-duel-")
    tools, failed = bench.ready_tools(sorted({n for c in COMPARISONS for n in c}), py, tmpdir)
    if failed:
        print(f"duel: {failed[0]}", file=sys.stderr)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return failed[1]

    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "args": " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": f"{os.uname().machine} {os.cpu_count()} CPUs",
               "kernel": os.uname().release, "blocks": blocks, "count": count,
               "comparisons": [f"{a} / {b}" for a, b in COMPARISONS], "pairs": [], "raw": []}
    interrupted = False
    try:
        with bench.sigterm_interrupts(), bench.traffic_lab("duel", tmpdir) as (lab, cfg):
            for block in range(1, blocks + 1):
                for a, b in bench.rotated(COMPARISONS, block - 1):
                    key = f"{a} / {b}"
                    runs = []
                    order = block_order(block)
                    for name in (a if slot == "A" else b for slot in order):
                        r = bench.one_run(tools[name], lab, cfg, bench.UNLIMITED, count, py,
                                          tmpdir)
                        r["comparison"], r["block"] = key, block
                        results["raw"].append(r)
                        runs.append(r)
                    for ra, rb in block_pairs(order, runs):
                        p = pair_record(key, block, ra, rb)
                        results["pairs"].append(p)
                        print(f"duel: block {block}/{blocks} {key:50} {p['a_pps']} vs "
                              f"{p['b_pps']} pps, ratio {p.get('rate_ratio')}"
                              + (f"  PROBLEMS: {'; '.join(p['problems'])}" if p["problems"]
                                 else ""), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("duel: interrupted; writing what was measured", file=sys.stderr)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    results["interrupted"] = interrupted
    results["summary"] = summarize(results["pairs"])
    os.makedirs(args.out, exist_ok=True)
    stem = "quick-duel" if args.quick else "duel"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(args.out, stem + ".md"))
    for s in results["summary"].values():
        print(f"duel: {s['a']} / {s['b']}: rate {fmt_ratio(s['rate_ratio'])}, "
              f"sender CPU {fmt_ratio(s['sender_cpu_ratio'])}: {s['rate_verdict']}",
              file=sys.stderr)
    print(f"duel: results in {os.path.relpath(args.out)}/{stem}.{{json,md}}", file=sys.stderr)
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
