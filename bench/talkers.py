"""A realistic job, four ways (``python -m bench.talkers``, in ``make bench``):
the top 10 talkers (source addresses, IPv4 and IPv6) by bytes over a
1,000,000-packet capture file.

- pyxring: the file's batches decoded into columns (``batch.columns``) and
  counted with numpy;
- dpkt: ``dpkt.pcap.Reader`` and ``dpkt.ethernet.Ethernet`` per packet, a dict;
- scapy: ``PcapReader`` per packet, a dict; on the first ``SCAPY_SAMPLE``
  packets only (the whole file would take over a quarter of an hour): the
  file's time is its start-up (a run on one packet) plus the sample's time
  per packet after start-up times the file's packets, and said so;
- tshark: ``tshark -T fields -e ip.src -e ipv6.src -e frame.len`` read by
  Python, a dict.

Each runs as its own process (start-up and imports count: this is a script a
user runs), timed by wall clock and by CPU (user + system, tshark's
included), a few times in turn; the medians are reported.  Every tool must
give the same answer: the same ten addresses, bytes and packet counts
(scapy's is checked against pyxring's on the same sample).

The file is bench.columns' traffic mix (TCP, UDP, IPv6, ICMP, ARP, 802.1Q)
as pcap, made once in build/bench-files/.  Results:
bench/results/talkers.{json,md} (quick-talkers.* with --quick: 200,000
packets, one run each, a provisional smoke test).
"""
import argparse
import ipaddress
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
DATA = os.path.join(ROOT, "build", "bench-files")
PACKETS, QUICK_PACKETS = 1_000_000, 200_000
SCAPY_SAMPLE, QUICK_SCAPY_SAMPLE = 50_000, 10_000
TOP = 10
TOOLS = ("pyxring", "dpkt", "scapy", "tshark")
LABELS = {"pyxring": "pyxring `batch.columns()` + numpy",
          "dpkt": "dpkt `pcap.Reader` + `Ethernet()` + dict",
          "scapy": "scapy `PcapReader` + dict",
          "tshark": "`tshark -T fields` + Python dict"}


def make_file(count):
    """The traffic mix as a pcap file of ``count`` packets (cached)."""
    path = os.path.join(DATA, f"talkers-{count}.pcap")
    if os.path.exists(path):
        return path
    import pyxring
    import pyxring.memory
    from bench.columns import frame_mix
    os.makedirs(DATA, exist_ok=True)
    frames = frame_mix(min(count, 250_000), seed=11)
    tmp = path + ".tmp"
    t0 = 1_700_000_000 * 10**9
    with pyxring.open_writer(tmp, "pcap", precision="us") as w:
        done = 0
        while done < count:
            part = frames[:count - done]
            src = pyxring.memory.open(part, ts_ns=[t0 + (done + i) * 2000 for i in range(len(part))],
                                      batch_size=8192)
            for b in src.batches():
                w.write_batch(b)
            done += len(part)
    os.replace(tmp, path)
    return path


def top_of(counts):
    """{address text: [bytes, packets]} -> the TOP largest by bytes (then by
    address), each as [address, bytes, packets], addresses normalised."""
    rows = [[str(ipaddress.ip_address(a)), b, n] for a, (b, n) in counts.items()]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:TOP]


# --- the four jobs (each runs in its own process) --------------------------------------

