"""Send the packets of a pcap/pcapng file out of interfaces, timed as tcpreplay does.

    from pyxring.replay import replay
    replay("in.pcapng", "veth0")                         # the file's own timing
    replay("in.pcapng", "veth0", multiplier=2)           # twice as fast
    replay("in.pcapng", "veth0", pps=10000, loop=3)      # 10k packets per second, three times
    replay("in.pcapng", iface_map={0: "veth0", 1: "veth1"}, topspeed=True)

Timing modes (one at a time; the default is the file's timing): ``multiplier``
scales the file's gaps, ``pps`` and ``mbps`` ignore them and send at a fixed
packet or bit rate (captured lengths), ``topspeed`` sends as fast as the rings
take frames.  ``loop`` (0: forever), ``limit`` (packets sent) and ``duration``
(seconds) end a run early.  The send loop and its pacing are C
(``_pacer.pyx``); the rings are ``senders.Destination``.

Each interface of a pcapng file goes to ``iface_map[interface_id]``, else to
``iface``.  Only Ethernet frames are replayed.  A frame longer than its
interface's MTU allows (MTU + 14 bytes, + 4 with an 802.1Q tag) or shorter
than an Ethernet header is not sent, and counted; the others go out exactly
as captured (their captured bytes).

``replay()`` returns a dict: ``sent``, ``failed`` (``too_big`` + ``too_short`` +
``refused`` by the kernel), ``bytes``, ``elapsed`` seconds, ``pps``, ``mbps``,
``timing`` (how late frames were handed to the kernel against their due
time: ``median_ns``, ``p99_ns``, ``max_ns``, ``mean_ns``; None at top speed),
``backend``, ``loops`` (passes begun), ``stopped`` ("end", "limit", "duration" or
"interrupted": Ctrl-C ends a run early and still returns), ``interface_dropped``
(frames an interface counted as dropped on transmit during the run).
"""
import itertools
import math
import os
import resource
import time

from pyxring.errors import ConfigError, PyxringError
from pyxring.replay.senders import BACKENDS, Destination

__all__ = ["replay", "Replayer", "UnsupportedFile", "parse_iface_map", "BACKENDS"]

CHUNK = 1024                        # frames read ahead and handed to the send loop at once
CACHE_LIMIT = 256 * 1024 * 1024     # looping over a file this small reads it once
LINKTYPE_ETHERNET = 1


class UnsupportedFile(PyxringError):
    """The file can be read but not replayed (a link type other than Ethernet)."""


def parse_iface_map(spec):
    """``"0=veth0,1=veth1"`` (or a list of such strings, or a dict) -> {0: "veth0", 1: "veth1"}."""
    if not spec:
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = []
        for part in ([spec] if isinstance(spec, str) else list(spec)):
            for entry in part.split(","):
                key, sep, name = entry.strip().partition("=")
                if not sep or not key.strip().isdigit() or not name.strip():
                    raise ConfigError(f"--iface-map {entry.strip()!r}: expected INTERFACE_ID=IFACE, "
                                      f"e.g. 0=veth0,1=veth1")
                items.append((int(key), name.strip()))
    out = {}
    for key, name in items:
        if not isinstance(key, int) or key < 0:
            raise ConfigError(f"--iface-map: interface id {key!r} must be a number from 0")
        if key in out:
            raise ConfigError(f"--iface-map: interface {key} is mapped twice")
        out[key] = name
    return out


