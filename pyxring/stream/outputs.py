"""Where a collector writes, and how it knows what is durably there.

Outputs: one pcapng file (``-w``), or rolled Parquet or Arrow IPC files in
a directory (``--parquet`` / ``--arrow``).  Each commits in two steps:
``prepare()`` makes what was written durable (flush and fsync; a rolled
file closed and synced under its temporary name) and returns the state to
record, ``complete()`` finishes (renames the rolled file to its name).  The
collector records the state and the stream sequences of the messages the
commit holds in the checkpoint between the two, and acknowledges those
messages only after ``complete()``.

After a crash, the checkpoint says what counts: a pcapng file is cut back to
its last committed size (a half-written record or an unacknowledged
message's packets go) and continued with a new section; a rolled file whose
commit was recorded is given its name, other temporary files are removed;
a message the checkpoint lists is acknowledged again without being written.
"""
import json
import os
import time

from pyxring.errors import PyxringError

CHECKPOINT_VERSION = 1


class OutputError(PyxringError):
    pass


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpoint:
    """The collector's record beside its output (JSON, replaced atomically):
    the stream and consumer, the stream sequences committed but perhaps
    not yet acknowledged (as ranges), and the output's own state."""

    def __init__(self, path):
        self.path = path
        self.stream = self.consumer = None
        self.committed = set()
        self.output = {}
        self.found = False
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot read the collector's checkpoint {path}: {exc}") from None
        if data.get("version") != CHECKPOINT_VERSION:
            raise OutputError(f"{path}: not a checkpoint this pyxring writes "
                              f"(version {data.get('version')!r})")
        self.found = True
        self.stream = data.get("stream")
        self.consumer = data.get("consumer")
        for lo, hi in data.get("committed", []):
            self.committed.update(range(lo, hi + 1))
        self.output = data.get("output", {})

    def save(self):
        data = {"version": CHECKPOINT_VERSION, "stream": self.stream, "consumer": self.consumer,
                "committed": _ranges(self.committed), "output": self.output}
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.path)
            _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        except OSError as exc:
            raise OutputError(f"writing the collector's checkpoint {self.path}: "
                              f"{exc.strerror}") from None

    def prune(self, floor):
        """Forget sequences the consumer's acknowledgement floor covers."""
        self.committed = {s for s in self.committed if s > floor}


def _ranges(seqs):
    out = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


class Interfaces:
    """The output's interfaces: one per (host, interface) producer, numbered
    as they first come."""

    def __init__(self):
        self.ids = {}
        self.table = []

    def get(self, key):
        return self.ids.get(key)

    def add(self, key, info):
        self.ids[key] = len(self.table)
        self.table.append(info)
        return self.ids[key]


