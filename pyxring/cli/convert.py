"""``pyxring convert IN OUT [EXPRESSION ...]``: pcap, pcapng, Arrow IPC and
Parquet, into each other (see ``pyxring.convert``).

The input's format is found from its first bytes (a compressed capture too),
the output's from its name (``.pcap .pcapng .arrow .parquet``, then
``.gz .zst .lz4`` for a compressed capture) or ``--format``.
"""
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def add_arguments(parser):
    from pyxring.convert import FORMATS
    parser.add_argument("input", metavar="IN",
                        help="pcap, pcapng (also .gz/.zst/.lz4; '-' for standard input), "
                             "Arrow IPC or Parquet file")
    parser.add_argument("output", metavar="OUT", help="the file to write ('-': standard output)")
    parser.add_argument("expression", nargs="*", metavar="EXPR",
                        help="tcpdump filter expression: only matching packets are converted")
    parser.add_argument("-F", "--format", choices=FORMATS,
                        help="the output's format (default: by OUT's name)")
    parser.add_argument("--filter", metavar="EXPR", help="tcpdump filter expression")
    parser.add_argument("-c", "--count", type=int, default=0, metavar="N",
                        help="stop after N packets")
    parser.add_argument("--fields", metavar="LIST",
                        help="the decoded columns of an Arrow/Parquet output (names separated "
                             "by commas, or 'none'; default all)")
    parser.add_argument("--no-frames", dest="frames", action="store_false",
                        help="an Arrow/Parquet output without the frames (it can't become a "
                             "capture file again)")
    parser.add_argument("-z", "--compression", default="auto", metavar="CODEC",
                        help="capture files: gzip, zstd, lz4, none (default: by the name); "
                             "Parquet: zstd (default), snappy, gzip, lz4, brotli, none; "
                             "Arrow: none (default), zstd, lz4")
    parser.add_argument("--level", type=int, metavar="N", help="the compression level")
    parser.add_argument("--time-precision", "--time-stamp-precision", dest="precision",
                        choices=("us", "ns", "micro", "nano"),
                        help="a pcap output's time precision (default: the input's, or ns)")
    parser.add_argument("--rows", type=int, default=65536, metavar="N",
                        help="rows per Arrow record batch read and per Parquet row group "
                             "(default 65536)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say what was converted, on standard error")
    return parser


def _fields(text):
    if text is None:
        return None
    if text.strip().lower() == "none":
        return []
    return [f for f in text.replace(",", " ").split() if f]


def run(args) -> int:
    from pyxring._libpcap import FilterError
    from pyxring.convert import convert
    from pyxring.errors import CaptureFileError, ConfigError, PyxringError
    words = " ".join(args.expression).strip()
    expr = f"({args.filter}) and ({words})" if args.filter and words else (args.filter or words)
    precision = {"micro": "us", "nano": "ns"}.get(args.precision, args.precision)
    try:
        result = convert(args.input, args.output, format=args.format, fields=_fields(args.fields),
                         filter=expr or None, count=args.count, frames=args.frames,
                         compression=args.compression, level=args.level, precision=precision,
                         rows=args.rows)
    except (ConfigError, FilterError) as exc:
        print(f"pyxring convert: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CaptureFileError as exc:
        done = getattr(exc, "packets_converted", None)
        if done is not None:
            what = "the packet" if done == 1 else f"the {done} packets"
            print(f"pyxring convert: {exc}; {what} before it {'was' if done == 1 else 'were'} "
                  "converted", file=sys.stderr)
        else:
            print(f"pyxring convert: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (PyxringError, OSError) as exc:
        print(f"pyxring convert: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if args.verbose:
        how = "records as stored" if result.exact else "records re-encoded"
        print(f"pyxring convert: {result.packets} packets, {result.source_format} -> "
              f"{result.target_format} ({how})", file=sys.stderr)
    return EXIT_OK


def _one_line(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="pyxring convert", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_intermixed_args(argv))


if __name__ == "__main__":
    sys.exit(main())
