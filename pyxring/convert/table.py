"""The table side of a conversion: Arrow IPC and Parquet files (pyarrow).

A table is the schema of ``pyxring.columns.arrow`` (one row per packet:
the descriptor fields, the decoded fields, ``frame``) with the columns that
keep a capture file's records exact:

- ``ts_raw`` uint64: the record's time as the file stored it (pcapng: units
  of the interface's ``if_tsresol`` after ``if_tsoffset``; pcap: seconds
  << 32 | the fraction field);
- ``record_head`` binary: the record's header, where pyxring would not
  write the same one from the columns (a simple or obsolete packet block, a
  Kuznetsov pcap header, lengths in the other order); null otherwise;
- ``record_tail`` binary: what the record holds after the frame, where it
  isn't just zero padding: a pcapng block's padding and options (in its
  section's byte order), a pcap record's bytes past the snapshot length;
- ``blocks_after`` binary: the pcapng blocks that are not packets
  (interface statistics, name resolution, decryption secrets, a new
  section, ...) that follow the packet in the file, as they are;
- ``comment`` string: the packet's opt_comment options, joined by new
  lines.

The schema's metadata adds ``pyxring.format`` (the file's: ``pcap`` or
``pcapng``), ``pyxring.head`` (a JSON list of the base64 of the blocks
before the first packet: pcap's file header, or pcapng's section header and
interface descriptions), ``pyxring.section`` (the first section header's
options) to ``pyxring.interfaces``.
"""
import base64
import json

import numpy as np

from pyxring.columns.arrow import SCHEMA_ID, arrow_field_names, pyarrow
from pyxring.convert import _tablesrc
from pyxring.convert.capture import InputInfo, RowsEvent, BlocksEvent, Stored
from pyxring.convert.layout import PcapLayout, PcapngLayout, split_blocks
from pyxring.errors import ConfigError, PyxringError

RECORD_COLUMNS = ("ts_raw", "record_head", "record_tail", "blocks_after", "comment")
PARQUET_CODECS = ("zstd", "snappy", "gzip", "lz4", "brotli", "none")
ARROW_CODECS = ("none", "zstd", "lz4")
_SHB_OPTIONS = {1: "comment", 2: "hardware", 3: "os", 4: "userappl"}


def _record_types(pa):
    return {"ts_raw": pa.uint64(), "record_head": pa.binary(), "record_tail": pa.binary(),
            "blocks_after": pa.binary(), "comment": pa.string()}


def interface_entries(head, origin, name="<capture>"):
    """``pyxring.interfaces`` entries for the interfaces a file's head
    describes (pcap: its one interface)."""
    from pyxring.columns.arrow import interface_entry
    if origin == "pcap":
        return [interface_entry(0, PcapLayout(head[0], name).interface)]
    ng = PcapngLayout(name)
    for b in head:
        ng.feed(b)
    return [interface_entry(i, itf) for i, itf in enumerate(ng.interfaces)]


def _section_options(head):
    ng = PcapngLayout()
    for b in head:
        ng.feed(b)
        if ng.sections:
            break
    if not ng.sections:
        return {}
    return {_SHB_OPTIONS.get(code, str(code)):
            (v.rstrip(b"\0").decode("utf-8", "replace") if code in _SHB_OPTIONS else v.hex())
            for code, v in ng.sections[0][1].items()}


# --- writing a table -------------------------------------------------------------------