class PcapngOutput:
    """``-w FILE``: one pcapng file, one interface block per host and
    interface (named ``IFACE@HOST``), written with pyxring's writer."""
    kind = "pcapng"

    def __init__(self, path, state, notice):
        self.path = os.fspath(path)
        self.notice = notice
        self.fd = None
        self.writer = None
        self.interfaces = Interfaces()
        self.packets = 0
        self.dirty = False
        self.last_commit = time.monotonic()
        self._resume_at = None
        if state.get("size") is not None and state.get("path") == os.path.abspath(self.path):
            self._resume_at = int(state["size"])

    def _open(self, first):
        resume = self._resume_at is not None and os.path.exists(self.path)
        try:
            if resume:
                size = os.path.getsize(self.path)
                if size < self._resume_at:
                    raise OutputError(f"{self.path} holds {size} bytes, less than the "
                                      f"{self._resume_at} the checkpoint says were committed")
                if size > self._resume_at:
                    self.notice(f"pyxring: {self.path}: {size - self._resume_at} bytes after the "
                                f"last commit cut off (their messages come again)")
                    os.truncate(self.path, self._resume_at)
                # appended as a new section; the writer's offsets start at the end
                self._file = open(self.path, "ab", buffering=0)
            else:
                self._file = open(self.path, "wb", buffering=0)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self.fd = self._file.fileno()
        from pyxring.writer import open_writer
        self.writer = open_writer(self._file, "pcapng", interfaces=[first], engine="write")

    def interface_for(self, key, info):
        iid = self.interfaces.get(key)
        if iid is not None:
            return iid
        iface = {"linktype": info["linktype"], "snaplen": info["snaplen"],
                 "name": f"{info['interface']}@{info['host']}",
                 "description": f"host {info['host']}, interface {info['interface']} "
                                f"(pyxring collect)"}
        if self.writer is None:
            self._open(iface)
        else:
            self.writer.add_interface(iface["linktype"], iface["snaplen"], name=iface["name"],
                                      description=iface["description"])
        return self.interfaces.add(key, info)

    def write(self, release):
        from pyxring.memory import from_arrow
        if not len(release):
            return
        src = from_arrow(release.parts, order=(release.idx, release.rows),
                         interface_ids=release.part_ids, split_by_interface=True,
                         batch_size=65536, validated=True)
        for batch in src.batches():
            self.writer.write_batch(batch, interface_id=src.batch_interface)
        self.packets += len(release)
        self.dirty = True

    def commit_due(self, now, interval, waiting=False):
        """Time for a commit: something was written (or messages wait for
        their acknowledgement) and ``interval`` has passed."""
        return (self.dirty or waiting) and now - self.last_commit >= interval

    def prepare(self):
        if self.writer is not None:
            self.writer.flush()
            os.fsync(self.fd)
        self.last_commit = time.monotonic()
        self.dirty = False
        size = os.fstat(self.fd).st_size if self.fd is not None else None
        return {"path": os.path.abspath(self.path), "size": size}

    def complete(self):
        pass

    def close(self):
        if self.writer is not None:
            self.writer.close()
            os.fsync(self.fd)
            self._file.close()
            self.writer = None


