"""Between the capture loop and the publisher: a FIFO of messages in memory,
continued on disk (the spool) when memory is full, both bounded.

The capture thread ``put``s; the publisher thread ``take``s and, once the
server has stored a message, ``acknowledge``s it.  Order is kept: once a
message went to the spool, later ones follow it there until the publisher
has read the spool to its end.  What neither can take is dropped and
counted with its reason; nothing blocks but the spool's own disk writes.

The spool is a directory of segment files ``RUN-NNNNNN.spool``; each record
is

    "PXS1" | crc32 u32 | meta length u32 | payload length u32 | meta (JSON) | payload

(little-endian; the crc covers the meta and the payload; the meta holds the
subject, the headers and the packet count; the payload is the message's
Arrow IPC bytes).  A segment is deleted once every message in it has been
acknowledged.  A run holds ``RUN.lock`` (flock) while it lives; a later run
that finds segments of a run that holds no lock adopts them and sends them
first, so a capture that was killed, or ended while the server was away,
loses nothing it had spooled.
"""
import collections
import fcntl
import glob
import json
import os
import struct
import threading
import zlib

from pyxring.errors import PyxringError
from pyxring.stream.wire import Message

MAGIC = b"PXS1"
_RECORD = struct.Struct("<4sIII")
SEGMENT_BYTES = 64 << 20


class SpoolError(PyxringError):
    pass


class _Segment:
    __slots__ = ("path", "fd", "size", "sealed", "records", "acked", "packets",
                 "acked_packets", "own", "read_off")

    def __init__(self, path, fd, size=0, sealed=False, own=True):
        self.path = path
        self.fd = fd
        self.size = size            # bytes written (all of it, for an adopted segment)
        self.sealed = sealed        # no more records will be appended
        self.records = 0            # records appended (own) or read back (adopted)
        self.acked = 0
        self.packets = 0            # packets in the records appended (own segments)
        self.acked_packets = 0
        self.own = own
        self.read_off = 0           # where the publisher reads next


