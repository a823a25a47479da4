"""pyxring against the tools users would otherwise pick, on the same veth
traffic in the same run (``make bench`` / ``python -m bench.run``).

Set-up: two throwaway namespaces joined by one veth.  trafgen (netsniff-ng)
sends 64-byte UDP frames (60 bytes + FCS) from namespace a, pinned to CPU 0,
at fixed rates and flat out; each consumer captures on the veth end in
namespace b, pinned to CPU 1.  On this VM the receive softirq runs on the
sender's CPU, so a capture's cost shows as a lower achievable sending rate
and as consumer CPU; only slow consumers drop.

Runs are interleaved tool by tool (run 1 of every tool, then run 2, ...),
the order rotated by one tool each round so that no tool always follows the
same one; ``--runs`` per fixed-rate point (default 5) and twice as many
shorter runs flat out, whose rate swings most with what else the host runs.
Every run reconciles what was sent
(the sender's tx counter), delivered (the receiver's rx counter), captured
(the tool's own count) and dropped (the tool's kernel counters).  Results:
``bench/results/bench.{json,md,png}`` (``quick-*`` with ``--quick``).

The frames go to a static neighbour of namespace a: a host (.77, MAC
GHOST_MAC) that does not exist.  Namespace b's stack drops them as soon as
it sees a MAC not its own, without a route lookup and without answering, so
the only traffic on the link is the generator's, and the sender's CPU is
spent on sending and capturing rather than on b's IP stack (measured here:
flat out about 280k pps, and very unsteady, when the frames carried b's MAC
and went through a failing route lookup; about 500k to this neighbour).
"""
import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BUILD = os.path.join(ROOT, "build", "bench")
XDP_OBJ = os.path.join(ROOT, "xdp_prog", "pyxring_xdp.o")

GEN_CPU, CONSUMER_CPU = 0, 1
FRAME_LEN = 60                  # 64 bytes on the wire with the FCS
UNLIMITED = 0                   # "offered rate" of the flat-out point

FULL_RATES = [100_000, 200_000, 400_000, UNLIMITED]
QUICK_RATES = [200_000, UNLIMITED]
SLOW_RATES = [2_500, 5_000, 10_000]      # where scapy can keep up at all
RUN_SECONDS = 2.5               # traffic per run at a fixed rate
UNLIMITED_COUNT = 1_000_000     # frames per flat-out run (2 to 4 s)
GHOST_MAC = "02:00:00:00:00:77"


# --- small process helpers -------------------------------------------------

