"""Packets as columns: how fast (``python -m bench.columns``, in ``make bench``).

1. Decode, in memory, one core: ``batch.columns()`` over a million frames of
   a traffic mix held by ``pyxring.memory`` (batches of 8192, as a TPACKET
   block of small frames), in ns per packet, for every field and for the
   fields a top-talkers job needs; beside dpkt and scapy parsing the same
   fields of the same frames one by one (what a Python user does today).
   Then the same fields from the same file (bench.talkers' pcap of the
   mix): pyxring's file source and decode against dpkt's reader and parse.
   The targets: at least 20 M packets/s, and at least 50x dpkt's rate.
2. Live, at 200k pps over bench.run's veth: the consumer's CPU per packet
   with the batch API alone (bench/consumers/pyx_batch.py) and with
   ``batch.columns()`` added (pyx_columns.py), run in adjacent pairs in
   bench.duel's ABBA/BAAB order; per comparison the median of the pairs'
   differences with a distribution-free 95 % interval, and every run's
   loss.  The target: at most 0.05 us per packet more, with 0 loss.  The
   same for the batch API under asyncio (pyx_async.py), without a target.

Results: bench/results/columns.{json,md} (quick-columns.* with --quick,
which is a smoke test: fewer frames, one block of pairs, short runs).
"""
import argparse
import os
import random
import statistics
import struct
import sys
import tempfile
import time

from bench import duel
from bench import run as bench

FRAMES = 1_000_000
QUICK_FRAMES = 200_000
BATCH = 8192
TALKER_FIELDS = ["src4", "dst4", "proto", "sport", "dport", "wirelen"]
LIVE_RATE = 200_000
BLOCKS, QUICK_BLOCKS = 10, 1
TARGET_MPPS, TARGET_DPKT_X, TARGET_LIVE_US = 20.0, 50.0, 0.05


# --- the traffic mix -----------------------------------------------------------

def _eth(vlan):
    head = bytes.fromhex("020000000002020000000001")
    return head + (struct.pack("!HH", 0x8100, vlan) if vlan else b"")


def _ipv4(proto, src, dst, payload, ident):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64,
                       proto, 0, src, dst) + payload


def _ipv6(nh, src, dst, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, src, dst) + payload


def _tcp(sport, dport, seq, flags, size):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, seq ^ 0x5A5A, 0x80, flags, 502, 0, 0)
    return hdr + bytes.fromhex("0101080a0000000100000002") + b"\0" * size


def _udp(sport, dport, size):
    return struct.pack("!HHHH", sport, dport, 8 + size, 0) + b"\0" * size


def frame_mix(n, seed=1):
    """``n`` Ethernet frames: TCP (60 %, ACKs, full segments and between),
    UDP (25 %), IPv6 TCP/UDP (8 %), ICMP (3 %), ARP (2 %), 802.1Q-tagged
    (2 %); over a few thousand hosts and ports."""
    rng = random.Random(seed)
    hosts = [bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
             for _ in range(2000)]
    hosts6 = [bytes.fromhex("20010db8") + rng.randbytes(12) for _ in range(300)]
    out = []
    for i in range(n):
        r = rng.random()
        src, dst = rng.choice(hosts), rng.choice(hosts)
        sport, dport = rng.randrange(1024, 65535), rng.choice((80, 443, 53, 22, 8080, 5001))
        if r < 0.60:
            size = rng.choice((0, 0, 0, 1448, 1448, rng.randrange(1, 600)))
            f = _eth(0) + b"\x08\x00" + _ipv4(6, src, dst, _tcp(sport, dport, i, 0x18, size), i)
        elif r < 0.85:
            f = _eth(0) + b"\x08\x00" + _ipv4(17, src, dst, _udp(sport, dport,
                                                                rng.randrange(18, 512)), i)
        elif r < 0.93:
            s6, d6 = rng.choice(hosts6), rng.choice(hosts6)
            l4 = _tcp(sport, dport, i, 0x10, 0) if r < 0.89 else _udp(sport, dport, 40)
            f = _eth(0) + b"\x86\xdd" + _ipv6(6 if r < 0.89 else 17, s6, d6, l4)
        elif r < 0.96:
            f = _eth(0) + b"\x08\x00" + _ipv4(1, src, dst, b"\x08\x00\0\0" + struct.pack(
                "!HH", i & 0xFFFF, 1) + b"\0" * 56, i)
        elif r < 0.98:
            f = (b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x08\x06"
                 + bytes.fromhex("0001080006040001020000000001") + src + b"\0" * 6 + dst)
        else:
            f = _eth(rng.randrange(1, 4095)) + b"\x08\x00" + _ipv4(17, src, dst,
                                                                   _udp(sport, dport, 32), i)
        out.append(f)
    return out


