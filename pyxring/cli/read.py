"""``pyxring read FILE [-c N] [EXPR]``: print a capture file like ``tcpdump -r``.

One line per packet, ``TIMESTAMP SUMMARY`` (local time, microseconds unless
``--nano``), with the same text tcpdump prints for the common protocols
(see ``pyxring.summary`` for the known differences).  The file is read by
the file source (``pyxring.file``) a batch at a time; a tcpdump filter
expression is compiled by libpcap once per link type and run by libpcap's
interpreter over each batch in C, so it selects exactly the packets tcpdump
would, also in pcapng files whose interfaces have different link types.
"""
import os
import sys

from pyxring.errors import PyxringError

EXIT_OK = 0
EXIT_ERROR = 1        # unreadable, truncated or corrupt file
EXIT_USAGE = 2        # bad arguments or filter expression

def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file ('-' for standard input)")
    parser.add_argument("-c", "--count", type=int, default=0, metavar="N",
                        help="stop after N matching packets")
    parser.add_argument("-e", "--link", action="store_true",
                        help="print the link-level header (like tcpdump -e)")
    parser.add_argument("-S", "--absolute-seq", action="store_true",
                        help="absolute TCP sequence numbers (like tcpdump -S)")
    parser.add_argument("--nano", action="store_true",
                        help="nanosecond timestamps (like --time-stamp-precision=nano)")
    parser.add_argument("expression", nargs="*", metavar="EXPR",
                        help="tcpdump filter expression")
    return parser


def _print_err(msg):
    print(f"pyxring read: {msg}", file=sys.stderr)


def header_line(shown_name, src):
    """tcpdump's first line for a file: the first interface's link type (a
    pcapng file's may differ later) and the snapshot length libpcap reports."""
    from pyxring._libpcap import datalink_name
    name, desc = datalink_name(src.linktype)
    link = f"{name} ({desc})" if name else str(src.linktype)
    return f"reading from file {shown_name}, link-type {link}, snapshot length {src.snaplen}"


def run(args) -> int:
    from pyxring._libpcap import BatchFilter, FilterError, compile_filter
    from pyxring.file import open_file
    from pyxring.summary import Summarizer, format_ts, summarize

    expr = " ".join(args.expression).strip()
    if args.count < 0:
        _print_err(f"-c {args.count}: the count must be positive")
        return EXIT_USAGE
    if args.absolute_seq:
        def line_of(data, lt, wl):
            return summarize(data, lt, wl, args.link)
    else:
        line_of = Summarizer(link=args.link)
    precision = 9 if args.nano else 6

    out = sys.stdout
    printed = 0
    buf = []
    try:
        with open_file(args.file) as src:
            if not src.interfaces:
                # tcpdump can't name a link type either
                _print_err(f"{src.name}: no interface description block in the file "
                           f"(at byte offset {src.bytes_read})")
                return EXIT_ERROR
            print(header_line(args.file, src), file=sys.stderr)
            flt = None
            if expr:
                # a bad expression is a usage error before any packet is read;
                # other link types of the file are compiled when they come
                try:
                    compile_filter(expr, src.linktype)
                except FilterError as exc:
                    _print_err(str(exc))
                    return EXIT_USAGE
                flt = BatchFilter(expr)
            for batch in src.batches():
                if flt is not None and flt.apply(batch) == 0:
                    continue
                for pkt in batch:
                    data = pkt.copy()
                    buf.append(f"{format_ts(pkt.ts_ns, precision)} "
                               f"{line_of(data, pkt.linktype, pkt.wirelen)}\n")
                    printed += 1
                    if args.count and printed >= args.count:
                        break
                out.write("".join(buf))
                buf.clear()
                if args.count and printed >= args.count:
                    break
            out.flush()
    except FilterError as exc:
        out.write("".join(buf))
        _print_err(str(exc))
        return EXIT_USAGE
    except PyxringError as exc:
        try:
            # What was read before the damage is still printed, then the error.
            out.write("".join(buf))
            out.flush()
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