def job_pyxring(path, limit):
    import numpy as np
    from pyxring.file import open_file
    keys4, bytes4, keys6, bytes6 = [], [], [], []
    seen = 0
    with open_file(path) as src:
        for batch in src.batches():
            if limit:
                batch.truncate(limit - seen)
            cols = batch.columns(["ip_version", "src4", "src6", "wirelen"])
            v = cols["ip_version"]
            m4, m6 = v == 4, v == 6
            keys4.append(cols["src4"][m4])
            bytes4.append(cols["wirelen"][m4])
            keys6.append(cols["src6"][m6])
            bytes6.append(cols["wirelen"][m6])
            seen += len(batch)
            if limit and seen >= limit:
                break
    counts = {}
    for keys, nbytes, to_addr in ((np.concatenate(keys4), np.concatenate(bytes4),
                                   lambda k: int(k)),
                                  (np.concatenate(keys6).view("V16").ravel(),
                                   np.concatenate(bytes6), lambda k: bytes(k))):
        uniq, inverse, packets = np.unique(keys, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=nbytes, minlength=len(uniq))
        # only the candidates for the top need Python objects
        best = np.argsort(-sums, kind="stable")[:TOP * 4]
        for i in best.tolist():
            counts[to_addr(uniq[i])] = [int(sums[i]), int(packets[i])]
    return top_of(counts), seen


def job_dpkt(path, limit):
    import dpkt
    counts = {}
    seen = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            seen += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                row = counts.get(ip.src)
                if row is None:
                    counts[ip.src] = row = [0, 0]
                row[0] += len(buf)       # the file's frames are whole: caplen == wirelen
                row[1] += 1
            if limit and seen >= limit:
                break
    return top_of(counts), seen


def job_scapy(path, limit):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader
    counts = {}
    seen = 0
    with PcapReader(path) as rd:
        for pkt in rd:
            seen += 1
            ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if ip is not None:
                row = counts.setdefault(ip.src, [0, 0])
                row[0] += pkt.wirelen or len(pkt)
                row[1] += 1
            if limit and seen >= limit:
                break
    return top_of(counts), seen


def job_tshark(path, limit):
    cmd = ["tshark", "-r", path, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e",
           "frame.len"]
    if limit:
        cmd += ["-c", str(limit)]
    counts = {}
    seen = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        for line in proc.stdout:
            seen += 1
            v4, v6, length = line.rstrip("\n").split("\t")
            # an ICMP error's quoted header adds its address after a comma
            src = (v4 or v6).split(",")[0]
            if src:
                row = counts.get(src)
                if row is None:
                    counts[src] = row = [0, 0]
                row[0] += int(length)
                row[1] += 1
    if proc.returncode:
        raise RuntimeError(f"tshark exited with {proc.returncode}")
    return top_of(counts), seen


JOBS = {"pyxring": job_pyxring, "dpkt": job_dpkt, "scapy": job_scapy, "tshark": job_tshark}


# --- measuring ----------------------------------------------------------------------------