# --- decoding speed -----------------------------------------------------------------

def pyxring_ns_per_packet(src, fields, repeats):
    """Median over ``repeats`` passes over ``src`` of the CPU time (this
    thread's: on a shared machine the wall clock also counts other
    processes) batch.columns(fields) takes, per packet."""
    per_pass = []
    for _ in range(repeats):
        src.rewind()
        spent = n = 0
        for batch in src.batches():
            t0 = time.thread_time_ns()
            batch.columns(fields)
            spent += time.thread_time_ns() - t0
            n += len(batch)
        per_pass.append(spent / n)
    return statistics.median(per_pass), min(per_pass)


def dpkt_fields(frames):
    """The same fields with dpkt, one frame at a time, into lists of tuples."""
    import dpkt
    rows = []
    append = rows.append
    for buf in frames:
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP):
            l4 = ip.data
            row = [eth.type, 4, ip.src, ip.dst, ip.p, ip.ttl, ip.id, ip.offset, ip.len]
        elif isinstance(ip, dpkt.ip6.IP6):
            l4 = ip.data
            row = [eth.type, 6, ip.src, ip.dst, ip.p, ip.hlim, 0, 0, ip.plen]
        else:
            append((eth.type,))
            continue
        if isinstance(l4, dpkt.tcp.TCP):
            row += [l4.sport, l4.dport, l4.flags, l4.seq, l4.ack, l4.win]
        elif isinstance(l4, dpkt.udp.UDP):
            row += [l4.sport, l4.dport]
        elif isinstance(l4, dpkt.icmp.ICMP):
            row += [l4.type, l4.code]
        append(tuple(row))
    return rows


def scapy_fields(frames):
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    rows = []
    for buf in frames:
        pkt = Ether(buf)
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            rows.append((pkt.type,))
            continue
        row = [pkt.type, ip.version, ip.src, ip.dst]
        l4 = pkt.getlayer(TCP) or pkt.getlayer(UDP) or pkt.getlayer(ICMP)
        if l4 is not None:
            row += [getattr(l4, "sport", None), getattr(l4, "dport", None)]
        rows.append(tuple(row))
    return rows


def dpkt_file_fields(path, limit):
    """The same fields with dpkt over a pcap file, as a dpkt user reads one:
    ``pcap.Reader`` and the parse, packet by packet; returns the packets."""
    import dpkt
    batch = []
    n = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            batch.append(buf)
            if len(batch) == 4096:
                dpkt_fields(batch)
                n += len(batch)
                batch = []
            if n + len(batch) >= limit:
                break
    dpkt_fields(batch)
    return n + len(batch)


