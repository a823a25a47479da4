"""The producer: a sink that turns batches into stream messages.

    batch --(capture thread: Arrow copy, IPC bytes)--> outbox (memory, then spool)
          --(publisher thread)--> JetStream, acknowledged

Every packet given to ``write_batch`` ends in exactly one of: acknowledged
by the stream, left in the spool for a later run, or dropped with a reason.
``close()`` returns those counts (``acknowledged + left_in_spool + dropped
== captured``).
"""
import socket
import time

from pyxring.stream.publisher import Publisher
from pyxring.stream.spool import Outbox, Spool
from pyxring.stream.url import parse_url, subject_token
from pyxring.stream.wire import Encoder

from pyxring.stream.defaults import (DEFAULT_DUPLICATE_WINDOW, DEFAULT_MEMORY_BYTES,  # noqa: F401
                                     DEFAULT_SPOOL_BYTES, DEFAULT_SPOOL_DIR, DEFAULT_WAIT)


def default_host():
    """This machine's short host name (the subject's ``<host>``)."""
    return socket.gethostname().split(".")[0] or "localhost"


class StreamSink:
    """Publishes the batches of one or more interfaces to ``url``.

    ``interfaces`` is a list of ``(name, source)``; ``write_batch(batch,
    interface_id)`` takes batches of ``interfaces[interface_id]``, whose
    subject is ``PREFIX.<host>.<name>`` (or ``subject`` for a single
    interface).  Connecting and finding (or creating) the stream happen
    here, so a bad server fails before any capture starts."""

    def __init__(self, url, interfaces, *, host=None, subject=None, stream_name=None,
                 max_bytes=None, replicas=1, duplicate_window=DEFAULT_DUPLICATE_WINDOW,
                 spool_dir=DEFAULT_SPOOL_DIR, spool_bytes=DEFAULT_SPOOL_BYTES,
                 memory_bytes=DEFAULT_MEMORY_BYTES, window_messages=64, window_bytes=48 << 20,
                 ack_timeout=5.0, notice=None):
        self.url = parse_url(url) if isinstance(url, str) else url
        self.host = host or default_host()
        self.run = f"{time.time_ns():016x}"
        self.notice = notice or (lambda msg: None)
        if subject is not None and len(interfaces) != 1:
            raise ValueError("a subject of its own is for a single interface")
        self.subjects = [subject or f"{self.url.prefix}.{subject_token(self.host)}."
                                    f"{subject_token(name)}" for name, _ in interfaces]
        self.interfaces = [name for name, _ in interfaces]
        self.encoders = [Encoder(subj, self.host, name, self.run)
                         for subj, name in zip(self.subjects, self.interfaces)]
        self.spool = Spool(spool_dir, spool_bytes, self.run) if spool_dir else None
        self.outbox = Outbox(memory_bytes, self.spool)
        self.publisher = Publisher(
            self.url, self.outbox, self.subjects, self.run, window_messages=window_messages,
            window_bytes=window_bytes, ack_timeout=ack_timeout, notice=self.notice,
            stream_options={"name": stream_name, "max_bytes": max_bytes, "replicas": replicas,
                            "duplicate_window": duplicate_window})
        try:
            self.stream = self.publisher.start()
        except BaseException:
            if self.spool is not None:
                self.spool.close()
            raise
        if self.spool is not None and self.spool.segments:
            self.notice(f"pyxring: sending first {_mib(self.spool.adopted_bytes)} an earlier "
                        f"capture left in the spool {self.spool.dir}")
        self.outbox.wakeup = self.publisher.wake
        self.captured = 0
        self.closed = False
        self._result = None

    def write_batch(self, batch, interface_id=0):
        """Queue ``batch``'s packets (copied: the batch may be released
        after); never waits for the network."""
        n = len(batch)
        if not n:
            return
        self.captured += n
        encoder = self.encoders[interface_id]
        before = encoder.too_large
        for msg in encoder.encode(batch, self.publisher.max_payload):
            self.outbox.put(msg)
        if encoder.too_large != before:
            self.outbox.drop(encoder.too_large - before, encoder.too_large_reason)

    def flush(self):
        """Nothing to do: the publisher sends as messages come."""

    def stopping(self, wait=DEFAULT_WAIT):
        """A signal ended the capture (the closing wait is ``wait``)."""

    def give_up(self):
        self.publisher.give_up()

    def close(self, wait=DEFAULT_WAIT):
        """Wait up to ``wait`` seconds for what is outstanding to be
        acknowledged, keep what is not in the spool, and return the counts."""
        if self._result is not None:
            return self._result
        self.closed = True
        leftover = self.publisher.finish(wait)
        self.outbox.spill(leftover)
        left_msgs, left_packets = self.spool.left() if self.spool is not None else (0, 0)
        adopted_left = 0
        if self.spool is not None:
            adopted_left = sum(1 for s in self.spool.segments if not s.own)
            torn = list(self.spool.torn)
            kept = self.spool.close()
        else:
            torn, kept = [], False
        dropped = dict(self.outbox.dropped)
        for reason, packets in self.publisher.refused.items():
            dropped[reason] = dropped.get(reason, 0) + packets
        st = self.publisher.stats()
        self._result = {
            "captured": self.captured, "published": st["published_packets"],
            "published_messages": st["published_messages"],
            "acknowledged": st["acked_packets"], "acknowledged_messages": st["acked_messages"],
            "spooled": self.outbox.spooled_packets, "left_in_spool": left_packets,
            "left_in_spool_messages": left_msgs, "earlier_segments_left": adopted_left,
            "spool": self.spool.dir if self.spool is not None else None, "spool_kept": kept,
            "spool_torn": torn, "earlier_acknowledged": st["adopted_acked_packets"],
            "earlier_published": st["adopted_published_packets"],
            "dropped": sum(dropped.values()), "dropped_reasons": dropped,
            "duplicates": st["duplicates"], "retries": st["retries"],
            "reconnects": st["reconnects"], "longest_outage": st["longest_outage"],
            "stream": self.stream, "subjects": list(self.subjects), "server": str(self.url),
            "failure": self.publisher.failure,
        }
        return self._result