class TableOutput:
    """Rows written as an Arrow IPC file or Parquet; the blocks between
    packets ride in the row before them (``blocks_after``), those before
    the first packet in the schema's metadata."""

    def __init__(self, path, format, *, fields=None, frames=True, compression="auto",
                 level=None, rows=65536):
        self.pa = pyarrow()
        self.path, self.format, self.frames, self.group_size = path, format, frames, rows
        self.level = level
        codecs = PARQUET_CODECS if format == "parquet" else ARROW_CODECS
        if compression == "auto":
            compression = "zstd" if format == "parquet" else "none"
        if compression not in codecs:
            raise ConfigError(f"{format} files take the compressions {', '.join(codecs)}, "
                              f"not {compression!r}")
        self.compression = compression
        names = arrow_field_names(fields)
        self.fields = [n for n in names]
        self.writer = None
        self.pending = None         # (record batch parts, after dict) of the last rows
        self.group = []             # Parquet: batches waiting for a row group
        self.group_rows = 0
        self.packets = 0

    def begin(self, info):
        self.info = info
        self.head = list(info.head)

    def blocks(self, data):
        if self.pending is None:
            self.head.extend(split_blocks(data, self._head_swapped()) if self.info.origin
                             == "pcapng" else [bytes(data)])
        else:
            after = self.pending[1]
            last = self.pending[2] - 1
            after[last] = after.get(last, b"") + bytes(data)

    def _head_swapped(self):
        ng = PcapngLayout()
        for b in self.head:
            ng.feed(b)
        return ng.swapped

    def rows(self, batch, stored):
        from pyxring.columns.arrow import batch_to_arrow
        rb = batch_to_arrow(batch, self.fields)
        cols = list(rb.columns)
        if not self.frames:
            cols = cols[:-1]
        n = len(batch)
        caplen = rb.column("caplen").to_numpy()
        self._flush_pending()
        self.pending = (cols, {}, n, stored, stored.comment_list(caplen))
        self.packets += n

    def _flush_pending(self):
        if self.pending is None:
            return
        pa = self.pa
        cols, after, n, stored, comments = self.pending
        self.pending = None
        ts_raw = pa.array(stored.ts_raw, pa.uint64()) if stored.ts_raw is not None \
            else pa.nulls(n, pa.uint64())
        if stored.ts_raw is not None and stored.known is not None:
            ts_raw = pa.array(stored.ts_raw, pa.uint64(), mask=~np.asarray(stored.known, bool))
        cols = cols + [ts_raw, _binary(pa, stored.head, n), _binary(pa, stored.tail, n),
                       _after(pa, after, n), pa.array(comments or [None] * n, pa.string())]
        self._write(pa.RecordBatch.from_arrays(cols, schema=self._schema()))

    def _schema(self):
        if getattr(self, "schema", None) is None:
            pa = self.pa
            from pyxring.columns.arrow import _arrow_type, VALID
            fields = []
            for name in self.fields:
                fields.append(pa.field(name, _arrow_type(pa, name), nullable=name in VALID))
            if self.frames:
                fields.append(pa.field("frame", pa.binary(), nullable=False))
            for name, typ in _record_types(pa).items():
                fields.append(pa.field(name, typ))
            self.schema = pa.schema(fields, metadata=self._metadata())
        return self.schema

    def _metadata(self):
        info = self.info
        if info.origin in ("pcap", "pcapng") and self.head:
            interfaces = interface_entries(self.head, info.origin, info.name)
        else:
            interfaces = info.interfaces
        meta = {"pyxring.schema": SCHEMA_ID, "pyxring.interfaces": json.dumps(interfaces)}
        if len(interfaces) == 1:
            meta["pyxring.interface"] = str(interfaces[0].get("name") or "")
            meta["pyxring.linktype"] = str(interfaces[0]["linktype"])
        if info.origin:
            meta["pyxring.format"] = info.origin
            meta["pyxring.head"] = json.dumps([base64.b64encode(b).decode() for b in self.head])
        if info.origin == "pcapng":
            meta["pyxring.section"] = json.dumps(_section_options(self.head))
        return meta

    def _open(self):
        pa = self.pa
        schema = self._schema()
        if self.format == "parquet":
            import pyarrow.parquet as pq
            binary = {"frame", "record_head", "record_tail", "blocks_after", "src6", "dst6"}
            names = schema.names
            self.writer = pq.ParquetWriter(
                _sink_path(self.path), schema,
                compression=self.compression if self.compression != "none" else None,
                compression_level=self.level,
                use_dictionary=[n for n in names if n not in binary and n != "comment"],
                write_statistics=[n for n in names if n not in binary])
        else:
            opts = pa.ipc.IpcWriteOptions(compression=None if self.compression == "none"
                                          else self.compression)
            self.sink = pa.OSFile(_sink_path(self.path), "wb") if self.path != "-" \
                else pa.PythonFile(_stdout(), mode="w")
            self.writer = pa.ipc.new_file(self.sink, schema, options=opts)

    def _write(self, rb):
        if self.writer is None:
            self._open()
        if self.format == "parquet":
            self.group.append(rb)
            self.group_rows += rb.num_rows
            if self.group_rows >= self.group_size:
                self._write_group()
        else:
            self.writer.write_batch(rb)

    def _write_group(self):
        if self.group:
            self.writer.write_table(self.pa.Table.from_batches(self.group),
                                    row_group_size=max(self.group_rows, 1))
        self.group, self.group_rows = [], 0

    def close(self):
        self._flush_pending()
        if self.writer is None:
            self._open()
        if self.format == "parquet":
            self._write_group()
        self.writer.close()
        if self.format != "parquet":
            self.sink.close()


