"""The publisher: a thread running an asyncio loop (nats-py) beside the
capture loop, sending the outbox's messages to JetStream.

Why a thread and not a process: the capture thread spends its time in C
without the GIL (the ring wait, the batch walk, the Arrow copy), and the
publisher's Python work is a few calls per message of up to a megabyte, so
they share one interpreter cheaply, and a message goes from one to the
other without a copy.  The capture thread never waits for the network: it
only appends to the outbox (pyxring.stream.spool).

Flow control: at most ``window_messages`` messages (and ``window_bytes``)
are waiting for their acknowledgement at a time.  Each message keeps one
reply token for all its attempts and its ``Nats-Msg-Id``, so a retry of a
message the server had stored is acknowledged as a duplicate, not stored
twice.  A message is sent again when no acknowledgement came within
``ack_timeout``, when the stream had no leader (status 503, during an
election), and at once after a reconnection.  A message the stream refuses
for good (an error other than 503) is dropped with the server's reason.
"""
import asyncio
import collections
import concurrent.futures
import json
import threading
import time

from pyxring.stream.client import StreamError, connect, ensure_stream, jetstream

RETRY_BACKOFF = 0.25         # after a 503 or a failed send
TICK = 0.1                   # how often deadlines are looked at


class _Pending:
    __slots__ = ("msg", "token", "deadline", "attempts")

    def __init__(self, msg, token):
        self.msg = msg
        self.token = token
        self.deadline = 0.0
        self.attempts = 0


