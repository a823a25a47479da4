"""Reading a stream: a JetStream pull consumer whose messages come back as
checked Arrow record batches, with duplicates told apart.

``Consumer`` is the asyncio core (the collector runs on it);
``subscribe()`` wraps it for plain Python loops:

    with pyxring.stream.subscribe("nats://HOST:4222", "pkts.>") as sub:
        for rb in sub:                      # pyarrow.RecordBatch, one per message
            rb.schema.metadata[b"pyxring.host"], rb.num_rows, rb.column("frame")
        for batch in sub.batches():         # or pyxring batches: write, filter, decode
            writer.write_batch(batch)

Two kinds of duplicates exist.  The server delivers a message again when its
acknowledgement did not come in time (the same stream sequence); and a
producer's retry after JetStream's duplicate window is stored twice (another
stream sequence, the same host, interface, run and sequence number): that
copy is acknowledged and skipped.
"""
import asyncio
import collections
import threading
import time

from pyxring.stream import wire
from pyxring.stream.client import StreamError, connect, jetstream, patiently
from pyxring.stream.url import check_subject, parse_url

FETCH_BATCH = 64


class Delivery:
    """One message as delivered: its stream sequence, where it came from,
    and its record batch (``rb``; None with ``error`` for a message that
    is not a pyxring batch)."""
    __slots__ = ("msg", "stream_seq", "delivered", "pending", "producer", "run", "seq",
                 "packets", "rb", "error", "meta")

    def __init__(self, msg):
        self.msg = msg
        md = msg.metadata
        self.stream_seq = md.sequence.stream
        self.delivered = md.num_delivered
        self.pending = md.num_pending
        h = msg.headers or {}
        self.producer = (h.get(wire.H_HOST, ""), h.get(wire.H_IFACE, ""))
        self.run = h.get(wire.H_RUN, "")
        try:
            self.seq = int(h.get(wire.H_SEQ, ""))
        except ValueError:
            self.seq = None
        self.rb = None
        self.error = None
        self.meta = None
        try:
            self.rb = wire.decode(msg.data)
            self.meta = wire.message_meta(self.rb)
            if not any(self.producer):
                self.producer = (self.meta["host"], self.meta["interface"])
        except wire.BadMessage as exc:
            self.error = str(exc)
        self.packets = self.rb.num_rows if self.rb is not None else 0

    def interface_info(self):
        """``{"host", "interface", "linktype", "snaplen"}`` of its producer."""
        iface = (self.meta or {}).get("interfaces") or [{}]
        linktype = iface[0].get("linktype")
        if linktype is None and self.rb is not None and self.rb.num_rows:
            linktype = self.rb.column("linktype")[0].as_py()
        return {"host": self.producer[0], "interface": self.producer[1],
                "linktype": int(linktype if linktype is not None else 1),
                "snaplen": int(iface[0].get("snaplen") or 262144)}


