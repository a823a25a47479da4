"""``pyxring read FILE [-c N] [-w OUT] [--count] [options] [EXPR]``: print a
capture file like ``tcpdump -nn -r`` (or, with ``-w``, write the packets
the expression selects to another file, as ``tcpdump -r IN -w OUT`` does;
``--count`` prints only how many there are).

Each packet is printed as tcpdump prints it, with tcpdump's printing
options (``pyxring.printer.options``: -e -q -v -S -x -X -A -t... --nano).
The file is read by the file source (``pyxring.file``) a batch at a time
and each batch printed at once (``Printer.print_batch``); a tcpdump filter
expression is compiled by libpcap once per link type and run by libpcap's
interpreter over each batch in C, so it selects exactly the packets tcpdump
would, also in pcapng files whose interfaces have different link types.
"""
import os
import sys

from pyxring.errors import ConfigError, PyxringError
from pyxring.printer import options as printer_options

EXIT_OK = 0
EXIT_ERROR = 1        # unreadable, truncated or corrupt file
EXIT_USAGE = 2        # bad arguments or filter expression


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file ('-' for standard input)")
    parser.add_argument("-c", dest="count", type=int, default=0, metavar="N",
                        help="stop after N matching packets")
    parser.add_argument("--count", dest="count_only", action="store_true",
                        help="print only the number of matching packets (as tcpdump --count)")
    parser.add_argument("-w", dest="write", metavar="OUT",
                        help="write the matching packets to OUT instead of printing them "
                             "('-' = stdout; pcap, as tcpdump writes, unless --format pcapng)")
    parser.add_argument("--format", choices=("pcap", "pcapng"), default="pcap",
                        help="format of the -w file (default pcap)")
    printer_options.add_arguments(parser)
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


class _Output:
    """``read -w``: the file source's batches into a writer.  A pcapng
    output gets the file's interfaces (also those described later in it),
    each packet under its own; a pcap output holds one link type only."""

    def __init__(self, writer, src, fmt, snaplen_of):
        self.writer = writer
        self.src = src
        self.pcapng = fmt == "pcapng"
        self.snaplen_of = snaplen_of
        self.known = 1              # interfaces the writer has

    def write_batch(self, batch):
        ifaces = self.src.interfaces
        if len(ifaces) == 1:
            self.writer.write_batch(batch)
            return
        if not self.pcapng:
            first = ifaces[0].linktype
            if any(i.linktype != first for i in ifaces):
                raise ConfigError(f"-w {self.writer.path}: {self.src.name} has interfaces of "
                                  f"several link types, which a pcap file can't hold; use "
                                  f"--format pcapng")
            self.writer.write_batch(batch)
            return
        for i in ifaces[self.known:]:
            self.writer.add_interface(i.linktype, self.snaplen_of(i), name=i.name,
                                      description=i.description)
        self.known = len(ifaces)
        for pkt in batch:
            self.writer.write(pkt, interface_id=pkt.ifindex)

    def close(self):
        self.writer.close()


def _open_output(args, src):
    from pyxring.writer import open_writer

    def snaplen_of(iface):
        return max(1, min(iface.snaplen or 262144, 262144))
    nano = getattr(args, "print_precision", None) == "nano"
    first = src.interfaces[0]
    writer = open_writer(args.write, args.format, linktype=first.linktype,
                         snaplen=snaplen_of(first), precision="ns" if nano else "us",
                         ifname=first.name, ifdescription=first.description)
    return _Output(writer, src, args.format, snaplen_of)


def run(args) -> int:
    from pyxring._libpcap import BatchFilter, FilterError, compile_filter
    from pyxring.file import open_file

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

    printed = 0
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
            sink = printer.print_batch
            writer = None
            if args.write:
                writer = _open_output(args, src)
                sink = writer.write_batch
            elif args.count_only:
                sink = len
            try:
                for batch in src.batches():
                    if flt is not None and flt.apply(batch) == 0:
                        continue
                    if args.count and printed + len(batch) > args.count:
                        batch.truncate(args.count - printed)
                    sink(batch)
                    printed += len(batch)
                    if args.count and printed >= args.count:
                        break
            finally:
                if writer is not None:
                    writer.close()
            if args.count_only:
                out.write(f"{printed} packet{'' if printed == 1 else 's'}\n")
            out.flush()
    except (FilterError, ConfigError) as exc:
        _print_err(str(exc))
        return EXIT_USAGE
    except PyxringError as exc:
        # What was read before the damage is already printed; then the error.
        try:
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
