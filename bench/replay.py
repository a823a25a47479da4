"""pyxring replay beside tcpreplay: timing accuracy and the rate sustained
(``python -m bench.replay``, part of ``make bench``).

Set-up: the benchmark veth (``bench.run.traffic_lab``: two throwaway
namespaces, IPv6 off).  One file of 60-byte UDP frames to a neighbour that
does not exist (GHOST_MAC, so the receiving stack drops each at once), each
carrying its sequence number.  The sender (pyxring replay with either
backend, or tcpreplay) runs in namespace a pinned to CPU 0; tcpdump
captures on the far end, pinned to CPU 1, with nanosecond kernel
timestamps (TPACKET_V3).  Points:

- ``10k``: the file's frames are 100 µs apart; each tool replays it with
  the file's own timing (its default);
- ``100k``: 10 µs apart, the file's own timing;
- ``top``: the 100k file at top speed (``--topspeed``, tcpreplay ``-t``).

Per run, from the capture: frames delivered (and whether in order), the
achieved rate over the captured span, the gap error ``|captured gap - file
gap|`` between consecutive frames (median and 99th percentile; file-timing
points only), and the sender's CPU (user + system of the replay process,
from wait4) per packet.  Runs are interleaved (every tool's run 1, then run
2, ...), the order rotated each round.  Results:
``bench/results/replay.{json,md}`` (``quick-replay.*`` with ``--quick``,
which is a smoke test: its figures are provisional).
"""
import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from bench.run import (CONSUMER_CPU, GEN_CPU, RESULTS, ROOT, Proc, preflight, rotated, save_results,
                       sigterm_interrupts, traffic_lab)

GHOST_MAC, GHOST_IP = "02:00:00:00:00:77", ".77"
SEQ_OFFSET = 14 + 20 + 8           # the sequence number follows the UDP header
POINTS = {"10k": {"gap_ns": 100_000, "top": False},
          "100k": {"gap_ns": 10_000, "top": False},
          "top": {"gap_ns": 10_000, "top": True}}
FRAMES = {"10k": 30_000, "100k": 300_000, "top": 300_000}
QUICK_FRAMES = {"10k": 5_000, "100k": 50_000, "top": 50_000}
SUSTAINED = 0.01                   # within 1 % of the file's rate, nothing lost
CAPTURE_SETTLE_S = 1.5


class Tool:
    def __init__(self, name, label, argv):
        self.name, self.label, self._argv = name, label, argv

    def argv(self, path, iface, top):
        return self._argv(path, iface, top)


def build_tools(py):
    def pyx(backend):
        return lambda path, iface, top: [py, "-m", "pyxring", "replay", path, iface, "--backend",
                                         backend, *(["-t"] if top else [])]
    return [Tool("pyxring-xdp", "pyxring replay --backend xdp", pyx("xdp")),
            Tool("pyxring-tpacket", "pyxring replay --backend tpacket", pyx("tpacket")),
            Tool("tcpreplay", "tcpreplay 4.4 (Debian)",
                 lambda path, iface, top: ["tcpreplay", "-q", "-i", iface, *(["-t"] if top else []),
                                           path])]


def make_file(path, lab, count, gap_ns):
    import pyxring
    from pyxring.netlab import ipv4_udp_frame
    ghost_ip = lab.ip_a.rsplit(".", 1)[0] + GHOST_IP
    t = 1_700_000_000 * 10**9
    with pyxring.open_writer(path, format="pcap") as w:
        for i in range(count):
            w.write(ipv4_udp_frame(lab.mac_a, GHOST_MAC, lab.ip_a, ghost_ip, 40000, 9, struct.pack("!Q", i)
                                   + bytes(10)), ts_ns=t)
            t += gap_ns


def captured(path):
    """[(seq, ts_ns)] of our frames in a capture."""
    from pyxring.reader import open_reader
    out = []
    with open_reader(path) as rd:
        for rec in rd:
            d = rec.data
            if len(d) >= SEQ_OFFSET + 8 and d[12:14] == b"\x08\x00":
                out.append((struct.unpack_from("!Q", d, SEQ_OFFSET)[0], rec.ts_ns))
    return out


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_metrics(frames, count, gap_ns, top):
    """What one run's capture says: delivered, order, achieved rate, gap errors."""
    seqs = [s for s, _t in frames]
    out = {"delivered": len(frames), "lost": count - len(set(seqs)),
           "in_order": all(a < b for a, b in zip(seqs, seqs[1:]))}
    if len(frames) >= 2:
        span = frames[-1][1] - frames[0][1]
        out["achieved_pps"] = round((len(frames) - 1) / (span / 1e9)) if span > 0 else None
    if not top:
        errors = [abs((t2 - t1) - gap_ns) for (s1, t1), (s2, t2) in zip(frames, frames[1:])
                  if s2 == s1 + 1]
        out["gap_error_median_us"] = round(percentile(errors, 0.5) / 1e3, 2) if errors else None
        out["gap_error_p99_us"] = round(percentile(errors, 0.99) / 1e3, 2) if errors else None
    return out


