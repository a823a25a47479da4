"""``pyxring capture [IFACE] [options] [EXPRESSION]``: the capture loop behind
the command line, like tcpdump's: open one source per interface, print or
write their batches, stop on -c, --duration, Ctrl-C or SIGTERM (draining
what the kernel holds), and end with tcpdump's closing lines.
"""
import select
import signal
import sys
import time

from pyxring.cli import sinks as capture_sinks
from pyxring.errors import BackendUnavailable, ConfigError
from pyxring.stream import cli as stream_cli
from pyxring.writer import FileLimitReached
from pyxring.writer import cli as writer_cli
from pyxring.printer import options as printer_options
from pyxring.workers import cli as workers_cli


class _Stop(Exception):
    """SIGINT or SIGTERM turned into an orderly stop."""


def add_arguments(parser):
    from pyxring import backends
    from pyxring.cli import capture_options, positive_int, snaplen_arg
    parser.add_argument("words", nargs="*", metavar="[IFACE] EXPRESSION",
                        help="the interface (unless -i is given), then a tcpdump filter expression")
    capture_options.add_arguments(parser)
    parser.add_argument("-w", dest="write", metavar="FILE", help="write packets to FILE ('-' = stdout)")
    parser.add_argument("-c", dest="count", type=positive_int, metavar="COUNT",
                   help="stop after COUNT packets")
    parser.add_argument("-s", "--snapshot-length", dest="snaplen", type=snaplen_arg, default=262144,
                   metavar="SNAPLEN", help="bytes to keep per packet (0 or default: 262144)")
    parser.add_argument("-p", "--no-promiscuous-mode", dest="no_promisc", action="store_true",
                   help="don't put the interface into promiscuous mode")
    parser.add_argument("-Q", "--direction", dest="direction", choices=("in", "out", "inout"),
                   default="inout", help="direction of packets to capture (default inout)")
    parser.add_argument("--backend", default="auto", choices=("auto",) + backends.BACKENDS)
    parser.add_argument("--format", choices=("pcap", "pcapng"), default=None,
                   help="file format (default: pcapng, or pcap when writing to '-')")
    parser.add_argument("--time-precision", choices=("ns", "us"), default=None,
                   help="timestamp precision: of pcap files (default ns; pcapng always stores "
                        "ns) and of printed lines (default us, like tcpdump)")
    printer_options.add_arguments(parser)      # -e -q -v -x -t ..., before the fallbacks below
    capture_options.add_if_absent(parser, "-q", dest="quiet", action="store_true",
                                  help="no live status line")
    capture_options.add_if_absent(parser, "-v", dest="verbose", action="count", default=0,
                                  help="also print the backend's own counters, and each "
                                       "interface's, at the end")
    for name in backends.BACKENDS:
        try:
            mod = backends.backend_module(name)
        except BackendUnavailable:
            continue
        if hasattr(mod, "add_cli_options"):
            mod.add_cli_options(parser.add_argument_group(f"{name} backend options"))
    writer_cli.add_arguments(parser)
    workers_cli.add_arguments(parser)
    stream_cli.add_arguments(parser)


class _Tap:
    """One interface of the capture: its source and its pcapng interface."""

    def __init__(self, iface, src):
        self.iface = iface
        self.src = src
        self.interface_id = 0


