"""The stream's part of ``pyxring capture``: ``--stream URL`` and its
options, opening the producer for the capture's interfaces, and its
closing lines.  ``capture`` calls ``add_arguments`` once,
``check_arguments`` before opening anything, ``open_for_capture`` with the
interfaces, then uses the sink like the writer's (``write_batch``,
``flush``, ``stopping``, ``close``)."""
import argparse
import sys

from pyxring.errors import ConfigError


def _size_mb(what):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            v = -1
        if not v >= 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError(f"invalid {what} {text}")
        return int(v * 1_000_000)
    return parse


def _count(what, minimum=1):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = minimum - 1
        if v < minimum:
            raise argparse.ArgumentTypeError(f"invalid {what} {text}")
        return v
    return parse


def add_arguments(parser):
    from pyxring.cli import seconds_arg as _seconds
    from pyxring.stream.defaults import (DEFAULT_MEMORY_BYTES, DEFAULT_SPOOL_BYTES,
                                         DEFAULT_SPOOL_DIR, DEFAULT_WAIT)
    g = parser.add_argument_group("streaming to NATS JetStream (--stream)")
    g.add_argument("--stream", dest="stream_url", metavar="URL",
                   help="publish every batch to nats://[USER:PASS@]HOST[:PORT][,HOST...][/PREFIX] "
                        "on the subject PREFIX.<host>.<interface> (PREFIX: pkts); alone or "
                        "beside -w")
    g.add_argument("--stream-host", metavar="NAME",
                   help="the host name in the subject and the messages (default: this "
                        "machine's short host name)")
    g.add_argument("--stream-name", metavar="NAME",
                   help="the stream to create when none stores the subject (default: the "
                        "prefix in capitals, PKTS)")
    g.add_argument("--stream-max-bytes", type=_size_mb("stream size"), metavar="MB",
                   help="a created stream keeps at most MB x 1,000,000 bytes, the oldest "
                        "messages going first (default: no limit but the server's)")
    g.add_argument("--stream-replicas", type=_count("number of replicas"),
                   metavar="N", help="replicas of a created stream (default 1; 3 on a cluster "
                                     "of three servers)")
    g.add_argument("--stream-spool", metavar="DIR",
                   help=f"where batches wait while the server is away or slow, and what a "
                        f"capture ended before sending stays for the next one (default "
                        f"{DEFAULT_SPOOL_DIR}; 'none': no spool, drop instead)")
    g.add_argument("--stream-spool-size", type=_size_mb("spool size"), metavar="MB",
                   help=f"the spool's limit (default {DEFAULT_SPOOL_BYTES // 1_000_000})")
    g.add_argument("--stream-buffer", type=_size_mb("stream buffer size"), metavar="MB",
                   help=f"memory for batches waiting to be sent, before the spool "
                        f"(default {DEFAULT_MEMORY_BYTES // 1_000_000})")
    g.add_argument("--stream-window", type=_count("number of messages"),
                   metavar="N", help="messages published and not yet acknowledged at most "
                                     "(default 64)")
    g.add_argument("--stream-wait", type=_seconds, metavar="SECONDS",
                   help=f"at the end, how long to wait for the acknowledgements before what "
                        f"is left goes to the spool (default {DEFAULT_WAIT:g})")


def requested(args):
    return getattr(args, "stream_url", None) is not None


def check_arguments(args):
    """Usage errors (ConfigError) before anything is opened."""
    from pyxring.stream.url import check_subject, parse_url, subject_token
    names = ("stream_host", "stream_name", "stream_max_bytes", "stream_replicas", "stream_spool",
             "stream_spool_size", "stream_buffer", "stream_window", "stream_wait")
    if not requested(args):
        given = [n for n in names if getattr(args, n, None) is not None]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} needs --stream URL")
        return
    parse_url(args.stream_url)
    if args.stream_host is not None and subject_token(args.stream_host) != args.stream_host:
        raise ConfigError(f"--stream-host {args.stream_host!r}: letters, digits, '_' and '-' only")
    if args.stream_name is not None:
        check_subject(args.stream_name, what="stream name")
        if "." in args.stream_name:
            raise ConfigError(f"invalid stream name {args.stream_name!r}: no dots")
    if args.stream_spool_size == 0 and args.stream_spool not in (None, "none"):
        raise ConfigError("--stream-spool-size 0: use --stream-spool none for no spool")
    if args.stream_buffer == 0:
        raise ConfigError("--stream-buffer 0: batches need memory to wait in for their "
                          "acknowledgements")


def open_for_capture(args, sources, notice=None):
    """The producer for ``sources`` (a list of ``(interface, source)``),
    or None without ``--stream``."""
    if not requested(args):
        return None
    from pyxring.stream import producer
    spool = args.stream_spool or producer.DEFAULT_SPOOL_DIR
    return producer.StreamSink(
        args.stream_url, sources, host=args.stream_host, stream_name=args.stream_name,
        max_bytes=args.stream_max_bytes, replicas=args.stream_replicas or 1,
        spool_dir=None if spool == "none" else spool,
        spool_bytes=_or(args.stream_spool_size, producer.DEFAULT_SPOOL_BYTES),
        memory_bytes=_or(args.stream_buffer, producer.DEFAULT_MEMORY_BYTES),
        window_messages=args.stream_window or 64, notice=notice or _stderr)


def _or(value, default):
    return default if value is None else value


def close_for_capture(sink, args, verbose=False):
    """Wait for the last acknowledgements (``--stream-wait``; a signal gives
    up), then the closing lines."""
    import signal
    from pyxring.stream.producer import DEFAULT_WAIT, closing_lines
    old = {}

    def give_up(signum, frame):
        sink.give_up()
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, give_up)
    try:
        result = sink.close(_or(args.stream_wait, DEFAULT_WAIT))
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    lines = closing_lines(result, verbose)
    failure = result["failure"]
    return result, lines, failure


def _stderr(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