def run_sender(tool, lab, path, top):
    """Run one replay in namespace a on GEN_CPU: (exit status, CPU seconds, wall seconds, text)."""
    sender = Proc(["ip", "netns", "exec", lab.ns_a, "taskset", "-c", str(GEN_CPU),
                   *tool.argv(path, lab.if_a, top)], cwd=ROOT)
    t0 = time.monotonic()
    _pid, status, usage = os.wait4(sender.pid, 0)
    wall = time.monotonic() - t0
    sender.p.returncode = os.waitstatus_to_exitcode(status)
    for t in sender._threads:
        t.join(timeout=5)
    return sender.p.returncode, usage.ru_utime + usage.ru_stime, wall, sender.text


def startup_cpu(tool, lab, tmpdir):
    """CPU seconds a tool spends on a one-frame file (start-up and exit):
    the median of three, taken off every run's sender CPU."""
    path = os.path.join(tmpdir, "one.pcap")
    if not os.path.exists(path):
        make_file(path, lab, 1, 10_000)
    return statistics.median(run_sender(tool, lab, path, True)[1] for _ in range(3))


def one_run(tool, lab, path, point, count, tmpdir, startup=0.0):
    spec = POINTS[point]
    cap = os.path.join(tmpdir, "far.pcap")
    dump = Proc(["ip", "netns", "exec", lab.ns_b, "taskset", "-c", str(CONSUMER_CPU), "tcpdump",
                 "-i", lab.if_b, "-n", "-Q", "in", "-B", "131072", "-s", "96",
                 "--time-stamp-precision=nano", "-w", cap], marker="listening on")
    problems = []
    r = {"tool": tool.name}
    try:
        if not dump.ready.wait(20):
            problems.append("tcpdump did not start")
            return r
        status, cpu, wall, text = run_sender(tool, lab, path, spec["top"])
        r["wall_s"] = round(wall, 3)
        if status != 0:
            problems.append(f"exit {status}: {text[-300:]}")
        r["sender_cpu_s"] = round(cpu, 4)
        r["sender_cpu_us_per_pkt"] = round(max(cpu - startup, 0.0) / count * 1e6, 3)
        r["tool_says"] = text.strip().splitlines()[-1:] if text.strip() else []
        # tcpdump's ring retires a partly filled block after its 1 s timeout:
        # stopped sooner, it would never see the last frames
        time.sleep(CAPTURE_SETTLE_S)
    finally:
        dump.stop(signal.SIGINT)
    m = re.search(r"(\d+) packets dropped by kernel", dump.text)
    r["capture_dropped"] = int(m.group(1)) if m else None
    if r["capture_dropped"]:
        problems.append(f"tcpdump dropped {r['capture_dropped']}")
    if os.path.exists(cap):
        r.update(run_metrics(captured(cap), count, spec["gap_ns"], spec["top"]))
        os.unlink(cap)
    else:
        problems.append("no capture file")
    if r.get("lost"):
        problems.append(f"{r['lost']} frames lost")
    if r.get("in_order") is False:
        problems.append("out of order")
    r["problems"] = problems
    return r


