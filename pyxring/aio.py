"""asyncio for every source: the ring's file descriptors wait in the event loop.

    async with pyxring.capture("veth0", filter="udp") as cap:
        async for batch in cap.abatches():
            cols = batch.columns(["src4", "dst4", "wirelen"])
        async for pkt in cap:                    # or cap.apackets()
            ...

No thread and no busy loop.  A batch is taken without waiting when the ring
has one; otherwise the source's descriptors are registered with the running
loop (``loop.add_reader``) until one is readable, then unregistered, so the
loop wakes only for traffic:

- tpacket: the AF_PACKET socket, readable when the kernel retires a block
  (full, or ``block_timeout_ms`` after its first packet); an error or a lost
  interface also wakes it, and the source's own check then ends the capture
  as the blocking API does.
- xdp: every queue's AF_XDP socket, readable when its RX ring has frames.  A
  socket whose interface went away reports nothing at all, so the wait also
  ends every 100 ms (the blocking API's poll slice) to ask the source.  The
  socket is readable after every few frames, and a loop woken that often
  spends more than the frames are worth: after a thin batch the stream naps
  (0.5 to 10 ms, adapted to the traffic, as the blocking API's wait does)
  before taking the next, and goes back to the descriptors once idle.
- myring: the device, readable while records wait; the module wakes its
  waiters only at the high watermark and when the producer stops, so the wait
  also ends every ``wakeup_ms`` (as the blocking API's does).

A batch handed out stays valid until the loop asks for the next one (or the
stream is closed); cancelling a task that waits (Ctrl-C under
``asyncio.run`` does) unregisters its descriptors and holds no batch.  One
task reads a source at a time, as one thread does with the blocking API.
"""
import asyncio
import os
import select
import stat

__all__ = ["abatches", "apackets", "BatchStream", "PacketStream"]

XDP_SLICE_S = 0.1           # as the AF_XDP source's own poll slice
SPURIOUS_BACKOFF_S = (0.001, 0.05)
# AF_XDP gathering, as the source's own adaptive wait: a nap between 0.5 and
# 10 ms before taking after a thin batch, aiming at a quarter of the RX ring
GATHER_NAP_S = (0.0005, 0.01)
GATHER_IDLE_NAPS = 20
_ERROR_EVENTS = select.POLLERR | select.POLLHUP | select.POLLNVAL


