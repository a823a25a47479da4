"""``pyxring collect URL (-w FILE | --parquet DIR | --arrow DIR)``: what
capture hosts streamed, back into one time-ordered pcapng, or into rolled
Parquet or Arrow files (``pyxring.stream.collector``)."""
import argparse
import asyncio
import signal
import sys

from pyxring.errors import ConfigError


def _size_mb(text):
    try:
        v = float(text)
    except ValueError:
        v = 0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid file size {text}")
    return int(v * 1_000_000)


def add_arguments(parser):
    from pyxring.cli import positive_int, seconds_arg as _seconds
    from pyxring.stream.defaults import DEFAULT_DURABLE, DEFAULT_WINDOW
    parser.add_argument("url", metavar="URL",
                        help="nats://[USER:PASS@]HOST[:PORT][,HOST...][/PREFIX] (PREFIX: pkts)")
    parser.add_argument("--subject", metavar="SUBJECT",
                        help="the subjects to read (default PREFIX.>; e.g. 'pkts.sensor1.>')")
    out = parser.add_argument_group("output (one of)")
    out.add_argument("-w", dest="write", metavar="FILE",
                     help="one pcapng file, an interface block per host and interface, "
                          "packets in time order")
    out.add_argument("--parquet", metavar="DIR",
                     help="rolled Parquet files (one row per packet, decoded header "
                          "columns; for DuckDB, Spark, pandas)")
    out.add_argument("--arrow", metavar="DIR", help="rolled Arrow IPC files, the same rows")
    parser.add_argument("--durable", default=DEFAULT_DURABLE, metavar="NAME",
                        help=f"the consumer's name: a collector started again with the same "
                             f"name and output resumes where it stopped (default "
                             f"{DEFAULT_DURABLE}; collectors sharing a name share the messages)")
    parser.add_argument("--reorder-window", type=_seconds, default=DEFAULT_WINDOW,
                        metavar="SECONDS",
                        help=f"how long packets wait to be put in time order with the other "
                             f"hosts' (default {DEFAULT_WINDOW:g})")
    parser.add_argument("--commit-interval", type=_seconds, default=1.0, metavar="SECONDS",
                        help="-w: how often the file is synced and its messages acknowledged "
                             "(default 1)")
    parser.add_argument("--roll-size", type=_size_mb, default=128_000_000, metavar="MB",
                        help="--parquet/--arrow: a new file after MB x 1,000,000 bytes of rows "
                             "(default 128)")
    parser.add_argument("--roll-seconds", type=_seconds, default=60.0, metavar="SECONDS",
                        help="--parquet/--arrow: a new file after SECONDS (default 60)")
    parser.add_argument("--fields", metavar="LIST",
                        help="--parquet/--arrow: the decoded header columns, comma-separated "
                             "(default all of pyxring.columns.FIELDS; 'none' for none)")
    parser.add_argument("--ack-wait", type=_seconds, default=30.0, metavar="SECONDS",
                        help="when the consumer is created: how long the server waits for a "
                             "collector's acknowledgement before it delivers a message again, "
                             "to a collector started after one that died (default 30)")
    parser.add_argument("-c", dest="count", type=positive_int, metavar="COUNT",
                        help="stop after COUNT packets")
    parser.add_argument("--duration", type=_seconds, metavar="SECONDS", help="stop after SECONDS")
    parser.add_argument("--drain", action="store_true",
                        help="stop once everything the stream holds for this consumer is written")
    parser.add_argument("-q", dest="quiet", action="store_true", help="no starting line")
    parser.add_argument("-v", dest="verbose", action="count", default=0,
                        help="also a closing line per host and interface")


def _output(args):
    chosen = [(k, v) for k, v in (("pcapng", args.write), ("parquet", args.parquet),
                                  ("arrow", args.arrow)) if v]
    if len(chosen) != 1:
        raise ConfigError("pyxring collect needs one output: -w FILE, --parquet DIR or --arrow DIR"
                          if not chosen else "choose one output: -w, --parquet or --arrow")
    return chosen[0]


def _fields(args, kind):
    if args.fields is None:
        return None
    if kind == "pcapng":
        raise ConfigError("--fields is for --parquet and --arrow")
    if args.fields.strip() == "none":
        return []
    from pyxring.columns import FIELDS
    names = [f.strip() for f in args.fields.split(",") if f.strip()]
    for name in names:
        if name not in FIELDS:
            raise ConfigError(f"--fields: unknown field {name!r} (see pyxring.columns.FIELDS)")
    return names


def run(args):
    from pyxring.stream.collector import Collector
    from pyxring.stream.url import check_subject, parse_url
    kind, target = _output(args)
    url = parse_url(args.url)
    if args.subject is not None:
        check_subject(args.subject, wildcards=True)
    options = {}
    if kind != "pcapng":
        options = {"fields": _fields(args, kind), "roll_bytes": args.roll_size,
                   "roll_seconds": args.roll_seconds}
    else:
        _fields(args, kind)
    collector = Collector(url, kind, target, subject=args.subject, durable=args.durable,
                          window=args.reorder_window, commit_interval=args.commit_interval,
                          count=args.count, duration=args.duration, drain=args.drain,
                          notice=_notice, output_options=options, ack_wait=args.ack_wait)

    def started(c):
        if not args.quiet:
            _notice(f"pyxring: collecting {c.consumer.subject} from stream {c.consumer.stream} "
                    f"at {url} (consumer {c.consumer.name}) into {target}")
    asyncio.run(_run(collector, started))
    sys.stderr.write("".join(line + "\n" for line in collector.closing_lines(args.verbose)))
    sys.stderr.flush()
    return 0


async def _run(collector, started):
    """The collector until it ends; the first SIGINT/SIGTERM ends it in
    order (what is held is written and committed), a second at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(collector.run(started))
    signals = 0

    def on_signal():
        nonlocal signals
        signals += 1
        if signals == 1:
            collector.stop.set()
        else:
            task.cancel()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        if signals < 2:
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _notice(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