class SeenSequences:
    """Per producer run, the sequence numbers already taken: all below a
    floor, and a bounded set above it (a sequence number lost for good, a
    producer's drop, must not make the set grow forever)."""

    def __init__(self, limit=1 << 16):
        self.limit = limit
        self.runs = {}

    def check_and_add(self, key, seq):
        """True when ``seq`` of ``key`` was taken before."""
        floor, above = self.runs.setdefault(key, [0, set()])
        if seq < floor or seq in above:
            return True
        above.add(seq)
        while floor in above:
            above.discard(floor)
            floor += 1
        if len(above) > self.limit:
            floor = sorted(above)[len(above) // 2]
            above = {s for s in above if s >= floor}
        self.runs[key] = [floor, above]
        return False


class Consumer:
    """A pull consumer on the stream that stores ``subject`` (asyncio).

    ``durable``: a name, so that a consumer that comes back resumes where
    the last one stopped (None: an ephemeral consumer, from the start of the
    stream, gone after ``inactive`` seconds without a client)."""

    def __init__(self, url, subject=None, durable=None, *, ack_wait=60.0,
                 max_ack_pending=20000, inactive=60.0):
        self.url = parse_url(url) if isinstance(url, str) else url
        self.subject = check_subject(subject or f"{self.url.prefix}.>", wildcards=True)
        self.durable = durable
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending
        self.inactive = inactive
        self.nc = self.js = self.psub = None
        self.stream = None
        self.name = None
        self.seen = SeenSequences()
        self.duplicates = 0         # producer retries stored twice, skipped
        self.bad = 0                # messages that are not pyxring batches, skipped
        self.bad_reasons = {}

    async def open(self):
        from nats.js import api
        from nats.js.errors import APIError, NotFoundError
        self.nc = await connect(self.url, name="pyxring collect")
        try:
            self.js = await jetstream(self.nc, self.url)
            try:
                self.stream = await patiently(
                    lambda: self.js.find_stream_name_by_subject(self.subject))
            except NotFoundError:
                raise StreamError(f"no stream at {self.url} stores {self.subject}") from None
            if self.durable:
                await self._check_durable()
            config = api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL,
                ack_wait=self.ack_wait, max_deliver=-1, max_ack_pending=self.max_ack_pending,
                inactive_threshold=None if self.durable else self.inactive)
            try:
                self.psub = await patiently(lambda: self.js.pull_subscribe(
                    self.subject, durable=self.durable, stream=self.stream, config=config))
            except APIError as exc:
                raise StreamError(f"creating the consumer on stream {self.stream}: "
                                  f"{exc.description or exc}") from None
            info = await patiently(self.psub.consumer_info)
            self.name = info.name
            self.ack_wait = info.config.ack_wait or self.ack_wait   # an existing one's own
        except asyncio.TimeoutError:
            await self.close()
            raise StreamError(f"the NATS server at {self.url} did not answer "
                              f"(setting up the consumer on {self.subject})") from None
        except APIError as exc:         # still unavailable after the wait
            await self.close()
            raise StreamError(f"the NATS server at {self.url} (setting up the consumer on "
                              f"{self.subject}): {exc.description or exc}") from None
        except BaseException:
            await self.close()
            raise
        return self

    async def _check_durable(self):
        from nats.js.errors import NotFoundError
        try:
            info = await patiently(lambda: self.js.consumer_info(self.stream, self.durable))
        except NotFoundError:
            return
        want = info.config.filter_subject
        if want and want != self.subject:
            raise StreamError(f"consumer {self.durable} of stream {self.stream} reads {want}, "
                              f"not {self.subject}; name another with --durable")

    async def fetch(self, n=FETCH_BATCH, timeout=0.25):
        """Up to ``n`` deliveries, waiting up to ``timeout`` for the first."""
        from nats.errors import TimeoutError as NatsTimeout
        try:
            msgs = await self.psub.fetch(batch=n, timeout=timeout)
        except (NatsTimeout, asyncio.TimeoutError):
            return []
        except Exception as exc:
            from nats.errors import ConnectionClosedError
            if isinstance(exc, ConnectionClosedError):
                raise StreamError(f"the connection to {self.url} was closed") from None
            await asyncio.sleep(min(timeout, 0.25))    # a leader election, a reconnection
            return []
        return [Delivery(m) for m in msgs if m.reply]

    def is_duplicate(self, d):
        """A producer's retry stored twice (a stream sequence of its own)."""
        if d.seq is None or d.error is not None:
            return False
        if self.seen.check_and_add((d.producer, d.run), d.seq):
            self.duplicates += 1
            return True
        return False

    def skip_bad(self, d):
        self.bad += 1
        self.bad_reasons[d.error] = self.bad_reasons.get(d.error, 0) + 1

    async def ack(self, deliveries):
        """Acknowledge, then make sure the server has the acknowledgements
        (a round trip) before anyone forgets them."""
        for d in deliveries:
            await d.msg.ack()
        if deliveries:
            try:
                await self.nc.flush(timeout=5)
            except Exception:
                pass            # not confirmed: they may come again, and are skipped then

    async def nak(self, deliveries):
        """Give them back: delivered again at once (to whoever asks)."""
        for d in deliveries:
            try:
                await d.msg.nak()
            except Exception:
                pass
        await self._flush()

    async def _flush(self):
        try:
            await self.nc.flush(timeout=5)
        except Exception:
            pass

    async def in_progress(self, deliveries):
        for d in deliveries:
            try:
                await d.msg.in_progress()
            except Exception:
                pass

    async def ack_floor(self):
        """The stream sequence below which every message is acknowledged."""
        try:
            info = await self.psub.consumer_info()
        except Exception:
            return None
        return info.ack_floor.stream_seq if info.ack_floor else None

    async def outstanding(self):
        """Messages of this consumer not yet acknowledged: not delivered, or
        delivered and waiting for an acknowledgement (to this client, or to
        one that died: those come again after ``ack_wait``); None when the
        server did not say."""
        try:
            info = await self.psub.consumer_info()
        except Exception:
            return None
        return (info.num_pending or 0) + (info.num_ack_pending or 0)

    async def close(self):
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5)
            except BaseException:
                pass
            self.nc = None


