"""``pyxring replay FILE [IFACE]``: send a capture file's packets, as tcpreplay does.

The file's own timing by default; ``-x/--multiplier``, ``-p/--pps``,
``-M/--mbps`` or ``-t/--topspeed`` instead; ``-l/--loop``, ``-L/--limit`` and
``--duration`` end it early; ``--iface-map`` sends each pcapng interface to
its own network interface.  The end line says what was sent, what failed,
how long it took, the rates reached and how late frames were against their
schedule.  Exit status: 0 everything sent, 1 a runtime error (missing or
unreadable file, no such interface, a frame that could not be sent), 2 a
usage error, 3 not enough privilege.
"""
import argparse
import math
import signal
import sys

from pyxring.errors import PyxringError
from pyxring.replay import BACKENDS, Replayer

EXIT_OK = 0
EXIT_ERROR = 1


def _positive_number(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return v


def _whole_number(minimum):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid whole number {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {v}")
        return v
    return parse


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file ('-' for standard input)")
    parser.add_argument("iface", metavar="IFACE", nargs="?",
                        help="interface to send on (the default for every interface of the file)")
    parser.add_argument("-i", "--intf1", dest="intf", metavar="IFACE",
                        help="the same as IFACE (tcpreplay's spelling)")
    parser.add_argument("--iface-map", action="append", metavar="ID=IFACE[,...]",
                        help="send the packets of the file's interface ID out of IFACE "
                             "(pcapng interface numbers, e.g. 0=veth0,1=veth1)")
    timing = parser.add_argument_group("timing (one of; default: the file's own gaps)")
    modes = timing.add_mutually_exclusive_group()
    modes.add_argument("-x", "--multiplier", type=_positive_number, metavar="X",
                       help="the file's timing, X times as fast")
    modes.add_argument("-p", "--pps", type=_positive_number, metavar="N",
                       help="N packets per second, evenly spaced")
    modes.add_argument("--rate", type=_positive_number, dest="pps", metavar="N",
                       help=argparse.SUPPRESS)          # the old name of --pps
    modes.add_argument("-M", "--mbps", type=_positive_number, metavar="N",
                       help="N megabits per second (captured lengths)")
    modes.add_argument("-t", "--topspeed", action="store_true", help="as fast as possible")
    parser.add_argument("-l", "--loop", type=_whole_number(0), default=1, metavar="N",
                        help="send the file N times (0: until stopped; default 1)")
    parser.add_argument("-L", "--limit", type=_whole_number(1), metavar="N",
                        help="stop after sending N packets")
    parser.add_argument("--duration", type=_positive_number, metavar="SECONDS",
                        help="stop after SECONDS")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="AF_XDP TX ring, or the AF_PACKET TX ring (default auto: xdp, else tpacket)")
    parser.add_argument("-q", "--quiet", dest="quiet", action="store_true", help="no end-of-run line")
    return parser


def _us(ns):
    if ns < 1000:
        return "<1 us"
    if ns < 10_000_000:
        return f"{ns // 1000} us"
    return f"{ns / 1e6:.0f} ms"


def end_line(res):
    """The one line a run ends with (stderr)."""
    backends = res["backends"]
    where = ", ".join(f"{kind} on {name}" for name, kind in backends.items())
    line = (f"{res['sent']} packets sent ({res['bytes']} bytes), {res['failed']} failed, "
            f"{res['elapsed']:.3f} s, {res['pps']:.1f} pps, {res['mbps']:.3f} Mbps")
    t = res["timing"]
    if t is not None:
        line += (f", timing error median {_us(t['median_ns'])}, p99 {_us(t['p99_ns'])}, "
                 f"max {_us(t['max_ns'])}")
    elif res["mode"] == "top":
        line += ", top speed"
    if res["slips"]:
        line += f", schedule moved {res['slipped'] * 1e3:.1f} ms"
    return line + f" ({where})"


def detail_lines(res):
    """What failed or was dropped, one line each (nothing when all went well)."""
    out = []
    if res["too_big"]:
        iface = res["too_big_iface"]
        mtu = res["mtu"].get(iface)
        out.append(f"pyxring: {res['too_big']} frames longer than {iface} sends (MTU {mtu}: "
                   f"{mtu + 14} bytes, {mtu + 18} with an 802.1Q tag) were not sent; the first "
                   f"is packet {res['first_too_big']} of the file ({res['first_too_big_len']} bytes)")
    if res["too_short"]:
        out.append(f"pyxring: {res['too_short']} frames shorter than an Ethernet header were not "
                   f"sent; the first is packet {res['first_too_short']} of the file")
    if res["refused"]:
        out.append(f"pyxring: the kernel refused or did not complete {res['refused']} frames")
    for name, n in res["interface_dropped"].items():
        out.append(f"pyxring: {name} dropped {n} frames on transmit during the run")
    return out


def _terminate(signum, frame):
    raise KeyboardInterrupt


def run(args):
    if args.iface is not None and args.intf is not None and args.iface != args.intf:
        from pyxring.errors import ConfigError
        raise ConfigError(f"two interfaces given ({args.iface} and -i {args.intf}): use --iface-map "
                          f"to send to several")
    rp = Replayer(args.file, args.iface or args.intf, iface_map=args.iface_map,
                  multiplier=args.multiplier, pps=args.pps, mbps=args.mbps, topspeed=args.topspeed,
                  loop=args.loop, limit=args.limit, duration=args.duration, backend=args.backend)
    # SIGTERM ends a run as Ctrl-C does: what was sent is reported
    try:
        old = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:          # not the main thread: leave signals alone
        old = None
    error = None
    try:
        try:
            rp.run()
        except PyxringError as exc:
            error = exc
        try:
            res = rp.close()
        except PyxringError as exc:
            error = error or exc
            res = rp.result
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if not args.quiet and res is not None:
        for line in detail_lines(res):
            print(line, file=sys.stderr)
        print(end_line(res), file=sys.stderr)
    if error is not None:
        raise error
    return EXIT_OK if res["failed"] == 0 else EXIT_ERROR
