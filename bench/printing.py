"""Printing every packet of a file: pyxring beside tcpdump -nn -r
(``python -m bench.printing [--quick]``, run by ``make bench``).

The file: mixed TCP and UDP over IPv4, frames of 64 to 1500 bytes (one
million packets; 100,000 with ``--quick``), generated once into
``bench/results/tmp/`` and read from the page cache.  Output goes to
/dev/null, as a user's ``> file`` would cost the same for both.  What is
measured, in interleaved runs, as CPU (user + system) per packet:

* ``tcpdump -nn -r FILE``
* ``pyxring read FILE`` -- the whole command: reading, printing, writing
* the same two with ``-e``, ``-v`` and ``-x`` (each beside tcpdump with
  the same option)
* pyxring's printer alone, in this process: ``Printer.format_packet`` one
  packet at a time on records already read, and ``print_batch`` on the
  file source's batches (``pyxring.file.open_file(...).batches()``)

Results: ``bench/results/printing.md`` and ``.json`` (``quick-printing.*``
with ``--quick``, a smoke test whose figures are only provisional).
"""
import argparse
import io
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")


# the printing options measured, each beside tcpdump with the same
OPTIONS = ([], ["-e"], ["-v"], ["-x"])


def make_file(path, count, seed=7):
    """``count`` Ethernet/IPv4 frames, TCP (with timestamps) and UDP, 64-1500 bytes."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "printer_corpus"))
    import make_frames as mf
    rng = random.Random(seed)
    udp = [mf.v4_udp(b"u" * n, sport=41000 + n, dport=42000) for n in range(18, 1459, 37)]
    tcp = []
    for n in range(0, 1435, 41):
        tcp.append(mf.v4_tcp(flags="PA" if n else "A", seq=1 + n * 7, ack=99, payload=b"t" * n,
                             sport=43000 + n % 7, dport=44000,
                             options=b"\1\1" + mf.tcp_opt(8, struct.pack("!II", n, 3 * n))))
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(count):
            frame = rng.choice(tcp if i & 1 else udp)
            fh.write(struct.pack("<IIII", 1700000000 + i // 5000, (i % 5000) * 200, len(frame),
                                 len(frame)) + frame)
    os.replace(tmp, path)


def child_cpu(argv):
    """CPU seconds (user + system) of one command, its output to /dev/null."""
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[0]} failed ({status})")
    return usage.ru_utime + usage.ru_stime


def printer_cpu(path, batches):
    """This process's CPU for printing the file's packets: records already
    read, packet by packet; or the file source's batches, print_batch's
    time alone (the walk between batches is not counted)."""
    from pyxring.printer import Printer
    printer = Printer(io.StringIO())
    printer.out = open(os.devnull, "w")
    clock = time.process_time
    if batches:
        from pyxring.file import open_file
        used = 0.0
        with open_file(path) as src:
            for batch in src.batches():
                start = clock()
                printer.print_batch(batch)
                used += clock() - start
    else:
        from pyxring.reader import open_reader
        with open_reader(path) as rd:
            items = [(r.data, r.linktype, r.wirelen, r.ts_parts) for r in rd]
        fmt = printer.format_packet
        write = printer.out.write
        start = clock()
        for data, lt, wirelen, ts in items:
            write(fmt(data, lt, wirelen, ts) + "\n")
        used = clock() - start
    printer.out.close()
    return used


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k packets, one run: a smoke test")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--count", type=int, default=None)
    args = ap.parse_args(argv)
    count = args.count or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (1 if args.quick else 5)
    tmpdir = os.path.join(RESULTS, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    path = os.path.join(tmpdir, f"printing-{count}.pcap")
    if not os.path.exists(path):
        print(f"printing: writing {count} packets to {path}", file=sys.stderr)
        make_file(path, count)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)   # into the page cache
    # name -> (the tcpdump line it is compared with, how to measure it)
    tools = {}
    for opts in OPTIONS:
        ref = " ".join(["tcpdump -nn -r", *opts])
        tools[ref] = (ref, lambda o=opts: child_cpu(["tcpdump", "-nn", "-r", path, *o]))
        tools[" ".join(["pyxring read", *opts])] = (ref, lambda o=opts: child_cpu(
            [sys.executable, "-m", "pyxring", "read", path, *o]))
    tools["pyxring printer, packet by packet"] = ("tcpdump -nn -r",
                                                  lambda: printer_cpu(path, False))
    tools["pyxring printer, print_batch"] = ("tcpdump -nn -r", lambda: printer_cpu(path, True))
    samples = {name: [] for name in tools}
    for r in range(runs):
        names = list(tools)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            samples[name].append(tools[name][1]() / count * 1e6)
            print(f"printing: run {r + 1}/{runs} {name}: {samples[name][-1]:.2f} us/packet",
                  file=sys.stderr)
    lines = [f"Printing every packet of a {count:,}-packet pcap (mixed TCP/UDP, 64-1500 B, "
             f"page cache, output to /dev/null); {runs} interleaved run(s), medians (min-max); "
             "each line beside tcpdump with the same options.",
             "", "| what | CPU µs/packet | vs tcpdump |", "|---|---|---|"]
    for name, xs in samples.items():
        med = statistics.median(xs)
        ref = statistics.median(samples[tools[name][0]])
        lines.append(f"| {name} | {med:.2f} ({min(xs):.2f}–{max(xs):.2f}) | {med / ref:.2f}× |")
    stem = "quick-printing" if args.quick else "printing"
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, stem + ".md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(RESULTS, stem + ".json"), "w") as fh:
        json.dump({"count": count, "runs": runs, "when": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                       time.gmtime()),
                   "us_per_packet": samples}, fh, indent=1)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