class Spool:
    """Messages on disk in the order they came (see the module's doc)."""

    def __init__(self, directory, max_bytes, run, notice=None):
        self.dir = os.path.abspath(directory)
        self.max_bytes = max_bytes
        self.run = run
        self.notice = notice or (lambda msg: None)
        self.bytes = 0              # on disk, in segments not yet deleted
        self.segments = collections.deque()
        self._next_number = 1
        self.adopted_messages = 0
        self.torn = []              # (segment, offset, why) of records that could not be read
        try:
            os.makedirs(self.dir, exist_ok=True)
            self._lock_path = os.path.join(self.dir, f"{run}.lock")
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {self.dir}: {exc.strerror}") from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._adopt()

    # -- earlier runs ------------------------------------------------------
    def _adopt(self):
        """Take over the segments of runs that hold no lock (ended or died)."""
        runs = {}
        for path in glob.glob(os.path.join(self.dir, "*.spool")):
            run, _, number = os.path.basename(path)[:-6].rpartition("-")
            if run and run != self.run and number.isdigit():
                runs.setdefault(run, []).append((int(number), path))
        for run in sorted(runs):
            lock = os.path.join(self.dir, f"{run}.lock")
            fd = None
            if os.path.exists(lock):
                fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue                # alive: another capture is using it
            try:
                for _, path in sorted(runs[run]):
                    mine = self._segment_path(self._next_number)
                    self._next_number += 1
                    os.rename(path, mine)
                    size = os.path.getsize(mine)
                    seg = _Segment(mine, os.open(mine, os.O_RDONLY | os.O_CLOEXEC), size,
                                   sealed=True, own=False)
                    self.segments.append(seg)
                    self.bytes += size
                if os.path.exists(lock):
                    os.unlink(lock)
            finally:
                if fd is not None:
                    os.close(fd)

    @property
    def adopted_bytes(self):
        return sum(s.size for s in self.segments if not s.own)

    def _segment_path(self, number):
        return os.path.join(self.dir, f"{self.run}-{number:06d}.spool")

    # -- writing (capture thread, under the outbox lock) --------------------
    def append(self, msg):
        """Write ``msg`` at the end; SpoolError when it doesn't fit (the
        bound) or the disk refuses (its errno's text)."""
        meta = json.dumps({"subject": msg.subject, "headers": msg.headers,
                           "packets": msg.packets, "run": msg.run, "seq": msg.seq}).encode()
        crc = zlib.crc32(msg.payload, zlib.crc32(meta))
        head = _RECORD.pack(MAGIC, crc, len(meta), len(msg.payload))
        length = len(head) + len(meta) + len(msg.payload)
        if self.bytes + length > self.max_bytes:
            raise SpoolError(f"the spool is full ({_mib(self.max_bytes)})")
        seg = self.segments[-1] if self.segments else None
        if seg is None or seg.sealed or seg.size + length > SEGMENT_BYTES and seg.size:
            if seg is not None and seg.own:
                seg.sealed = True
            seg = self._new_segment()
        try:
            written = os.pwritev(seg.fd, [head, meta, msg.payload], seg.size)
        except OSError as exc:
            raise SpoolError(f"writing the spool {seg.path}: {exc.strerror}") from None
        if written != length:
            raise SpoolError(f"writing the spool {seg.path}: short write (disk full?)")
        seg.size += length
        seg.records += 1
        seg.packets += msg.packets
        self.bytes += length

    def _new_segment(self):
        path = self._segment_path(self._next_number)
        self._next_number += 1
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SpoolError(f"creating the spool segment {path}: {exc.strerror}") from None
        seg = _Segment(path, fd)
        self.segments.append(seg)
        return seg

    # -- reading (publisher thread, under the outbox lock) ------------------
    def _reading(self):
        """The segment the next read comes from, or None (read to the end)."""
        done = []
        found = None
        for seg in self.segments:
            if seg.read_off < seg.size:
                found = seg
                break
            if not seg.sealed:
                break               # the segment being written, read up to its end
            done.append(seg)
        for seg in done:
            self._maybe_delete(seg)
        return found

    def has_unread(self):
        return self._reading() is not None

    def read_next(self):
        """The next unread message, or None when the spool is read to its end."""
        while True:
            seg = self._reading()
            if seg is None:
                return None
            got = self._read_record(seg, seg.read_off)
            if got is None:             # torn or damaged: the rest of the segment is lost
                seg.read_off = seg.size
                continue
            msg, length = got
            seg.read_off += length
            if not seg.own:
                seg.records += 1
                self.adopted_messages += 1
            return msg

    def _read_record(self, seg, off):
        head = os.pread(seg.fd, _RECORD.size, off)
        if len(head) < _RECORD.size:
            self.torn.append((seg.path, off, "a record cut short"))
            return None
        magic, crc, meta_len, payload_len = _RECORD.unpack(head)
        end = off + _RECORD.size + meta_len + payload_len
        if magic != MAGIC or end > seg.size:
            self.torn.append((seg.path, off, "a record cut short" if magic == MAGIC
                              else "not a spool record"))
            return None
        meta = os.pread(seg.fd, meta_len, off + _RECORD.size)
        payload = os.pread(seg.fd, payload_len, off + _RECORD.size + meta_len)
        if zlib.crc32(payload, zlib.crc32(meta)) != crc:
            self.torn.append((seg.path, off, "a damaged record (crc)"))
            return None
        try:
            m = json.loads(meta)
            msg = Message(m["subject"], m["headers"], payload, int(m["packets"]), m["run"],
                          int(m["seq"]), segment=seg)
        except (ValueError, KeyError, TypeError):
            self.torn.append((seg.path, off, "a damaged record (meta)"))
            return None
        return msg, end - off

    def acknowledged(self, msg):
        """The server stored ``msg`` (read from this spool)."""
        seg = msg.segment
        seg.acked += 1
        seg.acked_packets += msg.packets
        self._maybe_delete(seg)

    def _maybe_delete(self, seg):
        if seg.sealed and seg.read_off >= seg.size and seg.acked >= seg.records:
            try:
                self.segments.remove(seg)
            except ValueError:
                return
            os.close(seg.fd)
            try:
                os.unlink(seg.path)
            except FileNotFoundError:
                pass
            self.bytes -= seg.size

    # -- the end -------------------------------------------------------------
    def left(self):
        """(messages, packets) of this run still in the spool, not acknowledged."""
        msgs = sum(s.records - s.acked for s in self.segments if s.own)
        packets = sum(s.packets - s.acked_packets for s in self.segments if s.own)
        return msgs, packets

    def close(self):
        """Seal and keep what is left (synced to disk) for a later run; the
        lock goes, so that run can adopt it."""
        for seg in list(self.segments):
            seg.sealed = True
            self._maybe_delete(seg)
        for seg in self.segments:
            try:
                os.fsync(seg.fd)
            except OSError:
                pass
            os.close(seg.fd)
        kept = bool(self.segments)
        self.segments.clear()
        if not kept:
            try:
                os.unlink(self._lock_path)
            except FileNotFoundError:
                pass
        os.close(self._lock_fd)
        return kept


