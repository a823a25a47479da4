"""The capture file writer under load (``python -m bench.writer``, part of
``make bench``).

1500-byte UDP frames from trafgen (CPU 0) over the benchmark's veth, at
fixed rates and flat out, captured on TPACKET_V3 (CPU 1) and written as
pcap to a file on the real disk (``build/bench-writer/``, removed after
each run) by four consumers, run by run in turn (the order rotated each
round): ``pyxring capture --writer uring`` (through the page cache), the
same with ``--direct-io`` (O_DIRECT), ``--writer write``, and
``tcpdump -w`` (with ``-B`` set to pyxring's ring size, 64 MiB, so neither
has the larger ring).

Per run: the consumer's CPU (schedstat, from just before the traffic to
after the drain) per packet and per megabyte written, the counts of the
closing lines, the achieved rate.  Stalls of the capture loop: each point
also gets one run of each consumer under ``perf trace -s`` (kept apart from
the CPU runs, whose cost tracing would change) that reports the longest
system call on the write side (``write``, ``pwrite64``, ``io_uring_enter``)
during the traffic: the longest the loop was kept from the ring by the
disk.  pyxring's own ``-v`` line (the longest wait on its output) is
recorded from the CPU runs too.  Results: ``bench/results/writer.{json,md}``
(``quick-writer.*`` with ``--quick``).
"""
import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench.run import (CONSUMER_CPU, GEN_CPU, GHOST_MAC, RESULTS, ROOT, Proc, cpu_seconds,
                       median_cell, parse_tcpdump_like, preflight, rotated, run_generator,
                       save_results, sigterm_interrupts)

FRAME_LEN = 1500
RING_MIB = 64                  # pyxring's default TPACKET ring: 64 blocks of 1 MiB
FULL_RATES = [50_000, 100_000, 0]
QUICK_RATES = [50_000, 0]
TOOLS = ("pyxring-uring", "pyxring-direct", "pyxring-write", "tcpdump")
WRITE_SYSCALLS = ("write", "pwrite64", "io_uring_enter")


def trafgen_config(path, lab):
    """One 1500-byte UDP frame to the benchmark's ghost neighbour."""
    from pyxring import netlab
    net = lab.ip_b.rsplit(".", 1)[0]
    subprocess.run(["ip", "-n", lab.ns_a, "neigh", "replace", f"{net}.77", "lladdr", GHOST_MAC,
                    "dev", lab.if_a, "nud", "permanent"], check=True)
    frame = netlab.ipv4_udp_frame(lab.mac_a, GHOST_MAC, lab.ip_a, f"{net}.77", 40000, 9,
                                  bytes(i & 0xFF for i in range(FRAME_LEN - 42)))
    assert len(frame) == FRAME_LEN
    with open(path, "w") as f:
        f.write("/* 1500-byte UDP frame, written by bench/writer.py */\n{ ")
        f.write(", ".join(f"0x{b:02x}" for b in frame))
        f.write(" }\n")


def argv_for(tool, iface, path):
    taskset = ["taskset", "-c", str(CONSUMER_CPU)]
    if tool == "tcpdump":
        return [*taskset, "tcpdump", "-i", iface, "-Z", "root", "-s", "0",
                "-B", str(RING_MIB * 1024), "-w", path]
    engine = {"direct": ["--writer", "uring", "--direct-io"]}.get(
        tool.split("-")[1], ["--writer", tool.split("-")[1]])
    return [*taskset, sys.executable, "-m", "pyxring", "capture", iface, "--backend", "tpacket",
            "--format", "pcap", "--time-precision", "us", *engine, "-v", "-w", path]


def perf_max_ms(text):
    """The longest write-side system call in a ``perf trace -s`` summary."""
    longest = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0] in WRITE_SYSCALLS:
            try:
                v = float(parts[6])
            except ValueError:
                continue
            longest = v if longest is None else max(longest, v)
    return longest


def one_run(tool, lab, cfg, rate, count, outdir, traced):
    path = os.path.join(outdir, "capture.pcap")
    argv = ["ip", "netns", "exec", lab.ns_b, *argv_for(tool, lab.if_b, path)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = {"tool": tool, "offered_pps": rate or None, "count": count, "traced": traced,
           "problems": []}
    proc = Proc(argv, marker="listening on", cwd=ROOT, env=env)
    perf = None
    perf_out = os.path.join(outdir, "perf.txt")
    try:
        if not proc.ready.wait(30):
            run["problems"].append("consumer never became ready")
        time.sleep(0.3)
        if traced:
            perf = subprocess.Popen(["perf", "trace", "-s", "-p", str(proc.pid), "-e",
                                     ",".join(WRITE_SYSCALLS), "-o", perf_out],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)                       # perf attaches
        a0 = lab.counters("a")
        cpu0 = cpu_seconds(proc.pid)
        rc, duration, gen_out = run_generator(lab, cfg, count, rate)
        if perf is not None:
            time.sleep(0.15)                      # the last blocks, not the idle flush after
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=30)
        time.sleep(1.5)
        cpu1 = cpu_seconds(proc.pid)
        a1 = lab.counters("a")
    finally:
        if perf is not None and perf.poll() is None:
            perf.kill()
            perf.wait()
        proc.stop()
    parsed = parse_tcpdump_like(proc.text)
    sent = a1.get("tx_packets", 0) - a0.get("tx_packets", 0)
    run.update(generator_rc=rc, sent=sent, captured=parsed.get("captured"),
               kernel_dropped=parsed.get("dropped"),
               achieved_pps=round(sent / duration) if duration > 0 else None)
    if os.path.exists(path):
        run["file_bytes"] = os.path.getsize(path)
        os.unlink(path)
    m = re.search(r"longest wait (\d+\.\d+) ms", proc.text)
    if m:
        run["longest_wait_ms"] = float(m.group(1))
    m = re.search(r"(\d+) waits for a free buffer", proc.text)
    if m:
        run["full_waits"] = int(m.group(1))
    if traced:
        try:
            with open(perf_out) as f:
                run["longest_write_syscall_ms"] = perf_max_ms(f.read())
            os.unlink(perf_out)
        except OSError:
            run["problems"].append("no perf trace summary")
    elif cpu0 is not None and cpu1 is not None and run["captured"]:
        cpu = cpu1 - cpu0
        run["cpu_us_per_pkt"] = round(cpu / run["captured"] * 1e6, 3)
        if run.get("file_bytes"):
            run["cpu_ms_per_mb"] = round(cpu * 1e3 / (run["file_bytes"] / 1e6), 3)
    if rc != 0:
        run["problems"].append(f"generator exited {rc}: {gen_out[-200:]}")
    if run["captured"] is None:
        run["problems"].append("no closing lines")
    elif sent and run["captured"] + (run["kernel_dropped"] or 0) < sent * 0.999:
        run["problems"].append(f"sent {sent}, captured {run['captured']}, dropped "
                               f"{run['kernel_dropped']}")
    return run