class _WaitPlan:
    """How one source waits: which descriptors, and how often the wait must
    end anyway to look at the source."""

    def __init__(self, src):
        self.src = src
        self.slice_s = None
        self.probe_ms = 0         # timeout of the source's own look after a slice
        self.target = 0           # > 0: gather batches of about this many packets
        if hasattr(src, "xsk_fds"):
            self.fds = [fd for _, fd in src.xsk_fds()]
            self.slice_s, self.probe_ms = XDP_SLICE_S, 1
            self.target = max(1, min(src.batch_size, src.rx_ring_size // 4))
        else:
            try:
                self.fds = [src.fileno()]
            except (NotImplementedError, AttributeError, OSError):
                self.fds = []     # frames in memory, mapped files: ready or at their end
            # a regular file is always readable (and epoll refuses it)
            self.fds = [fd for fd in self.fds if not stat.S_ISREG(os.fstat(fd).st_mode)]
        wakeup_ms = getattr(src, "wakeup_ms", None)
        if wakeup_ms:
            self.slice_s = wakeup_ms / 1000
        self.backoff = 0.0        # > 0 after a wake that found nothing to take
        self.nap = 2 * GATHER_NAP_S[0]
        self.thin = False         # the last batch was below the target
        self.idle_naps = 0

    async def gather(self):
        """AF_XDP wakes its socket for every few frames; waking the loop for
        each costs more than the frames.  After a thin batch, nap before
        taking, so the next one is fuller (the blocking API does the same)."""
        if self.target and self.thin:
            await asyncio.sleep(self.nap)
            return True
        return False

    def taken(self, n, napped):
        """Adapt the nap to the batch just taken."""
        if not self.target:
            return
        lo, hi = GATHER_NAP_S
        if n >= self.target:
            self.nap = max(lo, self.nap / 2)      # behind: take sooner
        elif napped and n < self.target // 2:
            self.nap = min(hi, self.nap * 2)      # thin although we napped: nap longer
        self.thin = n < self.target
        self.idle_naps = 0

    async def wait(self):
        """Until a descriptor is readable, the slice ends or (after a
        spurious wake) the back-off passes; returns what ended it."""
        loop = asyncio.get_running_loop()
        if not self.fds:
            await asyncio.sleep(0)
            return "none"
        fut = loop.create_future()

        def wake(reason):
            if not fut.done():
                fut.set_result(reason)

        timer = None
        registered = []
        try:
            if self.backoff:
                # The descriptor says readable but the source has nothing
                # to take (the kernel counts a block the user still holds
                # as ready): wait on a timer until a batch comes again.
                timer = loop.call_later(self.backoff, wake, "timer")
            else:
                for fd in self.fds:
                    loop.add_reader(fd, wake, "fd")
                    registered.append(fd)
                if self.slice_s:
                    timer = loop.call_later(self.slice_s, wake, "slice")
            return await fut
        finally:
            for fd in registered:
                loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()

    def errors_pending(self):
        p = select.poll()
        for fd in self.fds:
            p.register(fd, select.POLLIN)
        return any(ev & _ERROR_EVENTS for _, ev in p.poll(0))


async def _next_batch(src, plan):
    """The next non-empty batch of ``src``, or None once it is closed."""
    woken = None                  # what ended the last wait
    while True:
        if src.closed:
            return None
        napped = await plan.gather()
        if src.closed:
            return None
        b = src.batch(0)
        if len(b):
            plan.backoff = 0.0
            plan.taken(len(b), napped)
            return b
        b.release()
        if src.closed:
            return None
        if woken in ("fd", "timer"):
            # readable, yet nothing to take (the kernel counts a block the
            # user still holds as ready): wait on a timer, longer each time
            lo, hi = SPURIOUS_BACKOFF_S
            plan.backoff = lo if not plan.backoff else min(2 * plan.backoff, hi)
        if napped and plan.idle_naps < GATHER_IDLE_NAPS:
            plan.idle_naps += 1       # traffic may only pause: nap on a while
            woken = None
            continue
        plan.thin = False             # idle: wait for the descriptors again
        woken = await plan.wait()
        b = None
        if woken == "fd" and plan.errors_pending():
            # the source's own blocking look turns the error into its
            # exception (the interface went down or away), as in batches()
            b = src.batch(200)
        elif woken == "slice" and plan.probe_ms:
            b = src.batch(plan.probe_ms)      # asks the sockets for an error
        if b is not None:
            if len(b):
                plan.backoff = 0.0
                plan.taken(len(b), False)
                return b
            b.release()


class BatchStream:
    """``async for batch in stream``: the source's batches; each is
    released when the next one is asked for, or at ``aclose()``."""

    def __init__(self, src):
        self._src = src
        self._plan = _WaitPlan(src)
        self._held = None

    def __aiter__(self):
        return self

    async def __anext__(self):
        self._release()
        b = await _next_batch(self._src, self._plan)
        if b is None:
            raise StopAsyncIteration
        self._held = b
        return b

    def _release(self):
        b, self._held = self._held, None
        if b is not None:
            b.release()

    async def aclose(self):
        self._release()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self._release()


class PacketStream:
    """``async for pkt in stream``: packet by packet; a packet's data is
    valid until the stream moves past its batch."""

    def __init__(self, src):
        self._batches = BatchStream(src)
        self._iter = iter(())

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            pkt = next(self._iter, None)
            if pkt is not None:
                return pkt
            self._iter = iter(await self._batches.__anext__())

    async def aclose(self):
        self._iter = iter(())
        await self._batches.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()


def abatches(src):
    """``async for batch in abatches(src)`` (also ``src.abatches()``)."""
    return BatchStream(src)


def apackets(src):
    """``async for pkt in apackets(src)`` (also ``src.apackets()`` and
    ``async for pkt in src``)."""
    return PacketStream(src)


async def source_enter(src):
    return src


async def source_exit(src, *exc):
    src.close()
