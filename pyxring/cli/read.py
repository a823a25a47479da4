"""``pyxring read FILE [-c N] [options] [EXPR]``: print a capture file like
``tcpdump -nn -r``.

Each packet is printed as tcpdump prints it, with tcpdump's printing
options (``pyxring.printer.options``: -e -q -v -S -x -X -A -t... --nano).
A tcpdump filter expression is compiled by libpcap and run by libpcap's
interpreter, so it selects exactly the packets tcpdump would.
"""
import os
import sys

from pyxring.errors import ConfigError, PyxringError
from pyxring.printer import options as printer_options

EXIT_OK = 0
EXIT_ERROR = 1        # unreadable, truncated or corrupt file
EXIT_USAGE = 2        # bad arguments or filter expression

LINKTYPE_NAMES = {1: "EN10MB (Ethernet)", 101: "RAW (Raw IP)", 113: "LINUX_SLL (Linux cooked v1)",
                  276: "LINUX_SLL2 (Linux cooked v2)", 228: "IPV4 (Raw IPv4)",
                  229: "IPV6 (Raw IPv6)", 0: "NULL (BSD loopback)"}


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file ('-' for standard input)")
    parser.add_argument("-c", "--count", type=int, default=0, metavar="N",
                        help="stop after N matching packets")
    printer_options.add_arguments(parser)
    parser.add_argument("expression", nargs="*", metavar="EXPR",
                        help="tcpdump filter expression")
    return parser


def _print_err(msg):
    print(f"pyxring read: {msg}", file=sys.stderr)


def run(args) -> int:
    from pyxring.reader import open_reader

    expr = " ".join(args.expression).strip()
    if args.count < 0:
        _print_err(f"-c {args.count}: the count must be positive")
        return EXIT_USAGE
    out = sys.stdout
    try:
        printer = printer_options.printer_from_args(args, out)
    except ConfigError as exc:
        _print_err(str(exc))
        return EXIT_USAGE
    programs = {}     # linktype -> compiled filter (pcapng files may mix link types)

    def matches(rec):
        from pyxring import _libpcap
        insns = programs.get(rec.linktype)
        if insns is None:
            insns = programs[rec.linktype] = _libpcap.compile_filter(expr, rec.linktype)
        return _libpcap.offline_filter(insns, rec.data, rec.wirelen) != 0

    printed = 0
    try:
        with open_reader(args.file) as rd:
            lt = rd.linktype
            print(f"reading from file {rd.name}, link-type {LINKTYPE_NAMES.get(lt, lt)}, "
                  f"snapshot length {rd.snaplen}", file=sys.stderr)
            if expr:
                try:
                    from pyxring import _libpcap
                    programs[lt] = _libpcap.compile_filter(expr, lt)
                except ValueError as exc:
                    _print_err(str(exc))
                    return EXIT_USAGE
            for rec in rd:
                if expr and not matches(rec):
                    continue
                printer.print_record(rec)
                printed += 1
                if args.count and printed >= args.count:
                    break
            printer.flush()
    except PyxringError as exc:
        try:
            # What was read before the damage is still printed, then the error.
            printer.flush()
        except BrokenPipeError:
            pass
        _print_err(str(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # `pyxring read f | head`: the reader went away, which is not an error.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    return EXIT_OK


def main(argv=None) -> int:
    """``pyxring read`` on its own (``python -m pyxring.cli.read``)."""
    import argparse
    parser = argparse.ArgumentParser(prog="pyxring read", description=__doc__.splitlines()[0])
    add_arguments(parser)
    # Options may follow FILE (`read f.pcap -c 3 udp`), as with tcpdump.
    return run(parser.parse_intermixed_args(argv))


if __name__ == "__main__":
    sys.exit(main())
