"""What travels in the stream: one message per ring batch (or per part of
one), an Arrow IPC stream of one record batch, with NATS headers.

Payload: the ``pyxring.columns/1`` schema (``pyxring.columns.arrow``) with
the descriptor columns only (``ts_ns ifindex caplen wirelen queue linktype
epb_flags``) and ``frame``, the captured bytes; its metadata adds
``pyxring.host``, ``pyxring.stream.run`` and ``pyxring.stream.seq``, so a
record batch read on its own still says where it came from.

Headers (a collector routes and deduplicates on them without decoding):

    Nats-Msg-Id        HOST/IFACE/RUN/SEQ: JetStream stores a retried publish once
    Pyxring-Host       the capture host's name
    Pyxring-Interface  the interface's name
    Pyxring-Run        the producer run (its start time, ns since the epoch, in hex)
    Pyxring-Seq        this message's number in the run, per interface, from 0
    Pyxring-Packets    packets in the message
    Pyxring-Schema     pyxring.columns/1

A batch whose message would pass the server's maximum payload is split into
parts, each its own message with its own sequence number.
"""
import collections
import json
import math
import re

from pyxring.errors import PyxringError

SCHEMA_ID = "pyxring.columns/1"
H_MSG_ID = "Nats-Msg-Id"
H_HOST = "Pyxring-Host"
H_IFACE = "Pyxring-Interface"
H_RUN = "Pyxring-Run"
H_SEQ = "Pyxring-Seq"
H_PACKETS = "Pyxring-Packets"
H_SCHEMA = "Pyxring-Schema"
# room kept under the server's max payload for the headers and the framing
PAYLOAD_MARGIN = 1024
# an Arrow IPC message's size, estimated: the schema with its metadata, and
# per row the descriptor columns, the frame's offset and alignment
SCHEMA_OVERHEAD = 4096
ROW_OVERHEAD = 40
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
DESCRIPTOR_FIELDS = ("ts_ns", "ifindex", "caplen", "wirelen", "queue", "linktype", "epb_flags")


class BadMessage(PyxringError):
    """A message on the stream that is not a pyxring batch."""


class PayloadPool:
    """Buffers for messages' payloads, given back when a message is done
    with (acknowledged, spooled or dropped) and used again: a fresh
    megabyte costs the kernel 256 page faults and as many zeroed pages,
    several times what formatting the message costs."""

    def __init__(self, keep=32):
        self.keep = keep
        self._free = collections.deque()

    def get(self, size):
        for _ in range(len(self._free)):
            try:
                buf = self._free.popleft()
            except IndexError:
                break
            if len(buf) >= size:
                return buf
        return bytearray(max(size, 1 << 20))

    def put(self, buf):
        if len(self._free) < self.keep:
            self._free.append(buf)


class Message:
    """One message ready to publish (or read back from the spool)."""
    __slots__ = ("subject", "headers", "payload", "packets", "run", "seq", "segment", "_buffer",
                 "_pool")

    def __init__(self, subject, headers, payload, packets, run, seq, segment=None, buffer=None,
                 pool=None):
        self.subject = subject
        self.headers = headers
        self.payload = payload          # bytes-like: a view of a pooled buffer, or bytes
        self.packets = packets
        self.run = run
        self.seq = seq
        self.segment = segment          # the spool segment it was read from, if any
        self._buffer = buffer
        self._pool = pool

    @property
    def size(self):
        return len(self.payload)

    @property
    def msg_id(self):
        return self.headers[H_MSG_ID]

    def release(self):
        """The payload is no longer needed (the stream stored it, or it was
        spooled or dropped): its buffer goes back to the pool."""
        if self._buffer is not None:
            self.payload.release()
            self._pool.put(self._buffer)
            self._buffer = self._pool = None
            self.payload = b""


def header_text(value):
    """A header value: no control characters (NATS headers are lines)."""
    return _HEADER_UNSAFE.sub("?", str(value))