class RolledOutput:
    """``--parquet DIR`` / ``--arrow DIR``: files of at most ``roll_bytes``
    (before compression) or ``roll_seconds``, named
    ``pkts-YYYYmmddTHHMMSSZ-NNNNNN.parquet`` (``.arrow``), written as
    ``.NAME.tmp`` and renamed when complete, so a reader globbing
    ``*.parquet`` sees only whole files.  Rows: ``ts_ns host interface``,
    the other columns of ``pyxring.columns/1`` (the decoded header fields
    asked for, ``frame`` last)."""

    def __init__(self, directory, kind, state, notice, fields=None, roll_bytes=128 << 20,
                 roll_seconds=60.0, row_group_rows=1 << 16):
        from pyxring.columns.arrow import pyarrow
        self.pa = pyarrow()
        self.kind = kind
        self.dir = os.path.abspath(directory)
        self.ext = ".parquet" if kind == "parquet" else ".arrow"
        self.fields = fields
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self.row_group_rows = row_group_rows
        self.notice = notice
        self.interfaces = Interfaces()
        self.packets = 0
        self.files = list(state.get("files", []))
        self.number = int(state.get("next", 1))
        self.writer = None
        self.tmp = self.name = None
        self.opened = None
        self.bytes = 0
        self.buffered = []
        self.buffered_rows = 0
        self.schema = None
        self.committing = None
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot use {self.dir}: {exc.strerror}") from None
        self._recover(state.get("committing"))

    def _recover(self, committing):
        for entry in os.listdir(self.dir):
            if not (entry.startswith(".pkts-") and entry.endswith(self.ext + ".tmp")):
                continue
            final = entry[1:-4]
            path = os.path.join(self.dir, entry)
            if final == committing and not os.path.exists(os.path.join(self.dir, final)):
                os.rename(path, os.path.join(self.dir, final))      # its commit was recorded
            else:
                os.unlink(path)                                     # never committed
                self.notice(f"pyxring: {path}: never committed, removed (its messages come again)")
        _fsync_dir(self.dir)

    def interface_for(self, key, info):
        iid = self.interfaces.get(key)
        return iid if iid is not None else self.interfaces.add(key, info)

    def _open(self):
        pa = self.pa
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        while True:
            self.name = f"pkts-{stamp}-{self.number:06d}{self.ext}"
            self.number += 1
            if not os.path.exists(os.path.join(self.dir, self.name)):
                break
        self.tmp = os.path.join(self.dir, f".{self.name}.tmp")
        if self.kind == "parquet":
            import pyarrow.parquet as pq
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        else:
            self.writer = pa.ipc.new_file(self.tmp, self.schema)
        self.opened = time.monotonic()
        self.bytes = 0

    def _rows(self, batch):
        """``batch`` as the output's rows: host and interface by name
        instead of the interface number."""
        pa = self.pa
        rb = batch.to_arrow(self.fields).replace_schema_metadata(None)
        ids = rb.column("ifindex")
        hosts = pa.array([i["host"] for i in self.interfaces.table], pa.string())
        names = pa.array([i["interface"] for i in self.interfaces.table], pa.string())
        cols, fields = [], []
        for name in rb.schema.names:
            if name == "ifindex":
                continue
            cols.append(rb.column(name))
            fields.append(rb.schema.field(name))
            if name == "ts_ns":
                cols += [hosts.take(ids), names.take(ids)]
                fields += [pa.field("host", pa.string(), nullable=False),
                           pa.field("interface", pa.string(), nullable=False)]
        return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))

    def write(self, release):
        from pyxring.memory import from_arrow
        if not len(release):
            return
        src = from_arrow(release.parts, order=(release.idx, release.rows),
                         interface_ids=release.part_ids, batch_size=65536, validated=True)
        for batch in src.batches():
            rb = self._rows(batch)
            if self.schema is None:
                self.schema = rb.schema
            if self.writer is None:
                self._open()
            self.buffered.append(rb)
            self.buffered_rows += rb.num_rows
            self.bytes += rb.nbytes
            if self.buffered_rows >= self.row_group_rows:
                self._write_buffered()
        self.packets += len(release)

    def _write_buffered(self):
        if not self.buffered:
            return
        table = self.pa.Table.from_batches(self.buffered, schema=self.schema)
        if self.kind == "parquet":
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        else:
            for rb in table.to_batches():
                self.writer.write_batch(rb)
        self.buffered = []
        self.buffered_rows = 0

    def commit_due(self, now, interval, waiting=False):
        """Time to roll: the file is full or old enough; or messages whose
        packets are all in committed files wait for their acknowledgement."""
        if self.writer is None:
            return waiting
        return self.bytes >= self.roll_bytes or now - self.opened >= self.roll_seconds

    def prepare(self):
        """Close the current file, synced under its temporary name; the
        state names it as committing."""
        if self.writer is not None:
            self._write_buffered()
            if self.kind == "parquet":
                self.writer.add_key_value_metadata({
                    "pyxring.schema": "pyxring.columns/1",
                    "pyxring.interfaces": json.dumps(self.interfaces.table)})
            self.writer.close()
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.committing = (self.tmp, self.name)
            self.files.append(self.name)
            self.writer = None
        return {"files": self.files[-100:], "next": self.number,
                "committing": self.committing[1] if self.committing else None}

    def complete(self):
        if self.committing is not None:
            tmp, name = self.committing
            os.rename(tmp, os.path.join(self.dir, name))
            _fsync_dir(self.dir)
            self.committing = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
            os.unlink(self.tmp)         # uncommitted: its messages were not acknowledged
            self.writer = None


def checkpoint_path(kind, target):
    """Where the checkpoint of an output lives: beside a file, inside a directory."""
    if kind == "pcapng":
        return os.fspath(target) + ".pyxring-collect"
    return os.path.join(os.fspath(target), ".pyxring-collect")


def open_output(kind, target, state, notice, **options):
    if kind == "pcapng":
        return PcapngOutput(target, state, notice)
    return RolledOutput(target, kind, state, notice, **options)
