"""Rotation across files, as tcpdump's -C, -G, -W and -z do it.

Names (tcpdump 4.99's ``MakeFilename``): with ``-G`` the ``-w`` name is a
strftime pattern, formatted with the local time the file was started; with
``-C`` a number follows it: none for the first file, then 1, 2, 3, ... or,
with ``-W N``, a ring 0 .. N-1 padded to the digits of N-1
(``out.pcap0``, ..., or ``out.pcap00`` for N = 11).  ``-C`` counts the
pcap/pcapng bytes (units of 1,000,000, checked before each record, so a
file passes the limit by at most one record; with compression the files on
disk are smaller).  ``-G`` rotates when the wall clock has moved on SECONDS
since the file was started (``align``: at multiples of SECONDS from local
midnight), looked at for each batch and while idle, so a file ends on time
even when no packet comes; with ``-W N`` and no ``-C`` the capture ends
after N files.  ``-z CMD`` runs ``CMD FILE`` on each finished file at the
lowest priority and is not waited for.

Every file is complete on its own: section header, every interface, and
when it is closed an interface statistics block per interface with that
file's share of the counters.  A rotation happens between two records, so no
packet is lost or written twice.

Existing files: the first file replaces an existing file of that name (as
``-w`` does), and a ``-W`` ring replaces the files it wrote itself.  Any
other existing file that a rotated name reaches is renamed ``NAME.~N~``
first (one notice), never overwritten.
"""
import os
import shutil
import subprocess
import time

from pyxring.errors import ConfigError
from pyxring.writer import FileLimitReached, _stderr_notice, open_file

COUNTERS = ("received", "dropped", "ifdrop")
SUMMED = ("writes", "full_waits", "full_wait_ms")


class Rotation:
    """The rotation options, checked."""

    def __init__(self, size=None, seconds=None, align=False, max_files=None, command=None):
        if size is not None and size <= 0:
            raise ConfigError(f"invalid file size {size}")
        if seconds is not None and seconds < 0:
            raise ConfigError(f"invalid number of seconds {seconds}")
        if max_files is not None and max_files <= 0:
            raise ConfigError(f"invalid number of output files {max_files}")
        if align and not seconds:
            raise ConfigError("--rotate-align needs -G SECONDS")
        if command is not None and shutil.which(command) is None:
            raise ConfigError(f"-z {command}: no such program")
        self.size = size or 0
        self.seconds = seconds or 0
        self.align = align
        self.max_files = max_files or 0
        self.command = command

    @property
    def digits(self):
        """tcpdump's getWflagChars: the digits of N-1, used only with -C."""
        if not (self.size and self.max_files):
            return 0
        return len(str(self.max_files - 1)) if self.max_files > 1 else 0


def _aligned_start(t, seconds):
    """The start of the interval holding ``t`` when intervals are multiples
    of ``seconds`` from local midnight."""
    offset = time.localtime(t).tm_gmtoff
    return (int(t) + offset) // seconds * seconds - offset