class Publisher:
    """Sends what ``outbox`` holds to the stream of ``subjects`` at ``url``.

    ``start()`` connects, finds or creates the stream and returns its name
    (a StreamError when it can't, before any capture starts); ``finish()``
    waits, up to its deadline, for everything to be acknowledged."""

    def __init__(self, url, outbox, subjects, run, *, window_messages=64, window_bytes=48 << 20,
                 ack_timeout=5.0, stream_options=None, notice=None):
        self.url = url
        self.outbox = outbox
        self.run = run              # this run's messages; others come from an earlier spool
        self.subjects = list(subjects)
        self.window_messages = window_messages
        self.window_bytes = window_bytes
        self.ack_timeout = ack_timeout
        self.stream_options = stream_options or {}
        self.notice = notice or (lambda msg: None)
        self.stream = None
        self.max_payload = 1 << 20
        self.server = None
        # counters (written by the publisher thread only)
        self.published_messages = self.published_packets = 0
        self.acked_messages = self.acked_packets = 0
        self.adopted_acked_packets = 0      # from an earlier run's spool
        self.adopted_published_packets = 0
        self.duplicates = 0
        self.retries = 0
        self.reconnects = 0
        self.longest_outage = 0.0
        self.refused = collections.Counter()    # reason -> packets the stream refused
        self._inflight = {}
        self._inflight_bytes = 0
        self._tokens = 0
        self._loop = None
        self._event = None
        self._idle = False
        self._connected = False
        self._down_since = None
        self._deadline = None       # set by finish(): stop sending new work after it
        self._thread = None
        self._ready = concurrent.futures.Future()
        self._leftover = []
        self.failure = None         # what ended the publisher early (a bug, not the network)

    # -- the capture thread's side ----------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._run, name="pyxring-stream", daemon=True)
        self._thread.start()
        return self._ready.result()

    def wake(self):
        """Something was queued (called from the capture thread)."""
        if self._idle and self._loop is not None:
            self._idle = False
            try:
                self._loop.call_soon_threadsafe(self._event.set)
            except RuntimeError:
                pass            # the loop is closed: the publisher has ended

    def finish(self, wait_seconds):
        """Send what is left, waiting up to ``wait_seconds`` for the
        acknowledgements; then stop.  Returns the unacknowledged messages."""
        if self._thread is None:
            return []
        self._deadline = time.monotonic() + wait_seconds
        self._idle = True
        self.wake()
        self._thread.join()
        return self._leftover

    def give_up(self):
        """A second signal: stop waiting at once."""
        self._deadline = time.monotonic()
        self._idle = True
        self.wake()

    @property
    def inflight(self):
        return len(self._inflight)

    @property
    def connected(self):
        return self._connected

    # -- the publisher thread ----------------------------------------------
    def _run(self):
        _name_thread(b"pyxring-stream")
        try:
            asyncio.run(self._main())
        except BaseException as exc:            # never silently: the capture reports it
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                self.failure = exc

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        try:
            nc = await connect(self.url, name="pyxring capture",
                               disconnected_cb=self._on_disconnect,
                               reconnected_cb=self._on_reconnect)
        except StreamError as exc:
            self._ready.set_exception(exc)
            return
        try:
            js = await jetstream(nc, self.url)
            self.stream = await ensure_stream(js, self.url, self.subjects[0],
                                              notice=self.notice, **self.stream_options)
            for subject in self.subjects[1:]:
                other = await js.find_stream_name_by_subject(subject)
                if other != self.stream:
                    raise StreamError(f"{subject} is stored by stream {other}, not {self.stream}")
            self.max_payload = nc.max_payload
            self.server = nc.connected_url.netloc if nc.connected_url else None
            self._connected = True
            self._nc = nc
            self._inbox = nc.new_inbox() + "."
            await nc.subscribe(self._inbox + "*", cb=self._on_ack)
        except BaseException as exc:
            await _close(nc)
            if isinstance(exc, StreamError):
                self._ready.set_exception(exc)
                return
            raise
        self._ready.set_result(self.stream)
        try:
            await self._pump()
        finally:
            self._leftover = [p.msg for p in self._inflight.values()]
            await _close(nc)

    async def _pump(self):
        while True:
            now = time.monotonic()
            if self._deadline is not None and (
                    now >= self._deadline or (not self._inflight and self.outbox.empty())):
                return
            if self._connected:
                await self._resend_due(now)
                await self._fill_window()
            # wait for an acknowledgement (in this loop), a put (wake(), from
            # the capture thread) or the tick; _idle is set before looking
            # at the outbox, so a put after the look always wakes the loop
            self._idle = True
            if self._connected and not self._window_full() and not self.outbox.empty():
                self._idle = False
                continue
            try:
                await asyncio.wait_for(self._event.wait(), TICK)
            except asyncio.TimeoutError:
                pass
            self._event.clear()
            self._idle = False

    def _window_full(self):
        return (len(self._inflight) >= self.window_messages
                or self._inflight_bytes >= self.window_bytes)

    async def _fill_window(self):
        while not self._window_full() and self._connected:
            msg = self.outbox.take()
            if msg is None:
                return
            self._tokens += 1
            pending = _Pending(msg, str(self._tokens))
            self._inflight[pending.token] = pending
            self._inflight_bytes += msg.size
            if msg.run == self.run:
                self.published_messages += 1
                self.published_packets += msg.packets
            else:
                # an earlier capture's, counted apart: this capture's own
                # counts keep published + dropped == captured
                self.adopted_published_packets += msg.packets
            await self._send(pending)

    async def _send(self, pending):
        from nats.errors import MaxPayloadError
        pending.attempts += 1
        if pending.attempts > 1:
            self.retries += 1
        pending.deadline = time.monotonic() + self.ack_timeout
        msg = pending.msg
        try:
            await self._nc.publish(msg.subject, msg.payload, reply=self._inbox + pending.token,
                                   headers=msg.headers)
        except MaxPayloadError:
            self.refused[f"larger than the maximum payload of the server now reached "
                          f"({self._nc.max_payload} bytes)"] += msg.packets
            self._settle(pending)
        except Exception:
            # not connected after all (the disconnect callback comes later):
            # try again once reconnected, or after the backoff
            pending.deadline = time.monotonic() + RETRY_BACKOFF

    async def _resend_due(self, now):
        for pending in [p for p in self._inflight.values() if p.deadline <= now]:
            if not self._connected:
                return
            await self._send(pending)

    def _settle(self, pending):
        """Done with it: stored, or refused for good."""
        if self._inflight.pop(pending.token, None) is not None:
            self._inflight_bytes -= pending.msg.size
        pending.msg.release()
        self._event.set()

    async def _on_ack(self, reply):
        token = reply.subject[len(self._inbox):]
        pending = self._inflight.get(token)
        if pending is None:
            return                  # the answer to an earlier attempt of an acknowledged one
        if reply.headers and reply.headers.get("Status") == "503":
            pending.deadline = time.monotonic() + RETRY_BACKOFF     # no stream leader yet
            return
        try:
            answer = json.loads(reply.data)
        except ValueError:
            answer = {"error": {"description": f"an unreadable answer {reply.data[:60]!r}"}}
        err = answer.get("error") if isinstance(answer, dict) else None
        if err:
            if err.get("code") in (503, 408) or err.get("err_code") == 10008:
                pending.deadline = time.monotonic() + RETRY_BACKOFF
                return
            self._settle(pending)
            self.refused[f"the stream refused them: {err.get('description', err)}"] += \
                pending.msg.packets
            return
        self._settle(pending)
        if answer.get("duplicate"):
            self.duplicates += 1
        msg = pending.msg
        self.acked_messages += 1
        if msg.run == self.run:
            self.acked_packets += msg.packets
        else:
            self.adopted_acked_packets += msg.packets
        self.outbox.acknowledged(msg)

    async def _on_disconnect(self):
        if self._connected:
            self._down_since = time.monotonic()
        self._connected = False

    async def _on_reconnect(self):
        self.reconnects += 1
        if self._down_since is not None:
            self.longest_outage = max(self.longest_outage, time.monotonic() - self._down_since)
            self._down_since = None
        url = self._nc.connected_url
        self.server = url.netloc if url else None
        self.max_payload = self._nc.max_payload
        self._connected = True
        now = time.monotonic()
        for pending in self._inflight.values():
            pending.deadline = now          # what was in flight may be lost: again, at once
        self._event.set()

    def stats(self):
        return {"published_messages": self.published_messages,
                "published_packets": self.published_packets,
                "acked_messages": self.acked_messages, "acked_packets": self.acked_packets,
                "adopted_acked_packets": self.adopted_acked_packets,
                "adopted_published_packets": self.adopted_published_packets,
                "duplicates": self.duplicates, "retries": self.retries,
                "reconnects": self.reconnects, "inflight": len(self._inflight),
                "longest_outage": round(self.longest_outage, 3)}


def _name_thread(name):
    """The OS thread's name (top -H, ps -L, /proc/PID/task/TID/comm)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)   # PR_SET_NAME
    except (OSError, AttributeError):
        pass


async def _close(nc):
    try:
        await asyncio.wait_for(nc.close(), 2)
    except BaseException:
        pass