class Subscription:
    """A stream's messages in a plain loop (see the module's doc).

    Each record batch is acknowledged when the loop asks for the next one
    (or at ``close()``), so a consumer that died mid-message gets it again
    from a ``durable`` consumer; what was fetched ahead and not given to
    the loop is handed back at ``close()``.  ``timeout``: end after that many seconds
    without a message (None: wait for ever); ``drain``: end once the
    consumer has caught up with the stream."""

    def __init__(self, url, subject=None, *, durable=None, timeout=None, drain=False,
                 batch=FETCH_BATCH):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="pyxring-subscribe")
        self._thread.start()
        self.consumer = Consumer(url, subject, durable)
        self.timeout = timeout
        self.drain = drain
        self.batch = batch
        self._unacked = []
        self._fetched = collections.deque()     # fetched, not yet given to the loop
        try:
            self._call(self.consumer.open())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def stream(self):
        return self.consumer.stream

    def deliveries(self):
        """Deliveries (record batch, producer, stream sequence) in stream order."""
        idle_since = time.monotonic()
        while True:
            got = self._call(self.consumer.fetch(self.batch, 0.25))
            if not got:
                if self.drain and self._call(self.consumer.outstanding()) == 0:
                    return
                if self.timeout is not None and time.monotonic() - idle_since >= self.timeout:
                    return
                continue
            idle_since = time.monotonic()
            skipped = []
            for d in got:
                if d.error is not None:
                    self.consumer.skip_bad(d)
                    skipped.append(d)
                elif self.consumer.is_duplicate(d):
                    skipped.append(d)
                else:
                    self._fetched.append(d)
            if skipped:
                self._call(self.consumer.ack(skipped))
            while self._fetched:
                d = self._fetched.popleft()
                self._unacked.append(d)
                yield d
                self.ack()          # the loop asked for the next one: that one is done

    def __iter__(self):
        for d in self.deliveries():
            yield d.rb

    def batches(self):
        """The messages as pyxring batches (the frames are not copied)."""
        from pyxring.memory import from_arrow
        for d in self.deliveries():
            src = from_arrow(d.rb, name=d.producer[1], linktype=d.interface_info()["linktype"],
                             validated=True)
            for batch in src.batches():
                yield batch

    def ack(self):
        """Acknowledge everything the loop has been given so far."""
        if self._unacked:
            done, self._unacked = self._unacked, []
            self._call(self.consumer.ack(done))

    def close(self):
        """Acknowledge what the loop was given; what was fetched and not
        given goes back to the stream at once (for the next consumer)."""
        if self._loop.is_closed():
            return
        try:
            self.ack()
            if self._fetched:
                self._call(self.consumer.nak(list(self._fetched)))
                self._fetched.clear()
            self._call(self.consumer.close())
        finally:
            self._stop_loop()

    def _stop_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def subscribe(url, subject=None, **options):
    """A ``Subscription`` to the stream storing ``subject`` (default
    ``PREFIX.>`` from the URL): iterate it for Arrow record batches, or
    ``.batches()`` for pyxring batches.  Options: ``durable``, ``timeout``,
    ``drain``, ``batch``."""
    return Subscription(url, subject, **options)
