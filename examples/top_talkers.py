#!/usr/bin/env python3
"""Count IPv4 conversations on an interface and print the top talkers.

    sudo python3 examples/top_talkers.py eth0 -c 100000 'tcp or udp'

Shows the batch API: packets are read straight out of the kernel ring as
memoryviews, only the header bytes that matter are looked at, and each batch
is handed back to the kernel as soon as the loop moves on.  Stops after -c
packets, --seconds, or Ctrl-C.
"""
import argparse
import collections
import ipaddress
import sys
import time

import pyxring

PROTOS = {1: "icmp", 6: "tcp", 17: "udp"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("iface")
    ap.add_argument("filter", nargs="*", help="tcpdump expression")
    ap.add_argument("-c", "--count", type=int, default=0, help="stop after this many packets")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this many seconds")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--backend", default="auto")
    args = ap.parse_intermixed_args(argv)

    talkers = collections.Counter()
    byte_count = collections.Counter()
    seen = 0
    deadline = time.monotonic() + args.seconds if args.seconds else None
    with pyxring.capture(args.iface, filter=" ".join(args.filter) or None,
                         backend=args.backend) as cap:
        try:
            while not args.count or seen < args.count:
                if deadline and time.monotonic() > deadline:
                    break
                with cap.batch(timeout_ms=200) as batch:
                    for pkt in batch:
                        d = pkt.data
                        off = 18 if d[12:14] == b"\x81\x00" else 14     # 802.1Q tag
                        if len(d) < off + 20 or d[off - 2:off] != b"\x08\x00":
                            continue
                        key = (bytes(d[off + 12:off + 16]), bytes(d[off + 16:off + 20]), d[off + 9])
                        talkers[key] += 1
                        byte_count[key] += pkt.wirelen
                    seen += len(batch)
        except KeyboardInterrupt:
            pass
        stats = cap.stats()
    print(f"{'source':>15}  {'destination':>15}  {'proto':>5}  {'packets':>8}  {'bytes':>10}")
    for (src, dst, proto), n in talkers.most_common(args.top):
        print(f"{str(ipaddress.IPv4Address(src)):>15}  {str(ipaddress.IPv4Address(dst)):>15}  "
              f"{PROTOS.get(proto, proto):>5}  {n:>8}  {byte_count[(src, dst, proto)]:>10}")
    print(f"{seen} packets, {stats['received']} received by filter, "
          f"{stats['dropped']} dropped by kernel", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