def _timing(multiplier, pps, mbps, topspeed):
    chosen = [name for name, v in (("multiplier", multiplier), ("pps", pps), ("mbps", mbps))
              if v is not None]
    if topspeed:
        chosen.append("topspeed")
    if len(chosen) > 1:
        raise ConfigError(f"choose one timing: {' and '.join(chosen)} can't go together")
    for name, v in (("multiplier", multiplier), ("pps", pps), ("mbps", mbps)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ConfigError(f"--{name} must be a positive number, not {v!r}")
    if topspeed:
        return "top", {}
    if pps is not None:
        return "pps", {"pps": float(pps)}
    if mbps is not None:
        return "mbps", {"mbps": float(mbps)}
    return "file", {"multiplier": float(multiplier or 1.0)}


def _tx_dropped(iface):
    """The interface's transmit drop counter in this thread's namespace, or None."""
    try:
        with open("/proc/thread-self/net/dev") as f:
            for line in f:
                name, sep, rest = line.partition(":")
                if sep and name.strip() == iface:
                    return int(rest.split()[11])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Replayer:
    """One replay: ``Replayer(path, iface, ...)`` checks the options, opens
    the file, then the interfaces; ``run()`` sends; ``close()`` waits for
    what is in flight and returns the result (also after a failed run)."""

    def __init__(self, path, iface=None, *, iface_map=None, multiplier=None, pps=None, mbps=None,
                 topspeed=False, loop=1, limit=None, duration=None, backend="auto", notice=None):
        from pyxring.replay._pacer import Pacer
        from pyxring.reader import open_reader
        mode, timing = _timing(multiplier, pps, mbps, topspeed)
        if not isinstance(loop, int) or loop < 0:
            raise ConfigError(f"--loop must be a whole number from 0 (0: forever), not {loop!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"--limit must be a whole number from 1, not {limit!r}")
        if duration is not None and not (isinstance(duration, (int, float))
                                         and math.isfinite(duration) and duration > 0):
            raise ConfigError(f"--duration must be a positive number of seconds, not {duration!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"replay backend must be auto, xdp or tpacket, not {backend!r}")
        self.iface_map = parse_iface_map(iface_map)
        if iface is None and not self.iface_map:
            raise ConfigError("an interface to send on is required (IFACE or --iface-map)")
        self.path = os.fspath(path)
        self.default_iface = iface
        self.loop = loop
        self.limit = limit
        self.mode = mode
        self.pacer = Pacer(mode, limit=limit or 0, duration=duration or 0.0, **timing)
        self.destinations = {}
        self.stopped = "end"
        self.loops = 0
        self.result = None
        self._lane_of_interface = {}
        self._lane_iface = {}
        # the file comes first: a missing file is the one thing to say
        self._reader = open_reader(self.path)
        try:
            self._records = iter(self._reader)       # one iterator: the reader's state is in it
            self._first = next(self._records, None)
            self._check_link_types(self._reader)
            names = [iface] if iface is not None else []
            names += [n for n in self.iface_map.values() if n not in names]
            for group, name in enumerate(names):
                dest = self.destinations[name] = Destination(name, backend, notice)
                lane = dest.add_lanes(self.pacer, group)
                for k in range(lane + 1 - len(dest.lanes), lane + 1):
                    self._lane_iface[k] = name
                dest.lane = lane
            self._dropped_before = {n: _tx_dropped(n) for n in self.destinations}
        except BaseException:
            self._reader.close()
            self._close_destinations()
            raise
        self._cpu_before = resource.getrusage(resource.RUSAGE_SELF)

    # --- sending -----------------------------------------------------------

    def run(self):
        """Send everything (or until a limit); Ctrl-C ends the run early."""
        try:
            self._send_passes()
        except KeyboardInterrupt:
            self.stopped = "interrupted"

    def _send_passes(self):
        # standard input can't be read twice: its frames are kept, whatever the size
        keep = self.path == "-" or self._file_size() <= CACHE_LIMIT
        cache = [] if self.loop != 1 and keep else None
        reader, records, first = self._reader, self._records, self._first
        while self.loop == 0 or self.loops < self.loop:
            if self.loops:
                self.pacer.new_loop()
            sent_before = self.pacer.sent
            self.loops += 1
            if cache is not None and self.loops > 1:
                chunks = cache
            else:
                if reader is None:
                    from pyxring.reader import open_reader
                    reader = open_reader(self.path)
                    records = iter(reader)
                    first = next(records, None)
                chunks = self._chunks(records, first, cache)
            try:
                for chunk in chunks:
                    status = self.pacer.send(chunk)
                    if not isinstance(status, str):
                        self._ring_error(status)
                    if status == "done" and self.limit and self.pacer.sent >= self.limit:
                        status = "limit"
                    if status != "done":
                        self.stopped = status
                        return
            finally:
                if reader is not None:
                    reader.close()
                    reader = None
            if self.pacer.sent == sent_before:
                return          # a pass that sends nothing would send nothing forever

    def _chunks(self, records, first, cache):
        from pyxring.replay._chunk import Chunk
        if first is None:
            return
        records = itertools.chain((first,), records)
        more = True
        while more:
            chunk = Chunk(CHUNK)
            try:
                more = chunk.fill(records, self._lane_of_interface, self._lane_for, first.ts_ns)
            except PyxringError:
                if len(chunk):
                    yield chunk         # what came before the damage is sent first
                raise
            if len(chunk):
                if cache is not None:
                    cache.append(chunk)
                yield chunk

    def _lane_for(self, rec):
        iid = rec.interface_id
        self._check_link_type(iid, rec.linktype)
        name = self.iface_map.get(iid, self.default_iface)
        if name is None:
            raise ConfigError(f"{self.path}: interface {iid} has no interface to go to "
                              f"(add {iid}=IFACE to --iface-map)")
        lane = self._lane_of_interface[iid] = self.destinations[name].lane
        return lane

    def _check_link_types(self, reader):
        for iid, desc in enumerate(getattr(reader, "interfaces", None) or []):
            self._check_link_type(iid, desc.linktype)

    def _check_link_type(self, iid, linktype):
        if linktype != LINKTYPE_ETHERNET:
            raise UnsupportedFile(f"{self.path}: interface {iid} has link type {linktype}; only "
                                  f"Ethernet frames (link type 1, EN10MB) can be replayed")

    def _ring_error(self, rc):
        import errno
        from pyxring.errors import raise_errno
        iface = self._lane_iface.get(self.pacer.error_lane, "?")
        if -rc == errno.ETIMEDOUT:
            raise PyxringError(f"sending on {iface}: the interface stopped taking frames "
                               f"(nothing sent for 5 s)")
        if -rc in (errno.ENXIO, errno.ENODEV, errno.ENETDOWN):
            what = "went down" if self._still_there(iface) else "disappeared"
            raise PyxringError(f"sending on {iface}: the interface {what}")
        raise_errno(-rc, f"sending on {iface}")

    def _still_there(self, iface, wait=0.5):
        """After ENETDOWN: removing an interface takes it down first and
        unlists it a moment later, so it counts as gone if it goes within
        ``wait`` seconds."""
        import socket
        ifindex = self.destinations[iface].ifindex if iface in self.destinations else None
        deadline = time.monotonic() + wait
        while True:
            try:
                if socket.if_nametoindex(iface) != ifindex:
                    return False
            except OSError:
                return False
            if time.monotonic() > deadline:
                return True
            time.sleep(0.01)

    def _file_size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return CACHE_LIMIT + 1

    # --- the end -----------------------------------------------------------

    def _close_destinations(self):
        refused = 0
        error = None
        for dest in self.destinations.values():
            try:
                refused += dest.close()
            except PyxringError as exc:
                error = error or exc
        return refused, error

    def close(self):
        """Hand over what is queued, wait for it, close; returns the result."""
        if self.result is not None:
            return self.result
        rc = self.pacer.finish()
        self._reader.close()
        refused, error = self._close_destinations()
        st = self.pacer.stats()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = st["elapsed"]
        sent = st["sent"] - refused
        nbytes = st["bytes"]
        dropped = {}
        for name, before in self._dropped_before.items():
            after = _tx_dropped(name)
            if before is not None and after is not None and after > before:
                dropped[name] = after - before
        kinds = {name: d.kind for name, d in self.destinations.items()}
        failed = st["too_short"] + st["too_big"] + refused
        self.result = {
            "sent": sent, "failed": failed, "errors": failed, "bytes": nbytes,
            "too_short": st["too_short"], "too_big": st["too_big"], "refused": refused,
            "first_too_short": st["first_too_short"], "first_too_big": st["first_too_big"],
            "first_too_big_len": st["first_too_big_len"],
            "too_big_iface": self._lane_iface.get(st["first_too_big_lane"]),
            "elapsed": elapsed, "seconds": elapsed,
            "pps": sent / elapsed if elapsed > 0 else 0.0,
            "mbps": nbytes * 8 / elapsed / 1e6 if elapsed > 0 else 0.0,
            "timing": st["timing"], "mode": self.mode,
            "backend": next(iter(kinds.values())) if len(kinds) == 1 else kinds,
            "backends": kinds, "mtu": {n: d.mtu for n, d in self.destinations.items()},
            "loops": self.loops, "stopped": self.stopped, "interface_dropped": dropped,
            "cpu_seconds": (cpu.ru_utime - self._cpu_before.ru_utime)
                           + (cpu.ru_stime - self._cpu_before.ru_stime),
            "spin_seconds": st["spin_seconds"], "sleeps": st["sleeps"],
            "slipped": st["slipped_seconds"], "slips": st["slips"],
        }
        if rc < 0:
            self._ring_error(rc)
        if error is not None:
            raise error
        return self.result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def replay(path, iface=None, *, iface_map=None, multiplier=None, pps=None, mbps=None,
           topspeed=False, loop=1, limit=None, duration=None, backend="auto", notice=None,
           rate=None):
    """Send the packets of ``path`` out of ``iface`` (and/or the interfaces
    of ``iface_map``); see the module's docstring.  ``rate`` is the old name
    of ``pps``.  Returns the result dict."""
    if rate is not None:
        if pps is not None:
            raise ConfigError("rate is the old name of pps: give one of them")
        pps = rate
    rp = Replayer(path, iface, iface_map=iface_map, multiplier=multiplier, pps=pps, mbps=mbps,
                  topspeed=topspeed, loop=loop, limit=limit, duration=duration, backend=backend,
                  notice=notice)
    try:
        rp.run()
    finally:
        result = rp.close()
    return result