class RotatingWriter:
    """A sequence of capture files with one writer's API."""

    def __init__(self, pattern, format, interfaces, rotation, *, stats=None, clock=time.time,
                 notice=None, **file_options):
        if pattern == "-" or hasattr(pattern, "fileno"):
            raise ConfigError("rotation (-C, -G, -W, -z) needs a file name, not standard output")
        self.pattern = os.fspath(pattern)
        self.format = format
        self.rotation = rotation
        self._interfaces = [dict(i) for i in interfaces]
        self._stats = stats
        self._clock = clock
        self._notice = notice or _stderr_notice
        self._seen_notices = set()
        self._options = dict(file_options)
        self._options["notice"] = self._notice_once
        if self._options.get("compression", "auto") == "auto":
            from pyxring.compress import codec_for_name
            self._options["compression"] = codec_for_name(self.pattern) or "none"
        self._children = []
        self._totals = {}                  # the engine's counters over the closed files
        self.paths = []                    # every file written, in order
        self._ring = set()                 # names this interval's -W ring wrote
        self._done_packets = 0             # in the files already closed
        self._baseline = {}
        self._stats_given = set()
        self._count = 0                    # tcpdump's Cflag_count
        self._files = 0                    # tcpdump's Gflag_count
        self.closed = False
        now = self._clock()
        self._file_time = int(now)
        self._next_time = self._boundary_after(now)
        self._cur = None
        self._open(self._name(0), first=True)

    # -- names and files -----------------------------------------------------
    def _boundary_after(self, now):
        r = self.rotation
        if not r.seconds:
            return None
        if r.align:
            return _aligned_start(now, r.seconds) + r.seconds
        return int(now) + r.seconds

    def _name(self, count):
        base = self.pattern
        if self.rotation.seconds:
            base = time.strftime(self.pattern, time.localtime(self._file_time))
        digits = self.rotation.digits
        if count == 0 and digits == 0:
            return base
        return f"{base}{count:0{digits}d}"

    def _notice_once(self, msg):
        if msg not in self._seen_notices:
            self._seen_notices.add(msg)
            self._notice(msg)

    def _move_aside(self, name):
        n = 1
        while os.path.lexists(f"{name}.~{n}~"):
            n += 1
        os.rename(name, f"{name}.~{n}~")
        self._notice(f"pyxring: {name} existed; renamed it {name}.~{n}~")

    def _open(self, name, first=False):
        in_ring = self.rotation.size and self.rotation.max_files and name in self._ring
        if not first and not in_ring and os.path.lexists(name):
            self._move_aside(name)
        self._cur = open_file(name, self.format, self._interfaces, **self._options)
        self.paths.append(name)
        self._ring.add(name)
        self._stats_given = set()

    def _counters(self):
        if self._stats is None:
            return {}
        got = self._stats() or {}
        if got and not all(isinstance(k, int) for k in got):
            got = {0: got}
        return {k: {c: v[c] for c in COUNTERS if v.get(c) is not None} for k, v in got.items()}

    def _close_current(self, final=False):
        w = self._cur
        counters = self._counters()
        now_ns = time.time_ns()
        try:
            for iid in range(len(self._interfaces)):
                if iid in self._stats_given or (final and not counters):
                    continue
                cur = counters.get(iid, {})
                base = self._baseline.get(iid, {})
                w.write_stats(end_ns=now_ns, interface_id=iid,
                              **{k: v - base.get(k, 0) for k, v in cur.items()})
        finally:
            self._baseline = counters or self._baseline
            w.close()
            self._done_packets += w.packets_written
            for k, v in w.stats().items():
                if k in SUMMED:
                    self._totals[k] = self._totals.get(k, 0) + v
                elif k == "longest_block_ms":
                    self._totals[k] = max(self._totals.get(k, 0), v)
        self._post_rotate(w.path)

    def _post_rotate(self, path):
        self._children = [c for c in self._children if c.poll() is None]
        if self.rotation.command:
            try:
                self._children.append(subprocess.Popen(
                    [self.rotation.command, path], stdin=subprocess.DEVNULL,
                    preexec_fn=lambda: os.nice(19)))
            except OSError as exc:
                self._notice(f"pyxring: -z {self.rotation.command} {path}: {exc.strerror}")

    # -- rotation ------------------------------------------------------------
    def _rotate_by_size(self):
        self._close_current()
        self._count += 1
        if self.rotation.max_files and self._count >= self.rotation.max_files:
            self._count = 0
        self._open(self._name(self._count))

    def _rotate_by_time(self, now):
        self._close_current()
        self._files += 1
        r = self.rotation
        if not r.size and r.max_files and self._files >= r.max_files:
            self.closed = True
            raise FileLimitReached(r.max_files)
        self._file_time = int(self._next_time) if r.align else int(now)
        self._next_time = self._boundary_after(now)
        self._count = 0
        self._ring = set()
        self._open(self._name(0))

    def _check_time(self):
        if self._next_time is not None:
            now = self._clock()
            if now >= self._next_time:
                self._rotate_by_time(now)

    def _writable(self):
        if self.closed:
            raise ValueError(f"writer for {self.pattern} is closed")

    # -- the writer API ------------------------------------------------------
    def write_batch(self, batch, interface_id=0, start=0):
        self._writable()
        self._check_time()
        i = start
        n = len(batch)
        self._cur.size_limit = self.rotation.size
        while True:
            i = self._cur.write_batch(batch, interface_id, i)
            if i >= n:
                return n
            self._rotate_by_size()
            self._cur.size_limit = self.rotation.size

    def write(self, pkt, ts_ns=None, wirelen=None, interface_id=0):
        self._writable()
        self._check_time()
        self._cur.size_limit = self.rotation.size
        if not self._cur.write(pkt, ts_ns, wirelen, interface_id):
            self._rotate_by_size()
            self._cur.write(pkt, ts_ns, wirelen, interface_id)
        return 1

    def add_interface(self, linktype, snaplen=262144, **desc):
        """One more interface in this file and every later one."""
        self._writable()
        iid = self._cur.add_interface(linktype, snaplen, **desc)
        self._interfaces.append(self._cur.interfaces[-1])
        return iid

    def write_stats(self, interface_id=0, **counters):
        """Cumulative counters since the start; the file gets its share."""
        if self.closed and self._cur is not None and self._cur.closed:
            return                  # -W ended it: the last file has its block already
        self._writable()
        base = self._baseline.get(interface_id, {})
        for k in COUNTERS:
            if counters.get(k) is not None:
                counters[k] -= base.get(k, 0)
        self._cur.write_stats(interface_id=interface_id, **counters)
        self._stats_given.add(interface_id)

    def flush(self):
        """Bring the current file up to date; rotate if its time is over."""
        if self.closed:
            return
        self._cur.flush()
        self._check_time()

    def set_deadline(self, timeout):
        if self._cur is not None:
            self._cur.set_deadline(timeout)

    def close(self):
        if self._cur is None or self._cur.closed:
            self.closed = True
            return
        self.closed = True
        self._close_current(final=True)

    def stats(self):
        """The current file's engine, with counters summed over every file."""
        st = dict(self._cur.stats())
        if not self._cur.closed:
            for k in SUMMED:
                if k in st:
                    st[k] += self._totals.get(k, 0)
            st["longest_block_ms"] = max(st.get("longest_block_ms", 0),
                                         self._totals.get("longest_block_ms", 0))
        else:
            st.update(self._totals)
        st["files"] = len(self.paths)
        return st

    @property
    def path(self):
        return self._cur.path

    @property
    def interfaces(self):
        return list(self._interfaces)

    @property
    def packets_written(self):
        if self._cur is None:
            return self._done_packets
        if self._cur.closed:
            return self._done_packets
        return self._done_packets + self._cur.packets_written

    @property
    def failure(self):
        return self._cur.failure if self._cur is not None else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
