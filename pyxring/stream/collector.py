"""The collector behind ``pyxring collect``: a durable consumer, a reorder
window, one output, and acknowledgements only for what the output holds
durably.

    fetch -> drop duplicates -> reorder buffer -> output (pcapng / Parquet / Arrow)
          -> commit: output synced, checkpoint written -> acknowledge

A message is acknowledged once every one of its packets is in a commit.  A
commit can fall while a message is partly written (the reorder window
releases packets by time, not by message): the checkpoint then says how
many of its packets (in its time order) are in, and when the message comes
again after a crash only the rest is written.  So a collector that dies at
any point and is started again with the same output and consumer writes
every packet exactly once.
"""
import asyncio
import time

from pyxring.stream.consumer import Consumer
from pyxring.stream.merge import Held, ReorderBuffer
from pyxring.stream.outputs import Checkpoint, OutputError, checkpoint_path, open_output

from pyxring.stream.defaults import (DEFAULT_COMMIT_INTERVAL, DEFAULT_DURABLE,  # noqa: F401
                                     DEFAULT_WINDOW)


class ProducerTally:
    __slots__ = ("packets", "messages", "runs")

    def __init__(self):
        self.packets = 0
        self.messages = 0
        self.runs = {}              # run -> [lowest seq, highest seq, messages]

    def add(self, d):
        self.packets += d.packets
        self.messages += 1
        if d.seq is not None:
            r = self.runs.setdefault(d.run, [d.seq, d.seq, 0])
            r[0], r[1], r[2] = min(r[0], d.seq), max(r[1], d.seq), r[2] + 1

    def missing(self):
        return sum(hi - lo + 1 - n for lo, hi, n in self.runs.values())


