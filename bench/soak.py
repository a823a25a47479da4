"""The soak (``make soak``, not part of ``make test``): many frames through
every backend, and per run the proof that nothing was lost unaccounted,
nothing grew and nothing leaked.

    python -m bench.soak                  # 10^7 frames a run (the lead runs it on a quiet machine)
    python -m bench.soak --quick          # 10^5 frames a run, a check of the harness
    python -m bench.soak --backends tpacket,xdp-native --frames 2000000

Runs: each backend (tpacket, xdp in native and in generic mode, and myring
in the QEMU guest with its synthetic producer) at a fixed rate and flat out,
without and with a filter that keeps half the frames, with small and with
default rings.  The host's runs use bench/run.py's set-up: trafgen on CPU 0
into a throwaway veth, ``pyxring capture -v -w FILE`` on CPU 1; trafgen
alternates two frames (UDP ports 9 and 10) and the filter is ``udp dst port
9``.  The guest's runs use kmod/qemu/guest_soak.py; its filter keeps the
records with an even sequence number.

Per run, everything must hold:
- identity: what the filter let through (the kernel's "received by
  filter") == captured + dropped by the kernel, and == what was delivered
  (the receiving veth's counter; half of it with the filter; for myring the
  module's own count of records produced, less the filtered ones);
- the file: capinfos counts the records, == captured, and the pcapng
  statistics block (read by python-pcapng) == the closing lines;
- memory: the consumer's RSS, sampled twice a second, does not grow after
  the warm-up (the first fifth of the run, at least 3 s) by more than
  RSS_SLACK_KIB (runs shorter than that, as with --quick, are not judged);
- AF_XDP: every UMEM chunk back in the fill ring at the end (fill ring
  level == RX frames, none held), but for the one a socket's kernel side
  keeps after a frame found the RX ring full;
- myring: no kernel complaint in the guest (dmesg, taint).

Results: ``bench/results/soak.{md,json}`` (``quick-soak.*`` with --quick).
Exit status 0 when every run passed, 1 otherwise.
"""
import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

from bench.run import (CONSUMER_CPU, GHOST_MAC, RESULTS, ROOT, Proc, parse_tcpdump_like, preflight,
                       run_generator, save_results, sigterm_interrupts, traffic_lab)

FULL_FRAMES = 10_000_000
QUICK_FRAMES = 100_000
HOST_FIXED_RATE = 200_000       # pps; flat out is rate 0
GUEST_FIXED_RATE = 20_000       # records/s; the guest is emulated (TCG), so slower
GUEST_FLAT_OUT = 1_000_000      # MYRING_RATE_MAX: the producer as fast as it goes
HOST_FILTER = "udp dst port 9"
GUEST_FILTER = "udp[15]&1=0"    # the last byte of the record's sequence number: even ones
RECORD_SIZE = 64                # guest frames, so that 10^7 of them fit a disk image easily
RSS_SLACK_KIB = 1024
WARMUP_S = 3.0
HOST_RSS_EVERY, GUEST_RSS_EVERY = 0.5, 1.0     # seconds between RSS samples
BACKENDS = ("tpacket", "xdp-native", "xdp-generic", "myring")
RINGS = {
    "tpacket": {"small": ["--block-size", "65536", "--block-count", "4"], "default": []},
    "xdp": {"small": ["--xdp-frames", "1024", "--xdp-rx-ring", "512"], "default": []},
    "myring": {"small": "ring_kb=64", "default": ""},
}
RING_TEXT = {"tpacket": {"small": "4 × 64 KiB blocks", "default": "64 × 1 MiB blocks"},
             "xdp": {"small": "1024 chunks, RX 512", "default": "32768 chunks, RX 16384"},
             "myring": {"small": "64 KiB", "default": "1 MiB"}}


# --- what a run is judged by ---------------------------------------------------

def capinfos_count(path):
    """Records in ``path`` as capinfos counts them (it must read it whole)."""
    r = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True, timeout=600)
    m = re.search(r"Number of packets:\s+(\d+)", r.stdout)
    if r.returncode or not m:
        return None, (r.stderr.strip() or r.stdout.strip())[-200:]
    return int(m.group(1)), None