def run_job(tool, path, limit=0):
    """One job in its own process: (answer, packets, wall s, CPU s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "bench.talkers", "--job", tool, path,
                        "--limit", str(limit)], capture_output=True, text=True, cwd=ROOT,
                       timeout=7200)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise RuntimeError(f"{tool}: {r.stderr.strip().splitlines()[-1:]}")
    out = json.loads(r.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out["top"], out["packets"], wall, cpu


def measure(path, packets, runs, scapy_sample):
    results = {}
    answers = {}
    for rnd in range(runs):
        for tool in TOOLS[rnd % len(TOOLS):] + TOOLS[:rnd % len(TOOLS)]:
            limit = scapy_sample if tool == "scapy" else 0
            top, seen, wall, cpu = run_job(tool, path, limit)
            r = results.setdefault(tool, {"tool": tool, "label": LABELS[tool], "walls": [],
                                          "cpus": [], "packets": seen})
            r["walls"].append(round(wall, 3))
            r["cpus"].append(round(cpu, 3))
            answers[tool] = top
            print(f"talkers: run {rnd + 1}/{runs} {tool:8} {seen:,} packets, wall {wall:.2f} s, "
                  f"CPU {cpu:.2f} s", file=sys.stderr)
    sample_answer = run_job("pyxring", path, scapy_sample)[0]
    _, _, start_wall, start_cpu = run_job("scapy", path, 1)
    for tool, r in results.items():
        r["wall_s"] = statistics.median(r["walls"])
        r["cpu_s"] = statistics.median(r["cpus"])
        r["extrapolated"] = r["packets"] != packets
        if r["extrapolated"]:
            # start-up once, the rest per packet
            scale = (packets - 1) / (r["packets"] - 1)
            r["startup_wall_s"], r["startup_cpu_s"] = round(start_wall, 3), round(start_cpu, 3)
            r["wall_s_file"] = round(start_wall + (r["wall_s"] - start_wall) * scale, 2)
            r["cpu_s_file"] = round(start_cpu + (r["cpu_s"] - start_cpu) * scale, 2)
        else:
            r["wall_s_file"], r["cpu_s_file"] = round(r["wall_s"], 2), round(r["cpu_s"], 2)
        want = sample_answer if tool == "scapy" else answers["pyxring"]
        r["same_answer"] = answers[tool] == want
    return results, answers["pyxring"]


def write_markdown(res, path):
    rows = res["results"]
    base = rows["pyxring"]["cpu_s_file"]
    lines = [f"# Top {TOP} talkers by bytes{' (quick)' if res['quick'] else ''}", "",
             f"{res['started']} · {res['machine']} · load average at start {res['load']}", "",
             f"A {res['packets']:,}-packet pcap file ({res['file_mb']:.0f} MB, in the page "
             f"cache) of TCP, UDP, IPv6, ICMP, ARP and 802.1Q frames; each tool as its own "
             f"process (start-up and imports included), median of {res['runs']} run(s). CPU is "
             "user + system of the whole process tree.", "",
             "| tool | packets | wall s | CPU s | CPU vs pyxring | same answer |",
             "|---|---|---|---|---|---|"]
    for tool in TOOLS:
        r = rows[tool]
        note = ""
        if r["extrapolated"]:
            note = (f" (measured on {r['packets']:,} packets: {r['wall_s']:.2f} s wall, "
                    f"{r['cpu_s']:.2f} s CPU, {r['startup_cpu_s']:.2f} s of it start-up; "
                    "the rest scaled to the file)")
        lines.append(f"| {r['label']}{note} | {res['packets']:,} | {r['wall_s_file']:.2f} | "
                     f"{r['cpu_s_file']:.2f} | {r['cpu_s_file'] / base:.1f}× | "
                     f"{'yes' if r['same_answer'] else '**no**'} |")
    lines += ["", "The answer (every tool's):", "", "| source | bytes | packets |", "|---|---|---|"]
    for addr, nbytes, n in res["top"]:
        lines.append(f"| {addr} | {nbytes:,} | {n:,} |")
    lines += ["", f"Reproduce: `python -m bench.talkers {res['args']}`.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.talkers",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test (provisional figures)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--packets", type=int, default=None)
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--job", metavar="TOOL", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("file", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        top, seen = JOBS[args.job](args.file, args.limit)
        print(json.dumps({"top": top, "packets": seen}))
        return 0
    packets = args.packets or (QUICK_PACKETS if args.quick else PACKETS)
    runs = args.runs or (1 if args.quick else 3)
    sample = min(QUICK_SCAPY_SAMPLE if args.quick else SCAPY_SAMPLE, packets)
    path = make_file(packets)
    with open(path, "rb") as f:           # in the page cache for every tool alike
        while f.read(1 << 24):
            pass
    res = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
           "machine": f"{os.uname().machine} {os.cpu_count()} CPUs",
           "load": round(os.getloadavg()[0], 2), "packets": packets, "runs": runs,
           "file_mb": os.path.getsize(path) / 1e6,
           "args": " ".join(argv if argv is not None else sys.argv[1:])}
    res["results"], res["top"] = measure(path, packets, runs, sample)
    stem = "quick-talkers" if args.quick else "talkers"
    from bench.run import save_results      # not at the top: the timed jobs import this file
    save_results(res, args.out, stem, write_markdown, "talkers")
    bad = [t for t, r in res["results"].items() if not r["same_answer"]]
    if bad:
        print(f"talkers: different answers from {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
