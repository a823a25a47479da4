"""tcpdump's capture options for ``pyxring capture`` (and ``pyxring`` with
no subcommand): what they mean, and turning them into what the capture
opens.  Every bad value is a usage error (exit 2) naming it, raised before
anything is opened.

Printing options (-e -x -X -A -t... -v -q -S) and file-writing options
(rotation, compression) are registered by the printer and the writer.
"""
import argparse
import os
import pwd

from pyxring.errors import ConfigError

PRECISIONS = {"micro": "us", "nano": "ns"}


def positive_number(what):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}") from None
        if not v > 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError(f"{what} must be a positive number of seconds, not {text}")
        return v
    parse.__name__ = what
    return parse


def buffer_kib(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0 or v > (1 << 34):
        # tcpdump's words; the ring can't be larger than 16 GiB
        raise argparse.ArgumentTypeError(f"invalid packet buffer size {text}")
    return v


def add_if_absent(parser, *flags, **kw):
    """Add an option unless another part of the CLI (the printer) already
    registered one of its flags."""
    if any(f in parser._option_string_actions for f in flags):
        return
    parser.add_argument(*flags, **kw)


def add_arguments(parser):
    parser.add_argument("-i", "--interface", dest="interfaces", action="append", metavar="IFACE",
                        help="capture on IFACE ('any': every interface; a number: tcpdump -D's "
                             "number); repeat for several interfaces in one pcapng")
    parser.add_argument("-D", "--list-interfaces", dest="list_interfaces", action="store_true",
                        help="list the capture devices as tcpdump -D does, with what pyxring can "
                             "do on each, and exit")
    parser.add_argument("-L", "--list-data-link-types", dest="list_datalinks", action="store_true",
                        help="list the interface's link types and exit")
    parser.add_argument("-y", "--linktype", dest="linktype_name", metavar="TYPE",
                        help="link type to capture with (see -L), e.g. LINUX_SLL for -i any")
    parser.add_argument("-J", "--list-time-stamp-types", dest="list_tstamp_types",
                        action="store_true", help="list the interface's time stamp types and exit")
    parser.add_argument("-j", "--time-stamp-type", dest="tstamp_type", metavar="TYPE",
                        help="time stamp type (see -J): host, adapter, adapter_unsynced, ...")
    parser.add_argument("--time-stamp-precision", dest="ts_precision", choices=tuple(PRECISIONS),
                        help="precision of the time stamps written (and printed): micro or nano")
    parser.add_argument("-B", "--buffer-size", dest="buffer_kib", type=buffer_kib, metavar="KiB",
                        help="ring size in KiB (TPACKET ring, or AF_XDP UMEM)")
    parser.add_argument("-F", dest="filter_file", metavar="FILE",
                        help="read the filter expression from FILE ('#' starts a comment)")
    parser.add_argument("--immediate-mode", dest="immediate", action="store_true",
                        help="deliver each packet at once: 1 ms block timeout (tpacket), "
                             "no batching wait (xdp)")
    parser.add_argument("--count", dest="count_only", action="store_true",
                        help="print no packets, only the closing counts")
    parser.add_argument("--print", dest="print_too", action="store_true",
                        help="print packets also while writing them with -w")
    parser.add_argument("-l", dest="line_buffered", action="store_true",
                        help="line-buffered standard output")
    parser.add_argument("-U", "--packet-buffered", dest="packet_buffered", action="store_true",
                        help="write each batch of packets to the file at once")
    parser.add_argument("-Z", "--relinquish-privileges", dest="user", metavar="USER",
                        help="once the sockets are open, run as USER (the -w file is created as USER)")
    parser.add_argument("--duration", type=positive_number("duration"), metavar="SECONDS",
                        help="stop after SECONDS")
    add_if_absent(parser, "-n", dest="numeric", action="count", default=0,
                  help="accepted for tcpdump's sake: output is always numeric")


class Plan:
    """What a capture opens, once the options are checked."""

    def __init__(self):
        self.ifaces = []
        self.expression = ""
        self.linktype = None            # LINKTYPE_ value asked with -y
        self.tstamp_type = None
        self.tpacket = {}               # options for the tpacket backend


def resolve(args, *, tcpdump_mode=False):
    """Check the options and work out the interfaces, the expression and
    each backend's options.  ConfigError (usage) for contradictions the
    user wrote; InterfaceError for a device number that doesn't exist."""
    from pyxring import interfaces
    plan = Plan()
    words = list(getattr(args, "words", None) or [])
    names = list(args.interfaces or [])
    if not names and words and not tcpdump_mode:
        names = [words.pop(0)]          # `pyxring capture IFACE [EXPRESSION]`
    listing = args.list_interfaces
    if not names and not listing:
        if not tcpdump_mode:
            raise ConfigError("an interface is required: IFACE or -i IFACE (-D lists them)")
        names = [interfaces.default_device()]   # as tcpdump: the first one -D lists
    plan.ifaces = [interfaces.resolve(n) for n in names]
    if len(set(plan.ifaces)) != len(plan.ifaces):
        raise ConfigError(f"an interface is given twice: {' '.join(names)}")
    plan.expression = " ".join(words).strip()
    if args.filter_file:
        plan.expression = read_filter_file(args.filter_file, plan.expression)
    _precision(args)
    _linktype(args, plan)
    _tstamp_type(args, plan)
    _rings(args, plan)
    if args.user:
        try:
            pwd.getpwnam(args.user)
        except KeyError:
            raise ConfigError(f"-Z {args.user}: no such user") from None
        if getattr(args, "xdp_replace", None):
            raise ConfigError("-Z and --xdp-replace: the replaced XDP program can't be put back "
                              "once privileges are dropped")
    if len(plan.ifaces) > 1 and args.write and args.format == "pcap":
        raise ConfigError("several -i write one pcapng file with an interface block each; "
                          "--format pcap can't tell interfaces apart")
    return plan


def read_filter_file(path, command_line):
    """tcpdump -F: the expression is the file's text, '#' to the end of a
    line a comment."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"can't open {path}: {exc.strerror}") from None
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    if command_line:
        import sys
        # tcpdump ignores it silently; say so
        print(f"pyxring: warning: -F {path}: ignoring the expression on the command line "
              f"({command_line})", file=sys.stderr)
    return " ".join(" ".join(lines).split())


def _precision(args):
    if args.ts_precision:
        want = PRECISIONS[args.ts_precision]
        if args.time_precision and args.time_precision != want:
            raise ConfigError(f"--time-stamp-precision {args.ts_precision} contradicts "
                              f"--time-precision {args.time_precision}")
        args.time_precision = want


def _linktype(args, plan):
    if not args.linktype_name:
        return
    from pyxring import _pcapdev
    dlt = _pcapdev.datalink_name_to_val(args.linktype_name)
    if dlt < 0:
        raise ConfigError(f"invalid data link type {args.linktype_name}")
    plan.linktype = 101 if dlt == 12 else dlt       # DLT_RAW is LINKTYPE_RAW in files


def _tstamp_type(args, plan):
    if not args.tstamp_type:
        return
    from pyxring import _pcapdev
    if _pcapdev.tstamp_type_name_to_val(args.tstamp_type) < 0:
        raise ConfigError(f"invalid time stamp type {args.tstamp_type}")
    plan.tstamp_type = args.tstamp_type.lower()


def _rings(args, plan):
    """Backend options from what the user set: -B sizes the ring unless the
    ring's own options say otherwise; --immediate-mode shortens the waits."""
    from pyxring.tpacket import DEFAULTS as TP
    tp = {k: getattr(args, k, None) for k in ("block_size", "block_count", "frame_size",
                                               "block_timeout_ms")}
    if args.buffer_kib:
        total = args.buffer_kib * 1024
        page = os.sysconf("SC_PAGESIZE")
        if tp["block_size"] and tp["block_count"]:
            if tp["block_size"] * tp["block_count"] != total:
                raise ConfigError(f"-B {args.buffer_kib} contradicts --block-size {tp['block_size']} "
                                  f"--block-count {tp['block_count']}")
        elif tp["block_size"]:
            if total < tp["block_size"]:
                raise ConfigError(f"-B {args.buffer_kib}: smaller than one block of "
                                  f"--block-size {tp['block_size']}")
            tp["block_count"] = total // tp["block_size"]
        else:
            if total < page:
                raise ConfigError(f"-B {args.buffer_kib}: smaller than one ring block "
                                  f"({page // 1024} KiB)")
            count = tp["block_count"] or 8   # several blocks: one fills while others are read
            size = TP["block_size"]
            while size > page and size * count > total:
                size //= 2
            tp["block_size"] = size
            if not tp["block_count"]:
                tp["block_count"] = min(total // size, 65536)
            elif size * tp["block_count"] > total:
                raise ConfigError(f"-B {args.buffer_kib} holds fewer than --block-count "
                                  f"{tp['block_count']} blocks")
    if args.immediate:
        if tp["block_timeout_ms"] not in (None, 1):
            raise ConfigError(f"--immediate-mode contradicts --block-timeout {tp['block_timeout_ms']}")
        tp["block_timeout_ms"] = 1
    plan.tpacket = {k: v for k, v in tp.items() if v is not None}


def xdp_options(args):
    """The xdp backend's options from what the user set (-B sizes the UMEM;
    --immediate-mode polls), for an interface that captures with AF_XDP."""
    try:
        from pyxring import xdp
    except ImportError:
        return {}
    opts = {k: v for k, v in xdp.cli_options(args).items() if v is not None}
    if args.buffer_kib:
        frame = opts.get("frame_size", xdp.DEFAULTS["frame_size"])
        chunks = args.buffer_kib * 1024 // frame
        if "frame_count" in opts:
            if opts["frame_count"] * frame != args.buffer_kib * 1024:
                raise ConfigError(f"-B {args.buffer_kib} contradicts --xdp-frames {opts['frame_count']}")
        else:
            if chunks < 64:
                raise ConfigError(f"-B {args.buffer_kib}: an AF_XDP UMEM needs at least 64 "
                                  f"chunks of {frame} bytes ({64 * frame // 1024} KiB)")
            n = 1
            while n * 2 <= chunks:
                n *= 2
            opts["frame_count"] = n          # a power of two, at most -B
            # the RX ring holds what half the UMEM can, as in the defaults
            opts.setdefault("rx_ring_size", min(xdp.DEFAULTS["rx_ring_size"], n // 2))
    if args.immediate:
        if opts.get("wait") not in (None, "poll"):
            raise ConfigError(f"--immediate-mode contradicts --xdp-wait {opts['wait']}")
        opts["wait"] = "poll"
    return opts