def pyxring_file_ns(path, fields, repeats):
    """CPU time per packet of reading a whole file as columns (the file
    source's walk and ``batch.columns``), and of the decode alone; the
    best of ``repeats`` passes (the file in the page cache, its frames
    not in the CPU's caches: 400+ MB)."""
    from pyxring.file import open_file
    best = best_decode = None
    for _ in range(repeats):
        t_all = t_dec = n = 0
        with open_file(path) as src:
            t0 = time.thread_time_ns()
            for batch in src.batches():
                t1 = time.thread_time_ns()
                batch.columns(fields)
                t_dec += time.thread_time_ns() - t1
                n += len(batch)
            t_all = time.thread_time_ns() - t0
        best = t_all / n if best is None else min(best, t_all / n)
        best_decode = t_dec / n if best_decode is None else min(best_decode, t_dec / n)
    return best, best_decode


def per_packet_ns(fn, frames):
    t0 = time.thread_time_ns()
    fn(frames)
    return (time.thread_time_ns() - t0) / len(frames)


def measure_decode(n, quick):
    """Cold: every batch of ``n`` frames (far more than the caches hold, as
    a file or a busy ring is).  Warm: one batch of BATCH frames decoded
    again and again (its frames in cache, as a block the kernel just
    wrote)."""
    import pyxring.memory
    os.sched_setaffinity(0, {bench.CONSUMER_CPU})
    frames = frame_mix(n)
    cold = pyxring.memory.open(frames, batch_size=BATCH)
    warm = pyxring.memory.open(frames[:BATCH], batch_size=BATCH)
    repeats = 3 if quick else 7
    out = {"frames": n, "batch": BATCH, "repeats": repeats,
           "mean_frame_bytes": round(sum(map(len, frames)) / n, 1)}
    for label, fields in (("all", None), ("talkers", TALKER_FIELDS)):
        for kind, src, reps in (("cold", cold, repeats), ("warm", warm, 20 * repeats)):
            median, best = pyxring_ns_per_packet(src, fields, reps)
            out[f"pyxring_{label}_{kind}_ns"] = round(median, 2)
            out[f"pyxring_{label}_{kind}_best_ns"] = round(best, 2)
    sample = frames[: max(n // (10 if quick else 5), 1000)]
    out["dpkt_frames"] = len(sample)
    out["dpkt_ns"] = round(per_packet_ns(dpkt_fields, sample), 1)
    few = frames[:5000 if quick else 20000]
    out["scapy_frames"] = len(few)
    out["scapy_ns"] = round(per_packet_ns(scapy_fields, few), 1)
    for kind in ("cold", "warm"):
        ns = out[f"pyxring_all_{kind}_ns"]
        out[f"mpps_all_{kind}"] = round(1e3 / ns, 1)
        out[f"x_dpkt_all_{kind}"] = round(out["dpkt_ns"] / ns, 1)
        out[f"x_scapy_all_{kind}"] = round(out["scapy_ns"] / ns, 1)
    # the same fields on the same file: bench.talkers' pcap of the mix
    from bench.talkers import make_file
    path = make_file(n)
    out["file_packets"] = n
    out["file_mb"] = round(os.path.getsize(path) / 1e6)
    whole, decode_only = pyxring_file_ns(path, None, repeats)
    out["pyxring_file_ns"] = round(whole, 2)
    out["pyxring_file_decode_ns"] = round(decode_only, 2)
    limit = max(n // (10 if quick else 5), 1000)
    t0 = time.thread_time_ns()
    done = dpkt_file_fields(path, limit)
    out["dpkt_file_packets"] = done
    out["dpkt_file_ns"] = round((time.thread_time_ns() - t0) / done, 1)
    out["x_dpkt_file"] = round(out["dpkt_file_ns"] / out["pyxring_file_ns"], 1)
    return out


# --- live: what columns() adds to the batch consumer -------------------------------

def live_tools(py):
    taskset = ["taskset", "-c", str(bench.CONSUMER_CPU)]

    def consumer(name, label, backend, module, *extra):
        return bench.Tool(name, label, backend,
                          lambda c: [*taskset, py, "-m", module, c["iface"], backend, *extra],
                          bench.parse_kv, marker="READY", needs=(f"pyxring:{backend}",),
                          python=True)

    tools = {}
    for b in ("tpacket", "xdp"):
        tools[f"batch-{b}"] = consumer(f"pyxring-batch-{b}", f"batches, {b}", b,
                                       "bench.consumers.pyx_batch")
        tools[f"columns-{b}"] = consumer(f"pyxring-columns-{b}",
                                         f"batches + columns() (all fields), {b}", b,
                                         "bench.consumers.pyx_columns", "all")
        tools[f"talkers-{b}"] = consumer(f"pyxring-columns-talkers-{b}",
                                         f"batches + columns(6 fields), {b}", b,
                                         "bench.consumers.pyx_columns", "talkers")
        tools[f"async-{b}"] = consumer(f"pyxring-async-{b}", f"batches under asyncio, {b}", b,
                                       "bench.consumers.pyx_async")
    return tools


# (A, B): what A adds to B.  The asyncio rows have no target; they show what
# the event loop costs over the blocking batch API.
COMPARISONS = [("columns-tpacket", "batch-tpacket"), ("talkers-tpacket", "batch-tpacket"),
               ("columns-xdp", "batch-xdp"), ("talkers-xdp", "batch-xdp"),
               ("async-tpacket", "batch-tpacket"), ("async-xdp", "batch-xdp")]


def measure_live(py, quick, tmpdir):
    tools = live_tools(py)
    refs = {}
    for key, tool in tools.items():
        why = bench.check_available(tool, py, refs)
        if why:
            return {"skipped": f"{tool.name}: {why}"}
    blocks = QUICK_BLOCKS if quick else BLOCKS
    count = int(LIVE_RATE * (1.0 if quick else bench.RUN_SECONDS))
    pairs = {f"{a}/{b}": [] for a, b in COMPARISONS}
    raw = []
    with bench.sigterm_interrupts(), bench.traffic_lab("bcol", tmpdir) as (lab, cfg):
        for block in range(1, blocks + 1):
            for a, b in bench.rotated(COMPARISONS, block):
                order = duel.block_order(block)
                runs = []
                for slot in order:
                    tool = tools[a if slot == "A" else b]
                    r = bench.one_run(tool, lab, cfg, LIVE_RATE, count, py, tmpdir)
                    r["key"], r["block"] = (a if slot == "A" else b), block
                    raw.append(r)
                    runs.append(r)
                    print(f"columns: block {block}/{blocks} {tool.name:30} captured "
                          f"{r.get('captured')} loss {r.get('loss_pct')}% cpu "
                          f"{r.get('cpu_s_per_mpkt')} us/pkt"
                          + (f"  PROBLEMS {r['problems']}" if r["problems"] else ""),
                          file=sys.stderr)
                for ra, rb in duel.block_pairs(order, runs):
                    if ra["problems"] or rb["problems"] or ra.get("loss_pct") or rb.get("loss_pct"):
                        continue
                    pairs[f"{a}/{b}"].append(ra["cpu_s_per_mpkt"] - rb["cpu_s_per_mpkt"])
    summary = {}
    for key, diffs in pairs.items():
        med, low, high, cov = duel.median_ci(diffs)
        a, b = key.split("/")
        runs_a = [r for r in raw if r["key"] == a]
        summary[key] = {"a": tools[a].label, "b": tools[b].label, "pairs": len(diffs),
                        "median_diff_us": med, "low": low, "high": high, "coverage": cov,
                        "diffs": diffs,
                        "max_loss_pct": max((r.get("loss_pct") or 0) for r in runs_a)
                        if runs_a else None,
                        "a_cpu_us": statistics.median([r["cpu_s_per_mpkt"] for r in runs_a
                                                       if r.get("cpu_s_per_mpkt")] or [0])}
    return {"rate": LIVE_RATE, "count": count, "blocks": blocks, "comparisons": summary,
            "raw": raw}


# --- report -------------------------------------------------------------------------

def write_markdown(results, path):
    d = results["decode"]
    lines = [f"# Packets as columns{' (quick)' if results['quick'] else ''}", "",
             f"{results['started']} · {results['machine']}", "",
             "## Decoding in memory, one core", "",
             f"CPU time per packet of `batch.columns()`: *cold*, every batch of "
             f"{d['frames']:,} frames of a traffic mix (mean {d['mean_frame_bytes']} bytes, "
             f"far more than the caches hold); *warm*, one batch of {d['batch']} frames again "
             f"and again (in cache, as a block the kernel just wrote). Median of "
             f"{d['repeats']} passes (cold) and {20 * d['repeats']} (warm). dpkt and scapy "
             f"parse the same frames one by one ({d['dpkt_frames']:,} and "
             f"{d['scapy_frames']:,} of them).", "",
             "| decoder | fields | ns/packet cold | ns/packet warm | M packets/s cold / warm |",
             "|---|---|---|---|---|"]
    for label, what in (("all", f"all {len(results['fields'])}"), ("talkers", "6 (top talkers)")):
        c, w = d[f"pyxring_{label}_cold_ns"], d[f"pyxring_{label}_warm_ns"]
        lines.append(f"| pyxring `batch.columns()` | {what} | {c} | {w} | "
                     f"{1e3 / c:.1f} / {1e3 / w:.1f} |")
    lines += [f"| dpkt, per frame | the same, as Python objects | {d['dpkt_ns']:,.0f} | – | "
              f"{1e3 / d['dpkt_ns']:.3f} |",
              f"| scapy, per frame | addresses and ports | {d['scapy_ns']:,.0f} | – | "
              f"{1e3 / d['scapy_ns']:.4f} |", "",
              f"pyxring, all fields, against dpkt: {d['x_dpkt_all_cold']}× (cold), "
              f"{d['x_dpkt_all_warm']}× (warm); against scapy: {d['x_scapy_all_cold']}× and "
              f"{d['x_scapy_all_warm']}×.", ""]
    if "pyxring_file_ns" in d:
        lines += ["### The same fields from the same file", "",
                  f"A pcap file of {d['file_packets']:,} packets of the mix ({d['file_mb']} MB, "
                  "in the page cache, not in the CPU's caches), read whole: CPU time per packet.",
                  "",
                  "| reader | ns/packet | M packets/s |", "|---|---|---|",
                  f"| pyxring: file source + `batch.columns()` (all fields) | "
                  f"{d['pyxring_file_ns']} | {1e3 / d['pyxring_file_ns']:.1f} |",
                  f"| … of which `batch.columns()` | {d['pyxring_file_decode_ns']} | "
                  f"{1e3 / d['pyxring_file_decode_ns']:.1f} |",
                  f"| dpkt: `pcap.Reader` + the parse ({d['dpkt_file_packets']:,} packets) | "
                  f"{d['dpkt_file_ns']:,.0f} | {1e3 / d['dpkt_file_ns']:.3f} |", "",
                  f"pyxring against dpkt on the file: {d['x_dpkt_file']}×.", ""]
    live = results.get("live", {})
    lines += ["## Live: what `columns()` adds to the batch consumer", ""]
    if "skipped" in live:
        lines += [f"Not measured: {live['skipped']}", ""]
    else:
        lines += [f"{live['rate'] // 1000}k pps of 64-byte UDP over the veth, {live['count']:,} "
                  f"frames a run, {live['blocks']} block(s) of ABBA/BAAB pairs; consumer CPU "
                  "per captured packet, A − B per pair, median and 95 % interval.", "",
                  "| A | B | pairs | A's CPU µs/packet | A − B µs/packet | interval | A's worst loss % |",
                  "|---|---|---|---|---|---|---|"]
        for c in live["comparisons"].values():
            med = "–" if c["median_diff_us"] is None else f"{c['median_diff_us']:+.4f}"
            ci = "–" if c["low"] is None else f"{c['low']:+.4f} … {c['high']:+.4f}"
            lines.append(f"| {c['a']} | {c['b']} | {c['pairs']} | {c['a_cpu_us']:.4f} | {med} | "
                         f"{ci} | {c['max_loss_pct']} |")
        lines.append("")
    lines += ["## Targets (issue 14)", "", "| target | met | measured |", "|---|---|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {met} | {t['detail']} |")
    lines += ["", f"Reproduce: `python -m bench.columns {results['args']}`.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def targets(results):
    d = results["decode"]
    out = []
    for kind, what in (("warm", "a batch in memory (warm)"), ("cold", "1M frames (cold)")):
        out.append({"target": f"column decode >= {TARGET_MPPS:.0f} M packets/s on one core, "
                              f"{what}",
                    "met": d[f"mpps_all_{kind}"] >= TARGET_MPPS,
                    "detail": f"{d[f'mpps_all_{kind}']} M/s "
                              f"({d[f'pyxring_all_{kind}_ns']} ns/packet, all fields)"})
    out.append({"target": f"column decode >= {TARGET_DPKT_X:.0f}x dpkt's parse rate",
                "met": d["x_dpkt_all_cold"] >= TARGET_DPKT_X,
                "detail": f"{d['x_dpkt_all_cold']}x cold ({d['dpkt_ns']:.0f} vs "
                          f"{d['pyxring_all_cold_ns']} ns/packet)"})
    if "x_dpkt_file" in d:
        out.append({"target": f"the same fields from the same file >= {TARGET_DPKT_X:.0f}x "
                              "dpkt's rate",
                    "met": d["x_dpkt_file"] >= TARGET_DPKT_X,
                    "detail": f"{d['x_dpkt_file']}x ({d['dpkt_file_ns']:.0f} vs "
                              f"{d['pyxring_file_ns']} ns/packet, file read and decoded)"})
    live = results.get("live", {})
    for key, c in live.get("comparisons", {}).items():
        if key.startswith("async-"):
            continue
        ok = None
        if c["median_diff_us"] is not None:
            ok = c["median_diff_us"] <= TARGET_LIVE_US and c["max_loss_pct"] == 0
        out.append({"target": f"{c['a']}: at most +{TARGET_LIVE_US} us/packet over {c['b']}, "
                              "0 loss",
                    "met": ok,
                    "detail": "not measured" if ok is None else
                    f"{c['median_diff_us']:+.4f} us/packet (median of {c['pairs']} pairs), "
                    f"worst loss {c['max_loss_pct']}%"})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.columns",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test (provisional figures)")
    ap.add_argument("--no-live", action="store_true", help="only the in-memory decode")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--out", default=bench.RESULTS)
    args = ap.parse_args(argv)
    import pyxring.columns
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "quick": args.quick, "machine": f"{os.uname().machine} {os.cpu_count()} CPUs",
               "args": " ".join(argv if argv is not None else sys.argv[1:]),
               "fields": list(pyxring.columns.FIELDS)}
    n = args.frames or (QUICK_FRAMES if args.quick else FRAMES)
    results["decode"] = measure_decode(n, args.quick)
    print(f"columns: decode {results['decode']}", file=sys.stderr)
    if not args.no_live:
        status = bench.preflight("bench.columns")
        if status is not None:
            return status
        tmpdir = tempfile.mkdtemp(prefix="pyxring-bench-columns-")
        try:
            results["live"] = measure_live(sys.executable, args.quick, tmpdir)
        except KeyboardInterrupt:
            results["live"] = {"skipped": "interrupted"}
        finally:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
    else:
        results["live"] = {"skipped": "--no-live"}
    results["targets"] = targets(results)
    stem = "quick-columns" if args.quick else "columns"
    bench.save_results(results, args.out, stem, write_markdown, "columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