def _sink_path(path):
    import os
    return os.fspath(path) if path != "-" else "/dev/stdout"


def _stdout():
    import sys
    return sys.stdout.buffer


def _binary(pa, var, n):
    if var is None:
        return pa.nulls(n, pa.binary())
    off, data = var
    present = np.diff(off) > 0
    validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.binary(), n, [validity, pa.py_buffer(off), pa.py_buffer(data)],
                                 null_count=n - int(np.count_nonzero(present)))


def _after(pa, after, n):
    if not after:
        return pa.nulls(n, pa.binary())
    return pa.array([after.get(i) for i in range(n)], pa.binary())


# --- reading a table -------------------------------------------------------------------

def sniff(path):
    """"arrow", "arrow-stream" or "parquet" for a table file, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head.startswith(b"ARROW1"):
        return "arrow"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head[:4] == b"\xff\xff\xff\xff":
        return "arrow-stream"
    return None


class TableInput:
    """An Arrow IPC file (or stream) or a Parquet file as events."""

    def __init__(self, path, kind, rows=65536):
        self.pa = pa = pyarrow()
        self.path, self.kind, self.batch_rows = path, kind, rows
        try:
            if kind == "parquet":
                import pyarrow.parquet as pq
                self.file = pq.ParquetFile(path)
                schema = self.file.schema_arrow
            elif kind == "arrow":
                self.file = pa.ipc.open_file(path)
                schema = self.file.schema
            else:
                self.file = pa.ipc.open_stream(path)
                schema = self.file.schema
        except (OSError, pa.ArrowInvalid) as exc:
            raise PyxringError(f"{path}: not a readable {kind} file ({exc})") from None
        self.schema = schema
        if "frame" not in schema.names:
            raise PyxringError(f"{path} has no frame column (written with --no-frames?): its "
                               "packets can't be written as a capture file")
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        origin = meta.get("pyxring.format")
        head = [base64.b64decode(b) for b in json.loads(meta.get("pyxring.head", "[]"))]
        try:
            interfaces = json.loads(meta.get("pyxring.interfaces", "[]"))
        except ValueError:
            interfaces = []
        if origin not in ("pcap", "pcapng") or not head:
            origin, head = None, []
        linktypes = {e.get("ifindex"): e.get("linktype") for e in interfaces}
        default_lt = interfaces[0].get("linktype", 1) if interfaces else 1
        self.linktypes = linktypes
        self.default_linktype = default_lt if default_lt is not None else 1
        self.info = InputInfo(str(path), origin, head, interfaces, self.default_linktype)
        self.linktype = self.default_linktype
        self.src = _tablesrc.TableSource(str(path), self.default_linktype, interfaces)
        self.packets = 0

    def _batches(self):
        if self.kind == "parquet":
            yield from self.file.iter_batches(batch_size=self.batch_rows)
        elif self.kind == "arrow":
            for i in range(self.file.num_record_batches):
                yield self.file.get_batch(i)
        else:
            yield from self.file

    def events(self):
        for rb in self._batches():
            if rb.num_rows == 0:
                continue
            cols = self._columns(rb)
            after = rb.column("blocks_after") if "blocks_after" in rb.schema.names else None
            cuts = []
            if after is not None and after.null_count < len(after):
                cuts = np.flatnonzero(~after.is_null().to_numpy(zero_copy_only=False)).tolist()
            start = 0
            for cut in cuts:
                yield from self._rows(cols, start, cut + 1)
                yield BlocksEvent(after[cut].as_py())
                start = cut + 1
            if start < rb.num_rows:
                yield from self._rows(cols, start, rb.num_rows)

    def _rows(self, cols, start, stop):
        frame_off, frames = cols["frame"]
        part = {k: None if v is None else v[start:stop] for k, v in cols.items()
                if k not in ("frame", "record_head", "record_tail")}
        self.src.load(frame_off[start:stop + 1], frames, part["ts_ns"], part["wirelen"],
                      part["ifindex"], part["linktype"], part["epb_flags"], part["queue"])
        batch = self.src.batch(0)
        stored = Stored(part["ts_raw"], part["known"],
                        _var_slice(cols["record_head"], start, stop),
                        _var_slice(cols["record_tail"], start, stop),
                        part["comment"], False)

        def take(_batch, rows, stored=stored):
            return stored if rows is None else stored.take(rows)
        try:
            yield RowsEvent(batch, take)
        finally:
            batch.release()
        self.packets += stop - start

    def _columns(self, rb):
        """The table's columns as numpy arrays of the types the writer
        takes (defaults where a column is missing)."""
        pa = self.pa
        import pyarrow.compute as pc
        n = rb.num_rows
        names = rb.schema.names

        def col(name):
            return rb.column(name) if name in names else None

        frame = col("frame")
        if frame.null_count:
            raise PyxringError(f"{self.path}: a row has no frame (null)")
        out = {"frame": _var_of(pa, frame)}
        caplen = np.diff(out["frame"][0]).astype(np.uint32)
        ts = col("ts_ns")
        if ts is None:
            raise PyxringError(f"{self.path} has no ts_ns column")
        if pa.types.is_timestamp(ts.type):
            ts = ts.cast(pa.timestamp("ns", tz=ts.type.tz))
        ts = ts.cast(pa.int64())
        if ts.null_count or (n and pc.min(ts).as_py() < 0):
            raise PyxringError(f"{self.path}: a row's ts_ns is null or before 1970")
        out["ts_ns"] = ts.to_numpy().view(np.uint64)
        out["wirelen"] = _ints(col("wirelen"), np.uint32, caplen)
        out["ifindex"] = _ints(col("ifindex"), np.uint32, 0, n)
        if col("linktype") is not None:
            out["linktype"] = _ints(col("linktype"), np.uint16, self.default_linktype, n)
        else:
            out["linktype"] = np.array([self.linktypes.get(int(i), self.default_linktype)
                                        for i in out["ifindex"]] or [], np.uint16)
        out["epb_flags"] = _ints(col("epb_flags"), np.uint32, 0, n)
        out["queue"] = _ints(col("queue"), np.uint16, 0, n)
        raw = col("ts_raw")
        if raw is not None:
            out["known"] = ~np.asarray(raw.is_null(), bool)
            out["ts_raw"] = raw.fill_null(0).cast(pa.uint64()).to_numpy()
        else:
            out["known"] = out["ts_raw"] = None
        for name in ("record_head", "record_tail"):
            c = col(name)
            out[name] = None if c is None or c.null_count == n else _var_of(pa, c)
        c = col("comment")
        out["comment"] = None if c is None or c.null_count == n else c.to_pylist()
        return out

    def close(self):
        self.src.close()


def _ints(arr, dtype, default, n=None):
    if arr is None:
        if isinstance(default, np.ndarray):
            return default.astype(dtype)
        return np.full(n, default, dtype)
    if arr.null_count:
        fill = default if not isinstance(default, np.ndarray) else None
        if fill is None:
            values = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype)
            return np.where(np.asarray(arr.is_null()), default, values).astype(dtype)
        arr = arr.fill_null(fill)
    return np.ascontiguousarray(arr.to_numpy(zero_copy_only=False), dtype)


def _var_of(pa, arr):
    """A binary column as (offsets int32, bytes), nulls as empty values."""
    if pa.types.is_large_binary(arr.type) or pa.types.is_string(arr.type) \
            or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary())
    if arr.null_count:
        arr = arr.fill_null(b"")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return off, data


def _var_slice(var, start, stop):
    if var is None:
        return None
    off, data = var
    return off[start:stop + 1], data
