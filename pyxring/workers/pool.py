"""The parent's side of ``pyxring.workers``: start the processes, give each
its share of the capture, watch them, stop them, merge what they return.

Start-up order (nothing is captured twice, nothing is left behind):
every process is started first, before any capture socket exists, so no
worker inherits another's socket; then worker 0 opens and joins the fanout
group (asking the kernel for a free group id unless one was given), then
the others join it.  AF_XDP: every worker binds its queues, then the parent
puts their sockets into the XSKMAP and attaches the program.  ``ready`` is
set once every worker captures.

A worker that dies (a signal, ``os._exit``) is noticed by the watcher
thread at once (its process sentinel): the parent reads the kernel's
counters on its copy of the worker's socket, then closes it, so a fanout
group shares that worker's traffic among the others from then on, and an
AF_XDP queue's frames go to the host's stack (counted by the program as
passed).  What the worker's socket received but the worker did not handle
is reported as lost.
"""
import functools
import multiprocessing
import os
import pickle
import signal
import threading
import time

from pyxring.errors import ConfigError, PyxringError
from pyxring.workers import sockets
from pyxring.workers import worker as W

STOP_TIMEOUT = 10.0        # after stop(): how long workers may take to drain and report


class WorkerError(PyxringError):
    """A handler raised in a worker (the message carries its traceback's
    last line; ``.traceback`` has it all), or a worker could not start."""

    def __init__(self, msg, traceback=None):
        super().__init__(msg)
        self.traceback = traceback


class WorkerResult:
    """One worker's end: ``result`` (its handler's state), ``stats``
    (``received``, ``dropped``, ``captured`` = handled, ``lost``, and the
    source's own counters), ``exit`` (None for a clean end, else
    ``"killed by SIGKILL"``, ``"exit status 1"``), ``queues`` / ``group``."""

    def __init__(self, index):
        self.index = index
        self.pid = None
        self.result = None
        self.stats = {}
        self.exit = None
        self.queues = []
        self.group = None
        self.failure = None

    def __repr__(self):
        return (f"<WorkerResult {self.index} pid={self.pid} exit={self.exit or 'ok'} "
                f"stats={self.stats}>")


class RunResult:
    """What ``run`` returns: ``result`` (the workers' results merged by
    ``reduce``, or their list without one), ``workers`` (a WorkerResult
    each), ``stats`` (summed over the workers; the same keys), ``lost``
    (packets that died with a worker), ``ok`` (every worker ended
    cleanly)."""

    def __init__(self, workers, result, stats):
        self.workers = workers
        self.result = result
        self.stats = stats

    @property
    def lost(self):
        return self.stats.get("lost", 0)

    @property
    def ok(self):
        return all(w.exit is None for w in self.workers)

    def __repr__(self):
        return f"<RunResult {len(self.workers)} workers ok={self.ok} stats={self.stats}>"


def sum_stats(dicts):
    """Numeric counters summed key by key (the project's stats shape)."""
    total = {}
    for st in dicts:
        for k, v in st.items():
            if isinstance(v, int) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    return total


def _start_method(requested, spec):
    """fork unless it is risky and avoidable.  fork copies the parent, so a
    handler typed at a prompt, a lambda or a closure works and nothing is
    pickled; but a lock another thread holds at that moment stays held in
    the child.  So when the caller runs other threads and every callable
    can be imported by the workers, forkserver; otherwise fork."""
    if requested:
        return requested
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1
    if threads == 1 or isinstance(spec.program, int):
        return "fork"          # (a program descriptor reaches forked workers only)
    calls = (spec.handler, spec.init, spec.reduce, getattr(spec, "finish", None))
    return "forkserver" if all(_importable(f) for f in calls if f is not None) else "fork"


def _importable(f):
    """Whether a worker started afresh can find ``f`` by its name."""
    module = getattr(f, "__module__", None)
    if module in (None, "__main__") or "<" in getattr(f, "__qualname__", "<"):
        return False
    try:
        pickle.dumps(f)
    except Exception:
        return False
    return True


