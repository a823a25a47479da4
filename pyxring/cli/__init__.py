"""The ``pyxring`` command line (also ``python -m pyxring``).

    pyxring capture [IFACE | -i IFACE ...] [tcpdump's options] [EXPRESSION ...]
    pyxring [tcpdump's options] [EXPRESSION ...]     (tcpdump's command line: -i, -r, -D, ...)
    pyxring read FILE [-c COUNT] [EXPRESSION ...]
    pyxring convert IN OUT [--fields LIST] [--filter EXPR | EXPRESSION ...]
    pyxring replay FILE [IFACE] [-x X | -p PPS | -M MBPS | -t] [-l N] [-L N] [--duration S]
    pyxring doctor [IFACE]
    pyxring collect URL (-w FILE | --parquet DIR | --arrow DIR) [--subject SUBJECT] [--drain]
    pyxring demo

``main(argv)`` returns the exit status, so tests can call it in-process.
"""
import argparse
import enum
import importlib
import os
import sys
import warnings

from pyxring import __version__
from pyxring.cli import capture, capture_options, collect, doctor, read
from pyxring.errors import ConfigError, PermissionDenied, PyxringError


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1              # runtime failure: interface, device, I/O
    USAGE = 2              # bad arguments, invalid filter, bad ring parameters
    NO_PERMISSION = 3      # needs root / CAP_NET_RAW / CAP_NET_ADMIN


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
                       "(AF_XDP, TPACKET_V3, myring).",
                       epilog="Without a command, the line is tcpdump's: `pyxring -i eth0 -w x.pcap "
                              "udp` captures, `pyxring -r x.pcap` reads, `pyxring -D` lists.")
    p.add_argument("--version", action="version", version=f"pyxring {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    c = sub.add_parser("capture", help="capture packets from an interface (like tcpdump)",
                       description="Capture packets; trailing words are a tcpdump filter expression.")
    capture.add_arguments(c)

    r = sub.add_parser("read", help="print the packets of a pcap/pcapng file (like tcpdump -r)")
    read.add_arguments(r)
    capture_options.add_if_absent(r, "-n", dest="numeric", action="count", default=0,
                                  help="accepted for tcpdump's sake: output is always numeric")
    replay = _subcommand_module("pyxring.cli.replay")
    if replay is not None and hasattr(replay, "add_arguments"):
        rp = sub.add_parser("replay", help="send the packets of a pcap/pcapng file out of an interface")
        replay.add_arguments(rp)
    coll = sub.add_parser("collect", help="write what capture hosts streamed (--stream) into "
                          "one pcapng, or Parquet or Arrow files")
    collect.add_arguments(coll)
    cv = sub.add_parser("convert", help="convert between pcap, pcapng, Arrow IPC and Parquet")
    importlib.import_module("pyxring.cli.convert").add_arguments(cv)
    doc = sub.add_parser("doctor", help="what this machine supports for capturing, and why not")
    doctor.add_arguments(doc)
    d = sub.add_parser("demo", help="capture a known traffic mix in throwaway namespaces")
    d.add_argument("-w", dest="write", default="demo.pcapng", metavar="FILE",
                   help="where to write the demo capture (default demo.pcapng)")
    d.add_argument("--backend", default="tpacket", choices=backends.BACKENDS[:2])
    return p


def positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"count must be positive, not {v}")
    return v


def seconds_arg(text):
    """A duration option: seconds, 0 or more, finite."""
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text}")
    return v


def snaplen_arg(text):
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
    with warnings.catch_warnings():
        # a warning (XdpWarning, ...) is one plain line, not Python's
        # "file:line: Category: text" followed by a source line
        warnings.showwarning = _one_line_warning
        return _main(argv)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"pyxring: warning: {str(message).splitlines()[0]}", file=sys.stderr)


SUBCOMMANDS = ("capture", "read", "replay", "demo", "doctor", "collect", "convert")


def tcpdump_line(argv):
    """A command line without a subcommand is tcpdump's: ``pyxring -i eth0
    ...`` is ``pyxring capture -i eth0 ...`` (the words are the expression,
    the interface tcpdump's default without -i) and ``pyxring -r FILE ...``
    is ``pyxring read FILE ...``.  Returns (argv, tcpdump_mode)."""
    if not argv or argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv, False
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word == "-r" and i + 1 < len(argv):
            return ["read", argv[i + 1], *argv[:i], *argv[i + 2:]], False
        if word.startswith("-r") and not word.startswith("--") and len(word) > 2:
            return ["read", word[2:], *argv[:i], *argv[i + 1:]], False
    if not argv[0].startswith("-"):
        import difflib
        near = difflib.get_close_matches(argv[0], SUBCOMMANDS, n=1, cutoff=0.75)
        if near:
            raise UsageError(f"pyxring: unknown command {argv[0]!r} (did you mean {near[0]}?)")
    return ["capture", *argv], True


def _main(argv):
    try:
        argv, tcpdump_mode = tcpdump_line(list(argv))
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # tcpdump style: filter words may come after options (`IFACE -c 5 udp`)
        if extra and (args.command not in ("capture", "read", "convert")
                      or any(w.startswith("-") for w in extra)):
            raise UsageError(f"pyxring: unrecognized arguments: {' '.join(extra)}")
        if extra and args.command == "capture":
            args.words = list(args.words or []) + extra
        elif extra:
            args.expression = list(args.expression or []) + extra
        if args.command is None:
            raise UsageError("pyxring: a command is required (capture, read, convert, replay, "
                             "collect, doctor, demo), "
                             "or tcpdump's options (-i IFACE, -r FILE, -D); see --help")
        if args.command == "capture":
            return capture.run(args, tcpdump_mode=tcpdump_mode)
        if args.command == "demo":
            from pyxring.demo import run_demo
            return run_demo(args)
        if args.command == "read":
            return read.run(args)
        if args.command == "doctor":
            return doctor.run(args)
        if args.command == "collect":
            return collect.run(args)
        if args.command == "replay":
            return importlib.import_module("pyxring.cli.replay").run(args)
        if args.command == "convert":
            return importlib.import_module("pyxring.cli.convert").run(args)
        raise UsageError(f"pyxring: unknown command {args.command!r}")
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return ExitStatus.USAGE
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error worth a traceback
        silence_stdout()
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


def silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


