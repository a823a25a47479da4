"""Reading capture files: pyxring beside pcapy-ng, dpkt and tcpdump
(``python -m bench.files``, run by ``make bench``; ``--quick`` for a short
check).

The file: generated once, N packets (1,000,000 by default) of mixed TCP and
UDP over IPv4, 64 to 1500 bytes, written as pcap and as pcapng, and read
once before measuring so that it sits in the page cache.

What is measured, as CPU seconds (user + system) of a process doing only
that, in adjacent pairs (each comparison's A and B runs back to back in
blocks of four, ABBA then BAAB, as ``bench.duel`` does), reported as the
median over the pairs of A's CPU divided by B's with a distribution-free
95 % interval:

- iterating every record's bytes from Python: pyxring's per-packet loop
  (``for pkt in open_file(f): pkt.data``) and ``open_reader`` (records own
  a copy of their bytes) against pcapy-ng's ``next()`` loop and dpkt's
  reader; the loop's own CPU time, measured inside the process;
- ``pyxring read FILE EXPR`` with a filter that matches nothing against
  ``tcpdump -r FILE EXPR``: the whole process, start-up included;
- printing every packet (``pyxring read FILE`` / ``tcpdump -nn -r FILE``,
  output to /dev/null): the whole process.
"""
import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

from bench.duel import block_order, block_pairs, median_ci, verdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
DATA = os.path.join(ROOT, "build", "bench-files")
NOTHING = "host 203.0.113.77"           # TEST-NET-3: in no generated packet

LOOPS = {
    "pyxring-packets": ("from pyxring.file import open_file\n"
                        "src = open_file(PATH)\nt = time.process_time()\n"
                        "for pkt in src:\n    pkt.data\n"),
    "pyxring-reader": ("from pyxring import open_reader\n"
                       "rd = open_reader(PATH)\nt = time.process_time()\n"
                       "for rec in rd:\n    rec.data\n"),
    "pcapy-ng": ("import pcapy\nr = pcapy.open_offline(PATH)\nt = time.process_time()\n"
                 "while True:\n    h, d = r.next()\n    if h is None:\n        break\n"),
    "dpkt": ("import dpkt\nf = open(PATH, 'rb')\n"
             "r = (dpkt.pcapng.Reader if PATH.endswith('ng') else dpkt.pcap.Reader)(f)\n"
             "t = time.process_time()\nfor ts, buf in r:\n    buf\n"),
}
LABELS = {"pyxring-packets": "pyxring `for pkt in open_file(f): pkt.data`",
          "pyxring-reader": "pyxring `open_reader` records",
          "pcapy-ng": "pcapy-ng `next()` loop", "dpkt": "dpkt reader",
          "pyxring-read-nomatch": f"`pyxring read FILE {NOTHING}`",
          "tcpdump-nomatch": f"`tcpdump -r FILE {NOTHING}`",
          "pyxring-read-print": "`pyxring read FILE` (every packet printed)",
          "tcpdump-print": "`tcpdump -nn -r FILE` (every packet printed)"}


def _frame(rng):
    from pyxring import netlab
    size = rng.randint(64, 1500)
    proto_tcp = rng.random() < 0.6
    src, dst = f"10.1.{rng.randrange(256)}.{rng.randrange(1, 255)}", "10.2.0.1"
    frame = netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", src, dst,
                                  rng.randrange(1024, 65535), rng.choice((53, 443, 8080)),
                                  b"\0" * max(0, size - 42))
    if proto_tcp:
        # the same frame, made TCP: protocol 6 and a 20-byte header in place of UDP's 8
        b = bytearray(frame[:34]) + bytearray(20) + frame[42:]
        b[23] = 6
        b[16:18] = (len(b) - 14).to_bytes(2, "big")
        b[46] = 0x50
        b[47] = 0x18
        frame = bytes(b)
    return frame


def make_files(count):
    """pcap and pcapng files of ``count`` mixed TCP/UDP packets (cached)."""
    import pyxring
    os.makedirs(DATA, exist_ok=True)
    paths = {fmt: os.path.join(DATA, f"mixed-{count}.{fmt}") for fmt in ("pcap", "pcapng")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = random.Random(1)
    frames = [_frame(rng) for _ in range(4096)]
    t0 = 1_700_000_000 * 10**9
    for fmt, path in paths.items():
        tmp = path + ".tmp"
        with pyxring.open_writer(tmp, fmt, precision="us") as w:
            for i in range(count):
                w.write(frames[i % len(frames)], ts_ns=t0 + i * 1000)
        os.replace(tmp, path)
    return paths


def _warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_tool(tool, path):
    """CPU seconds of one run of ``tool`` on ``path``."""
    env = {**os.environ, "TZ": "UTC"}
    if tool in LOOPS:
        code = ("import sys, time\nPATH = sys.argv[1]\n" + LOOPS[tool] +
                "print(time.process_time() - t)\n")
        r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, timeout=600,
                           cwd=ROOT, env=env, check=True)
        return float(r.stdout.split()[-1])
    if tool.startswith("pyxring-read"):
        cmd = [sys.executable, "-m", "pyxring", "read", path]
    else:
        cmd = ["tcpdump", "-nn", "-r", path]
    if tool.endswith("nomatch"):
        cmd += NOTHING.split()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "wb") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, timeout=1200, cwd=ROOT,
                       env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def comparisons(full):
    out = []
    for fmt in ("pcap", "pcapng"):
        for a in ("pyxring-packets", "pyxring-reader"):
            for b in ("pcapy-ng", "dpkt"):
                out.append((a, b, fmt))
        out.append(("pyxring-read-nomatch", "tcpdump-nomatch", fmt))
    out.append(("pyxring-read-print", "tcpdump-print", "pcap"))
    return out


