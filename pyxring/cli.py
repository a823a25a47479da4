"""The ``pyxring`` command line (also ``python -m pyxring``).

    pyxring capture IFACE [-w FILE] [-c COUNT] [-s SNAPLEN] [-p] [-Q in|out|inout]
                          [--backend auto|tpacket|xdp|myring] [--format pcap|pcapng]
                          [--time-precision ns|us] [EXPRESSION ...]
    pyxring read FILE [-c COUNT] [EXPRESSION ...]
    pyxring replay FILE IFACE [--rate PPS] [--loop N]
    pyxring demo

``main(argv)`` returns the exit status, so tests can call it in-process.
"""
import argparse
import enum
import importlib
import os
import signal
import sys
import time

from pyxring import __version__
from pyxring.errors import (BackendUnavailable, ConfigError, PermissionDenied,
                            PyxringError)


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1              # runtime failure: interface, device, I/O
    USAGE = 2              # bad arguments, invalid filter, bad ring parameters
    NO_PERMISSION = 3      # needs root / CAP_NET_RAW / CAP_NET_ADMIN


class _Stop(Exception):
    """SIGINT or SIGTERM turned into an orderly stop."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        # one line, tcpdump-like, exit status 2
        raise UsageError(f"{self.prog}: {message}")


class UsageError(Exception):
    pass


def _subcommand_module(name):
    """Optional subcommands live in their own modules; None when absent."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def build_parser():
    from pyxring import backends
    p = ArgumentParser(prog="pyxring", description="Fast packet capture for Python "
                       "(AF_XDP, TPACKET_V3, myring).")
    p.add_argument("--version", action="version", version=f"pyxring {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    c = sub.add_parser("capture", help="capture packets from an interface (like tcpdump)",
                       description="Capture packets; trailing words are a tcpdump filter expression.")
    c.add_argument("iface", metavar="IFACE", help="interface name, or 'myring' for the kernel module")
    c.add_argument("expression", nargs="*", metavar="EXPRESSION", help="tcpdump filter expression")
    c.add_argument("-w", dest="write", metavar="FILE", help="write packets to FILE ('-' = stdout)")
    c.add_argument("-c", dest="count", type=_positive_int, metavar="COUNT",
                   help="stop after COUNT packets")
    c.add_argument("-s", dest="snaplen", type=_snaplen, default=262144, metavar="SNAPLEN",
                   help="bytes to keep per packet (0 or default: 262144)")
    c.add_argument("-p", dest="no_promisc", action="store_true", help="don't put the interface "
                   "into promiscuous mode")
    c.add_argument("-Q", dest="direction", choices=("in", "out", "inout"), default="inout",
                   help="direction of packets to capture (default inout)")
    c.add_argument("--backend", default="auto", choices=("auto",) + backends.BACKENDS)
    c.add_argument("--format", choices=("pcap", "pcapng"), default=None,
                   help="file format (default: pcapng, or pcap when writing to '-')")
    c.add_argument("--time-precision", choices=("ns", "us"), default=None,
                   help="timestamp precision: of pcap files (default ns; pcapng always stores "
                        "ns) and of printed lines (default us, like tcpdump)")
    c.add_argument("-q", dest="quiet", action="store_true", help="no live status line")
    c.add_argument("-v", dest="verbose", action="store_true",
                   help="also print the backend's own counters at the end")
    for name in backends.BACKENDS:
        try:
            mod = backends.backend_module(name)
        except BackendUnavailable:
            continue
        if hasattr(mod, "add_cli_options"):
            mod.add_cli_options(c.add_argument_group(f"{name} backend options"))

    read = _subcommand_module("pyxring.readcmd")
    if read is not None:
        r = sub.add_parser("read", help="print the packets of a pcap/pcapng file (like tcpdump -r)")
        read.add_arguments(r)
    replay = _subcommand_module("pyxring.replay")
    if replay is not None and hasattr(replay, "add_arguments"):
        rp = sub.add_parser("replay", help="send the packets of a pcap/pcapng file out of an interface")
        replay.add_arguments(rp)
    d = sub.add_parser("demo", help="capture a known traffic mix in throwaway namespaces")
    d.add_argument("-w", dest="write", default="demo.pcapng", metavar="FILE",
                   help="where to write the demo capture (default demo.pcapng)")
    d.add_argument("--backend", default="tpacket", choices=backends.BACKENDS[:2])
    return p


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"count must be positive, not {v}")
    return v


