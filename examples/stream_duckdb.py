#!/usr/bin/env python3
"""Query what ``pyxring collect --parquet DIR`` wrote, with DuckDB.

    pyxring collect nats://HOST:4222 --parquet /data/pkts --drain
    python3 examples/stream_duckdb.py /data/pkts

DuckDB reads the rolled files in place (``read_parquet('DIR/*.parquet')``:
the files being written are hidden until they are complete); each row is
one packet: ``ts_ns`` (TIMESTAMP_NS, UTC), ``host``, ``interface``, the
lengths, the decoded header columns of ``pyxring.columns`` (``src4 dst4``
as integers, ``src6 dst6`` as 16 bytes, ``proto``, ``sport dport``, ...,
NULL where a packet lacks the field) and ``frame``, the captured bytes.
Prints the packets and bytes per capture host and interface, then the
top IPv4 conversations across all hosts.
"""
import argparse
import sys

import duckdb

# src4/dst4 are IPv4 addresses as unsigned integers (10.0.0.1 = 0x0A000001)
DOTTED = "concat_ws('.', {c} >> 24, ({c} >> 16) & 255, ({c} >> 8) & 255, {c} & 255)"

PER_HOST = """
SELECT host, interface, count(*) AS packets, sum(wirelen) AS bytes,
       min(ts_ns) AS first, max(ts_ns) AS last
FROM read_parquet('{files}')
GROUP BY host, interface
ORDER BY host, interface
"""

TOP_TALKERS = f"""
SELECT {DOTTED.format(c='src4')} AS source, {DOTTED.format(c='dst4')} AS destination,
       CASE proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 1 THEN 'icmp'
                  ELSE CAST(proto AS VARCHAR) END AS proto,
       count(DISTINCT host) AS hosts, count(*) AS packets, sum(wirelen) AS bytes
FROM read_parquet('{{files}}')
WHERE src4 IS NOT NULL
GROUP BY ALL
ORDER BY bytes DESC, packets DESC, source, destination
LIMIT {{limit}}
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="the directory pyxring collect --parquet writes")
    ap.add_argument("--top", type=int, default=10, help="conversations to show (default 10)")
    args = ap.parse_args(argv)
    files = f"{args.directory.rstrip('/')}/*.parquet"
    con = duckdb.connect()
    try:
        hosts = con.sql(PER_HOST.format(files=files)).fetchall()
    except duckdb.IOException as exc:
        print(f"stream_duckdb: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"{'host':>12} {'interface':>16} {'packets':>9} {'bytes':>11}  first .. last (UTC)")
    for host, iface, packets, nbytes, first, last in hosts:
        print(f"{host:>12} {iface:>16} {packets:9d} {nbytes:11d}  "
              f"{first:%H:%M:%S.%f} .. {last:%H:%M:%S.%f}")
    print()
    print(f"{'source':>15} {'destination':>15} {'proto':>5} {'hosts':>5} {'packets':>9} "
          f"{'bytes':>11}")
    for row in con.sql(TOP_TALKERS.format(files=files, limit=args.top)).fetchall():
        print(f"{row[0]:>15} {row[1]:>15} {row[2]:>5} {row[3]:5d} {row[4]:9d} {row[5]:11d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
