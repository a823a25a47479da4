"""``pyxring capture IFACE [options] [EXPRESSION]``: the capture loop behind
the command line, like tcpdump's: open a source, print or write its batches,
stop on -c, Ctrl-C or SIGTERM, and end with tcpdump's closing lines.
"""
import signal
import sys
import time

from pyxring.errors import BackendUnavailable
from pyxring.printer import options as printer_options


class _Stop(Exception):
    """SIGINT or SIGTERM turned into an orderly stop."""


def add_arguments(parser):
    from pyxring import backends
    from pyxring.cli import positive_int, snaplen_arg
    parser.add_argument("iface", metavar="IFACE", help="interface name, or 'myring' for the kernel module")
    parser.add_argument("expression", nargs="*", metavar="EXPRESSION", help="tcpdump filter expression")
    parser.add_argument("-w", dest="write", metavar="FILE", help="write packets to FILE ('-' = stdout)")
    parser.add_argument("-c", dest="count", type=positive_int, metavar="COUNT",
                   help="stop after COUNT packets")
    parser.add_argument("-s", dest="snaplen", type=snaplen_arg, default=262144, metavar="SNAPLEN",
                   help="bytes to keep per packet (0 or default: 262144)")
    parser.add_argument("-p", dest="no_promisc", action="store_true", help="don't put the interface "
                   "into promiscuous mode")
    parser.add_argument("-Q", dest="direction", choices=("in", "out", "inout"), default="inout",
                   help="direction of packets to capture (default inout)")
    parser.add_argument("--backend", default="auto", choices=("auto",) + backends.BACKENDS)
    parser.add_argument("--format", choices=("pcap", "pcapng"), default=None,
                   help="file format (default: pcapng, or pcap when writing to '-')")
    parser.add_argument("--time-precision", choices=("ns", "us"), default=None,
                   help="timestamp precision: of pcap files (default ns; pcapng always stores "
                        "ns) and of printed lines (default us, like tcpdump)")
    printer_options.add_arguments(parser)
    for name in backends.BACKENDS:
        try:
            mod = backends.backend_module(name)
        except BackendUnavailable:
            continue
        if hasattr(mod, "add_cli_options"):
            mod.add_cli_options(parser.add_argument_group(f"{name} backend options"))



class _StatusLine:
    """A live one-line status on stderr, only when stderr is a terminal."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.monotonic()
        self.last_count = 0
        self.drawn = False

    def update(self, src, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        st = src.stats()
        rate = (src.delivered - self.last_count) / max(now - self.last, 1e-9)
        self.last, self.last_count = now, src.delivered
        sys.stderr.write(f"\r{src.delivered} packets  {rate:,.0f} pps  "
                         f"{st.get('dropped', 0)} dropped  ")
        sys.stderr.flush()
        self.drawn = True

    def clear(self):
        if self.drawn:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def run(args, *, ready=None):
    """The capture loop behind ``pyxring capture``.  ``ready`` (tests) is
    called once the source is open and receiving."""
    from pyxring import backends
    from pyxring.writers import open_writer

    mod = None
    chosen = backends.resolve_backend(args.iface, args.backend, args.direction)
    opts = {}
    try:
        mod = backends.backend_module(chosen)
        if hasattr(mod, "cli_options"):
            opts = {k: v for k, v in mod.cli_options(args).items() if v is not None}
    except BackendUnavailable:
        if args.backend != "auto":
            raise
    src = backends.open_capture(args.iface, filter=" ".join(args.expression) or None,
                                snaplen=args.snaplen, promisc=not args.no_promisc,
                                direction=args.direction, backend=args.backend, **opts)
    writer = None
    summary = None
    to_stdout = args.write == "-"
    try:
        if args.write:
            fmt = args.format or ("pcap" if to_stdout else "pcapng")
            writer = open_writer(args.write, fmt, linktype=src.linktype, snaplen=args.snaplen,
                                 precision=args.time_precision or "ns", ifname=args.iface,
                                 ifdescription=f"pyxring {_backend_name(src)} backend; timestamps: "
                                               f"{src.timestamp_source}")
            if to_stdout:
                writer.flush()
        else:
            summary = _printer(args, src.linktype)
    except BaseException:
        src.close()
        raise
    try:
        # (tcpdump says it with -q too)
        sys.stderr.write(f"pyxring: listening on {args.iface} ({_backend_name(src)} backend), link-type "
                         f"{_LINKTYPES.get(src.linktype, src.linktype)}, snapshot length "
                         f"{args.snaplen} bytes\n")
        sys.stderr.flush()
        if ready is not None:
            ready(src)
        _capture_loop(src, writer, summary, args, to_stdout)
    finally:
        _finish(src, writer, args)
    return 0


_LINKTYPES = {1: "EN10MB (Ethernet)"}


def _backend_name(src):
    return type(src).__module__.split(".")[1]


def _printer(args, linktype):
    printer = printer_options.printer_from_args(args, sys.stdout, linktype)

    def show(batch):
        printer.print_batch(batch)
        sys.stdout.flush()
    return show


def _capture_loop(src, writer, summary, args, to_stdout):
    status = _StatusLine(writer is not None and not to_stdout and not args.quiet)
    remaining = args.count or -1

    def on_stop(signum, frame):
        raise _Stop()
    # Set for SIGINT too, like tcpdump: a capture started in the background
    # by a script inherits SIGINT ignored, and `kill -INT` must still stop it.
    old_int = signal.signal(signal.SIGINT, on_stop)
    old_term = signal.signal(signal.SIGTERM, on_stop)
    try:
        while remaining != 0:
            batch = src.batch(250)
            try:
                if len(batch) == 0:
                    if writer is not None:
                        writer.flush()       # keep the file current while idle
                    status.update(src)
                    continue
                if remaining > 0:
                    if len(batch) > remaining:
                        batch.truncate(remaining)
                    remaining -= len(batch)
                if writer is not None:
                    writer.write_batch(batch)
                    if to_stdout:
                        writer.flush()
                else:
                    summary(batch)
            finally:
                batch.release()
            status.update(src)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        status.clear()


def _finish(src, writer, args):
    """Flush and close everything; then tcpdump's closing lines.  Further
    Ctrl-C / SIGTERM are held off so the file is always complete."""
    from pyxring.cli import silence_stdout
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        st = src.stats()
        if writer is not None:
            try:
                writer.write_stats(received=st.get("received"), dropped=st.get("dropped"),
                                   delivered=src.delivered)
                writer.close()
            except BrokenPipeError:
                silence_stdout()
        src.close()
        sys.stderr.write(f"{src.delivered} packets captured\n"
                         f"{st.get('received', 0)} packets received by filter\n"
                         f"{st.get('dropped', 0)} packets dropped by kernel\n")
        if getattr(args, "verbose", False):
            extra = {k: v for k, v in st.items() if k not in ("received", "dropped")}
            if extra:
                sys.stderr.write(" ".join(f"{k}={v}" for k, v in extra.items()) + "\n")
        sys.stderr.flush()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
