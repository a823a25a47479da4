"""Converting captures between pcap, pcapng, Arrow IPC and Parquet.

    from pyxring.convert import convert
    convert("in.pcapng", "out.parquet", filter="tcp port 443")
    convert("out.parquet", "back.pcapng")        # the same bytes as in.pcapng

Every conversion is one loop: an input (a capture file, walked in C by the
file source; or a table, read by pyarrow and turned into batches by a
table source) gives batches of packets and the blocks between them; an
optional tcpdump filter (libpcap's, over each batch) and a count pick
packets; an output writes them: a capture file through the writer's output
stages (so ``.gz``, ``.zst`` and ``.lz4`` are compressed), or a table whose
rows are the batches' columns (``pyxring.columns``).

Lossless: a table written from a capture file carries, besides the frames
and nanosecond times, what the columns don't say about the file (the
stored times, headers, options and blocks; see ``pyxring.convert.table``),
so converting it back to the file's format gives the file again, byte for
byte, pcapng and pcap alike.  Between formats (pcap to pcapng, or a table
that came from a live capture) the file is written as pyxring writes
captures: nanosecond times, the interfaces' names and link types.
"""
import os

from pyxring.errors import ConfigError, PyxringError

__all__ = ["convert", "format_of_name", "FORMATS", "Result"]

FORMATS = ("pcap", "pcapng", "arrow", "parquet")
CAPTURE_FORMATS = ("pcap", "pcapng")
_EXTENSIONS = {".pcap": "pcap", ".cap": "pcap", ".dmp": "pcap", ".pcapng": "pcapng",
               ".ntar": "pcapng", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
               ".arrows": "arrow", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".zst", ".lz4")


def format_of_name(path):
    """The format an output's name asks for (a compression suffix aside),
    or None."""
    name = os.fspath(path).lower() if not isinstance(path, int) else ""
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
            break
    return _EXTENSIONS.get(os.path.splitext(name)[1])


class Result:
    """What a conversion did."""

    def __init__(self, packets, source_format, target_format, exact):
        self.packets = packets
        self.source_format = source_format
        self.target_format = target_format
        self.exact = exact

    def __repr__(self):
        return (f"<convert {self.packets} packets {self.source_format} -> {self.target_format}"
                f"{' (exact)' if self.exact else ''}>")


def open_input(source, rows=65536):
    """A capture file or a table (found by its first bytes) as events."""
    from pyxring.convert.capture import CaptureInput
    if isinstance(source, (str, bytes, os.PathLike)) and os.fsdecode(source) != "-":
        path = os.fsdecode(source)
        from pyxring.convert import table
        kind = table.sniff(path)
        if kind is not None:
            return table.TableInput(path, kind, rows)
    return CaptureInput(source, batch_packets=min(rows, 65536))


def open_output(target, format, *, fields=None, frames=True, compression="auto", level=None,
                precision=None, rows=65536, notice=None):
    from pyxring.convert.capture import CaptureOutput
    if format in CAPTURE_FORMATS:
        if compression not in ("auto", "none", "gzip", "zstd", "lz4"):
            raise ConfigError(f"{format} files take the compressions gzip, zstd, lz4 or none, "
                              f"not {compression!r}")
        if not frames:
            raise ConfigError(f"--no-frames is for tables: a {format} file is its frames")
        return CaptureOutput(target, format, compression=compression, level=level,
                             precision=precision, notice=notice)
    from pyxring.convert.table import TableOutput
    if precision is not None:
        raise ConfigError("--time-precision is for pcap output; a table keeps nanoseconds")
    return TableOutput(target, format, fields=fields, frames=frames, compression=compression,
                       level=level, rows=rows)


