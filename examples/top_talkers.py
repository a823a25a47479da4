#!/usr/bin/env python3
"""Count IPv4 conversations on an interface and print the top talkers.

    sudo python3 examples/top_talkers.py eth0 -c 100000 'tcp or udp'

Shows packets as columns: each batch's headers are decoded in C into numpy
arrays (``batch.columns``), the conversations of the batch are counted with
numpy, and the batch goes back to the kernel as soon as that is done; no
Python object is made per packet.  Stops after -c packets, --seconds, or
Ctrl-C.
"""
import argparse
import ipaddress
import sys
import time

import numpy as np

import pyxring
from pyxring.columns import mask

PROTOS = {1: "icmp", 6: "tcp", 17: "udp"}
KEY = np.dtype([("src", "u4"), ("dst", "u4"), ("proto", "u1")])


class Talkers:
    """Packets and bytes per (source, destination, protocol), and where each
    conversation was first seen (so ties keep their order of appearance)."""

    def __init__(self):
        self.table = {}          # key -> [packets, bytes, first packet number]
        self.seen = 0

    def add(self, cols):
        ipv4 = mask(cols, "src4", "dst4", "proto")
        keys = np.empty(int(ipv4.sum()), dtype=KEY)
        keys["src"], keys["dst"], keys["proto"] = (cols["src4"][ipv4], cols["dst4"][ipv4],
                                                   cols["proto"][ipv4])
        uniq, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                 return_counts=True)
        nbytes = np.bincount(inverse, weights=cols["wirelen"][ipv4], minlength=len(uniq))
        position = np.flatnonzero(ipv4)
        for key, f, n, b in zip(uniq.tolist(), first.tolist(), counts.tolist(), nbytes.tolist()):
            row = self.table.setdefault(key, [0, 0, self.seen + position[f]])
            row[0] += n
            row[1] += int(b)
        self.seen += len(cols["valid"])

    def top(self, n):
        return sorted(self.table.items(), key=lambda kv: (-kv[1][0], kv[1][2]))[:n]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("iface")
    ap.add_argument("filter", nargs="*", help="tcpdump expression")
    ap.add_argument("-c", "--count", type=int, default=0, help="stop after this many packets")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this many seconds")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--backend", default="auto")
    args = ap.parse_intermixed_args(argv)

    talkers = Talkers()
    deadline = time.monotonic() + args.seconds if args.seconds else None
    with pyxring.capture(args.iface, filter=" ".join(args.filter) or None,
                         backend=args.backend) as cap:
        try:
            while not args.count or talkers.seen < args.count:
                if deadline and time.monotonic() > deadline:
                    break
                with cap.batch(timeout_ms=200) as batch:
                    if args.count:
                        batch.truncate(args.count - talkers.seen)
                    talkers.add(batch.columns(["src4", "dst4", "proto", "wirelen"]))
        except KeyboardInterrupt:
            pass
        stats = cap.stats()
    print(f"{'source':>15}  {'destination':>15}  {'proto':>5}  {'packets':>8}  {'bytes':>10}")
    for (src, dst, proto), (n, nbytes, _) in talkers.top(args.top):
        print(f"{str(ipaddress.IPv4Address(src)):>15}  {str(ipaddress.IPv4Address(dst)):>15}  "
              f"{PROTOS.get(proto, proto):>5}  {n:>8}  {nbytes:>10}")
    print(f"{talkers.seen} packets, {stats['received']} received by filter, "
          f"{stats['dropped']} dropped by kernel", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
