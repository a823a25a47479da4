"""Streaming into NATS JetStream under load (``python -m bench.stream``,
part of ``make bench``).

1500-byte UDP frames from trafgen (CPU 0) to one capture host (a namespace
with the benchmark's veth and an uplink to a server namespace; see
``pyxring.stream.lab``), captured on TPACKET_V3 (CPU 1) by ``pyxring
capture`` into a stream of three replicas on a cluster of three
nats-servers (``--stream``, every publish acknowledged), beside the same
traffic written to a local pcapng (``-w``) and both at once; run by run in
turn, the order rotated each round.

Per run: the capture process's CPU (all its threads: the capture loop and
the publisher) from just before the traffic until it is idle again after
it (every acknowledgement in), per packet, and the publisher thread's part of it (its
system calls included: on a veth, sending into the server's namespace also
runs the receiving side's TCP on the sender's CPU); the closing lines (captured,
kernel drops, published, acknowledged, spooled, dropped); the achieved rate
and its megabytes per second.  A point is sustained by the stream when
every captured packet was acknowledged without the spool and nothing was
dropped.  Results: ``bench/results/stream.{json,md}`` (``quick-stream.*``
with ``--quick``).
"""
import argparse
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time

from bench.run import (CONSUMER_CPU, GEN_CPU, RESULTS, ROOT, Proc, cpu_seconds, median_cell,
                       parse_tcpdump_like, preflight, rotated, run_generator, save_results,
                       sigterm_interrupts, wait_cpu_quiet)
from bench.writer import FRAME_LEN, trafgen_config

FULL_RATES = [20_000, 50_000, 100_000, 0]
QUICK_RATES = [20_000, 50_000]
TOOLS = ("stream", "pcapng", "stream+pcapng")


def argv_for(tool, iface, url, outdir):
    argv = ["taskset", "-c", str(CONSUMER_CPU), sys.executable, "-m", "pyxring", "capture",
            iface, "--backend", "tpacket", "-v"]
    if "stream" in tool:
        argv += ["--stream", url, "--stream-replicas", "3", "--stream-host", "bench",
                 "--stream-max-bytes", "2000", "--stream-spool", os.path.join(outdir, "spool"),
                 "--stream-wait", "60"]
    if "pcapng" in tool:
        argv += ["-w", os.path.join(outdir, "capture.pcapng")]
    return argv


def publisher_cpu(pid):
    """On-CPU seconds of the publisher thread (named pyxring-stream)."""
    return cpu_seconds(pid, thread="pyxring-stream")


def wait_settled(pid, limit=60.0):
    """Until the process has used almost no CPU for half a second (its
    publisher has every acknowledgement): its CPU then."""
    return wait_cpu_quiet(pid, 5, 0.003, limit)


def stream_numbers(text):
    out = {}
    for key, pattern in (("published", r"^(\d+) packets? published"),
                         ("acknowledged", r"^(\d+) packets? acknowledged"),
                         ("spooled", r"^(\d+) packets? spooled")):
        m = re.search(pattern, text, re.M)
        out[key] = int(m.group(1)) if m else None
    out["stream_dropped"] = sum(int(n) for n in re.findall(
        r"^(\d+) packets? dropped before the stream", text, re.M))
    m = re.search(r"(\d+) messages on ", text)
    out["messages"] = int(m.group(1)) if m else None
    return out