class WorkerPool:
    """N capture workers; made by ``start``.  ``ready`` (an Event) is set
    once all capture; ``stop()`` asks them to drain and end; ``join()``
    waits and returns the RunResult; ``handled()`` is the live count."""

    def __init__(self, spec, workers, start_method=None, count=None, xdp_parent=None):
        self.spec = spec
        self.n = workers
        self.method = _start_method(start_method, spec)
        self.ctx = multiprocessing.get_context(self.method)
        spec.forked = self.method == "fork"
        self.shared = self.ctx.RawArray("Q", workers * W.SLOTS)
        self.stop_flag = self.ctx.RawValue("b", 0)
        self.remaining = self.ctx.Value("q", count) if count else None
        self.results = [WorkerResult(i) for i in range(workers)]
        self.fds = [[] for _ in range(workers)]
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.error = None
        self.xdp = xdp_parent
        self._lock = threading.Lock()
        self._procs, self._conns = [], []
        self._watcher = None

    # --- start-up ------------------------------------------------------
    def start(self):
        if self.method != "fork" and isinstance(self.spec.program, int):
            raise ConfigError(f"a fanout program given as a descriptor reaches forked workers "
                              f"only, not {self.method} ones")
        for i in range(self.n):
            parent_end, child_end = self.ctx.Pipe(duplex=True)
            p = self.ctx.Process(target=W.main, name=f"pyxring-worker-{i}", daemon=True,
                                 args=(self.spec, i, child_end, self.shared, self.stop_flag,
                                       self.remaining))
            try:
                p.start()
            except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
                if "pickle" in str(exc).lower() or "Can't" in str(exc):
                    self._abort()
                    raise ConfigError(
                        f"the handler (or init/reduce) can't be sent to a {self.method} worker "
                        f"({exc}): define it in a module, or use start_method='fork'") from None
                raise
            child_end.close()
            self._procs.append(p)
            self._conns.append(parent_end)
            self.results[i].pid = p.pid
        try:
            group = self.spec.group
            self._open_worker(0, group)
            if self.spec.backend == "tpacket" and group is None:
                group = self.results[0].group
            for i in range(1, self.n):
                self._open_worker(i, group)
            if self.xdp is not None:
                self.xdp.attach([(q, fd) for i in range(self.n)
                                 for q, fd in zip(self.results[i].queues, self.fds[i])])
        except BaseException:
            self._abort()
            raise
        self._watcher = threading.Thread(target=self._watch, name="pyxring-workers", daemon=True)
        self._watcher.start()
        self.ready.set()
        return self

    def _open_worker(self, i, group):
        from multiprocessing.connection import wait
        from multiprocessing.reduction import recv_handle
        conn, proc = self._conns[i], self._procs[i]
        conn.send(("open", group))
        deadline = time.monotonic() + 30
        while True:
            got = wait([conn, proc.sentinel], timeout=max(0.0, deadline - time.monotonic()))
            if conn in got:
                break
            if proc.sentinel in got or not got:
                raise WorkerError(f"worker {i} did not start ({_exit_text(proc.exitcode)})"
                                  if got else f"worker {i} did not start within 30 s")
        msg = conn.recv()
        if msg[0] == "error":
            raise msg[1]
        if msg[0] == "failed":
            raise WorkerError(f"worker {i} could not start: {msg[1].strip().splitlines()[-1]}",
                              msg[1])
        info = msg[1]
        r = self.results[i]
        r.group, r.queues = info["group"], info["queues"]
        for _ in range(max(1, len(info["queues"]))):
            self.fds[i].append(recv_handle(conn))

    def _abort(self):
        self.stop_flag.value = 1
        for p in self._procs:
            if p.is_alive():
                p.terminate()
        for p in self._procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        for fds in self.fds:
            for fd in fds:
                sockets.close(fd)
            fds.clear()
        if self.xdp is not None:
            self.xdp.close()
        self.finished.set()

    # --- running -------------------------------------------------------
    def handled(self):
        """Packets handled so far, per worker."""
        return [self.shared[i * W.SLOTS + W.HANDLED] for i in range(self.n)]

    def alive(self):
        return [p.is_alive() for p in self._procs]

    def stop(self):
        """Ask every worker to drain and end (idempotent)."""
        if self.xdp is not None and not self.stop_flag.value:
            # no frame enters a ring once the workers start draining
            self.xdp.detach()
        self.stop_flag.value = 1

    def _watch(self):
        from multiprocessing.connection import wait
        pending = set(range(self.n))
        while pending:
            waitables = {}
            for i in pending:
                waitables[self._conns[i]] = i
                waitables[self._procs[i].sentinel] = i
            for obj in wait(list(waitables)):
                i = waitables[obj]
                if i not in pending:
                    continue
                if obj is self._conns[i]:
                    try:
                        msg = self._conns[i].recv()
                    except (EOFError, OSError):
                        msg = None
                    if msg is None:
                        continue
                    if msg[0] == "done":
                        self.results[i].result, self.results[i].stats = msg[1], msg[2]
                    elif msg[0] == "failed":
                        self.results[i].failure = msg[1]
                        self.stop()
                    if msg[0] in ("done", "failed"):
                        self._procs[i].join(5)
                        self._finish_worker(i)
                        pending.discard(i)
                else:
                    self._procs[i].join(1)
                    self._worker_died(i)
                    pending.discard(i)
            if self.remaining is not None and self.remaining.value == 0:
                self.stop()
        self.finished.set()

    def _finish_worker(self, i):
        r = self.results[i]
        r.stats = dict(r.stats)
        r.stats["captured"] = self.shared[i * W.SLOTS + W.HANDLED]
        r.stats.setdefault("lost", 0)
        code = self._procs[i].exitcode
        if r.failure is not None:
            r.exit = "handler raised"
        elif code not in (0, None):
            r.exit = _exit_text(code)
        for fd in self.fds[i]:
            sockets.close(fd)
        self.fds[i] = []

    def _worker_died(self, i):
        """Count what died with worker ``i``, then let its socket go."""
        r = self.results[i]
        r.exit = _exit_text(self._procs[i].exitcode)
        handled = self.shared[i * W.SLOTS + W.HANDLED]
        st = {"captured": handled}
        if self.spec.backend == "xdp":
            if self.xdp is not None:
                self.xdp.forget(r.queues)
            dropped = sum(sockets.xdp_counters(fd) for fd in self.fds[i])
            # received: known at the end from the program's total (join())
            st.update(dropped=dropped, received=None)
        else:
            received = dropped = 0
            for fd in self.fds[i]:
                rcv, drp = sockets.tpacket_counters(fd)
                received += rcv
                dropped += drp
            st.update(received=received, dropped=dropped,
                      lost=max(0, received - dropped - handled))
        for fd in self.fds[i]:
            sockets.close(fd)
        self.fds[i] = []
        r.stats = st

    def join(self, timeout=None):
        """Wait for every worker to end; the RunResult.  A handler that
        raised is a WorkerError (after the others stopped)."""
        if not self.finished.wait(timeout):
            return None
        if self.xdp is not None:
            self._xdp_received()
            self.xdp.close()
        for r in self.results:
            if r.failure is not None:
                last = r.failure.strip().splitlines()[-1]
                raise WorkerError(f"worker {r.index}: {last}", r.failure)
        stats = sum_stats(r.stats for r in self.results)
        if self.spec.reduce is not None:
            values = [r.result for r in self.results if r.result is not None]
            result = functools.reduce(self.spec.reduce, values) if values else None
        else:
            result = [r.result for r in self.results]
        return RunResult(self.results, result, stats)

    def _xdp_received(self):
        """A dead AF_XDP worker's ``received``: its socket's share of what
        the program redirected (the total less the live workers' counts).
        With several dead, each is given what it handled and dropped, and
        the first the rest, as its loss."""
        dead = [r for r in self.results if r.stats.get("received") is None]
        if not dead:
            return
        redirected = self.xdp.counters().get("redirected") or 0
        alive = sum(r.stats.get("received", 0) for r in self.results if r not in dead)
        rest = max(0, redirected - alive)
        for r in dead:
            r.stats["received"] = r.stats["captured"] + r.stats["dropped"]
            r.stats["lost"] = 0
        known = sum(r.stats["received"] for r in dead)
        dead[0].stats["lost"] = max(0, rest - known)
        dead[0].stats["received"] += dead[0].stats["lost"]

    def close(self):
        if not self.finished.is_set():
            self.stop()
            if not self.finished.wait(STOP_TIMEOUT):
                self._abort()
        if self.xdp is not None:
            self.xdp.close()


def _exit_text(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
