"""Putting the packets of many capture hosts back in time order, within a
bounded window.

A packet waits until the stream has moved ``window`` seconds past it (a
message with packets at least ``window`` newer has come, from any host),
or until it has waited ``window`` seconds of wall-clock time (so the last
packets go out when the traffic stops).  Messages arrive in the order the
server stored them, close to the order they were captured in; a packet
that arrives more than ``window`` behind the newest one seen is written
all the same, and counted as late.  This holds as well for a collector
catching up on hours of stream as for one following it live, and for hosts
the collector has not heard from yet.  Held messages are bounded in bytes
too: past the bound, the oldest arrivals go out as if their time had come.

Releases are computed on whole arrays (numpy), never per packet in Python:
each held message's timestamps are sorted once; a release is, per message,
a prefix of that order, merged by one stable argsort.
"""
import numpy as np

INF = np.iinfo(np.int64).max


class Held:
    """One message waiting in the buffer (``token`` is the caller's)."""
    __slots__ = ("rb", "order", "ts", "pos", "arrival", "producer", "part_id", "token", "nbytes")

    def __init__(self, rb, producer, part_id, token, arrival):
        ts = rb.column("ts_ns").to_numpy(zero_copy_only=False).view(np.int64)
        self.order = np.argsort(ts, kind="stable")
        self.ts = ts[self.order]
        self.rb = rb
        self.pos = 0                # rows of ``order`` released so far
        self.arrival = arrival
        self.producer = producer
        self.part_id = part_id      # the interface the packets get in the output
        self.token = token
        self.nbytes = rb.nbytes

    @property
    def done(self):
        return self.pos >= len(self.ts)


class Release:
    """Packets to write, in time order: row ``rows[i]`` of ``parts[idx[i]]``."""
    __slots__ = ("helds", "idx", "rows", "finished")

    def __init__(self, helds, idx, rows, finished):
        self.helds = helds          # the Held entry of each part
        self.idx = idx
        self.rows = rows
        self.finished = finished    # Held entries whose every packet is in this release (or before)

    @property
    def parts(self):
        return [h.rb for h in self.helds]

    @property
    def part_ids(self):
        return [h.part_id for h in self.helds]

    def __len__(self):
        return len(self.rows)


class ReorderBuffer:
    def __init__(self, window, max_bytes=512 << 20):
        self.window = window
        self.window_ns = int(window * 1e9)
        self.max_bytes = max_bytes
        self.held = []
        self.nbytes = 0
        self.newest = None          # the newest timestamp seen
        self.released_ts = None     # newest timestamp released so far
        self.late = 0               # packets released behind an earlier release

    def add(self, held):
        self.held.append(held)
        self.nbytes += held.nbytes
        if len(held.ts):
            top = int(held.ts[-1])
            self.newest = top if self.newest is None else max(self.newest, top)

    def __len__(self):
        return len(self.held)

    def cut(self, now, everything=False):
        """The newest timestamp that may be released at ``now``."""
        if everything:
            return INF
        cut = self.newest - self.window_ns if self.newest is not None else -INF
        forced = [h for h in self.held if now - h.arrival >= self.window and not h.done]
        if self.nbytes > self.max_bytes:
            budget = self.nbytes - self.max_bytes
            for h in sorted(self.held, key=lambda h: h.arrival):
                if budget <= 0:
                    break
                forced.append(h)
                budget -= h.nbytes
        forced = [h for h in forced if len(h.ts)]
        if forced:
            cut = max(cut, max(int(h.ts[-1]) for h in forced))
        return cut

    def release(self, now, everything=False, limit=None):
        """What can be written now (a Release, possibly empty), at most
        ``limit`` packets: the oldest of what could go."""
        cut = self.cut(now, everything)
        helds, idx, rows, ts = [], [], [], []
        for h in self.held:
            end = len(h.ts) if cut == INF else int(np.searchsorted(h.ts, cut, side="right"))
            if end > h.pos:
                idx.append(np.full(end - h.pos, len(helds), dtype=np.int32))
                rows.append(h.order[h.pos:end])
                ts.append(h.ts[h.pos:end])
                helds.append(h)
                h.pos = end
        if not helds:
            return Release([], np.empty(0, np.int32), np.empty(0, np.int64), self._finished())
        ts = np.concatenate(ts)
        idx = np.concatenate(idx)
        rows = np.concatenate(rows).astype(np.int64)
        merged = np.argsort(ts, kind="stable")
        if limit is not None and len(merged) > limit:
            # what is cut off goes back: in each message, the newest of its
            # released rows (the merge keeps each message's order)
            back = np.bincount(idx[merged[limit:]], minlength=len(helds))
            for h, n in zip(helds, back.tolist()):
                h.pos -= n
            merged = merged[:limit]
            if not limit:
                return Release([], np.empty(0, np.int32), np.empty(0, np.int64),
                               self._finished())
        ts = ts[merged]
        if self.released_ts is not None:
            self.late += int(np.count_nonzero(ts < self.released_ts))
        newest = int(ts.max())
        self.released_ts = newest if self.released_ts is None else max(self.released_ts, newest)
        return Release(helds, idx[merged], rows[merged], self._finished())

    def _finished(self):
        finished = [h for h in self.held if h.done]
        if finished:
            gone = set(map(id, finished))
            self.held = [h for h in self.held if id(h) not in gone]
            self.nbytes -= sum(h.nbytes for h in finished)
        return finished