def isb_counters(path):
    """(isb_ifrecv, isb_osdrop) of the pcapng's last block, read by
    python-pcapng.  The file is 10^7 records long and the statistics block
    is its last: python-pcapng is given the section and interface blocks
    and that last block (found by its trailing length, which pcapng puts
    there for reading backwards), not the packets between."""
    import io
    import struct
    from pcapng import FileScanner, blocks
    with open(path, "rb") as f:
        head = f.read(4096)
        shb_len = struct.unpack_from("<I", head, 4)[0]
        idb_len = struct.unpack_from("<I", head, shb_len + 4)[0]
        f.seek(-4, os.SEEK_END)
        last_len = struct.unpack("<I", f.read(4))[0]
        f.seek(-last_len, os.SEEK_END)
        tail = f.read(last_len)
    with warnings.catch_warnings():
        # python-pcapng's own note about how it declares an option type
        warnings.simplefilter("ignore", DeprecationWarning)
        for block in FileScanner(io.BytesIO(head[:shb_len + idb_len] + tail)):
            if isinstance(block, blocks.InterfaceStatistics):
                opts = block.options
                return opts.get("isb_ifrecv"), opts.get("isb_osdrop")
    return None, None


def rss_growth(samples, every):
    """(RSS at the end of the warm-up, growth after it) in KiB, from samples
    taken ``every`` seconds.  The warm-up is the first fifth of the run, and
    at least WARMUP_S: buffers and rings are touched for the first time
    then.  A run too short to have samples after it gives no growth (None)."""
    k = max(len(samples) // 5, int(WARMUP_S / every))
    if k >= len(samples):
        return (samples[-1] if samples else None), None
    return samples[k], max(samples[k:]) - samples[k]


def judge_file(run, path):
    records, err = capinfos_count(path)
    run["in_file"] = records
    if records is None:
        run["problems"].append(f"capinfos could not read the file: {err}")
        return
    recv, drop = isb_counters(path)
    run["isb"] = [recv, drop]
    if records != run["captured"]:
        run["problems"].append(f"{records} records in the file, {run['captured']} captured")
    if (recv, drop) != (run["received"], run["dropped"]):
        run["problems"].append(f"statistics block says received {recv}, dropped {drop}; "
                               f"closing lines {run['received']}, {run['dropped']}")


def judge_rss(run, samples, every):
    warm, grew = rss_growth(samples, every)
    run.update(rss_kib_warm=warm, rss_kib_growth=grew, rss_samples=len(samples))
    if grew is not None and grew > RSS_SLACK_KIB:
        run["problems"].append(f"RSS grew by {grew} KiB after the warm-up ({warm} KiB)")


# --- host backends -----------------------------------------------------------------

def two_port_config(path, lab):
    """trafgen alternating two 60-byte UDP frames to the ghost neighbour:
    dst port 9 (kept by the filter) and 10."""
    from pyxring import netlab
    net = lab.ip_b.rsplit(".", 1)[0]
    with open(path, "w") as f:
        f.write("/* two 64-byte UDP frames, ports 9 and 10, written by bench/soak.py */\n")
        for dport in (9, 10):
            frame = netlab.ipv4_udp_frame(lab.mac_a, GHOST_MAC, lab.ip_a, f"{net}.77", 40000,
                                          dport, b"\0" * 18)
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }\n")


def parse_verbose(text):
    """The k=v line ``capture -v`` prints after the closing lines."""
    for line in reversed(text.splitlines()):
        if "=" in line and " " in line and not line.startswith("pyxring"):
            return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    return {}


def sample_rss(pid, samples, done, every=HOST_RSS_EVERY):
    while not done.wait(every):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        samples.append(int(line.split()[1]))
        except OSError:
            return