class Encoder:
    """Messages for the batches of one interface: its subject, its metadata
    and its sequence numbers."""

    def __init__(self, subject, host, iface, run):
        from pyxring.columns.arrow import pyarrow
        self.pa = pyarrow()
        self.subject = subject
        self.host = host
        self.iface = iface
        self.run = run
        self.seq = 0
        self.too_large = 0          # frames dropped because no message could hold them
        self.too_large_reason = None
        self.pool = PayloadPool()
        self._meta = None
        self._msg_prefix = f"{header_text(host)}/{header_text(iface)}/{run}/"

    def encode(self, batch, max_payload):
        """The messages for ``batch`` (its packets in order), each under
        ``max_payload`` bytes; a frame that can't fit alone is left out and
        counted in ``too_large``."""
        from pyxring.columns.arrow import batch_to_arrow, schema_metadata
        rb = batch_to_arrow(batch, [])
        if self._meta is None:
            self._meta = dict(schema_metadata(batch.source))
            self._meta["pyxring.host"] = self.host
            # the name the subject and headers carry (publish(interface=...)
            # may rename the source's)
            self._meta["pyxring.interface"] = self.iface
            self._meta["pyxring.stream.run"] = self.run
        out = []
        self._encode(rb, max_payload - PAYLOAD_MARGIN, out)
        return out

    def _encode(self, rb, limit, out):
        """Append ``rb``'s messages to ``out``: one when it fits ``limit``,
        else slices balanced by the frames' bytes (estimated first, so a
        batch is serialized once in the usual case)."""
        import numpy as np
        weight = np.cumsum(rb.column("caplen").to_numpy().astype(np.int64) + ROW_OVERHEAD)
        estimate = int(weight[-1]) + SCHEMA_OVERHEAD if rb.num_rows else 0
        if estimate <= limit or rb.num_rows == 1:
            msg = self._message(rb)
            if msg.size <= limit:
                self.seq += 1
                out.append(msg)
                return
            msg.release()
            if rb.num_rows == 1:
                # one frame alone can't be sent: counted, the others go on
                self.too_large += 1
                self.too_large_reason = (f"frames larger than the server's maximum payload "
                                         f"({limit + PAYLOAD_MARGIN} bytes)")
                return
            estimate = max(estimate, msg.size + limit // 8)
        n = max(2, min(rb.num_rows, math.ceil(estimate / limit)))
        cuts = np.searchsorted(weight, weight[-1] * np.arange(1, n) / n).tolist()
        bounds = sorted({0, *[c for c in cuts if 0 < c < rb.num_rows], rb.num_rows})
        if len(bounds) == 2:
            bounds = [0, rb.num_rows // 2, rb.num_rows]
        for lo, hi in zip(bounds, bounds[1:]):
            self._encode(rb.slice(lo, hi - lo), limit, out)

    def _message(self, rb):
        """``rb`` as the message numbered ``self.seq`` (not yet counted)."""
        pa = self.pa
        seq = self.seq
        meta = dict(self._meta)
        meta["pyxring.stream.seq"] = str(seq)
        rb = rb.replace_schema_metadata(meta)
        mock = pa.MockOutputStream()
        with pa.ipc.new_stream(mock, rb.schema) as w:
            w.write_batch(rb)
        size = mock.size()
        buf = self.pool.get(size)
        with pa.ipc.new_stream(pa.FixedSizeBufferWriter(pa.py_buffer(buf)), rb.schema) as w:
            w.write_batch(rb)
        payload = memoryview(buf)[:size]
        headers = {H_MSG_ID: f"{self._msg_prefix}{seq}", H_HOST: header_text(self.host),
                   H_IFACE: header_text(self.iface), H_RUN: self.run, H_SEQ: str(seq),
                   H_PACKETS: str(rb.num_rows), H_SCHEMA: SCHEMA_ID}
        return Message(self.subject, headers, payload, rb.num_rows, self.run, seq, buffer=buf,
                       pool=self.pool)


def decode(payload):
    """The record batch in a message's payload, checked: the schema is
    pyxring's, the descriptor columns and ``frame`` are there with their
    types, and the frames' offsets are consistent (a source walks them in
    C).  BadMessage says what is wrong."""
    from pyxring.columns.arrow import pyarrow
    pa = pyarrow()
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(payload))
        rb = reader.read_next_batch()
    except (pa.ArrowException, StopIteration, OSError) as exc:
        raise BadMessage(f"not an Arrow IPC stream ({_first_line(exc)})") from None
    meta = rb.schema.metadata or {}
    if meta.get(b"pyxring.schema") != SCHEMA_ID.encode():
        raise BadMessage("not a pyxring.columns/1 record batch")
    want = {"ts_ns": pa.timestamp("ns", tz="UTC"), "ifindex": pa.uint32(), "caplen": pa.uint32(),
            "wirelen": pa.uint32(), "queue": pa.uint16(), "linktype": pa.uint16(),
            "epb_flags": pa.uint32(), "frame": pa.binary()}
    for name, typ in want.items():
        i = rb.schema.get_field_index(name)
        if i < 0 or rb.schema.field(i).type != typ:
            raise BadMessage(f"column {name} ({typ}) is missing or of another type")
        if rb.column(i).null_count:
            raise BadMessage(f"column {name} has nulls")
    try:
        rb.validate(full=True)
    except pa.ArrowException as exc:
        raise BadMessage(f"inconsistent record batch ({_first_line(exc)})") from None
    return rb


def message_meta(rb):
    """``{"host", "interface", "run", "seq", "interfaces"}`` from a decoded
    record batch's metadata."""
    meta = {k.decode(): v.decode() for k, v in (rb.schema.metadata or {}).items()}
    try:
        interfaces = json.loads(meta.get("pyxring.interfaces", "[]"))
    except ValueError:
        interfaces = []
    return {"host": meta.get("pyxring.host", ""), "interface": meta.get("pyxring.interface", ""),
            "run": meta.get("pyxring.stream.run", ""), "seq": meta.get("pyxring.stream.seq"),
            "interfaces": interfaces}


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