def _snaplen(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid snaplen {text!r}") from None
    if v == 0:
        return 262144
    if not 1 <= v <= 262144:
        raise argparse.ArgumentTypeError(f"snaplen must be between 1 and 262144, not {v}")
    return v


def _status_for(exc):
    from pyxring._libpcap import FilterError
    if isinstance(exc, (ConfigError, FilterError, UsageError)):
        return ExitStatus.USAGE
    if isinstance(exc, PermissionDenied):
        return ExitStatus.NO_PERMISSION
    if type(exc).__name__ == "FilterUnsupported":
        return ExitStatus.USAGE
    return ExitStatus.ERROR


def main(argv=None):
    """Run the CLI; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # tcpdump style: filter words may come after options (`IFACE -c 5 udp`)
        if extra and (args.command not in ("capture", "read") or any(w.startswith("-") for w in extra)):
            raise UsageError(f"pyxring: unrecognized arguments: {' '.join(extra)}")
        if extra:
            args.expression = list(args.expression or []) + extra
        if args.command is None:
            raise UsageError("pyxring: a command is required (capture, read, replay, demo); see --help")
        if args.command == "capture":
            return run_capture(args)
        if args.command == "demo":
            from pyxring.demo import run_demo
            return run_demo(args)
        if args.command == "read":
            return importlib.import_module("pyxring.readcmd").run(args)
        if args.command == "replay":
            return importlib.import_module("pyxring.replay").run(args)
        raise UsageError(f"pyxring: unknown command {args.command!r}")
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return ExitStatus.USAGE
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error worth a traceback
        _silence_stdout()
        return ExitStatus.OK
    except KeyboardInterrupt:
        return ExitStatus.OK
    except (PyxringError, ValueError, OSError) as exc:
        print(f"pyxring: {_one_line(exc)}", file=sys.stderr)
        log = getattr(exc, "log", None)
        if log:
            # a program the BPF verifier refused: its log is the explanation
            print(f"verifier log:\n{log.rstrip()}", file=sys.stderr)
        return _status_for(exc)


def _one_line(exc):
    if isinstance(exc, OSError) and not isinstance(exc, PyxringError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


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


def run_capture(args, *, ready=None):
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
            summary = _printer(args)
    except BaseException:
        src.close()
        raise
    try:
        if not args.quiet or to_stdout:
            sys.stderr.write(f"pyxring: listening on {args.iface} ({_backend_name(src)} backend), link-type "
                             f"{_LINKTYPES.get(src.linktype, src.linktype)}, snapshot length "
                             f"{args.snaplen} bytes\n")
            sys.stderr.flush()
        if ready is not None:
            ready(src)
        _capture_loop(src, writer, summary, args, to_stdout)
    finally:
        _finish(src, writer, args)
    return ExitStatus.OK


_LINKTYPES = {1: "EN10MB (Ethernet)"}


def _backend_name(src):
    return type(src).__module__.split(".")[1]


def _printer(args):
    from pyxring.summary import Summarizer, format_ts
    out = sys.stdout
    digits = 9 if args.time_precision == "ns" else 6
    summarize = Summarizer()

    def show(batch):
        lines = [f"{format_ts(p.ts_ns, digits)} {summarize(p.data, 1, p.wirelen)}" for p in batch]
        out.write("\n".join(lines) + "\n")
        out.flush()
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
                _silence_stdout()
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