class Collector:
    """Reads ``subject`` at ``url`` into one output: ``kind`` ``"pcapng"``
    (``target`` a file), ``"parquet"`` or ``"arrow"`` (``target`` a
    directory of rolled files)."""

    def __init__(self, url, kind, target, *, subject=None, durable=DEFAULT_DURABLE,
                 window=DEFAULT_WINDOW, commit_interval=DEFAULT_COMMIT_INTERVAL, count=None,
                 duration=None, drain=False, notice=None, output_options=None,
                 max_held_bytes=512 << 20, ack_wait=30.0):
        self.kind = kind
        self.target = target
        self.consumer = Consumer(url, subject, durable, ack_wait=ack_wait)
        self.window = window
        self.commit_interval = commit_interval
        self.count = count
        self.duration = duration
        self.drain = drain
        self.notice = notice or (lambda msg: None)
        self.output_options = output_options or {}
        self.buffer = ReorderBuffer(window, max_held_bytes)
        self.checkpoint = Checkpoint(checkpoint_path(kind, target))
        self.output = None
        self.held_by_seq = {}       # stream sequence -> Held, while held
        self.ready = []             # fully written, waiting for the commit
        self.partial = {}           # stream sequence -> packets already committed (restart)
        self.producers = {}         # (host, interface) -> ProducerTally
        self.written = 0
        self.acked = 0
        self.redelivered_skipped = 0
        self.stop = asyncio.Event()
        self.stopped_by = None

    # -- the loop --------------------------------------------------------------
    async def run(self, started=None):
        await self.consumer.open()
        try:
            self._resume()
            self.output = open_output(self.kind, self.target, self.checkpoint.output,
                                      self.notice, **self.output_options)
            if started is not None:
                started(self)
            await self._loop()
            await self._finish()
        finally:
            if self.output is not None:
                self.output.close()
            await self.consumer.close()

    def _resume(self):
        cp = self.checkpoint
        same = cp.stream == self.consumer.stream and cp.consumer == self.consumer.name
        if cp.found and not same:
            self.notice(f"pyxring: {cp.path} was written for consumer {cp.consumer} of stream "
                        f"{cp.stream}; its record of acknowledged messages does not apply")
            cp.committed = set()
            cp.output.pop("partial", None)
        self.partial = {int(k): v for k, v in cp.output.get("partial", {}).items()} if same else {}
        cp.stream, cp.consumer = self.consumer.stream, self.consumer.name

    async def _loop(self):
        deadline = time.monotonic() + self.duration if self.duration else None
        last_progress = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.stopped_by = "duration"
                return
            got = await self.consumer.fetch(timeout=0.25 if not self.buffer else 0.1)
            now = time.monotonic()
            for d in got:
                await self._take(d, now)
            self._write(self.buffer.release(now, limit=self._left()))
            if self._left() == 0:
                self.stopped_by = "count"
                return
            if self.output.commit_due(now, self.commit_interval, bool(self.ready)):
                await self._commit()
            if now - last_progress >= self.consumer.ack_wait / 3:
                last_progress = now
                old = [h.token for h in self.buffer.held if now - h.arrival > self.consumer.ack_wait / 3]
                await self.consumer.in_progress(old + self.ready)
            if self.drain and not got and not self.buffer:
                # caught up: nothing undelivered, and nothing a dead collector
                # still held (it comes again after the consumer's ack_wait)
                if await self.consumer.outstanding() == len(self.ready):
                    self.stopped_by = "drain"
                    return

    def _left(self):
        return None if self.count is None else self.count - self.written

    async def _take(self, d, now):
        cp = self.checkpoint
        if d.stream_seq in cp.committed:
            self.redelivered_skipped += 1
            await self.consumer.ack([d])            # written before a crash or a lost ack
            return
        if d.stream_seq in self.held_by_seq:
            self.held_by_seq[d.stream_seq].token = d   # delivered again while held: the newer one
            return
        if d.error is not None:
            self.consumer.skip_bad(d)
            await self.consumer.ack([d])
            return
        if self.consumer.is_duplicate(d):
            await self.consumer.ack([d])
            return
        tally = self.producers.setdefault(d.producer, ProducerTally())
        tally.add(d)
        iid = self.output.interface_for(d.producer, d.interface_info())
        held = Held(d.rb, d.producer, iid, d, now)
        held.pos = min(self.partial.pop(d.stream_seq, 0), len(held.ts))
        self.held_by_seq[d.stream_seq] = held
        self.buffer.add(held)

    def _write(self, release):
        if len(release):
            self.output.write(release)
            self.written += len(release)
        for h in release.finished:
            self.held_by_seq.pop(h.token.stream_seq, None)
            self.ready.append(h.token)

    async def _commit(self):
        """Make what is written durable, record it, then acknowledge."""
        state = self.output.prepare()
        cp = self.checkpoint
        state["partial"] = {str(h.token.stream_seq): h.pos for h in self.buffer.held if h.pos}
        cp.output = state
        cp.committed.update(d.stream_seq for d in self.ready)
        cp.save()
        self.output.complete()
        done, self.ready = self.ready, []
        await self.consumer.ack(done)
        self.acked += len(done)
        floor = await self.consumer.ack_floor()
        if floor is not None:
            cp.prune(floor)

    async def _finish(self):
        """Everything held goes out, then the last commit."""
        self._write(self.buffer.release(time.monotonic(), everything=True, limit=self._left()))
        await self._commit()

    # -- the end -----------------------------------------------------------------
    def closing_lines(self, verbose=False):
        what = {"pcapng": "", "parquet": "Parquet files in ", "arrow": "Arrow files in "}[self.kind]
        n_prod = len(self.producers)
        hosts = len({h for h, _ in self.producers})
        lines = [f"{_n(self.written, 'packet')} written to {what}{self.target} "
                 f"({_n(n_prod, 'interface')} of {_n(hosts, 'host')})",
                 f"{_n(self.acked, 'message')} acknowledged (stream {self.consumer.stream}, "
                 f"consumer {self.consumer.name})"]
        if self.consumer.duplicates:
            lines.append(f"{_n(self.consumer.duplicates, 'duplicate message')} skipped "
                         f"(a producer's retry stored twice)")
        if self.redelivered_skipped:
            lines.append(f"{_n(self.redelivered_skipped, 'message')} written before "
                         f"(by an earlier run) skipped")
        if self.buffer.late:
            lines.append(f"{_n(self.buffer.late, 'packet')} out of time order (later than the "
                         f"{self.window:g} s reorder window)")
        for why, n in self.consumer.bad_reasons.items():
            lines.append(f"pyxring: warning: {_n(n, 'message')} skipped: {why}")
        if verbose:
            for (host, iface), t in sorted(self.producers.items()):
                missing = t.missing()
                lines.append(f"{iface}@{host}: {_n(t.packets, 'packet')} in "
                             f"{_n(t.messages, 'message')}, {_n(len(t.runs), 'run')}"
                             + (f", {missing} sequence numbers missing" if missing else ""))
        return lines


def _n(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


__all__ = ["Collector", "OutputError", "DEFAULT_DURABLE", "DEFAULT_WINDOW"]
