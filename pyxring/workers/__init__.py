"""Capture past one core: N worker processes, each with its own socket and
ring, and one merged view of their results and statistics.

    import collections, operator
    from pyxring import workers

    def count_ports(batch, ports):                 # runs in each worker
        cols = batch.columns(["dport"])
        ports.update(cols["dport"].tolist())

    res = workers.run("eth0", count_ports, workers=2, fanout="hash", filter="udp",
                      init=collections.Counter, reduce=operator.add, duration=10)
    res.result          # the workers' Counters, added up
    res.stats           # {'received': ..., 'dropped': ..., 'captured': ..., 'lost': 0, ...}
    res.workers[1]      # one worker: .result .stats .exit .pid

Backends: ``tpacket`` (default): every worker opens a TPACKET_V3 socket
in one PACKET_FANOUT group, and the kernel shares the packets out by
``fanout`` (``hash``, ``lb``, ``cpu``, ``rollover``, ``random``, ``qm``,
``cbpf``, ``ebpf``: see ``pyxring.workers.fanout``).  ``xdp``: each worker
binds AF_XDP sockets (its own UMEM) to its RX queues, the parent's XDP
program redirects every frame into the socket of its queue.

The handler: ``handler(batch)`` (``per="packet"``: ``handler(pkt)``), or
``handler(item, state)`` when ``init`` is given: ``init()`` runs once in
each worker and makes its state.  A worker's result is its state,
replaced by every non-None value the handler returns (without ``init``,
those values are combined with ``reduce``); the parent merges the
workers' results with ``reduce`` (without it, ``result`` is their list).

Processes: forked (start method ``fork``), so a handler typed at the
prompt, a lambda or a closure works and nothing is pickled; when the
calling process runs other threads (whose locks a fork would copy held)
and the handler, ``init``, ``reduce`` and ``finish`` are all importable
from a module, a forkserver starts them instead.  ``start_method=`` chooses
(``"forkserver"``/``"spawn"`` need importable callables: defined in a
module, or in a script's ``__main__`` under ``if __name__ == "__main__":``).  Workers ignore SIGINT (Ctrl-C reaches the whole process
group; the parent decides), stop on SIGTERM like on ``stop()``, and get
SIGTERM when the parent dies.
"""
import os

from pyxring.errors import ConfigError
from pyxring.workers.pool import RunResult, WorkerError, WorkerPool, WorkerResult, sum_stats

__all__ = ["run", "start", "WorkerPool", "RunResult", "WorkerResult", "WorkerError", "sum_stats"]


def start(iface, handler, workers=2, *, fanout="hash", flags=(), group=None, split=None,
          program=None, backend="tpacket", filter=None, per="batch", init=None, reduce=None,
          finish=None, count=None, cpus=None, start_method=None, **capture):
    """Start the workers and return the WorkerPool once every one captures
    (``run`` is ``start`` + wait + ``join``).

    ``fanout`` / ``flags`` (``"rollover"``, ``"defrag"``) / ``group`` (an
    id, default: one the kernel says is free) choose the TPACKET_V3 group;
    ``split`` (a list of tcpdump expressions, one per worker at most: the
    first match wins, the last worker takes what matches none) means
    ``fanout="cbpf"``; ``program`` (a clang-built object's ``SEC("socket")``
    program, by path; a loaded SOCKET_FILTER program's fd; or None for the
    built-in host-pair hash) means ``fanout="ebpf"``.
    ``finish(state, stats)`` runs in each worker after its last batch
    (with its source's counters) and returns its result instead of the
    state: close a file, turn a state into something picklable.
    ``count``: stop after that many packets in all (exactly: workers
    reserve their share of the count batch by batch).  ``cpus``: pin
    worker i to ``cpus[i % len(cpus)]``.  Other keywords go to the
    backend's ``open`` (``snaplen``, ``promisc``, ``block_size``, ...).
    """
    loaded = None
    if isinstance(program, (str, os.PathLike)):
        if fanout not in ("hash", "ebpf"):
            raise ConfigError(f"a fanout program means fanout 'ebpf', not {fanout!r}")
        from pyxring.xdp import _bpf
        loaded = program = _bpf.load_socket_program(os.fspath(program))
        fanout = "ebpf"
    try:
        spec, xdp_parent = _plan(iface, handler, workers, fanout, flags, group, split, program,
                                 backend, filter, per, init, reduce, cpus, capture)
        spec.finish = finish
        pool = WorkerPool(spec, workers if backend != "xdp" else spec.nworkers,
                          start_method=start_method, count=count, xdp_parent=xdp_parent)
        try:
            return pool.start()
        except BaseException:
            if xdp_parent is not None:
                xdp_parent.close()
            raise
    finally:
        if loaded is not None:
            os.close(loaded)          # the group holds the program now