def measure(paths, blocks, full):
    pairs = []
    comps = comparisons(full)
    for block in range(blocks):
        order = block_order(block)
        for a, b, fmt in comps:
            runs = []
            for slot in order:
                runs.append(run_tool(a if slot == "A" else b, paths[fmt]))
            for ra, rb in block_pairs(order, runs):
                pairs.append({"a": a, "b": b, "format": fmt, "block": block,
                              "cpu_a": ra, "cpu_b": rb, "ratio": ra / rb if rb else None})
            print(f"block {block}: {a} / {b} ({fmt}): "
                  f"{', '.join(f'{x:.3f}' for x in runs)} s", file=sys.stderr)
    return pairs


def summarize(pairs):
    rows = []
    keys = []
    for p in pairs:
        k = (p["a"], p["b"], p["format"])
        if k not in keys:
            keys.append(k)
    for a, b, fmt in keys:
        mine = [p for p in pairs if (p["a"], p["b"], p["format"]) == (a, b, fmt)]
        med, lo, hi, cov = median_ci([p["ratio"] for p in mine if p["ratio"]])
        rows.append({"a": a, "b": b, "format": fmt, "pairs": len(mine),
                     "cpu_a": statistics.median(p["cpu_a"] for p in mine),
                     "cpu_b": statistics.median(p["cpu_b"] for p in mine),
                     "ratio": med, "low": lo, "high": hi, "verdict": verdict(lo, hi)})
    return rows


def _fmt_ratio(r):
    if r["low"] is None:
        return f"{r['ratio']:.3f} (too few pairs for an interval)"
    return f"{r['ratio']:.3f} ({r['low']:.3f}–{r['high']:.3f})"


def write_results(rows, meta, quick):
    os.makedirs(RESULTS, exist_ok=True)
    stem = "files-quick" if quick else "files"
    with open(os.path.join(RESULTS, stem + ".json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [f"# Reading capture files ({meta['when']})", "",
             f"{meta['packets']:,} packets of mixed TCP/UDP (64–1500 B), pcap "
             f"{meta['pcap_mb']:.0f} MB and pcapng {meta['pcapng_mb']:.0f} MB, in the page cache; "
             f"{meta['blocks']} blocks of four runs per comparison (ABBA/BAAB). CPU seconds "
             "(user + system): the loop alone for the Python loops, the whole process for "
             "the command lines. Ratio: median over the pairs of A's CPU / B's, with a "
             "95 % distribution-free interval.", "",
             "| A | B | file | pairs | CPU A (s) | CPU B (s) | A/B | B/A |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {LABELS[r['a']]} | {LABELS[r['b']]} | {r['format']} | {r['pairs']} | "
                     f"{r['cpu_a']:.3f} | {r['cpu_b']:.3f} | {_fmt_ratio(r)} | "
                     f"{1 / r['ratio']:.2f}× |")
    with open(os.path.join(RESULTS, stem + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    names = [f"{LABELS[r['a']]} / {LABELS[r['b']]} ({r['format']})".replace("`", "")
             for r in rows]
    vals = [r["ratio"] for r in rows]
    err = [[r["ratio"] - (r["low"] or r["ratio"]) for r in rows],
           [(r["high"] or r["ratio"]) - r["ratio"] for r in rows]]
    ax.barh(range(len(rows)), vals, xerr=err, color="#4477aa")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("CPU of A / CPU of B (median of pairs, 95 % interval); < 1: pyxring cheaper")
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, stem + ".png"), dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench.files", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="100,000 packets and 2 blocks: a check, not a result")
    ap.add_argument("--packets", type=int)
    ap.add_argument("--blocks", type=int)
    args = ap.parse_args(argv)
    count = args.packets or (100_000 if args.quick else 1_000_000)
    blocks = args.blocks or (2 if args.quick else 10)
    paths = make_files(count)
    for p in paths.values():
        _warm(p)
    pairs = measure(paths, blocks, not args.quick)
    rows = summarize(pairs)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "packets": count,
            "blocks": blocks, "pcap_mb": os.path.getsize(paths["pcap"]) / 1e6,
            "pcapng_mb": os.path.getsize(paths["pcapng"]) / 1e6, "pairs": pairs}
    write_results(rows, meta, args.quick)
    for r in rows:
        print(f"{r['a']} / {r['b']} ({r['format']}): {_fmt_ratio(r)} -> {r['verdict']}")


if __name__ == "__main__":
    main()