class Proc:
    """A child in a namespace with its stdout/stderr collected by threads,
    so nothing blocks on a full pipe; ``ready`` is set when ``marker``
    appears on stderr (or stdout)."""

    def __init__(self, argv, marker=None, cwd=None, env=None):
        self.argv = argv
        self.out, self.err = [], []
        self.ready = threading.Event()
        self.marker = marker
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        self.pid = self.p.pid
        self._threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out),
                                          daemon=True),
                         threading.Thread(target=self._pump, args=(self.p.stderr, self.err),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            sink.append(line)
            if self.marker and self.marker in line:
                self.ready.set()
        stream.close()

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=15):
        """Signal the child (by PID) and wait; escalate to SIGTERM, SIGKILL."""
        for s, t in ((sig, timeout), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.p.poll() is not None:
                break
            try:
                os.kill(self.pid, s)
            except ProcessLookupError:
                break
            try:
                self.p.wait(timeout=t)
            except subprocess.TimeoutExpired:
                continue
        self.p.wait()
        for t in self._threads:
            t.join(timeout=5)
        return self.p.returncode

    @property
    def text(self):
        return "\n".join(self.out + self.err)


def cpu_ticks(cpu):
    """Busy and stolen clock ticks of one CPU so far, from /proc/stat.

    The generator's CPU also runs the receive softirq, so its busy time per
    packet is what a capture costs the sender.  Steal is time the hypervisor
    gave this vCPU to someone else: it stretches a run without being any
    tool's doing.
    """
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                user, nice, system, idle, iowait, irq, softirq, steal = \
                    (int(x) for x in line.split()[1:9])
                return user + nice + system + irq + softirq, steal
    return None


def cpu_seconds(pid, thread=None):
    """On-CPU time of all threads of ``pid`` (schedstat: nanoseconds), or
    of those named ``thread`` only (None if that can't be read)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            if thread is not None:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    if f.read().strip() != thread:
                        continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        if thread is not None:
            return None
    try:   # fall back to utime+stime in clock ticks
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wait_cpu_quiet(pid, samples, below, limit):
    """Until ``samples`` 100 ms samples in a row each saw less than
    ``below`` seconds of CPU of ``pid`` (or ``limit`` seconds): its CPU
    seconds at the last sample read (None if none could be)."""
    deadline = time.monotonic() + limit
    quiet, last = 0, cpu_seconds(pid)
    while quiet < samples and time.monotonic() < deadline and last is not None:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now is None:
            break
        quiet = quiet + 1 if now - last < below else 0
        last = now
    return last


def wait_idle(pid, at_least, limit=20.0):
    """For a consumer that doesn't say when it is ready: wait ``at_least``
    seconds, then until its start-up CPU burst is over (three 100 ms
    samples with almost no CPU) - it is then blocked waiting for packets."""
    time.sleep(at_least)
    wait_cpu_quiet(pid, 3, 0.002, limit)


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def parse_kv(text, prefix="RESULT "):
    for line in text.splitlines():
        if line.startswith(prefix):
            out = {}
            for item in line[len(prefix):].split():
                k, _, v = item.partition("=")
                try:
                    out[k] = int(v)
                except ValueError:
                    out[k] = v or None
            return out
    return {}


def search_counts(text, patterns):
    """{key: int} for each (key, regex with one number group) found in ``text``."""
    out = {}
    for key, pat in patterns:
        m = re.search(pat, text)
        if m:
            out[key] = int(m.group(1))
    return out


def parse_tcpdump_like(text):
    """tcpdump's (and pyxring capture's) closing lines."""
    return search_counts(text, (("captured", r"(\d+) packets? captured"),
                                ("received", r"(\d+) packets? received by filter"),
                                ("dropped", r"(\d+) packets? dropped by kernel")))


def parse_netsniff(text):
    return search_counts(text, (("received", r"(\d+)\s+packets incoming"),
                                ("captured", r"(\d+)\s+packets passed filter"),
                                ("dropped", r"(\d+)\s+packets failed filter \(out of space\)")))


def parse_xdpdump(text):
    return search_counts(text, (("captured", r"(\d+) packets captured"),
                                ("dropped", r"(\d+) packets dropped by perf ring")))


# --- the tools ---------------------------------------------------------------

class Tool:
    """One consumer: how to start it, when it is ready, how to read its counts.

    ``path`` is the kernel path it uses ("tpacket", "xdp" or "other"): the
    C reference of the same path is what its CPU cost is compared with."""

    def __init__(self, name, label, path, argv, parse, marker=None, ready_delay=1.0,
                 writes_file=None, needs=(), slow=False, python=False, group=None):
        self.name, self.label, self.path = name, label, path
        self.argv, self.parse, self.marker = argv, parse, marker
        self.ready_delay = ready_delay
        self.writes_file = writes_file
        self.needs = needs
        self.slow = slow
        self.python = python
        self.group = group or name
        self.skip_reason = None


def build_tools(py, tmpdir):
    """Every tool of the comparison; ``ctx`` gives iface and output path."""
    taskset = ["taskset", "-c", str(CONSUMER_CPU)]
    # No -q: the CLI then says "listening on" once capturing (its status
    # line only appears on a terminal, which the harness's pipe is not).
    pyx = [*taskset, py, "-m", "pyxring", "capture"]

    def out(ctx, ext):
        return os.path.join(tmpdir, f"{ctx['tool']}.{ext}")

    def cli(name, label, backend, *opts, to_file=True):
        """``pyxring capture`` with ``backend`` and ``opts``, to a pcapng
        file or to /dev/null."""
        def argv(c):
            dest = out(c, "pcapng") if to_file else "/dev/null"
            return [*pyx, c["iface"], "--backend", backend, *opts, "-w", dest]
        return Tool(name, label, backend, argv, parse_tcpdump_like, marker="listening on",
                    writes_file="pcapng" if to_file else None,
                    needs=(f"pyxring:{backend}",), python=True)

    tools = [
        cli("pyxring-cli-tpacket-null", "pyxring CLI tpacket -w /dev/null", "tpacket",
            to_file=False),
        cli("pyxring-cli-tpacket-file", "pyxring CLI tpacket -w file.pcapng", "tpacket"),
        cli("pyxring-cli-xdp-null", "pyxring CLI xdp -w /dev/null", "xdp", to_file=False),
        cli("pyxring-cli-xdp-file", "pyxring CLI xdp -w file.pcapng", "xdp"),
        # the same capture with the program attached in generic (skb) mode:
        # on veth the kernel then skips veth's own XDP path, at the price of
        # offloaded VLAN tags (see bench/README.md)
        cli("pyxring-cli-xdp-file-generic", "pyxring CLI xdp -w file.pcapng, --xdp-mode generic",
            "xdp", "--xdp-mode", "generic"),
        # the same capture with the plain wait (poll() whenever the RX ring is
        # empty), to show what the adaptive wait saves
        cli("pyxring-cli-xdp-file-poll", "pyxring CLI xdp -w file.pcapng, --xdp-wait poll",
            "xdp", "--xdp-wait", "poll"),
        Tool("pyxring-loop-tpacket", "pyxring API per-packet loop, tpacket", "tpacket",
             lambda c: [*taskset, py, "-m", "bench.consumers.pyx_loop", c["iface"], "tpacket"],
             parse_kv, marker="READY", needs=("pyxring:tpacket",), python=True),
        Tool("pyxring-loop-xdp", "pyxring API per-packet loop, xdp", "xdp",
             lambda c: [*taskset, py, "-m", "bench.consumers.pyx_loop", c["iface"], "xdp"],
             parse_kv, marker="READY", needs=("pyxring:xdp",), python=True),
        Tool("pyxring-batch-tpacket", "pyxring API batches, tpacket", "tpacket",
             lambda c: [*taskset, py, "-m", "bench.consumers.pyx_batch", c["iface"], "tpacket"],
             parse_kv, marker="READY", needs=("pyxring:tpacket",), python=True),
        Tool("pyxring-batch-xdp", "pyxring API batches, xdp", "xdp",
             lambda c: [*taskset, py, "-m", "bench.consumers.pyx_batch", c["iface"], "xdp"],
             parse_kv, marker="READY", needs=("pyxring:xdp",), python=True),
        Tool("tcpdump-null", "tcpdump -w /dev/null", "tpacket",
             lambda c: [*taskset, "tcpdump", "-i", c["iface"], "-n", "-Z", "root", "-w",
                        "/dev/null"],
             parse_tcpdump_like, marker="listening on", needs=("exe:tcpdump",)),
        Tool("tcpdump-file", "tcpdump -w file.pcap", "tpacket",
             lambda c: [*taskset, "tcpdump", "-i", c["iface"], "-n", "-Z", "root", "-w",
                        out(c, "pcap")],
             parse_tcpdump_like, marker="listening on", writes_file="pcap",
             needs=("exe:tcpdump",)),
        Tool("netsniff-ng", "netsniff-ng --out file.pcap", "tpacket",
             lambda c: [*taskset, "netsniff-ng", "--in", c["iface"], "--out", out(c, "pcap"),
                        "--silent", "--no-sock-mem", "--notouch-irq"],
             parse_netsniff, marker="Running!", writes_file="pcap", needs=("exe:netsniff-ng",)),
        Tool("xdpdump", "xdpdump -w file.pcap", "xdp",
             # ip netns exec hides bpffs; xdpdump needs it for its trace program
             lambda c: ["sh", "-c", "mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "
                        + " ".join([*taskset, "xdpdump", "-i", c["iface"],
                                    "--load-xdp-program", "-w", out(c, "pcap")])],
             parse_xdpdump, marker="listening on", ready_delay=3.0, writes_file="pcap",
             needs=("exe:xdpdump",)),
        Tool("scapy", "scapy sniff()", "other",
             lambda c: [*taskset, py, "-m", "bench.consumers.scapy_sniff", c["iface"]],
             parse_kv, marker="READY", needs=("py:scapy",), slow=True, python=True),
        Tool("python-recv", "Python AF_PACKET recv_into loop", "tpacket",
             lambda c: [*taskset, py, "-m", "bench.consumers.py_recv", c["iface"]],
             parse_kv, marker="READY", python=True),
        Tool("ref-tpacket", "C reference, TPACKET_V3", "tpacket",
             lambda c: [*taskset, os.path.join(BUILD, "ref_tpacket"), c["iface"]],
             parse_kv, marker="READY", needs=("build:ref_tpacket",)),
        Tool("ref-afxdp", "C reference, AF_XDP", "xdp",
             lambda c: [*taskset, os.path.join(BUILD, "ref_afxdp"), c["iface"], XDP_OBJ],
             parse_kv, marker="READY", needs=("build:ref_afxdp", "file:" + XDP_OBJ)),
    ]
    return tools


def build_refs():
    """Compile the C reference consumers; returns {name: error or None}."""
    os.makedirs(BUILD, exist_ok=True)
    status = {}
    jobs = {"ref_tpacket": ["gcc", "-O2", "-Wall", "-o", os.path.join(BUILD, "ref_tpacket"),
                            os.path.join(HERE, "ref_tpacket.c")],
            "ref_afxdp": ["gcc", "-O2", "-Wall", "-I", os.path.join(ROOT, "xdp_prog"), "-o",
                          os.path.join(BUILD, "ref_afxdp"), os.path.join(HERE, "ref_afxdp.c"),
                          "-lbpf"]}
    for name, cmd in jobs.items():
        r = subprocess.run(cmd, capture_output=True, text=True)
        status[name] = None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]
    return status


def check_available(tool, py, refs):
    for need in tool.needs:
        kind, _, what = need.partition(":")
        if kind == "exe" and shutil.which(what) is None:
            return f"{what} not installed"
        if kind == "file" and not os.path.exists(what):
            return f"{os.path.relpath(what, ROOT)} not built yet"
        if kind == "build" and refs.get(what):
            return f"{what}.c does not build: {refs[what]}"
        if kind == "py":
            r = subprocess.run([py, "-c", f"import {what}"], capture_output=True)
            if r.returncode:
                return f"Python module {what} missing"
        if kind == "pyxring":
            code = ("import pyxring.backends as b, pyxring.cli; "
                    f"b.backend_module({what!r}); import pyxring.writers")
            r = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                last = (r.stderr.strip().splitlines() or ["import failed"])[-1]
                return f"pyxring {what} backend not available yet ({last[:80]})"
    return None


# --- traffic -------------------------------------------------------------------

def trafgen_config(path, lab):
    """One 60-byte UDP frame from a to the static neighbour .77 (GHOST_MAC)."""
    from pyxring import netlab
    net = lab.ip_b.rsplit(".", 1)[0]
    subprocess.run(["ip", "-n", lab.ns_a, "neigh", "replace", f"{net}.77", "lladdr", GHOST_MAC,
                    "dev", lab.if_a, "nud", "permanent"], check=True)
    frame = netlab.ipv4_udp_frame(lab.mac_a, GHOST_MAC, lab.ip_a, f"{net}.77", 40000, 9,
                                  b"\0" * (FRAME_LEN - 42))
    assert len(frame) == FRAME_LEN
    with open(path, "w") as f:
        f.write("/* 64-byte UDP frame (60 + FCS), written by bench/run.py */\n{ ")
        f.write(", ".join(f"0x{b:02x}" for b in frame))
        f.write(" }\n")


def run_generator(lab, cfg, count, rate):
    argv = ["ip", "netns", "exec", lab.ns_a, "taskset", "-c", str(GEN_CPU), "trafgen",
            "--dev", lab.if_a, "--conf", cfg, "--num", str(count), "--cpus", "1",
            "--no-sock-mem", "--notouch-irq"]
    if rate:
        argv += ["--rate", f"{rate}pps"]
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=max(60, count / 50_000))
    wall = time.monotonic() - t0
    text = (r.stdout + r.stderr).strip()
    # trafgen's own "S sec, U usec on CPU0 (N packets)" times the sending
    # alone; the wall clock also counts its start-up.
    m = re.search(r"(\d+) sec, (\d+) usec on CPU\d+ \((\d+) packets\)", text)
    duration = int(m.group(1)) + int(m.group(2)) / 1e6 if m else wall
    return r.returncode, duration, text


def preflight(prog, exes=("trafgen", "taskset", "ip")):
    """None when this machine can run a benchmark, else the exit status
    after a one-line reason on stderr."""
    if os.geteuid() != 0:
        print(f"{prog}: needs root (namespaces, AF_PACKET, XDP)", file=sys.stderr)
        return 3
    for exe in exes:
        if shutil.which(exe) is None:
            print(f"{prog}: {exe} not installed (apt-packages.txt)", file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print(f"{prog}: needs 2 CPUs (generator and consumer on separate cores)",
              file=sys.stderr)
        return 1
    return None


def rotated(seq, i):
    """``seq`` started at its ``i``-th item (modulo its length): round ``i``'s
    order, so that no tool always runs after the same one."""
    shift = i % len(seq) if seq else 0
    return seq[shift:] + seq[:shift]


def ready_tools(names, py, tmpdir):
    """The tools called ``names``, checked: ({name: Tool}, None), or
    (None, a one-line reason and the exit status it calls for)."""
    tools = {t.name: t for t in build_tools(py, tmpdir)}
    unknown = [n for n in names if n not in tools]
    if unknown:
        return None, (f"unknown tools {', '.join(unknown)} (see bench.run --list)", 2)
    refs = build_refs()
    for n in names:
        why = check_available(tools[n], py, refs)
        if why:
            return None, (f"{n} unavailable: {why}", 1)
    return {n: tools[n] for n in names}, None


@contextlib.contextmanager
def traffic_lab(prefix, tmpdir):
    """The veth between two throwaway namespaces, IPv6 off on both ends (so
    the generator's frames are the only ones on the link), and trafgen's
    config: yields (lab, config path); the namespaces go on the way out."""
    from pyxring import netlab
    with netlab.VethPair(prefix=prefix, ipv6=False) as lab:
        for ns, ifname in ((lab.ns_a, lab.if_a), (lab.ns_b, lab.if_b)):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            f"net.ipv6.conf.{ifname}.disable_ipv6=1"], capture_output=True)
        cfg = os.path.join(tmpdir, "udp64.cfg")
        trafgen_config(cfg, lab)
        yield lab, cfg


@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt in this process, so a stopped run
    still writes what it measured; forked helpers (pyroute2's netns workers)
    die of it as usual."""
    main_pid = os.getpid()

    def on_term(signum, frame):
        if os.getpid() != main_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# --- one run -------------------------------------------------------------------

def xdp_attached(lab):
    r = subprocess.run(["ip", "-n", lab.ns_b, "link", "show", "dev", lab.if_b],
                       capture_output=True, text=True)
    return "xdp" in r.stdout


def one_run(tool, lab, cfg, rate, count, py, tmpdir, generator=None):
    """One run of ``tool``; ``generator`` stands in for run_generator (the
    sender profile wraps it in perf)."""
    ctx = {"iface": lab.if_b, "tool": tool.name}
    argv = ["ip", "netns", "exec", lab.ns_b, *tool.argv(ctx)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = {"tool": tool.name, "offered_pps": rate or None, "count": count, "problems": []}
    proc = Proc(argv, marker=tool.marker, cwd=ROOT, env=env)
    try:
        if tool.marker:
            if not proc.ready.wait(30):
                run["problems"].append("consumer never became ready")
        if tool.marker:
            time.sleep(0.3)
        else:
            wait_idle(proc.pid, tool.ready_delay)
        if not proc.alive():
            run["problems"].append(f"consumer exited early: {proc.text[-300:]}")
            return run
        a0, b0 = lab.counters("a"), lab.counters("b")
        cpu0 = cpu_seconds(proc.pid)
        gen0 = cpu_ticks(GEN_CPU)
        rc, duration, gen_out = (generator or run_generator)(lab, cfg, count, rate)
        gen1 = cpu_ticks(GEN_CPU)
        time.sleep(1.5)          # let the last blocks retire / rings drain
        cpu1 = cpu_seconds(proc.pid)
        rss = peak_rss_mib(proc.pid)
        a1, b1 = lab.counters("a"), lab.counters("b")
    finally:
        proc.stop()
    parsed = tool.parse(proc.text)
    run["consumer_output_tail"] = proc.text[-400:]
    sent = a1.get("tx_packets", 0) - a0.get("tx_packets", 0)
    delivered = b1.get("rx_packets", 0) - b0.get("rx_packets", 0)
    veth_dropped = ((b1.get("rx_dropped", 0) - b0.get("rx_dropped", 0)) +
                    (a1.get("tx_dropped", 0) - a0.get("tx_dropped", 0)))
    captured = parsed.get("captured")
    dropped = parsed.get("dropped")
    run.update(generator_rc=rc, duration_s=round(duration, 4), sent=sent,
               achieved_pps=round(sent / duration) if duration > 0 else None,
               delivered=delivered, veth_dropped=veth_dropped, captured=captured,
               kernel_dropped=dropped, received=parsed.get("received"),
               consumer_rc=proc.p.returncode,
               cpu_s=None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 4),
               peak_rss_mib=None if rss is None else round(rss, 1))
    if gen0 and gen1 and sent:
        tick = os.sysconf("SC_CLK_TCK")
        busy, steal = (gen1[0] - gen0[0]) / tick, (gen1[1] - gen0[1]) / tick
        run["sender_cpu_us_per_pkt"] = round(busy / sent * 1e6, 3)
        run["sender_steal_s"] = round(steal, 2)
        # the rate had the hypervisor not taken the sender's CPU away
        if duration > steal:
            run["achieved_pps_less_steal"] = round(sent / (duration - steal))
    if rc != 0:
        run["problems"].append(f"generator exited {rc}: {gen_out[-200:]}")
    if sent < count:
        run["problems"].append(f"sent {sent} of {count}")
    if captured is None:
        run["problems"].append("no packet count in the consumer's output")
    else:
        run["loss_pct"] = round(100.0 * max(sent - captured, 0) / sent, 4) if sent else None
        if run["cpu_s"] is not None and captured:
            run["cpu_s_per_mpkt"] = round(run["cpu_s"] / captured * 1e6, 4)
        # Every delivered frame is captured or counted as dropped somewhere;
        # tools that report no drop count (scapy) can't be reconciled.
        accounted = captured + (dropped or 0)
        run["unaccounted"] = delivered - accounted
        if dropped is None:
            run["note"] = "the tool reports no kernel drop count"
        elif abs(run["unaccounted"]) > max(10, delivered // 1000):
            run["problems"].append(f"unreconciled: delivered {delivered}, captured {captured}, "
                                   f"dropped {dropped}")
    if tool.writes_file:
        path = os.path.join(tmpdir, f"{tool.name}.{tool.writes_file}")
        if os.path.exists(path):
            run["file_bytes"] = os.path.getsize(path)
            os.unlink(path)
    if xdp_attached(lab):
        run["problems"].append("an XDP program stayed attached after the consumer exited")
        subprocess.run(["ip", "-n", lab.ns_b, "link", "set", "dev", lab.if_b, "xdp", "off"],
                       capture_output=True)
    return run


# --- aggregation and reports ----------------------------------------------------

METRICS = ("achieved_pps", "delivered", "captured", "kernel_dropped", "loss_pct",
           "cpu_s_per_mpkt", "peak_rss_mib", "sent", "sender_cpu_us_per_pkt",
           "sender_steal_s", "achieved_pps_less_steal")


def summarize_runs(runs):
    out = {"runs": len(runs), "problem_runs": sum(1 for r in runs if r["problems"])}
    for m in METRICS:
        vals = [r[m] for r in runs if r.get(m) is not None]
        if vals:
            out[m] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    return out


def median_range(runs, key):
    """(median, min, max) of ``key`` over the runs that have it, or None."""
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def median_cell(runs, key, digits=3):
    """A table cell: 'median (min–max)' of ``key`` over the runs, the one
    value when they agree, or '–'."""
    v = median_range(runs, key)
    if v is None:
        return "–"
    m, lo, hi = v
    if lo == hi:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def save_results(results, out, stem, write_markdown, prog):
    """``out``/``stem``.json (every run) and .md (``write_markdown``'s
    table), and a line saying where they are."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, stem + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(out, stem + ".md"))
    print(f"{prog}: results in {os.path.relpath(out)}/{stem}.{{json,md}}", file=sys.stderr)


def point_name(rate):
    return "unlimited" if not rate else f"{rate // 1000}k" if rate >= 1000 else str(rate)


def med(summary, key):
    v = summary.get(key)
    return None if v is None else v["median"]


def add_ratios(results):
    """pyxring vs tcpdump and vs the C reference of the same path, per point."""
    pairs_tcpdump = {"pyxring-cli-tpacket-null": "tcpdump-null",
                     "pyxring-cli-xdp-null": "tcpdump-null",
                     "pyxring-cli-tpacket-file": "tcpdump-file",
                     "pyxring-cli-xdp-file": "tcpdump-file",
                     "pyxring-cli-xdp-file-poll": "tcpdump-file"}
    refs = {"tpacket": "ref-tpacket", "xdp": "ref-afxdp"}
    for point, by_tool in results["points"].items():
        for name, s in by_tool.items():
            if not name.startswith("pyxring"):
                continue
            path = "xdp" if "-xdp" in name else "tpacket"
            for label, other in (("vs_tcpdump", pairs_tcpdump.get(name, "tcpdump-file")),
                                 ("vs_ref", refs[path])):
                o = by_tool.get(other)
                if not o:
                    continue
                r = {}
                for m in ("cpu_s_per_mpkt", "achieved_pps"):
                    a, b = med(s, m), med(o, m)
                    if a is not None and b:
                        r[m] = round(a / b, 3)
                if r:
                    r["against"] = other
                    s[label] = r


def check_targets(results):
    pts = results["points"]

    def get(point, tool, m):
        s = pts.get(point, {}).get(tool)
        return None if not s else med(s, m)

    targets = []

    def target(text, ok, detail):
        targets.append({"target": text, "met": ok, "detail": detail})

    for backend in ("tpacket", "xdp"):
        for kind in ("cli-%s-file", "loop-%s"):
            name = "pyxring-" + kind % backend
            loss = get("400k", name, "loss_pct")
            rate = get("400k", name, "achieved_pps")
            # The sender slows down under capture on this VM: say how fast it really went.
            target(f"{name}: 0 loss at 400k pps offered",
                   None if loss is None else loss == 0,
                   "not measured" if loss is None else
                   f"median loss {loss}% (sender reached {rate:,.0f} pps)")
    for backend in ("tpacket", "xdp"):
        name = f"pyxring-cli-{backend}-file"
        vals = [(get(p, name, "cpu_s_per_mpkt"), get(p, "tcpdump-file", "cpu_s_per_mpkt"))
                for p in ("100k", "200k", "400k")]
        vals = [(a, b) for a, b in vals if a is not None and b is not None]
        target(f"{name}: CPU per packet <= tcpdump -w file",
               None if not vals else all(a <= b for a, b in vals),
               "; ".join(f"{a:.3f} vs {b:.3f} s/Mpkt" for a, b in vals))
        a, b = get("unlimited", name, "achieved_pps"), get("unlimited", "tcpdump-file",
                                                          "achieved_pps")
        detail = "not measured" if a is None or b is None else f"{a:,.0f} vs {b:,.0f} pps"
        a2, b2 = (get("unlimited", n, "achieved_pps_less_steal") for n in (name, "tcpdump-file"))
        c1, c2 = (get("unlimited", n, "sender_cpu_us_per_pkt") for n in (name, "tcpdump-file"))
        if a2 and b2 and c1 and c2:
            detail += (f" (less the sender's stolen time: {a2:,.0f} vs {b2:,.0f} pps; "
                       f"sender CPU {c1:.2f} vs {c2:.2f} µs/packet)")
        target(f"{name}: unlimited-rate achieved rate >= tcpdump -w file",
               None if a is None or b is None else a >= b, detail)
    # scapy's loss-free rate: the highest rate it really received (achieved
    # pps) without loss.  trafgen paces in bursts, and where scapy loses
    # packets at every point tried, its loss-free rate is below the lowest of
    # them: that bound is what pyxring is compared with.
    scapy_pts = [p for p in results["point_list"] if p["rate"] and
                 get(p["name"], "scapy", "loss_pct") is not None]
    scapy_ok = [get(p["name"], "scapy", "achieved_pps") for p in scapy_pts
                if get(p["name"], "scapy", "loss_pct") == 0]
    if scapy_ok:
        scapy_rate, scapy_text = max(scapy_ok), f"scapy {max(scapy_ok):,.0f} pps"
    elif scapy_pts:
        scapy_rate = min(get(p["name"], "scapy", "achieved_pps") for p in scapy_pts)
        scapy_text = (f"scapy below {scapy_rate:,.0f} pps (it lost packets at every rate tried, "
                      f"down to that one)")
    else:
        scapy_rate, scapy_text = None, "scapy not measured"
    for backend in ("tpacket", "xdp"):
        name = f"pyxring-loop-{backend}"
        ok_rates = [get(p["name"], name, "achieved_pps") for p in results["point_list"]
                    if p["rate"] and get(p["name"], name, "loss_pct") == 0]
        best = max(ok_rates) if ok_rates else None
        target(f"{name}: loss-free rate >= 50x scapy's",
               None if best is None or scapy_rate is None else best >= 50 * scapy_rate,
               f"{best if best is None else f'{best:,.0f}'} pps loss-free (highest achieved "
               f"rate without loss) vs {scapy_text}")
    for backend, ref in (("tpacket", "ref-tpacket"), ("xdp", "ref-afxdp")):
        name = f"pyxring-batch-{backend}"
        vals = [(get(p, name, "cpu_s_per_mpkt"), get(p, ref, "cpu_s_per_mpkt"))
                for p in ("100k", "200k", "400k")]
        vals = [(a, b) for a, b in vals if a is not None and b]
        target(f"{name}: CPU per packet within 1.5x of {ref}",
               None if not vals else all(a <= 1.5 * b for a, b in vals),
               "; ".join(f"{a:.3f} vs {b:.3f} s/Mpkt" for a, b in vals))
    results["targets"] = targets


def fmt_range(s, key, scale=1.0, digits=0, unit=""):
    v = s.get(key)
    if v is None:
        return "–"
    f = f"{{:,.{digits}f}}"
    m = f.format(v["median"] * scale)
    if v["min"] == v["max"]:
        return m + unit
    return f"{m}{unit} ({f.format(v['min'] * scale)}–{f.format(v['max'] * scale)})"


def round_ratio(results, point, tool, base, key):
    """Median over the rounds of ``point`` of ``tool``'s ``key`` divided by
    ``base``'s in the same round: neighbours in time share the host's mood,
    which swings the flat-out rate far more than the tools differ."""
    by_round = {}
    for r in results["raw"]:
        if r["point"] == point and r["tool"] in (tool, base) and r.get(key):
            by_round.setdefault(r["run"], {})[r["tool"]] = r[key]
    ratios = [v[tool] / v[base] for v in by_round.values() if len(v) == 2]
    return statistics.median(ratios) if ratios else None


def runs_text(results):
    n, u = results["runs_per_point"], results.get("unlimited_runs", results["runs_per_point"])
    return f"{n} run(s) per point" + (f", {u} flat out" if u != n else "")


def write_markdown(results, path):
    lines = [f"# pyxring benchmark{' (quick)' if results['quick'] else ''}", "",
             f"{results['started']} · {results['machine']} · kernel {results['kernel']} · "
             f"{runs_text(results)}, medians (min–max)", "",
             "64-byte UDP frames over one veth between two namespaces; trafgen on CPU "
             f"{GEN_CPU}, the consumer on CPU {CONSUMER_CPU}. *achieved* is the rate the "
             "generator reached (capture cost on this VM slows the sender); *loss* is "
             "sent but not captured; CPU is the consumer's, per million captured packets.", ""]
    hdr = ("| tool | point | achieved pps | delivered | captured | kernel drops | loss % | "
           "CPU s/Mpkt | peak RSS MiB | vs tcpdump (CPU) | vs C ref (CPU) |")
    lines += [hdr, "|" + "---|" * 11]
    names = {t["name"]: t["label"] for t in results["tools"]}
    for p in results["point_list"]:
        by_tool = results["points"].get(p["name"], {})
        for t in results["tools"]:
            s = by_tool.get(t["name"])
            if s is None:
                continue
            vt = s.get("vs_tcpdump", {}).get("cpu_s_per_mpkt")
            vr = s.get("vs_ref", {}).get("cpu_s_per_mpkt")
            flag = " ⚠" if s["problem_runs"] else ""
            lines.append(
                f"| {names[t['name']]}{flag} | {p['name']} | {fmt_range(s, 'achieved_pps')} | "
                f"{fmt_range(s, 'delivered')} | {fmt_range(s, 'captured')} | "
                f"{fmt_range(s, 'kernel_dropped')} | {fmt_range(s, 'loss_pct', digits=2)} | "
                f"{fmt_range(s, 'cpu_s_per_mpkt', digits=3)} | "
                f"{fmt_range(s, 'peak_rss_mib', digits=0)} | "
                f"{'–' if vt is None else f'{vt:.2f}×'} | {'–' if vr is None else f'{vr:.2f}×'} |")
    unl = results["points"].get("unlimited", {})
    if "tcpdump-file" in unl:
        lines += ["", "## Flat out: what each packet cost the sender", "",
                  "CPU 0 (generator and receive softirq) busy time per packet sent, stolen time "
                  "not counted, and the median of per-round ratios to tcpdump -w file.", "",
                  "| tool | sender CPU µs/packet | sender CPU / tcpdump's | achieved pps / tcpdump's |",
                  "|---|---|---|---|"]
        for t in results["tools"]:
            if t["name"] not in unl:
                continue
            rc, ra = (round_ratio(results, "unlimited", t["name"], "tcpdump-file", k)
                      for k in ("sender_cpu_us_per_pkt", "achieved_pps"))
            lines.append(f"| {names[t['name']]} | "
                         f"{fmt_range(unl[t['name']], 'sender_cpu_us_per_pkt', digits=2)} | "
                         f"{'–' if rc is None else f'{rc:.3f}'} | "
                         f"{'–' if ra is None else f'{ra:.3f}'} |")
    skipped = [t for t in results["tools"] if t.get("skipped")]
    if skipped:
        lines += ["", "Not measured in this run:", ""]
        lines += [f"- {t['label']}: {t['skipped']}" for t in skipped]
    if any(s["problem_runs"] for bt in results["points"].values() for s in bt.values()):
        lines += ["", "⚠: some runs had problems (see `problems` in the JSON)."]
    lines += ["", "## Targets (issue 6)", "", "| target | met | measured |", "|---|---|---|"]
    for t in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {met} | {t['detail']} |")
    lines += ["", f"Reproduce: `make bench` (or `python -m bench.run {results['args']}`).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed"
    tools = [t for t in results["tools"] if not t.get("skipped")]
    fixed = [p for p in results["point_list"] if p["rate"] and p["rate"] >= 50_000]
    fig, axes = plt.subplots(1, 3, figsize=(18, 6))
    ax_loss, ax_cpu, ax_unl = axes
    for t in tools:
        xs, loss, cpu = [], [], []
        for p in fixed:
            s = results["points"].get(p["name"], {}).get(t["name"])
            if not s:
                continue
            xs.append(p["rate"] / 1000)
            loss.append(med(s, "loss_pct"))
            cpu.append(med(s, "cpu_s_per_mpkt"))
        style = "-o" if t["name"].startswith("pyxring") else "--s" if "ref" in t["name"] else ":^"
        if xs:
            ax_loss.plot(xs, loss, style, label=t["label"])
            ax_cpu.plot(xs, cpu, style, label=t["label"])
    ax_loss.set(title="Loss vs offered rate", xlabel="offered kpps", ylabel="loss %")
    lo, hi = ax_loss.get_ylim()
    ax_loss.set_ylim(-0.5, max(hi, 5))     # "0 loss" should sit on the floor, not mid-chart
    ax_cpu.set(title="Consumer CPU", xlabel="offered kpps", ylabel="CPU s per million packets",
               yscale="log")
    unl = results["points"].get("unlimited", {})
    names = [t for t in tools if t["name"] in unl and med(unl[t["name"]], "achieved_pps")]
    vals = [med(unl[t["name"]], "achieved_pps") / 1000 for t in names]
    colors = ["tab:blue" if t["name"].startswith("pyxring") else
              "tab:green" if "ref" in t["name"] else "tab:gray" for t in names]
    ax_unl.barh([t["label"] for t in names], vals, color=colors)
    if not names:
        ax_unl.text(0.5, 0.5, "not measured in this run", ha="center", va="center",
                    transform=ax_unl.transAxes)
    ax_unl.set(title="Flat-out: rate the sender reached", xlabel="kpps")
    ax_unl.invert_yaxis()
    ax_cpu.legend(fontsize=7, loc="best")
    fig.suptitle(f"pyxring benchmark — {results['started']} "
                 f"({runs_text(results)}, medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# --- main --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 run per point, fewer points, shorter runs")
    ap.add_argument("--runs", type=int, default=None, help="runs per point (default 5, quick 1)")
    ap.add_argument("--unlimited-runs", type=int, default=None,
                    help="runs of the flat-out point (default twice --runs)")
    ap.add_argument("--rates", default=None,
                    help="comma-separated offered rates in pps, 0 = unlimited "
                         "(default 100000,200000,400000,0)")
    ap.add_argument("--tools", default=None,
                    help="comma-separated tool names (default: all); see --list")
    ap.add_argument("--seconds", type=float, default=None,
                    help=f"traffic per fixed-rate run (default {RUN_SECONDS})")
    ap.add_argument("--list", action="store_true", help="list the tools and exit")
    ap.add_argument("--out", default=RESULTS, help="results directory")
    args = ap.parse_args(argv)

    py = sys.executable
    tmpdir = tempfile.mkdtemp(prefix="pyxring-bench-")
    tools = build_tools(py, tmpdir)
    if args.list:
        for t in tools:
            print(f"{t.name:28} {t.label}")
        shutil.rmtree(tmpdir, ignore_errors=True)
        return 0
    status = preflight("bench")
    if status is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)
        return status
    runs = args.runs or (1 if args.quick else 5)
    unlimited_runs = args.unlimited_runs or (1 if args.quick else 2 * runs)
    seconds = args.seconds or (1.0 if args.quick else RUN_SECONDS)
    if args.rates:
        rates = [int(x) for x in args.rates.split(",")]
    else:
        rates = QUICK_RATES if args.quick else FULL_RATES
    if args.tools:
        wanted = set(args.tools.split(","))
        unknown = wanted - {t.name for t in tools}
        if unknown:
            print(f"bench: unknown tools {', '.join(sorted(unknown))} (see --list)",
                  file=sys.stderr)
            return 2
        tools = [t for t in tools if t.name in wanted]

    refs = build_refs()
    for t in tools:
        t.skip_reason = check_available(t, py, refs)
        print(f"bench: {t.name}: {'SKIPPED, ' + t.skip_reason if t.skip_reason else 'ok'}",
              file=sys.stderr)
    active = [t for t in tools if not t.skip_reason]

    points = [{"name": point_name(r), "rate": r} for r in rates]
    if not args.quick and not args.rates and any(t.slow for t in active):
        points = [{"name": point_name(r), "rate": r, "slow_only": True} for r in SLOW_RATES] + points

    def count_for(rate):
        return UNLIMITED_COUNT // (4 if args.quick else 1) if not rate else int(rate * seconds)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {"started": started, "quick": args.quick, "runs_per_point": runs,
               "unlimited_runs": unlimited_runs,
               "args": " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
               "kernel": platform.release(), "host": socket.gethostname(),
               "frame_len": FRAME_LEN, "generator_cpu": GEN_CPU, "consumer_cpu": CONSUMER_CPU,
               "tools": [{"name": t.name, "label": t.label, "path": t.path,
                          "skipped": t.skip_reason} for t in tools],
               "point_list": [{"name": p["name"], "rate": p["rate"]} for p in points],
               "points": {}, "raw": []}

    interrupted = False
    try:
        with sigterm_interrupts(), traffic_lab("bnch", tmpdir) as (lab, cfg):
            for p in points:
                rate = p["rate"]
                these = [t for t in active if not p.get("slow_only") or t.slow]
                n_runs = runs if rate else unlimited_runs
                for i in range(n_runs):
                    for t in rotated(these, i):
                        r = one_run(t, lab, cfg, rate, count_for(rate), py, tmpdir)
                        r["point"], r["run"] = p["name"], i + 1
                        results["raw"].append(r)
                        print(f"bench: {p['name']:>9} run {i + 1}/{n_runs} {t.name:26} "
                              f"sent {r.get('sent', '?')} at {r.get('achieved_pps', '?')} pps, "
                              f"captured {r.get('captured')}, dropped {r.get('kernel_dropped')}, "
                              f"cpu {r.get('cpu_s_per_mpkt')} s/Mpkt, sender {r.get('sender_cpu_us_per_pkt')} us/pkt "
                              f"(steal {r.get('sender_steal_s')} s)"
                              + (f"  PROBLEMS: {'; '.join(r['problems'])}" if r["problems"] else ""),
                              file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("bench: interrupted; writing what was measured", file=sys.stderr)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    for p in points:
        by_tool = {}
        for t in tools:
            runs_here = [r for r in results["raw"] if r["point"] == p["name"] and r["tool"] == t.name]
            if runs_here:
                by_tool[t.name] = summarize_runs(runs_here)
        if by_tool:
            results["points"][p["name"]] = by_tool
    results["interrupted"] = interrupted
    add_ratios(results)
    check_targets(results)

    os.makedirs(args.out, exist_ok=True)
    stem = "quick-bench" if args.quick else "bench"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(args.out, stem + ".md"))
    chart_err = write_chart(results, os.path.join(args.out, stem + ".png"))
    print(f"bench: results in {os.path.relpath(args.out)}/{stem}.{{json,md"
          f"{'' if chart_err else ',png'}}}" + (f" (no chart: {chart_err})" if chart_err else ""),
          file=sys.stderr)
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