def write_markdown(results, path):
    lines = [f"# The capture file writer ({results['started']}{', quick' if results['quick'] else ''})",
             "",
             f"{FRAME_LEN}-byte frames, TPACKET_V3, pcap to a file on the real disk; "
             f"{results['runs']} CPU run(s) per point and tool, interleaved, and one run "
             f"under `perf trace` for the stalls. Medians (min–max). Machine: "
             f"{results['machine']}, kernel {results['kernel']}.",
             "",
             "| tool | point | achieved pps | captured | kernel drops | CPU µs/packet | "
             "CPU ms/MB | longest write-side syscall ms | longest wait on the output ms "
             "(pyxring -v) | waits for a free io_uring buffer |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for point, by_tool in results["points"].items():
        for tool in TOOLS:
            runs = by_tool.get(tool)
            if not runs:
                continue
            cpu = [r for r in runs if not r["traced"]]
            traced = [r for r in runs if r["traced"]]
            lines.append(" | ".join([
                f"| {tool}", point, median_cell(cpu, "achieved_pps", 0),
                median_cell(cpu, "captured", 0), median_cell(cpu, "kernel_dropped", 0),
                median_cell(cpu, "cpu_us_per_pkt"), median_cell(cpu, "cpu_ms_per_mb"),
                median_cell(traced, "longest_write_syscall_ms", 2),
                median_cell(cpu, "longest_wait_ms", 1), median_cell(cpu, "full_waits", 0)]) + " |")
    problems = [r for r in results["raw"] if r["problems"]]
    if problems:
        lines += ["", "Runs with problems:", ""]
        lines += [f"- {r['point']} {r['tool']}: {'; '.join(r['problems'])}" for r in problems]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.writer",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 run, 2 short points")
    ap.add_argument("--runs", type=int, default=None, help="CPU runs per point (default 5)")
    ap.add_argument("--rates", default=None, help="offered rates in pps, 0 = flat out "
                                                  "(default 50000,100000,0)")
    ap.add_argument("--out", default=RESULTS, help="results directory")
    args = ap.parse_args(argv)
    status = preflight("bench.writer", exes=("trafgen", "taskset", "ip", "tcpdump", "perf"))
    if status is not None:
        return status
    runs = args.runs or (1 if args.quick else 5)
    rates = ([int(x) for x in args.rates.split(",")] if args.rates
             else QUICK_RATES if args.quick else FULL_RATES)
    seconds = 1.0 if args.quick else 3.0
    flat_count = 100_000 if args.quick else 300_000
    outdir = os.path.join(ROOT, "build", "bench-writer")
    os.makedirs(outdir, exist_ok=True)
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "quick": args.quick, "runs": runs, "frame_len": FRAME_LEN,
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
               "kernel": platform.release(), "host": socket.gethostname(),
               "generator_cpu": GEN_CPU, "consumer_cpu": CONSUMER_CPU, "points": {}, "raw": []}
    from pyxring import netlab
    interrupted = False
    tmp = tempfile.mkdtemp(prefix="pyxring-bench-writer-")
    try:
        with sigterm_interrupts(), netlab.VethPair(prefix="bwr", ipv6=False) as lab:
            cfg = os.path.join(tmp, "udp1500.cfg")
            trafgen_config(cfg, lab)
            for rate in rates:
                point = f"{rate // 1000}k" if rate else "unlimited"
                count = int(rate * seconds) if rate else flat_count
                for i in range(runs + 1):
                    traced = i == runs                # the last round: the stall runs
                    for tool in rotated(list(TOOLS), i):
                        r = one_run(tool, lab, cfg, rate, count, outdir, traced)
                        r["point"], r["run"] = point, i + 1
                        results["raw"].append(r)
                        results["points"].setdefault(point, {}).setdefault(tool, []).append(r)
                        print(f"bench.writer: {point:>9} {'stall' if traced else 'cpu  '} "
                              f"{tool:14} {r.get('achieved_pps')} pps, captured "
                              f"{r.get('captured')}, dropped {r.get('kernel_dropped')}, "
                              f"{r.get('cpu_us_per_pkt')} us/pkt, {r.get('cpu_ms_per_mb')} ms/MB, "
                              f"longest syscall {r.get('longest_write_syscall_ms')} ms"
                              + (f"  PROBLEMS: {'; '.join(r['problems'])}" if r["problems"]
                                 else ""), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("bench.writer: interrupted; writing what was measured", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(outdir, ignore_errors=True)
    stem = "quick-writer" if args.quick else "writer"
    save_results(results, args.out, stem, write_markdown, "bench.writer")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
