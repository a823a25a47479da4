#!/usr/bin/env python3
"""Packets and bytes per second by protocol in a capture file, plotted to a PNG.

    python3 examples/rates.py capture.pcapng -o rates.png
    python3 examples/rates.py capture.pcap.zst --interval 0.1 'not port 22'

Shows whole files as columns: ``pyxring.read_columns`` walks the file in C
and decodes the few fields needed (time, length, protocol) into numpy
arrays a chunk at a time; each packet's interval and protocol class are
counted with ``np.bincount``.  Intervals start at the first packet, as
Wireshark's I/O graph and ``tshark -z io,stat`` count them.  Prints the
table it plots (``--csv`` for CSV) and writes the figure with matplotlib.
"""
import argparse
import sys

import numpy as np

import pyxring
import pyxring.columns

#: protocol classes, by the IP header's (last) protocol: ICMP is ICMP and ICMPv6
CLASSES = ("tcp", "udp", "icmp", "other")
_CLASS_OF_PROTO = np.full(256, 3, np.intp)
_CLASS_OF_PROTO[[6, 17, 1, 58]] = [0, 1, 2, 2]
FIELDS = ["ts_ns", "wirelen", "proto"]


def rates(path, interval=1.0, filter=None):
    """``(packets, bytes)``: two arrays of shape (len(CLASSES), intervals),
    the packets and bytes (on the wire) of each class in each interval
    after the first packet."""
    step = int(round(interval * 1e9))
    if step <= 0:
        raise ValueError(f"interval {interval}: must be positive")
    packets = np.zeros((len(CLASSES), 0), np.int64)
    nbytes = np.zeros((len(CLASSES), 0), np.int64)
    first = None
    for cols in pyxring.read_columns(path, FIELDS, filter=filter):
        if not len(cols["ts_ns"]):
            continue
        if first is None:
            first = int(cols["ts_ns"][0])
        ts = cols["ts_ns"].astype(np.int64) - first
        slot = ts // step
        if slot.min() < 0:
            raise ValueError(f"{path}: a packet is older than the first one; the intervals "
                             "count from the first packet")
        has_ip = pyxring.columns.mask(cols, "proto")
        cls = np.where(has_ip, _CLASS_OF_PROTO[cols["proto"]], 3)
        width = max(int(slot.max()) + 1, packets.shape[1])
        if width > packets.shape[1]:
            packets = np.pad(packets, ((0, 0), (0, width - packets.shape[1])))
            nbytes = np.pad(nbytes, ((0, 0), (0, width - nbytes.shape[1])))
        key = cls * width + slot
        shape = (len(CLASSES), width)
        packets += np.bincount(key, minlength=shape[0] * width).reshape(shape)
        nbytes += np.bincount(key, weights=cols["wirelen"],
                              minlength=shape[0] * width).astype(np.int64).reshape(shape)
    return packets, nbytes


def plot(packets, nbytes, interval=1.0, title=None):
    """A matplotlib figure: packets/s and bytes/s of each class over time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    edges = np.arange(packets.shape[1] + 1) * interval
    fig, (ax_p, ax_b) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), layout="constrained")
    for i, name in enumerate(CLASSES):
        # one flat step per interval, from its start to its end
        ax_p.stairs(packets[i] / interval, edges, label=name, linewidth=1.5)
        ax_b.stairs(nbytes[i] / interval, edges, label=name, linewidth=1.5)
    ax_p.set_ylabel("packets/s")
    ax_b.set_ylabel("bytes/s")
    ax_b.set_xlabel(f"seconds after the first packet ({interval:g} s intervals)")
    ax_p.legend(loc="upper right", ncols=len(CLASSES))
    for ax in (ax_p, ax_b):
        ax.grid(True, alpha=0.3)
        ax.margins(y=0.2)
        ax.set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    return fig


def table(packets, nbytes, interval=1.0, csv=False):
    """The plotted numbers, one line per interval."""
    head = ["start_s"] + [f"{c}_{k}" for c in CLASSES for k in ("packets", "bytes")]
    lines = [",".join(head) if csv else "  ".join(f"{h:>12}" for h in head)]
    for j in range(packets.shape[1]):
        row = [f"{j * interval:g}"] + [str(int(a[i, j])) for i in range(len(CLASSES))
                                       for a in (packets, nbytes)]
        lines.append(",".join(row) if csv else "  ".join(f"{v:>12}" for v in row))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="pcap or pcapng file (also .gz/.zst/.lz4)")
    ap.add_argument("filter", nargs="*", help="tcpdump expression")
    ap.add_argument("-o", "--output", default="rates.png", help="the PNG to write")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds per interval")
    ap.add_argument("--csv", action="store_true", help="print the table as CSV")
    args = ap.parse_intermixed_args(argv)
    try:
        packets, nbytes = rates(args.file, args.interval, " ".join(args.filter) or None)
    except (pyxring.PyxringError, ValueError) as exc:
        print(f"rates: {exc}", file=sys.stderr)
        return 1
    print(table(packets, nbytes, args.interval, args.csv))
    fig = plot(packets, nbytes, args.interval, title=args.file)
    fig.savefig(args.output, dpi=100)
    print(f"rates: {int(packets.sum())} packets in {packets.shape[1]} intervals; "
          f"figure in {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
