"""One worker process: open its share of the capture, call the handler on
every batch (or packet), and report back.

Protocol on the control pipe (a socketpair, so descriptors can travel with
SCM_RIGHTS), parent -> worker: ``("open", group id or None)``; worker ->
parent: ``("ready", info)`` followed by its capture socket descriptors,
then at the end ``("done", result, stats)``, or ``("error", exc)`` when
opening failed, or ``("failed", text)`` when the handler raised.

Counters the parent reads while the worker runs live in shared memory
(one writer each): packets handled, and the state.  Kernel counters are
read only at the end (a TPACKET read resets them): if the worker dies
before, the parent still has the socket and reads them there (see
``sockets``).
"""
import ctypes
import os
import signal
import sys
import traceback

# shared slots per worker
HANDLED, STATE, SLOTS = 0, 1, 4
STARTING, RUNNING, DRAINING, DONE = 0, 1, 2, 3

_PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000


class Spec:
    """Everything a worker needs (pickled for spawn/forkserver workers)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def main(spec, index, conn, shared, stop, remaining):
    """The worker's body (the Process target)."""
    stopping = []

    def on_term(signum, frame):
        stopping.append(signum)
    # Ctrl-C reaches the whole process group: the parent decides the stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    libc = ctypes.CDLL(None, use_errno=True)
    # SIGTERM when the parent goes (a forkserver's child: when the
    # forkserver goes, which ends with the parent)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if spec.forked and os.getppid() != spec.parent_pid:
        return                              # the parent died before prctl
    base = index * SLOTS
    try:
        _enter_netns(libc, spec.netns)
        if spec.cpus:
            os.sched_setaffinity(0, {spec.cpus[index % len(spec.cpus)]})
        state = spec.init() if spec.init is not None else None
        msg = conn.recv()
        if msg[0] != "open":
            return
        src = _open(spec, index, msg[1])
    except BaseException as exc:
        _send_error(conn, exc)
        return
    from multiprocessing.reduction import send_handle
    try:
        conn.send(("ready", _info(src)))
        for fd in _fds(src):
            send_handle(conn, fd, spec.parent_pid)
        shared[base + STATE] = RUNNING
        state = _loop(spec, src, state, shared, base, stop, remaining, stopping)
        shared[base + STATE] = DONE
        stats = src.stats()
        if spec.finish is not None:
            state = spec.finish(state, stats)
        src.close()
        conn.send(("done", state, stats))
    except BaseException:
        try:
            conn.send(("failed", traceback.format_exc()))
        except Exception:
            pass
        sys.exit(1)


def _enter_netns(libc, path):
    """Join the namespace the parent's thread captures in (a forkserver or
    spawned worker starts elsewhere; a forked one is there already)."""
    if path is None or os.stat(path).st_ino == os.stat("/proc/thread-self/ns/net").st_ino:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"joining the parent's network namespace: {os.strerror(err)}")
    finally:
        os.close(fd)


def _send_error(conn, exc):
    from pyxring.errors import PyxringError
    try:
        if isinstance(exc, (PyxringError, OSError, ValueError)):
            conn.send(("error", exc))
        else:
            conn.send(("failed", traceback.format_exc()))
    except Exception:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def _open(spec, index, group):
    if spec.backend == "xdp":
        from pyxring.workers import xdp
        return xdp.open_queues(spec, index)
    from pyxring import tpacket
    flags = spec.type_flags
    if group is None:
        group, flags = 0, flags | spec.uniqueid_flag
    program = spec.program if index == 0 else None
    if program == "host_pair":
        from pyxring.workers.fanout import host_pair_program
        program = host_pair_program()
    try:
        return tpacket.open(spec.iface, filter=spec.filter, fanout=(group, flags, program),
                            **spec.capture)
    finally:
        if isinstance(program, int):
            os.close(program)           # the group holds its own reference


def _info(src):
    return {"pid": os.getpid(), "group": getattr(src, "fanout_group", None),
            "queues": list(getattr(src, "queue_ids", []) or []), "linktype": src.linktype,
            "snaplen": src.snaplen, "timestamps": src.timestamp_source}


def _fds(src):
    if hasattr(src, "xsk_fds"):
        return [fd for _, fd in src.xsk_fds()]
    return [src.fileno()]


def _loop(spec, src, state, shared, base, stop, remaining, stopping):
    handler, per, reduce, has_init = spec.handler, spec.per, spec.reduce, spec.init is not None
    timeout = 100

    def handle(batch, state):
        n = len(batch)
        if remaining is not None and n:
            with remaining.get_lock():
                take = min(n, remaining.value)
                remaining.value -= take
            if take < n:
                batch.truncate(take)
                n = take
        if n == 0:
            return state, 0
        if per == "packet":
            for pkt in batch:
                state = _fold(state, handler(pkt, state) if has_init else handler(pkt),
                              has_init, reduce)
        else:
            state = _fold(state, handler(batch, state) if has_init else handler(batch),
                          has_init, reduce)
        shared[base + HANDLED] += n
        return state, n

    while not stop.value and not stopping:
        if remaining is not None and remaining.value == 0:
            break
        batch = src.batch(timeout)
        try:
            state, _ = handle(batch, state)
        finally:
            batch.release()
    shared[base + STATE] = DRAINING
    stop_receiving = getattr(src, "stop_receiving", None)
    if stop_receiving is not None:
        # everything the kernel counted for this socket is handled too
        stop_receiving()
    # (AF_XDP: the parent detached the program before the stop: what is in
    # the RX ring is all there is)
    wait = src.drain_wait_ms if stop_receiving is not None else 0
    while True:
        batch = src.batch(wait)
        try:
            if len(batch) == 0:
                break
            state, _ = handle(batch, state)
        finally:
            batch.release()
    return state


def _fold(state, out, has_init, reduce):
    """The worker's result: init()'s value replaced by each non-None value
    the handler returns; without init, non-None values are combined with
    ``reduce`` when there is one."""
    if out is None:
        return state
    if has_init or state is None or reduce is None:
        return out
    return reduce(state, out)
