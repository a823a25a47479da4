#!/usr/bin/env python3
"""Count flows with several worker processes, then merge their counts.

    sudo python3 examples/flows_per_worker.py eth0 --workers 2 -c 100000 'tcp or udp'

Each worker decodes its batches into columns (``batch.columns``, in C) and
counts packets per flow (``flow_hash``: the same for both directions of a
conversation) in a Counter of its own; at the end the parent adds the
workers' Counters up.  With ``--fanout hash`` (the default) the kernel
sends all of a flow to one worker, so no flow is counted by two: the
table says which worker had each.  Stops after -c packets (in all),
--seconds, or Ctrl-C.
"""
import argparse
import collections
import socket
import sys

import numpy as np

from pyxring import workers
from pyxring.columns import mask

FIELDS = ["flow_hash", "src4", "dst4", "sport", "dport", "proto"]


class Flows:
    """One worker's table: packets per flow, and the flow's first endpoints."""

    def __init__(self):
        self.packets = collections.Counter()
        self.names = {}

    def add(self, batch):
        cols = batch.columns(FIELDS)
        ok = mask(cols, "flow_hash", "src4", "dst4")
        hashes, first, counts = np.unique(cols["flow_hash"][ok], return_index=True,
                                          return_counts=True)
        rows = np.flatnonzero(ok)[first]
        for h, n, r in zip(hashes.tolist(), counts.tolist(), rows.tolist()):
            self.packets[h] += n
            if h not in self.names:
                self.names[h] = (int(cols["src4"][r]), int(cols["sport"][r]),
                                 int(cols["dst4"][r]), int(cols["dport"][r]),
                                 int(cols["proto"][r]))


def count(batch, flows):                   # runs in each worker, for each batch
    flows.add(batch)


def per_worker(flows, stats):              # runs in each worker at its end
    return {h: (n, flows.names[h]) for h, n in flows.packets.items()}


def ip(v):
    return socket.inet_ntoa(v.to_bytes(4, "big"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("iface")
    ap.add_argument("filter", nargs="*", help="tcpdump expression")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fanout", default="hash")
    ap.add_argument("--backend", default="tpacket")
    ap.add_argument("-c", "--count", type=int, default=None, help="stop after this many packets")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_intermixed_args(argv)
    options = {"fanout": args.fanout} if args.backend == "tpacket" else {}
    res = workers.run(args.iface, count, args.workers, backend=args.backend,
                      filter=" ".join(args.filter) or None, init=Flows, finish=per_worker,
                      count=args.count, duration=args.seconds, **options)
    merged = collections.Counter()
    owner = collections.defaultdict(set)
    names = {}
    for w in res.workers:
        for h, (n, name) in (w.result or {}).items():
            merged[h] += n
            owner[h].add(w.index)
            names.setdefault(h, name)
    print(f"{'flow':>44}  {'packets':>8}  worker")
    for h, n in merged.most_common(args.top):
        s, sp, d, dp, proto = names[h]
        flow = f"{ip(s)}:{sp} <-> {ip(d)}:{dp}/{proto}"
        print(f"{flow:>44}  {n:>8}  {','.join(map(str, sorted(owner[h])))}")
    st = res.stats
    print(f"{st['captured']} packets, {st['received']} received by filter, {st['dropped']} dropped "
          f"by kernel; {len(merged)} flows, {sum(len(v) > 1 for v in owner.values())} seen by "
          f"two workers", file=sys.stderr)
    for w in res.workers:
        print(f"worker {w.index}: {w.stats.get('captured', 0)} packets, {len(w.result or {})} "
              f"flows{'' if w.exit is None else ', ' + w.exit}", file=sys.stderr)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