def run(iface, handler, workers=2, *, duration=None, count=None, on_ready=None, status=None,
        **kwargs):
    """Capture with ``workers`` processes until ``duration`` seconds pass,
    ``count`` packets are handled, SIGINT or SIGTERM (when called from the
    main thread), or every worker has ended; returns the RunResult.
    ``on_ready(pool)`` is called once every worker captures, ``status(pool)``
    every 0.1 s while they do (a live status line).  Other
    arguments: see ``start``."""
    import signal
    import threading
    import time
    pool = start(iface, handler, workers, count=count, **kwargs)
    main = threading.current_thread() is threading.main_thread()
    old = {}
    if main:
        def on_signal(signum, frame):
            pool.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    try:
        if on_ready is not None:
            on_ready(pool)
        deadline = time.monotonic() + duration if duration else None
        while not pool.finished.wait(0.1):
            if status is not None:
                status(pool)
            if deadline is not None and time.monotonic() >= deadline:
                pool.stop()
                deadline = None
        return pool.join()
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        pool.close()


def _plan(iface, handler, workers, fanout, flags, group, split, program, backend, filter, per,
          init, reduce, cpus, capture):
    """Check everything before a process starts; the workers' Spec."""
    import os
    from pyxring.workers import fanout as F
    from pyxring.workers.worker import Spec
    from pyxring.backends import check_interface
    if not callable(handler):
        raise ConfigError("the handler must be callable")
    if per not in ("batch", "packet"):
        raise ConfigError(f"per must be 'batch' or 'packet', not {per!r}")
    if backend not in ("tpacket", "xdp"):
        raise ConfigError(f"workers capture with the tpacket or xdp backend, not {backend!r}")
    if isinstance(flags, str):
        flags = [flags]
    if split is not None:
        if fanout not in ("hash", "cbpf"):
            raise ConfigError(f"a fanout split is a cbpf program: it can't go with fanout {fanout!r}")
        fanout = "cbpf"
    if filter is not None and not isinstance(filter, str):
        filter = " ".join(filter)
    if not (isinstance(workers, int) and 1 <= workers <= F.MAX_MEMBERS) and not (
            backend == "xdp" and workers is None):
        raise ConfigError(f"workers must be between 1 and {F.MAX_MEMBERS}, not {workers!r}")
    check_interface(iface)
    spec = Spec(iface=iface, handler=handler, per=per, init=init, reduce=reduce, filter=filter,
                backend=backend, cpus=list(cpus) if cpus else None, parent_pid=os.getpid(),
                group=group, capture=dict(capture), type_flags=0, uniqueid_flag=F.FLAG_UNIQUEID,
                program=None, netns=None, nworkers=workers)
    xdp_parent = None
    if backend == "xdp":
        if fanout not in ("hash", "qm") or flags or group is not None or program is not None:
            raise ConfigError("AF_XDP workers take the frames of their RX queues (one worker "
                              "per queue): fanout modes, flags and groups are TPACKET_V3's")
        from pyxring.workers import xdp
        xdp_parent = xdp.plan(spec, workers, filter)
    else:
        spec.type_flags = F.type_flags(fanout, flags)
        if group is not None:
            F.check_group_free(group, iface)
        if fanout == "qm":
            from pyxring.xdp import link_info
            nq = link_info(iface)[2]
            if workers > nq:
                raise ConfigError(f"fanout qm: {workers} workers for {iface}'s {nq} RX queue(s); "
                                  f"the workers past {nq} would get nothing")
        if fanout == "cbpf":
            if split is None:
                raise ConfigError("fanout cbpf needs a split: a list of tcpdump expressions")
            spec.program = F.split_program(split, workers, iface,
                                           snaplen=capture.get("snaplen", 262144))
        elif fanout == "ebpf":
            spec.program = program if program is not None else "host_pair"
        elif program is not None:
            raise ConfigError("a fanout program goes with fanout 'ebpf'")
    # whatever the start method, the sockets open in the caller's (this
    # thread's) network namespace, which this thread keeps during start()
    import threading
    spec.netns = f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net"
    return spec, xdp_parent