def host_run(lab, cfg, backend, rate, filtered, ring, frames, tmpdir, py):
    kind, _, mode = backend.partition("-")
    out = os.path.join(tmpdir, "soak.pcapng")
    argv = ["ip", "netns", "exec", lab.ns_b, "taskset", "-c", str(CONSUMER_CPU), py, "-m",
            "pyxring", "capture", lab.if_b, "--backend", kind, *RINGS[kind][ring],
            *(["--xdp-mode", mode] if mode else []), "-v", "-w", out,
            *([HOST_FILTER] if filtered else [])]
    run = {"problems": []}
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = Proc(argv, marker="listening on", cwd=ROOT, env=env)
    samples, done = [], threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(proc.pid, samples, done), daemon=True)
    try:
        if not proc.ready.wait(30):
            run["problems"].append(f"capture never started: {proc.text[-300:]}")
            return run
        time.sleep(0.3)
        sampler.start()
        a0, b0 = lab.counters("a"), lab.counters("b")
        t0 = time.monotonic()
        rc, duration, gen_out = run_generator(lab, cfg, frames, rate)
        time.sleep(1.5)          # the last frames reach the ring and the file
        a1, b1 = lab.counters("a"), lab.counters("b")
        run["seconds"] = round(time.monotonic() - t0, 1)
    finally:
        done.set()
        proc.stop(signal.SIGINT)
    counts = parse_tcpdump_like(proc.text)
    extra = parse_verbose(proc.text)
    sent = a1.get("tx_packets", 0) - a0.get("tx_packets", 0)
    delivered = b1.get("rx_packets", 0) - b0.get("rx_packets", 0)
    run.update(sent=sent, delivered=delivered, achieved_pps=round(sent / duration) if duration else None,
               captured=counts.get("captured"), received=counts.get("received"),
               dropped=counts.get("dropped"), consumer_rc=proc.p.returncode)
    if rc != 0 or sent != frames:
        run["problems"].append(f"trafgen exited {rc} after {sent} of {frames} frames: {gen_out[-200:]}")
    if proc.p.returncode != 0 or None in (run["captured"], run["received"], run["dropped"]):
        run["problems"].append(f"capture exited {proc.p.returncode}: {proc.text[-300:]}")
        return run
    wanted = delivered // 2 if filtered else delivered
    run["wanted"] = wanted
    if filtered and delivered % 2:
        run["problems"].append(f"an odd number of frames delivered ({delivered})")
    if run["received"] != wanted:
        run["problems"].append(f"received by filter {run['received']}, but {wanted} delivered frames match")
    if run["received"] != run["captured"] + run["dropped"]:
        run["problems"].append(f"received {run['received']} != captured {run['captured']} + "
                               f"dropped {run['dropped']}")
    if kind == "xdp":
        judge_umem(run, extra)
        if int(extra.get("xdp_seen", -1)) != delivered:
            run["problems"].append(f"the XDP program saw {extra.get('xdp_seen')} of {delivered}")
    judge_file(run, out)
    judge_rss(run, samples, HOST_RSS_EVERY)
    os.unlink(out)
    return run


def judge_umem(run, extra):
    """Every RX chunk of the UMEM back in the fill ring (from ``capture -v``'s
    counters), but for one: a frame that finds the RX ring full has taken a
    chunk already, and the kernel keeps it for the next frame (the buffer
    pool's free list; one per socket, frames being of one chunk)."""
    held, level, rx_frames = (int(extra.get(k, -1)) for k in
                              ("frames_held", "fill_ring_level", "rx_frames"))
    run["umem"] = {"frames_held": held, "fill_ring_level": level, "rx_frames": rx_frames}
    spare = 1 if int(extra.get("rx_ring_full", 0)) else 0
    if held != 0 or not rx_frames - spare <= level <= rx_frames:
        kept = f" (less {spare} the kernel may keep)" if spare else ""
        run["problems"].append(f"UMEM chunks not back: fill ring holds {level} of "
                               f"{rx_frames}{kept}, {held} held")


# --- myring, in the guest -----------------------------------------------------------

