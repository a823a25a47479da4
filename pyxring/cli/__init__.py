"""The ``pyxring`` command line (also ``python -m pyxring``).

    pyxring capture IFACE [-w FILE] [-c COUNT] [-s SNAPLEN] [-p] [-Q in|out|inout]
                          [--backend auto|tpacket|xdp|myring] [--format pcap|pcapng]
                          [--time-precision ns|us] [EXPRESSION ...]
    pyxring read FILE [-c COUNT] [EXPRESSION ...]
    pyxring replay FILE [IFACE] [-x X | -p PPS | -M MBPS | -t] [-l N] [-L N] [--duration S]
    pyxring demo

``main(argv)`` returns the exit status, so tests can call it in-process.
"""
import argparse
import enum
import importlib
import os
import sys

from pyxring import __version__
from pyxring.cli import capture, read
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
                       "(AF_XDP, TPACKET_V3, myring).")
    p.add_argument("--version", action="version", version=f"pyxring {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    c = sub.add_parser("capture", help="capture packets from an interface (like tcpdump)",
                       description="Capture packets; trailing words are a tcpdump filter expression.")
    capture.add_arguments(c)

    r = sub.add_parser("read", help="print the packets of a pcap/pcapng file (like tcpdump -r)")
    read.add_arguments(r)
    replay = _subcommand_module("pyxring.cli.replay")
    if replay is not None and hasattr(replay, "add_arguments"):
        rp = sub.add_parser("replay", help="send the packets of a pcap/pcapng file out of an interface")
        replay.add_arguments(rp)
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
            return capture.run(args)
        if args.command == "demo":
            from pyxring.demo import run_demo
            return run_demo(args)
        if args.command == "read":
            return read.run(args)
        if args.command == "replay":
            return importlib.import_module("pyxring.cli.replay").run(args)
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


