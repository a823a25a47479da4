"""tcpdump's printing options, registered once for ``read`` and ``capture``.

    from pyxring.printer import options
    options.add_arguments(parser)            # -e -q -v -S -x -X -A -t -n -# --nano ...
    printer = options.printer_from_args(args, sys.stdout)

Each letter means what it means to tcpdump, and repeats count (``-vv``,
``-xx``, ``-tttt``).  Output is always numeric, so ``-n``/``-nn`` are
accepted and change nothing.
"""
import argparse

from pyxring.printer import Printer


class _Count(argparse.Action):
    """A flag that counts its repeats and may also be given as a long
    option (``--verbose``), like argparse's "count"."""

    def __init__(self, option_strings, dest, default=0, **kw):
        super().__init__(option_strings, dest, nargs=0, default=default, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, (getattr(namespace, self.dest, 0) or 0) + 1)


class _Group:
    """The printing options' argument group, leaving out any flag the
    command registered already (capture's own -l, -U and
    --time-stamp-precision, which also set what is printed)."""

    def __init__(self, parser):
        self.group = parser.add_argument_group("printing (tcpdump's options)")

    def add_argument(self, *flags, **kw):
        if not any(f in self.group._option_string_actions for f in flags):
            self.group.add_argument(*flags, **kw)


def add_arguments(parser):
    """Register the printing options on ``parser`` (an argparse parser)."""
    g = _Group(parser)
    g.add_argument("-e", "--link", dest="link", action=_Count,
                   help="print the link-level header on each line")
    g.add_argument("-q", "--quiet", dest="quiet", action=_Count,
                   help="quick output: less protocol detail (capture: also no live status line)")
    g.add_argument("-v", "--verbose", dest="verbose", action=_Count,
                   help="more detail: IP header fields, checksums, ...; -vv, -vvv for more "
                        "(capture: also the backend's own counters at the end)")
    g.add_argument("-S", "--absolute-tcp-sequence-numbers", "--absolute-seq",
                   dest="absolute_seq", action="store_true",
                   help="absolute TCP sequence numbers (default: relative to the conversation)")
    g.add_argument("-x", dest="hex", action=_Count,
                   help="hex dump of each packet without its link header (-xx: with it)")
    g.add_argument("-X", dest="hex_ascii", action=_Count,
                   help="hex and ASCII dump without the link header (-XX: with it)")
    g.add_argument("-A", dest="ascii", action=_Count,
                   help="ASCII dump without the link header (-AA: with it)")
    g.add_argument("-t", dest="timestamps", action=_Count,
                   help="-t no timestamp, -tt seconds since 1970, -ttt since the previous "
                        "packet, -tttt date and time, -ttttt since the first packet")
    g.add_argument("-n", dest="numeric", action=_Count,
                   help="accepted for tcpdump's sake: output is always numeric")
    g.add_argument("-#", "--number", dest="number", action="store_true",
                   help="print the packet number at the start of each line")
    g.add_argument("-l", dest="line_buffered", action="store_true",
                   help="flush standard output after every packet")
    g.add_argument("-U", "--packet-buffered", dest="packet_buffered", action="store_true",
                   help="packet-buffered output: each printed packet (and, with -w, each "
                        "packet written to the file) goes out at once")
    g.add_argument("--time-stamp-precision", dest="print_precision", choices=("micro", "nano"),
                   default=None, help="timestamp digits: micro (default) or nano")
    g.add_argument("--nano", dest="print_precision", action="store_const", const="nano",
                   help="nanosecond timestamps (--time-stamp-precision=nano)")
    g.add_argument("--micro", dest="print_precision", action="store_const", const="micro",
                   help="microsecond timestamps (the default)")
    return g.group


def wants_nano(args):
    precision = getattr(args, "print_precision", None)
    if precision is None:
        # capture's older --time-precision ns also set the printed digits
        return getattr(args, "time_precision", None) == "ns"
    return precision == "nano"


def printer_from_args(args, out=None, linktype=1):
    """The Printer the parsed options ask for (ConfigError, a usage error,
    for a -t count tcpdump refuses)."""
    timestamps = getattr(args, "timestamps", 0) or 0
    if timestamps > 5:
        from pyxring.errors import ConfigError
        raise ConfigError("only -t, -tt, -ttt, -tttt and -ttttt are supported")
    return Printer(out, link=args.link or 0, quiet=args.quiet or 0, verbose=args.verbose or 0,
                   absolute_seq=bool(args.absolute_seq), hex=args.hex or 0,
                   hex_ascii=args.hex_ascii or 0, ascii=args.ascii or 0, timestamps=timestamps,
                   nano=wants_nano(args), number=bool(getattr(args, "number", False)),
                   linktype=linktype,
                   line_buffered=bool(getattr(args, "line_buffered", False) or
                                      getattr(args, "packet_buffered", False)))