def load_qemu_runner():
    import importlib.util
    spec = importlib.util.spec_from_file_location("myring_qemu_run",
                                                  os.path.join(ROOT, "kmod", "qemu", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def guest_run(rate, filtered, ring, frames, tmpdir):
    qemu = load_qemu_runner()
    run = {"problems": []}
    disk = os.path.join(tmpdir, "guest-disk.img")
    # the file, with room for what the producer makes while a stop is decided
    with open(disk, "wb") as f:
        f.truncate((frames + 2 * rate) * (32 + RECORD_SIZE) + (16 << 20))
    soak_args = ["--frames", str(frames), "--rate", str(rate), "--record-size", str(RECORD_SIZE)]
    if filtered:
        soak_args += ["--filter", GUEST_FILTER]
    params = {"myring_suite": "soak", "myring_args": RINGS["myring"][ring],
              "myring_soak": ",".join(soak_args)}
    timeout = 180 + frames / min(rate, 20_000) * 2
    t0 = time.monotonic()
    _checks, _blobs, markers, _text, _secs = qemu.run(os.path.join(tmpdir, "guest"), True,
                                                      int(timeout), params, disk)
    run["seconds"] = round(time.monotonic() - t0, 1)
    done = markers.get("MYRING-SOAK-DONE", ["(no result: timed out?)"])[0]
    trouble = qemu.kernel_trouble(markers)
    if trouble:
        run["problems"].append("guest kernel: " + "; ".join(trouble)[:300])
    if done != "ok":
        run["problems"].append(f"guest soak: {done[:300]}")
        return run
    lines = dict(line.split(" ", 1) for line in markers["MYRING-SOAK"])
    res = {k: int(float(v)) for k, v in (kv.split("=") for kv in lines["result"].split())}
    samples = [int(x) for x in lines["rss"].split("=", 1)[1].split(",") if x]
    run.update(produced=res["produced"], captured=res["captured"], dropped=res["dropped"],
               received=res["received"], filtered=res["filtered"],
               achieved_pps=round(res["produced"] / max(res["seconds"], 1)))
    if res["produced"] < frames:
        run["problems"].append(f"the producer made {res['produced']} of {frames} records")
    if res["produced"] != res["captured"] + res["filtered"] + res["dropped"]:
        run["problems"].append(f"produced {res['produced']} != captured {res['captured']} + "
                               f"filtered {res['filtered']} + dropped {res['dropped']}")
    if res["received"] != res["captured"] + res["dropped"] or res["lost_pending"] \
            or res["dropped"] != res["kernel_lost"]:
        run["problems"].append(f"received {res['received']}, dropped {res['dropped']} (the module "
                               f"lost {res['kernel_lost']}, {res['lost_pending']} unreported)")
    path = os.path.join(tmpdir, "myring.pcapng")
    with open(disk, "rb") as src, open(path, "wb") as dst:
        left = res["file_bytes"]
        while left:
            chunk = src.read(min(left, 8 << 20))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)
    os.unlink(disk)
    judge_file(run, path)
    judge_rss(run, samples, GUEST_RSS_EVERY)
    os.unlink(path)
    return run


# --- the report ----------------------------------------------------------------------

def fmt(v):
    return "–" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def write_markdown(results, path):
    lines = [f"# pyxring soak{' (quick)' if results['quick'] else ''}", "",
             f"{results['started']} · {results['machine']} · kernel {results['kernel']} · "
             f"{results['frames']:,} frames a run", "",
             "Per run: *received* is the kernel's \"received by filter\"; *wanted* what "
             "should have passed the filter (host: delivered by the veth, or half of it with "
             "the filter; myring: records the module produced, less those the filter "
             "rejected); *in file* is capinfos' count; *ISB* the pcapng statistics block "
             "(received / dropped); *RSS* the consumer's resident memory after the warm-up, "
             "and its growth after it; *UMEM* the fill ring's level at the end against the "
             "RX chunks (AF_XDP).", "",
             "| backend | rate | filter | ring | sent / produced | wanted | received | captured | "
             "dropped | in file | ISB | RSS MiB (growth KiB) | UMEM | s | result |",
             "|" + "---|" * 15]
    for r in results["runs"]:
        umem = r.get("umem")
        umem_text = "–" if not umem else f"{fmt(umem['fill_ring_level'])} / {fmt(umem['rx_frames'])}"
        isb = r.get("isb")
        rss = "–" if r.get("rss_kib_warm") is None else \
            f"{r['rss_kib_warm'] / 1024:.1f} ({'run too short' if r['rss_kib_growth'] is None else format(r['rss_kib_growth'], '+,')})"
        wanted = r.get("wanted", None if "produced" not in r else r["produced"] - r.get("filtered", 0))
        lines.append(
            f"| {r['backend']} | {r['rate_text']} | {'yes' if r['filter'] else 'no'} | "
            f"{r['ring_text']} | {fmt(r.get('sent', r.get('produced')))} | {fmt(wanted)} | "
            f"{fmt(r.get('received'))} | {fmt(r.get('captured'))} | {fmt(r.get('dropped'))} | "
            f"{fmt(r.get('in_file'))} | {'–' if not isb else f'{fmt(isb[0])} / {fmt(isb[1])}'} | "
            f"{rss} | {umem_text} | {fmt(r.get('seconds'))} | "
            f"{'ok' if not r['problems'] else '**FAIL**: ' + '; '.join(r['problems'])} |")
    passed = sum(1 for r in results["runs"] if not r["problems"])
    lines += ["", f"{passed} of {len(results['runs'])} runs passed.", "",
              f"Reproduce: `make soak` (or `python -m bench.soak {results['args']}`).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def plan(backends):
    """(backend, rate, filtered, ring) of every run, in order."""
    out = []
    for b in backends:
        fixed, flat = (GUEST_FIXED_RATE, GUEST_FLAT_OUT) if b == "myring" else (HOST_FIXED_RATE, 0)
        for rate in (fixed, flat):
            for filtered in (False, True):
                for ring in ("small", "default"):
                    out.append((b, rate, filtered, ring))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES:,} frames a run")
    ap.add_argument("--frames", type=int, default=None, help=f"frames a run (default {FULL_FRAMES:,})")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help=f"comma-separated, from {', '.join(BACKENDS)}")
    ap.add_argument("--out", default=RESULTS, help="results directory")
    args = ap.parse_args(argv)
    backends = args.backends.split(",")
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        print(f"soak: unknown backends {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    status = preflight("soak", ("trafgen", "taskset", "ip", "capinfos") +
                       (("qemu-system-x86_64",) if "myring" in backends else ()))
    if status is not None:
        return status
    try:
        import pcapng  # noqa: F401  (python-pcapng reads the statistics blocks)
    except ImportError:
        print("soak: python-pcapng is not installed (requirements.txt)", file=sys.stderr)
        return 1
    frames = args.frames or (QUICK_FRAMES if args.quick else FULL_FRAMES)
    frames += frames % 2                 # the filter keeps exactly half of an even count
    py = sys.executable
    tmpdir = tempfile.mkdtemp(prefix="pyxring-soak-")
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
               "frames": frames, "args": " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
               "kernel": platform.release(), "runs": []}
    interrupted = False
    try:
        with sigterm_interrupts(), traffic_lab("soak", tmpdir) as (lab, _cfg):
            cfg = os.path.join(tmpdir, "two-ports.cfg")
            two_port_config(cfg, lab)
            for backend, rate, filtered, ring in plan(backends):
                kind = backend.partition("-")[0]
                if backend == "myring":
                    r = guest_run(rate, filtered, ring, frames, tmpdir)
                else:
                    r = host_run(lab, cfg, backend, rate, filtered, ring, frames, tmpdir, py)
                r.update(backend=backend, rate=rate, filter=filtered, ring=ring,
                         rate_text=("flat out" if rate in (0, GUEST_FLAT_OUT) else f"{rate // 1000}k/s"),
                         ring_text=RING_TEXT[kind][ring])
                results["runs"].append(r)
                print(f"soak: {backend:11} {r['rate_text']:>8} filter={'yes' if filtered else 'no ':3} "
                      f"ring={ring:7} captured {fmt(r.get('captured'))} dropped {fmt(r.get('dropped'))} "
                      f"file {fmt(r.get('in_file'))} rss+{fmt(r.get('rss_kib_growth'))} KiB "
                      f"{'ok' if not r['problems'] else 'FAIL: ' + '; '.join(r['problems'])}",
                      file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("soak: interrupted; writing what was run", file=sys.stderr)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    stem = "quick-soak" if args.quick else "soak"
    save_results(results, args.out, stem, write_markdown, "soak")
    failed = interrupted or any(r["problems"] for r in results["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