class _StatusLine:
    """A live one-line status on stderr, only when stderr is a terminal."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.monotonic()
        self.last_count = 0
        self.drawn = False

    def update(self, taps, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.show(now, sum(t.src.delivered for t in taps),
                  f"{sum(t.src.stats().get('dropped', 0) for t in taps)} dropped")

    def show(self, now, delivered, tail):
        rate = (delivered - self.last_count) / max(now - self.last, 1e-9)
        self.last, self.last_count = now, delivered
        sys.stderr.write(f"\r{delivered} packets  {rate:,.0f} pps  {tail}  ")
        sys.stderr.flush()
        self.drawn = True

    def clear(self):
        if self.drawn:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def run(args, *, ready=None, tcpdump_mode=False):
    """The capture loop behind ``pyxring capture`` (and ``pyxring -i ...``).
    ``ready`` (tests) is called with the first source once every source is
    open and receiving."""
    from pyxring.cli import capture_options, listing, privileges
    plan = capture_options.resolve(args, tcpdump_mode=tcpdump_mode)
    writer_cli.check_arguments(args)
    stream_cli.check_arguments(args)
    if args.list_interfaces:
        return listing.show_devices()
    if args.list_datalinks or args.list_tstamp_types:
        for iface in plan.ifaces:
            (listing.show_datalinks if args.list_datalinks else listing.show_tstamp_types)(iface)
        return 0
    if args.line_buffered:
        sys.stdout.reconfigure(line_buffering=True)
    workers_cli.check(args, plan)
    if workers_cli.wanted(args):
        if stream_cli.requested(args):
            raise ConfigError("--stream and --workers: stream from one capture process")
        return workers_cli.run(args, plan)
    taps = _open_taps(plan, args)
    sinks = capture_sinks.Sinks()
    summary = None
    to_stdout = args.write == "-"
    storing = args.write or stream_cli.requested(args)
    try:
        if args.user:
            privileges.drop_to(args.user, keep_dac_override=bool(args.write and not to_stdout))
        if args.write:
            writer = writer_cli.open_for_capture(args, [(t.iface, t.src) for t in taps],
                                                 _ifdescription)
            sinks.append(capture_sinks.FileSink(writer, to_stdout or args.packet_buffered))
        for iid, t in enumerate(taps):
            t.interface_id = iid
        producer = stream_cli.open_for_capture(args, [(t.iface, t.src) for t in taps])
        if producer is not None:
            sinks.append(capture_sinks.StreamSink(producer, args))
        if args.user and args.write and not to_stdout:
            privileges.done()
        if not storing or args.print_too:
            summary = None if args.count_only else _printer(args)
            if summary is not None:
                sinks.append(capture_sinks.PrintSink(summary))
    except BaseException:
        for t in taps:
            t.src.close()
        sinks.abort()
        raise
    try:
        if not getattr(args, "quiet", False) or to_stdout:
            for t in taps:
                sys.stderr.write(f"pyxring: listening on {t.iface} ({_backend_name(t.src)} backend), "
                                 f"link-type {_linktype_text(t.src.linktype)}, snapshot length "
                                 f"{args.snaplen} bytes\n")
            sys.stderr.flush()
        if ready is not None:
            ready(taps[0].src)
        _capture_loop(taps, sinks, args, to_stdout)
    finally:
        _finish(taps, sinks, args)
    return 0


def _ifdescription(src):
    return f"pyxring {_backend_name(src)} backend; timestamps: {src.timestamp_source}"


def _open_taps(plan, args):
    """Open one source per interface (all or none)."""
    from pyxring import backends
    from pyxring.cli import listing
    taps = []
    try:
        for iface in plan.ifaces:
            chosen = backends.resolve_backend(iface, args.backend, args.direction)
            opts, fallback = _backend_options(chosen, iface, plan, args)
            src = backends.open_capture(iface, filter=plan.expression or None,
                                        snaplen=args.snaplen, promisc=not args.no_promisc,
                                        direction=args.direction, backend=args.backend,
                                        fallback_opts=fallback, **opts)
            taps.append(_Tap(iface, src))
    except BaseException:
        for t in taps:
            t.src.close()
        raise
    return taps


def _backend_options(chosen, iface, plan, args):
    """(options for the chosen backend, options for tpacket if auto falls
    back to it)."""
    from pyxring import backends
    from pyxring.cli import listing
    tp = dict(plan.tpacket)
    if plan.linktype is not None:
        listing.check_linktype(iface, plan.linktype, args.linktype_name)
        tp["linktype"] = plan.linktype
    if plan.tstamp_type is not None and iface != "myring":
        tp["tstamp_type"] = listing.check_tstamp_type(iface, plan.tstamp_type)
    if chosen == "tpacket":
        return tp, None
    if chosen == "xdp":
        if plan.linktype not in (None, 1):
            raise ConfigError(f"-y {args.linktype_name}: the xdp backend captures Ethernet frames; "
                              f"use --backend tpacket")
        from pyxring.cli import capture_options
        return capture_options.xdp_options(args), tp
    try:
        mod = backends.backend_module(chosen)
    except BackendUnavailable:
        return {}, tp
    opts = mod.cli_options(args) if hasattr(mod, "cli_options") else {}
    return {k: v for k, v in opts.items() if v is not None}, tp


def _linktype_text(linktype):
    from pyxring._libpcap import datalink_name
    name, desc = datalink_name(linktype)
    return f"{name} ({desc})" if name else str(linktype)


def _backend_name(src):
    return type(src).__module__.split(".")[1]


def _printer(args):
    """tcpdump's lines for each batch (each packet by its own link type)."""
    printer = printer_options.printer_from_args(args, sys.stdout)

    def show(batch):
        printer.print_batch(batch)
        sys.stdout.flush()
    return show