def one_run(tool, host, url, cfg, rate, count, outdir):
    lab = host.pair
    argv = ["ip", "netns", "exec", lab.ns_b, *argv_for(tool, lab.if_b, url, outdir)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = {"tool": tool, "offered_pps": rate or None, "count": count, "problems": []}
    proc = Proc(argv, marker="listening on", cwd=ROOT, env=env)
    try:
        if not proc.ready.wait(30):
            run["problems"].append("consumer never became ready")
        time.sleep(0.3)
        a0 = lab.counters("a")
        cpu0, pub0 = cpu_seconds(proc.pid), publisher_cpu(proc.pid)
        rc, duration, gen_out = run_generator(lab, cfg, count, rate)
        time.sleep(0.5)
        cpu1 = wait_settled(proc.pid)
        pub1 = publisher_cpu(proc.pid)
        a1 = lab.counters("a")
    finally:
        proc.stop(timeout=90)
    parsed = parse_tcpdump_like(proc.text)
    sent = a1.get("tx_packets", 0) - a0.get("tx_packets", 0)
    run.update(generator_rc=rc, sent=sent, captured=parsed.get("captured"),
               kernel_dropped=parsed.get("dropped"),
               achieved_pps=round(sent / duration) if duration > 0 else None)
    run["achieved_mb_s"] = round(run["achieved_pps"] * FRAME_LEN / 1e6, 1) \
        if run["achieved_pps"] else None
    if "stream" in tool:
        run.update(stream_numbers(proc.text))
        if run["acknowledged"] is not None and run["captured"] is not None:
            run["sustained"] = (run["acknowledged"] == run["captured"] and not run["spooled"]
                                and not run["stream_dropped"] and not run["kernel_dropped"])
    path = os.path.join(outdir, "capture.pcapng")
    if os.path.exists(path):
        os.unlink(path)
    shutil.rmtree(os.path.join(outdir, "spool"), ignore_errors=True)
    if cpu0 is not None and cpu1 is not None and run["captured"]:
        run["cpu_us_per_pkt"] = round((cpu1 - cpu0) / run["captured"] * 1e6, 3)
        if "stream" in tool and pub0 is not None and pub1 is not None:
            run["publisher_us_per_pkt"] = round((pub1 - pub0) / run["captured"] * 1e6, 3)
    if rc != 0:
        run["problems"].append(f"generator exited {rc}: {gen_out[-200:]}")
    if run["captured"] is None:
        run["problems"].append("no closing lines: " + proc.text[-300:])
    return run


def write_markdown(results, path):
    lines = [f"# Streaming into NATS JetStream ({results['started']}"
             f"{', quick' if results['quick'] else ''})", "",
             f"{FRAME_LEN}-byte frames, TPACKET_V3, one capture host; the stream has 3 replicas "
             f"on a cluster of 3 nats-servers ({results['nats_server']}) on the same machine, "
             f"every publish acknowledged. {results['runs']} run(s) per point and tool, "
             f"interleaved; medians (min–max). CPU is the capture process's (capture loop and "
             f"publisher) per captured packet. Machine: {results['machine']}, kernel "
             f"{results['kernel']}.", "",
             "| tool | point | achieved pps | MB/s | captured | kernel drops | published | "
             "acknowledged | spooled | dropped by the producer | CPU µs/packet | "
             "of which the publisher thread | sustained |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for point, by_tool in results["points"].items():
        for tool in TOOLS:
            runs = by_tool.get(tool)
            if not runs:
                continue
            sus = [r.get("sustained") for r in runs if "sustained" in r]
            lines.append(" | ".join([
                f"| {tool}", point, median_cell(runs, "achieved_pps", 0),
                median_cell(runs, "achieved_mb_s", 1), median_cell(runs, "captured", 0),
                median_cell(runs, "kernel_dropped", 0), median_cell(runs, "published", 0),
                median_cell(runs, "acknowledged", 0), median_cell(runs, "spooled", 0),
                median_cell(runs, "stream_dropped", 0), median_cell(runs, "cpu_us_per_pkt"),
                median_cell(runs, "publisher_us_per_pkt"),
                (f"{sum(sus)} of {len(sus)}" if sus else "–")]) + " |")
    problems = [r for r in results["raw"] if r["problems"]]
    if problems:
        lines += ["", "Runs with problems:", ""]
        lines += [f"- {r['point']} {r['tool']}: {'; '.join(r['problems'])}" for r in problems]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.stream",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 run, 2 short points")
    ap.add_argument("--runs", type=int, default=None, help="runs per point (default 3)")
    ap.add_argument("--rates", default=None, help="offered rates in pps, 0 = flat out "
                                                  "(default 20000,50000,100000,0)")
    ap.add_argument("--out", default=RESULTS, help="results directory")
    args = ap.parse_args(argv)
    status = preflight("bench.stream", exes=("trafgen", "taskset", "ip", "nats-server"))
    if status is not None:
        return status
    runs = args.runs or (1 if args.quick else 3)
    rates = ([int(x) for x in args.rates.split(",")] if args.rates
             else QUICK_RATES if args.quick else FULL_RATES)
    seconds = 1.5 if args.quick else 4.0
    flat_count = 200_000 if args.quick else 400_000
    from pyxring.stream.lab import StreamLab
    from pyxring.stream.servers import NatsCluster, nats_server_binary
    import subprocess
    version = subprocess.run([nats_server_binary(), "--version"], capture_output=True,
                             text=True).stdout.strip()
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "quick": args.quick, "runs": runs, "frame_len": FRAME_LEN,
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
               "kernel": platform.release(), "host": socket.gethostname(),
               "nats_server": version, "generator_cpu": GEN_CPU, "consumer_cpu": CONSUMER_CPU,
               "points": {}, "raw": []}
    interrupted = False
    outdir = os.path.join(ROOT, "build", "bench-stream")
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="pyxring-bench-stream-")
    try:
        with sigterm_interrupts(), StreamLab(1, prefix="bst", ipv6=False) as lab:
            host = lab.hosts[0]
            cfg = os.path.join(tmp, "udp1500.cfg")
            trafgen_config(cfg, host.pair)
            with NatsCluster(os.path.join(outdir, "cluster"), listen="0.0.0.0", netns=lab.srv,
                             advertise=host.server_ip) as cluster:
                url = cluster.url + "/pkts"
                for rate in rates:
                    point = f"{rate // 1000}k" if rate else "unlimited"
                    count = int(rate * seconds) if rate else flat_count
                    for i in range(runs):
                        for tool in rotated(list(TOOLS), i):
                            r = one_run(tool, host, url, cfg, rate, count, outdir)
                            r["point"], r["run"] = point, i + 1
                            results["raw"].append(r)
                            results["points"].setdefault(point, {}).setdefault(tool, []) \
                                .append(r)
                            print(f"bench.stream: {point:>9} {tool:14} {r.get('achieved_pps')} "
                                  f"pps, captured {r.get('captured')}, dropped "
                                  f"{r.get('kernel_dropped')}, acked {r.get('acknowledged')}, "
                                  f"spooled {r.get('spooled')}, {r.get('cpu_us_per_pkt')} us/pkt"
                                  + (f"  PROBLEMS: {'; '.join(r['problems'])}"
                                     if r["problems"] else ""), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("bench.stream: interrupted; writing what was measured", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(outdir, ignore_errors=True)
    stem = "quick-stream" if args.quick else "stream"
    save_results(results, args.out, stem, write_markdown, "bench.stream")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