def summarize(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize_point(runs, point, count):
    out = {k: summarize(runs, k) for k in ("achieved_pps", "gap_error_median_us", "gap_error_p99_us",
                                           "sender_cpu_us_per_pkt", "delivered")}
    nominal = 1e9 / POINTS[point]["gap_ns"]
    if not POINTS[point]["top"] and out["achieved_pps"]:
        out["sustained"] = all(r.get("lost") == 0 and r.get("achieved_pps")
                               and abs(r["achieved_pps"] - nominal) <= SUSTAINED * nominal
                               for r in runs)
    out["problems"] = sorted({p for r in runs for p in r["problems"]})
    out["count"] = count
    return out


def fmt(s, digits=0):
    if s is None:
        return "–"
    med = f"{s['median']:,.{digits}f}"
    if s["n"] > 1 and s["min"] != s["max"]:
        return f"{med} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"
    return med


def write_markdown(results, path):
    lines = [f"# Replay beside tcpreplay ({results['started']})", "",
             f"{results['rounds']} run(s) per tool and point, interleaved; medians (min–max). "
             f"{'QUICK RUN: provisional figures. ' if results['quick'] else ''}"
             f"Machine: {results['machine']}, kernel {results['kernel']}.", "",
             "| tool | point | frames | delivered | achieved pps | sustained | gap error median µs "
             "| gap error p99 µs | sender CPU µs/pkt | problems |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    labels = {t["name"]: t["label"] for t in results["tools"]}
    for point, by_tool in results["points"].items():
        for name, s in by_tool.items():
            sustained = "–" if "sustained" not in s else ("yes" if s["sustained"] else "**no**")
            lines.append(f"| {labels[name]} | {point} | {s['count']:,} | {fmt(s['delivered'])} | "
                         f"{fmt(s['achieved_pps'])} | {sustained} | {fmt(s['gap_error_median_us'], 2)} | "
                         f"{fmt(s['gap_error_p99_us'], 2)} | {fmt(s['sender_cpu_us_per_pkt'], 3)} | "
                         f"{'; '.join(s['problems']) or '–'} |")
    lines += ["", "Points: `10k` and `100k` replay a file whose frames are 100 µs / 10 µs apart with "
              "its own timing; `top` sends the 100k file at top speed. Gap error: |captured gap − "
              "file gap| between consecutive frames, on tcpdump's kernel timestamps on the far "
              "side. Sustained: every run delivered every frame within 1 % of the file's rate. "
              "Sender CPU: user + system of the replay process per frame, less its start-up "
              "(CPU of a one-frame run: " + ", ".join(f"{labels[k]} {v:.3f} s" for k, v in
                                                    results.get("startup_cpu_s", {}).items()) + ")."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, smaller files")
    ap.add_argument("--rounds", type=int, default=None, help="runs per tool and point (default 5, quick 1)")
    ap.add_argument("--points", default=",".join(POINTS), help="comma-separated: 10k,100k,top")
    ap.add_argument("--tools", default=None, help="comma-separated tool names (default: all)")
    ap.add_argument("--out", default=RESULTS, help="results directory")
    args = ap.parse_args(argv)
    status = preflight("bench.replay", exes=("tcpreplay", "tcpdump", "taskset", "ip"))
    if status is not None:
        return status
    tools = build_tools(sys.executable)
    if args.tools:
        wanted = args.tools.split(",")
        unknown = set(wanted) - {t.name for t in tools}
        if unknown:
            print(f"bench.replay: unknown tools {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        tools = [t for t in tools if t.name in wanted]
    points = args.points.split(",")
    if set(points) - set(POINTS):
        print(f"bench.replay: points are {', '.join(POINTS)}", file=sys.stderr)
        return 2
    rounds = args.rounds or (1 if args.quick else 5)
    counts = QUICK_FRAMES if args.quick else FRAMES
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
               "rounds": rounds, "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
               "kernel": platform.release(), "host": socket.gethostname(),
               "tools": [{"name": t.name, "label": t.label} for t in tools],
               "points": {}, "raw": []}
    tmpdir = tempfile.mkdtemp(prefix="pyxring-bench-replay-")
    os.chmod(tmpdir, 0o755)
    interrupted = False
    try:
        with sigterm_interrupts(), traffic_lab("bnrp", tmpdir) as (lab, _cfg):
            files = {}
            for point in points:
                key = (POINTS[point]["gap_ns"], counts[point])
                if key not in files:
                    files[key] = os.path.join(tmpdir, f"gap{key[0]}-{key[1]}.pcap")
                    make_file(files[key], lab, key[1], key[0])
            startup = {t.name: startup_cpu(t, lab, tmpdir) for t in tools}
            results["startup_cpu_s"] = startup
            for i in range(rounds):
                for point in points:
                    path = files[(POINTS[point]["gap_ns"], counts[point])]
                    for tool in rotated(tools, i):
                        r = one_run(tool, lab, path, point, counts[point], tmpdir, startup[tool.name])
                        r["point"], r["round"] = point, i + 1
                        results["raw"].append(r)
                        print(f"bench.replay: {point:>4} round {i + 1}/{rounds} {tool.name:16} "
                              f"delivered {r.get('delivered')}/{counts[point]} at "
                              f"{r.get('achieved_pps')} pps, gap error median "
                              f"{r.get('gap_error_median_us')} us p99 {r.get('gap_error_p99_us')} us, "
                              f"sender {r.get('sender_cpu_us_per_pkt')} us/pkt"
                              + (f"  PROBLEMS: {'; '.join(r['problems'])}" if r["problems"] else ""),
                              file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("bench.replay: interrupted; writing what was measured", file=sys.stderr)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    for point in points:
        by_tool = {}
        for tool in tools:
            runs = [r for r in results["raw"] if r["point"] == point and r["tool"] == tool.name]
            if runs:
                by_tool[tool.name] = summarize_point(runs, point, counts[point])
        if by_tool:
            results["points"][point] = by_tool
    results["interrupted"] = interrupted
    stem = "quick-replay" if args.quick else "replay"
    save_results(results, args.out, stem, write_markdown, "bench.replay")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