def _capture_loop(taps, sinks, args, to_stdout):
    status = _StatusLine(sinks.stores and not to_stdout and not getattr(args, "quiet", False))
    remaining = args.count or -1
    deadline = time.monotonic() + args.duration if args.duration else None

    def deliver(tap, batch):
        nonlocal remaining
        if remaining > 0:
            if len(batch) > remaining:
                batch.truncate(remaining)
            remaining -= len(batch)
        sinks.write_batch(batch, tap.interface_id)

    def on_stop(signum, frame):
        raise _Stop()
    # Set for SIGINT too, like tcpdump: a capture started in the background
    # by a script inherits SIGINT ignored, and `kill -INT` must still stop it.
    old_int = signal.signal(signal.SIGINT, on_stop)
    old_term = signal.signal(signal.SIGTERM, on_stop)
    waiter = _Waiter(taps)
    try:
        try:
            while remaining != 0:
                timeout = 250
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    timeout = max(1, min(timeout, int(left * 1000) + 1))
                got = 0
                for tap, batch in waiter.next_batches(timeout):
                    try:
                        got += len(batch)
                        if len(batch):
                            deliver(tap, batch)
                    finally:
                        batch.release()
                    if remaining == 0:
                        break
                if not got:
                    sinks.flush()        # keep the file current while idle
                status.update(taps)
        except (KeyboardInterrupt, _Stop):
            sinks.stopping()
        if remaining != 0:
            # stopped by a signal or --duration: what the kernel counted as
            # received must be in the file too (a second signal gives up)
            for tap in taps:
                for batch in _drained(tap.src):
                    try:
                        if len(batch) and remaining != 0:
                            deliver(tap, batch)
                    finally:
                        batch.release()
    except (KeyboardInterrupt, _Stop):
        sinks.stopping()
    except FileLimitReached as exc:
        sys.stderr.write(f"pyxring: {exc}\n")
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        waiter.close()
        status.clear()


def _drained(src):
    """The batches still in ``src`` once it takes no more (tpacket: up to
    the last, partly filled block, which the kernel retires on its timer)."""
    stop = getattr(src, "stop_receiving", None)
    if stop is None or src.closed:
        return
    stop()
    while True:
        batch = src.batch(src.drain_wait_ms)
        if len(batch) == 0:
            batch.release()
            return
        yield batch


class _Waiter:
    """Batches from one source (its own wait), or from several (one poll
    over their descriptors, then whatever each has)."""

    def __init__(self, taps):
        self.taps = taps
        self.poll = None
        if len(taps) > 1:
            self.poll = select.poll()
            for t in taps:
                self.poll.register(t.src.fileno(), select.POLLIN | select.POLLERR)

    def next_batches(self, timeout_ms):
        if self.poll is None:
            tap = self.taps[0]
            yield tap, tap.src.batch(timeout_ms)
            return
        ready = False
        for tap in self.taps:
            batch = tap.src.batch(0)
            ready = ready or len(batch) > 0
            yield tap, batch
        if ready:
            return
        events = self.poll.poll(timeout_ms)
        troubled = {fd for fd, ev in events if ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL)}
        for tap in self.taps:
            if not events or tap.src.fileno() in troubled:
                # A source notices a lost interface in its own wait (not in
                # a batch that doesn't wait): give it a short one when idle
                # or when its descriptor reports an error.
                yield tap, tap.src.batch(1)

    def close(self):
        self.poll = None


def _packets(n):
    """tcpdump's "1 packet", "2 packets"."""
    return f"{n} packet" if n == 1 else f"{n} packets"


def _finish(taps, sinks, args):
    """Flush and close everything; then tcpdump's closing lines (summed over
    the interfaces; -v adds each interface's, and the backends' counters).
    Further Ctrl-C / SIGTERM are held off so the file is always complete."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        stats = [t.src.stats() for t in taps]
        captured, more, failure = sinks.close(stats, sum(t.src.delivered for t in taps),
                                              getattr(args, "verbose", False))
        for t in taps:
            t.src.close()
        received = sum(st.get("received", 0) for st in stats)
        dropped = sum(st.get("dropped", 0) for st in stats)
        sys.stderr.write(f"{_packets(captured)} captured\n"
                         f"{_packets(received)} received by filter\n"
                         f"{_packets(dropped)} dropped by kernel\n")
        if getattr(args, "verbose", False):
            for t, st in zip(taps, stats):
                if len(taps) > 1:
                    sys.stderr.write(f"{t.iface}: {t.src.delivered} packets captured, "
                                     f"{st.get('received', 0)} received by filter, "
                                     f"{st.get('dropped', 0)} dropped by kernel\n")
                extra = {k: v for k, v in st.items() if k not in ("received", "dropped")}
                if extra:
                    prefix = f"{t.iface}: " if len(taps) > 1 else ""
                    sys.stderr.write(prefix + " ".join(f"{k}={v}" for k, v in extra.items()) + "\n")
        sys.stderr.write("".join(line + "\n" for line in more))
        sys.stderr.flush()
        if failure is not None:
            raise failure
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