def convert(source, target, *, format=None, fields=None, filter=None, count=0, frames=True,
            compression="auto", level=None, precision=None, rows=65536, notice=None):
    """Convert ``source`` (a pcap, pcapng, Arrow IPC or Parquet file; a path,
    or ``"-"`` / a binary file object for a capture) into ``target`` (a
    path, or ``"-"`` for standard output).

    ``format``: ``pcap``, ``pcapng``, ``arrow`` or ``parquet`` (default: by
    the target's name).  ``fields``: the decoded columns of a table (a list
    or a string; default all).  ``filter``: a tcpdump expression; ``count``:
    stop after that many packets.  ``frames=False``: a table without the
    frames (smaller, but it can't become a capture file again).
    ``compression``: capture files ``gzip``/``zstd``/``lz4``/``none``
    (default: by the name), Parquet ``zstd`` (default) ``snappy``
    ``gzip`` ``lz4`` ``brotli`` ``none``, Arrow ``none`` (default)
    ``zstd`` ``lz4``; ``level`` its level.  ``precision``: ``us`` or
    ``ns`` for a pcap file's times (default: the input's, or ns).
    ``rows``: rows per Arrow record batch read and per Parquet row group.

    Returns a :class:`Result`.  A damaged capture file is converted up to
    the damage, then its ``CaptureFileError`` is raised."""
    if format is None:
        if target == "-" or hasattr(target, "write"):
            raise ConfigError("writing to standard output needs --format")
        format = format_of_name(target)
        if format is None:
            raise ConfigError(f"can't tell the format of {os.fsdecode(target)} from its name "
                              f"(use --format {'|'.join(FORMATS)})")
    if format not in FORMATS:
        raise ConfigError(f"unknown format {format!r} (choose {', '.join(FORMATS)})")
    if precision not in (None, "us", "ns"):
        raise ConfigError(f"unknown time precision {precision!r} (choose us or ns)")
    if count < 0:
        raise ConfigError(f"count {count}: must be positive")
    if rows < 1:
        raise ConfigError(f"{rows} rows: must be at least 1")
    if isinstance(filter, (list, tuple)):
        filter = " ".join(filter)
    _check_not_same(source, target)
    inp = open_input(source, rows)
    try:
        if format in CAPTURE_FORMATS and precision is not None and format == "pcapng":
            precision = None            # pcapng keeps the input's units, or nanoseconds
        out = open_output(target, format, fields=fields, frames=frames, compression=compression,
                          level=level, precision=precision, rows=rows, notice=notice)
        flt = None
        if filter:
            from pyxring._libpcap import BatchFilter, compile_filter
            compile_filter(filter, inp.linktype)     # a bad expression fails before any write
            flt = BatchFilter(filter)
        return _run(inp, out, flt, count, format)
    finally:
        inp.close()


def _run(inp, out, flt, count, format):
    from pyxring.convert._extract import number, originals
    from pyxring.convert.capture import BlocksEvent
    out.begin(inp.info)
    written = 0
    failure = None
    try:
        try:
            for ev in inp.events():
                if isinstance(ev, BlocksEvent):
                    out.blocks(ev.data)
                    continue
                batch = ev.batch
                rows = None
                if flt is not None:
                    number(batch)
                    if flt.apply(batch) == 0:
                        originals(batch)
                        continue
                    rows = originals(batch)
                if count and written + len(batch) > count:
                    batch.truncate(count - written)
                    if rows is None:
                        import numpy as np
                        rows = np.arange(len(batch), dtype=np.int64)
                    rows = rows[:len(batch)]
                out.rows(batch, ev.stored(rows))
                written += len(batch)
                if count and written >= count:
                    break
        except PyxringError as exc:
            from pyxring.errors import CaptureFileError
            if not isinstance(exc, CaptureFileError):
                raise
            failure = exc           # what came before the damage is written first
    finally:
        out.close()
    if failure is not None:
        failure.packets_converted = written
        raise failure
    exact = getattr(out, "exact", False) or (format not in CAPTURE_FORMATS and
                                             inp.info.origin is not None)
    return Result(written, inp.info.origin or "table", format, exact)


def _check_not_same(source, target):
    try:
        if (isinstance(source, (str, os.PathLike)) and isinstance(target, (str, os.PathLike))
                and source != "-" and target != "-" and os.path.exists(target)
                and os.path.samefile(source, target)):
            raise ConfigError(f"{os.fsdecode(target)} is the input: write the conversion "
                              "elsewhere")
    except OSError:
        pass