class Outbox:
    """The FIFO between the capture thread and the publisher (see the
    module's doc).  ``spool`` may be None: then what memory can't hold is
    dropped."""

    def __init__(self, memory_bytes, spool=None):
        self.memory_bytes = memory_bytes
        self.spool = spool
        self.lock = threading.Lock()
        self._mem = collections.deque()
        self._mem_used = 0
        self._spooling = False      # the spool holds messages older than new ones
        self.wakeup = None          # called (outside the lock) after a put
        self.spooled_packets = 0
        self.spooled_messages = 0
        self.dropped = collections.Counter()     # reason -> packets
        self.peak_memory = 0

    def put(self, msg):
        """Queue ``msg``; returns "memory", "spool" or "dropped"."""
        with self.lock:
            where = self._put(msg)
        if where != "dropped" and self.wakeup is not None:
            self.wakeup()
        return where

    def _put(self, msg):
        if not self._spooling and self._mem_used + msg.size <= self.memory_bytes:
            self._mem.append(msg)
            self._mem_used += msg.size
            self.peak_memory = max(self.peak_memory, self._mem_used)
            return "memory"
        if self.spool is None:
            self.drop(msg.packets, f"the server was away or slow and the memory buffer "
                                   f"({_mib(self.memory_bytes)}) was full; no spool")
            msg.release()
            return "dropped"
        try:
            self.spool.append(msg)
        except SpoolError as exc:
            self.drop(msg.packets, str(exc))
            return "dropped"
        finally:
            msg.release()           # on disk now, or dropped
        self._spooling = True
        self.spooled_packets += msg.packets
        self.spooled_messages += 1
        return "spool"

    def drop(self, packets, reason):
        self.dropped[reason] += packets

    def take(self):
        """The oldest message, or None (publisher thread)."""
        with self.lock:
            if self._mem:
                msg = self._mem.popleft()
                self._mem_used -= msg.size
                return msg
            if self._spooling:
                msg = self.spool.read_next()
                if msg is not None:
                    return msg
                self._spooling = False
            elif self.spool is not None and self.spool.has_unread():
                return self.spool.read_next()      # adopted from an earlier run
            return None

    def acknowledged(self, msg):
        if msg.segment is not None:
            with self.lock:
                self.spool.acknowledged(msg)

    def empty(self):
        with self.lock:
            return not self._mem and not (self.spool is not None and self.spool.has_unread())

    @property
    def memory_used(self):
        return self._mem_used

    def spill(self, messages):
        """At the end: ``messages`` (unacknowledged, not from the spool) and
        what memory still holds go to the spool to be sent by a later run,
        or are dropped with ``reason`` when there is no room.  Returns the
        packets kept."""
        with self.lock:
            rest = [m for m in messages if m.segment is None] + list(self._mem)
            self._mem.clear()
            self._mem_used = 0
            kept = 0
            for msg in rest:
                if self.spool is None:
                    self.drop(msg.packets, "the server did not acknowledge them before the "
                                           "end, and there is no spool")
                    msg.release()
                    continue
                try:
                    self.spool.append(msg)
                except SpoolError as exc:
                    self.drop(msg.packets, f"not acknowledged before the end, and {exc}")
                    continue
                finally:
                    msg.release()
                self.spooled_packets += msg.packets
                self.spooled_messages += 1
                kept += msg.packets
            return kept


def _mib(n):
    return f"{n / (1 << 20):g} MiB"