def closing_lines(result, verbose=False):
    """The closing lines of a capture that streamed (tcpdump's style: a
    count, then what it counts)."""
    r = result
    where = f"stream {r['stream']} at {r['server']}"
    lines = [f"{_packets(r['published'])} published to {where}",
             f"{_packets(r['acknowledged'])} acknowledged by the stream",
             f"{_packets(r['spooled'])} spooled" + (f" ({r['spool']})" if r["spool"] else "")]
    if r["dropped"]:
        for reason, n in r["dropped_reasons"].items():
            lines.append(f"{_packets(n)} dropped before the stream: {reason}")
    else:
        lines.append("0 packets dropped before the stream")
    if r["left_in_spool"]:
        lines.append(f"{_packets(r['left_in_spool'])} left in the spool {r['spool']} "
                     f"(the next capture with this spool sends them)")
    if r["earlier_published"]:
        lines.append(f"{_packets(r['earlier_published'])} from an earlier capture's spool "
                     f"published, {r['earlier_acknowledged']} acknowledged")
    for path, off, why in r["spool_torn"]:
        lines.append(f"pyxring: warning: spool {path} at byte {off}: {why}; the rest of it "
                     f"was lost")
    if verbose:
        lines.append(f"stream: {r['published_messages']} messages on "
                     f"{', '.join(r['subjects'])}, {r['retries']} sent again, "
                     f"{r['duplicates']} duplicates refused by the stream, "
                     f"{r['reconnects']} reconnections (longest outage "
                     f"{r['longest_outage']:.1f} s)")
    return lines


def _packets(n):
    return f"{n} packet" if n == 1 else f"{n} packets"


def _mib(n):
    return f"{n / (1 << 20):.1f} MiB"


def publish(source, url, subject=None, *, host=None, interface=None, count=None,
            duration=None, wait=DEFAULT_WAIT, **options):
    """Publish the batches of ``source`` (a capture, a file, frames in
    memory) to the stream at ``url`` (``nats://HOST:PORT[/PREFIX]``) until
    it ends, ``count`` packets or ``duration`` seconds (or Ctrl-C); wait up
    to ``wait`` seconds for the acknowledgements, then return the counts:
    ``captured``, ``published``, ``acknowledged``, ``spooled``,
    ``left_in_spool``, ``dropped`` (and ``dropped_reasons``), ...

    The subject is ``subject``, or ``PREFIX.<host>.<interface>`` (``host``
    defaults to this machine's name, ``interface`` to the source's).  The
    other options are StreamSink's: ``stream_name``, ``max_bytes``,
    ``replicas``, ``spool_dir`` (None: no spool), ``spool_bytes``,
    ``memory_bytes``, ``window_messages``, ``window_bytes``, ``notice``."""
    name = interface or getattr(source, "name", None) or "memory"
    sink = StreamSink(url, [(name, source)], host=host, subject=subject, **options)
    deadline = time.monotonic() + duration if duration else None
    remaining = count
    try:
        while not source.closed and remaining != 0:
            if deadline is not None and time.monotonic() >= deadline:
                break
            batch = source.batch(100)
            try:
                if len(batch) == 0:
                    if source.at_end:
                        break
                    continue
                if remaining is not None:
                    if len(batch) > remaining:
                        batch.truncate(remaining)
                    remaining -= len(batch)
                sink.write_batch(batch)
            finally:
                batch.release()
    except KeyboardInterrupt:
        pass
    finally:
        result = sink.close(wait)
    return result

