"""Where the sender's CPU goes while a tool captures flat out
(``python -m bench.profile_sender``, as root; needs perf from linux-perf).

On this VM the receive softirq runs on the sender's CPU, so the flat-out
rate is set by what each packet costs CPU 0: trafgen's send, veth's
forwarding and whatever the capture path does in the softirq.  This runs
each tool flat out (three times, interleaved, samples summed), samples CPU 0
with ``perf record -e cpu-clock -g`` for the generator's run (the VM has
no hardware counters; the timer is enough to tell the paths apart), and
reports, per packet sent, the time in the kernel functions that make up
each capture path.

Figures are inclusive (a function with everything it calls), in
microseconds per packet: samples x sampling period / packets sent.
perf's own sampling slows the sender a little; compare tools with each
other, not with bench.run's rates.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from bench import run as bench

TOOLS = ["tcpdump-file", "pyxring-cli-tpacket-file", "pyxring-cli-xdp-file", "ref-afxdp",
         "pyxring-cli-xdp-file-generic"]
COUNT = 1_000_000
ROUNDS = 3                      # one run swings by 10%; the samples are summed
FREQ = 4999                     # Hz: not a multiple of the 250 Hz tick

# (label, regex over perf's symbol names); a row's figure is the sum of the
# matching symbols' inclusive shares.  Indented rows are part of the row
# above them; rows at one level need not add up to their parent.
ROWS = [
    ("all of CPU 0 (busy and idle)", None),
    ("idle", r"do_idle"),
    ("trafgen's send, all of it (the softirq runs inside it)", r"packet_sendmsg"),
    ("  veth_xmit: hand-over to the peer", r"veth_xmit"),
    ("    copy of trafgen's zero-copy frags (skb_copy_ubufs)", r"skb_copy_ubufs"),
    ("  receive softirq (net_rx_action)", r"net_rx_action"),
    ("    AF_PACKET: tpacket_rcv (filter, copy into the ring)", r"tpacket_rcv"),
    ("    stack: ip_rcv (drops the frame: not our MAC) and the free", r"ip_rcv"),
    # JIT-ed programs are bpf_prog_TAG or bpf_prog_TAG_NAME; bpf_prog_run_*
    # are the kernel's own functions around them
    ("    BPF programs, JIT-ed (the XDP program; a socket filter if one is set)",
     r"bpf_prog_[0-9a-f]{16}(?:_\w+)?"),
    ("    veth XDP: veth_xdp_rcv_skb (all below)", r"veth_xdp_rcv_skb"),
    ("      copy into a page-pool page with XDP headroom", r"skb_pp_cow_data"),
    ("      redirect to the AF_XDP socket (copy into the UMEM)", r"xdp_do_redirect"),
    ("    generic XDP: do_xdp_generic (all below)", r"do_xdp_generic"),
    ("      copy into a page with XDP headroom", r"skb_cow_data_for_xdp"),
    ("      redirect to the AF_XDP socket (copy into the UMEM)", r"xdp_do_generic_redirect"),
    ("    free of an skb whose data was copied (either XDP path)", r"consume_skb"),
]


def perf_report(data):
    """{symbol: inclusive samples} and the total sample count of one
    perf.data file."""
    r = subprocess.run(["perf", "report", "-i", data, "--children", "--sort", "sym", "-q",
                        "--stdio", "-g", "none", "-n", "--percent-limit", "0.01"],
                       capture_output=True, text=True)
    t = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm", "-q",
                        "--stdio", "-g", "none", "-n"], capture_output=True, text=True)
    total = sum(int(m.group(1)) for m in
                re.finditer(r"^\s*[\d.]+%\s+(\d+)\s+\S", t.stdout, re.M))
    shares = {}
    # "  44.48%   2.39%   456  [k] veth_poll": children %, self %, self samples
    for m in re.finditer(r"^\s*([\d.]+)%\s+[\d.]+%\s+\d+\s+\[\S\]\s+(\S+)\s*$", r.stdout, re.M):
        shares[m.group(2)] = float(m.group(1)) / 100 * total
    return shares, total


def rows_for(shares, total, packets, freq=FREQ):
    """[(label, µs per packet)] for ROWS."""
    per = 1e6 / freq / packets
    out = []
    for label, pattern in ROWS:
        if pattern is None:
            samples = total
        else:
            rx = re.compile(pattern + r"$")
            samples = sum(v for k, v in shares.items() if rx.match(k))
        out.append((label, samples * per))
    return out


def profile_run(tool, lab, cfg, count, py, tmpdir, data):
    """One flat-out run of ``tool`` with CPU 0 sampled into ``data``."""
    def sampled(lab, cfg, count, rate):
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQ),
                                 "-C", str(bench.GEN_CPU), "-g", "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)                  # perf's set-up, before the first frame
        try:
            return bench.run_generator(lab, cfg, count, rate)
        finally:
            perf.send_signal(signal.SIGINT)
            perf.communicate(timeout=30)
    return bench.one_run(tool, lab, cfg, bench.UNLIMITED, count, py, tmpdir, generator=sampled)


def write_markdown(acc, count, rounds, path):
    names = list(acc)
    cols = {n: rows_for(a["shares"], a["total"], a["sent"]) for n, a in acc.items()}
    lines = [f"# Where the sender's CPU goes, flat out "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"`perf record -e cpu-clock -F {FREQ} -C {bench.GEN_CPU} -g` over trafgen's run of "
             f"{count:,} frames; {rounds} run(s) per tool, the order rotated each round, "
             "samples summed over the runs. Inclusive times (a function and all it calls), "
             "µs per packet sent; an indented row is part of the row above it.", "",
             "| CPU 0, µs per packet sent | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names),
             "| achieved pps, median (under perf) | "
             + " | ".join(f"{statistics.median(acc[n]['rates']):,.0f}" for n in names) + " |"]
    for i, (label, _) in enumerate(ROWS):
        depth = len(label) - len(label.lstrip())
        cells = [f"{cols[n][i][1]:.3f}" if cols[n][i][1] >= 0.0005 else "–" for n in names]
        lines.append(f"| {'&nbsp;' * depth}{label.strip()} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


class Failed(Exception):
    """A one-line reason and the exit status it calls for."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def profile(args, py, tmpdir):
    """Run and sample every tool: {tool: samples, packets and rates summed
    over the rounds}."""
    names = args.tools.split(",")
    tools, failed = bench.ready_tools(names, py, tmpdir)
    if failed:
        raise Failed(*failed)

    acc = {n: {"shares": collections.Counter(), "total": 0, "sent": 0, "rates": []}
           for n in names}
    with bench.traffic_lab("prof", tmpdir) as (lab, cfg):
        for rnd in range(args.rounds):
            for name in bench.rotated(names, rnd):
                data = os.path.join(tmpdir, f"{name}.perf.data")
                r = profile_run(tools[name], lab, cfg, args.count, py, tmpdir, data)
                if r["problems"] or not r.get("sent"):
                    raise Failed(f"{name}: {'; '.join(r['problems']) or 'nothing sent'}")
                shares, total = perf_report(data)
                a = acc[name]
                a["shares"].update(shares)      # Counter.update adds
                a["total"] += total
                a["sent"] += r["sent"]
                a["rates"].append(r["achieved_pps"])
                print(f"profile_sender: round {rnd + 1}/{args.rounds} {name}: {r['sent']} "
                      f"sent at {r['achieved_pps']} pps, {total} samples", file=sys.stderr)
    return acc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.profile_sender",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help=f"comma-separated tools (default {','.join(TOOLS)}); "
                         "see bench.run --list")
    ap.add_argument("--count", type=int, default=COUNT, help=f"frames per run (default {COUNT:,})")
    ap.add_argument("--rounds", type=int, default=ROUNDS,
                    help=f"runs per tool, interleaved (default {ROUNDS})")
    ap.add_argument("--out", default=bench.RESULTS, help="results directory")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.count < 1000:
        ap.error("--rounds must be at least 1 and --count at least 1000")
    status = bench.preflight("profile_sender", ("perf", "trafgen", "taskset", "ip"))
    if status is not None:
        return status
    py = sys.executable
    tmpdir = tempfile.mkdtemp(prefix="pyxring-profile-")
    try:
        with bench.sigterm_interrupts():
            acc = profile(args, py, tmpdir)
    except Failed as e:
        print(f"profile_sender: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("profile_sender: interrupted", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "sender-profile.md")
    print(write_markdown(acc, args.count, args.rounds, path))
    print(f"profile_sender: written to {os.path.relpath(path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
