"""``pyxring capture IFACE --workers N [--fanout MODE] -w out.pcapng``: the
capture handed to worker processes.

Each worker writes what it captures to a file of its own (the C writer,
a batch at a time): with ``--split`` those are the results
(``out.0.pcapng``, ``out.1.pcapng``, ...); otherwise they are spool files
beside ``-w``'s, merged at the end into ``-w``'s file in time order, with
one interface description and one statistics block (the counts summed),
and removed.  Without ``-w``, each worker prints its batches (lines come a
batch at a time per worker, not merged by time).  The closing lines are
summed over the workers; ``-v`` adds one line per worker.  Exit status 1
when a worker died (its loss is counted on the closing lines).
"""
import heapq
import os
import sys
import time

from pyxring.errors import ConfigError

def add_arguments(parser):
    from pyxring.cli import positive_int
    from pyxring.workers.fanout import FLAGS, MODES
    g = parser.add_argument_group("worker processes (--workers)")
    g.add_argument("--workers", type=positive_int, metavar="N",
                   help="capture with N processes (tpacket: one PACKET_FANOUT group; xdp: "
                        "the RX queues shared out, one per worker at least)")
    g.add_argument("--fanout", choices=tuple(MODES), default=None,
                   help="how the kernel shares packets among tpacket workers (default hash: "
                        "both directions of a flow to one worker)")
    g.add_argument("--fanout-flag", dest="fanout_flags", action="append", choices=tuple(FLAGS),
                   default=[], help="rollover: a full worker passes packets on; defrag: "
                                    "reassemble IP datagrams before choosing")
    g.add_argument("--fanout-group", type=int, metavar="ID",
                   help="fanout group id (default: one the kernel says is free)")
    g.add_argument("--fanout-split", dest="fanout_split", action="append", metavar="EXPR",
                   help="worker i takes what the i-th EXPR matches (first match wins; the last "
                        "worker takes the rest): fanout cbpf")
    g.add_argument("--fanout-prog", dest="fanout_prog", metavar="FILE.o",
                   help="a clang-built eBPF program (SEC(\"socket\")) returning each packet's "
                        "worker: fanout ebpf (--fanout ebpf alone: the built-in host-pair hash)")
    g.add_argument("--split", dest="split_files", action="store_true",
                   help="with -w: one file per worker (FILE.0.pcapng, ...) instead of one "
                        "merged file")


def wanted(args):
    return bool(getattr(args, "workers", None))


def check(args, plan):
    """Usage errors of --workers, before any process starts."""
    if not wanted(args):
        for opt, name in ((args.fanout, "--fanout"), (args.fanout_flags, "--fanout-flag"),
                          (args.fanout_group is not None, "--fanout-group"),
                          (args.fanout_split, "--fanout-split"), (args.split_files, "--split"),
                          (args.fanout_prog, "--fanout-prog")):
            if opt:
                raise ConfigError(f"{name} needs --workers N")
        return
    if len(plan.ifaces) != 1:
        raise ConfigError("--workers captures one interface (one fanout group, or one "
                          "interface's queues)")
    if args.split_files and (not args.write or args.write == "-"):
        raise ConfigError("--split needs -w FILE")
    if args.write == "-":
        raise ConfigError("--workers writes files: -w - (standard output) can't be merged live")
    if args.user:
        raise ConfigError("-Z and --workers: the workers keep their privileges")
    from pyxring.writer import cli as writer_cli
    if writer_cli._rotation_requested(args):
        raise ConfigError("-C, -G, -W and -z don't go with --workers")


def split_name(path, i):
    """out.pcapng -> out.0.pcapng (the worker's number before the extension)."""
    root, ext = os.path.splitext(path)
    if ext in (".gz", ".zst", ".lz4"):
        root, inner = os.path.splitext(root)
        ext = inner + ext
    return f"{root}.{i}{ext}"


def _spool_name(path, i):
    d, base = os.path.split(os.path.abspath(path))
    return os.path.join(d, f".{base}.worker{i}.{os.getpid()}.pcapng")


class _FileSink:
    """A worker's state: its own file, written a batch at a time."""

    def __init__(self, path, fmt, linktype, snaplen, iface, description, precision):
        from pyxring.writer import open_writer
        self.path = path
        self.w = open_writer(path, fmt, linktype=linktype, snaplen=snaplen, ifname=iface,
                             ifdescription=description, precision=precision, engine="write")


def run(args, plan):
    """The capture with ``args.workers`` processes; the exit status."""
    from pyxring import workers
    from pyxring.cli import capture as cap_cli
    from pyxring.tpacket import default_linktype
    from pyxring.workers.fanout import describe
    check(args, plan)
    iface = plan.ifaces[0]
    backend = args.backend
    if backend == "auto":
        backend = "tpacket"
    if backend not in ("tpacket", "xdp"):
        raise ConfigError(f"--workers captures with --backend tpacket or xdp, not {backend}")
    capture = dict(snaplen=args.snaplen, promisc=not args.no_promisc, direction=args.direction)
    if backend == "tpacket":
        capture.update(cap_cli._backend_options("tpacket", iface, plan, args)[0])
        linktype = capture.get("linktype") or default_linktype(iface)
    else:
        from pyxring.cli import capture_options
        capture.update(capture_options.xdp_options(args))
        if capture.get("direction") == "inout":
            capture["direction"] = "in"
        linktype = 1
    fanout = args.fanout or ("ebpf" if args.fanout_prog else "hash")
    n = args.workers
    description = (f"pyxring {backend} backend, {n} workers"
                   + (f" (fanout {fanout})" if backend == "tpacket" else " (one per RX queue set)"))
    out_paths = None
    if args.write:
        out_paths = [split_name(args.write, i) if args.split_files else _spool_name(args.write, i)
                     for i in range(n)]
        fmt = (args.format or "pcapng") if args.split_files else "pcapng"
        precision = args.time_precision or "ns"
        _check_writable(args.write)
    printer = None if args.write or args.count_only else cap_cli._printer(args)

    def init():
        if out_paths is None:
            return 0
        i = _worker_index()
        return _FileSink(out_paths[i], fmt, linktype, args.snaplen, iface, description, precision)

    def handle(batch, sink):
        if printer is not None and len(batch):
            printer(batch)
        if isinstance(sink, _FileSink):
            sink.w.write_batch(batch)
            # each batch reaches the file: a worker that dies loses no packet
            # it handled (a TPACKET block is one write)
            sink.w.flush()

    def finish(sink, stats):
        if isinstance(sink, _FileSink):
            sink.w.write_stats(received=stats.get("received"), dropped=stats.get("dropped"))
            sink.w.close()
            return {"path": sink.path, "written": sink.w.packets_written}
        return None

    status = _status_line(not getattr(args, "quiet", False) and args.write is not None)

    def on_ready(pool):
        if not getattr(args, "quiet", False):
            from pyxring.cli.capture import _linktype_text
            what = (f"{pool.n} workers, fanout {describe(pool.spec.type_flags)}"
                    if backend == "tpacket" else
                    f"{pool.n} workers on queues {', '.join(str(r.queues) for r in pool.results)}")
            sys.stderr.write(f"pyxring: listening on {iface} ({backend} backend, {what}), link-type "
                             f"{_linktype_text(linktype)}, snapshot length {args.snaplen} bytes\n")
            sys.stderr.flush()

    if args.fanout_prog and not os.path.exists(args.fanout_prog):
        raise ConfigError(f"--fanout-prog: no such file: {args.fanout_prog}")
    kw = dict(fanout=fanout, flags=args.fanout_flags, group=args.fanout_group,
              split=args.fanout_split, program=args.fanout_prog, backend=backend, filter=plan.expression or None,
              init=init, finish=finish, count=args.count, on_ready=on_ready, **capture)
    if backend == "xdp":
        for k in ("fanout", "flags", "group", "split", "program"):
            kw.pop(k)
        if (args.fanout or args.fanout_flags or args.fanout_group is not None or args.fanout_split
                or args.fanout_prog):
            raise ConfigError("--fanout, --fanout-flag, --fanout-group, --fanout-split and "
                              "--fanout-prog are the tpacket backend's: AF_XDP workers take RX "
                              "queues")
    try:
        res = workers.run(iface, handle, n, duration=args.duration,
                          status=status.tick if status.enabled else None, **kw)
    except BaseException:
        if out_paths is not None and not args.split_files:
            for p in out_paths:
                _remove(p)
        raise
    finally:
        status.clear()
    return _closing(args, res, out_paths, linktype, iface, description)


def _worker_index():
    """This worker's number (the process name the pool gives it)."""
    import multiprocessing
    return int(multiprocessing.current_process().name.rsplit("-", 1)[1])


def _check_writable(path):
    d = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(d):
        from pyxring.errors import PyxringError
        raise PyxringError(f"cannot write {path}: No such file or directory")


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _status_line(enabled):
    """capture's live status line (a terminal only), fed with the packets
    the workers handled."""
    from pyxring.cli.capture import _StatusLine
    line = _StatusLine(enabled)

    def tick(pool):
        now = time.monotonic()
        if now - line.last >= 0.5:
            line.show(now, sum(pool.handled()), f"{pool.n} workers")
    line.tick = tick
    return line


def merge_files(paths, out, *, fmt="pcapng", linktype=1, snaplen=262144, iface=None,
                description=None, precision="ns", received=None, dropped=None):
    """Write the packets of ``paths`` (each in time order) to ``out`` in time
    order (equal times: the lower worker first), one interface; returns the
    packet count."""
    from pyxring.file import open_file
    from pyxring.writer import open_writer
    sources = [open_file(p) for p in paths]
    try:
        def stream(i, src):
            from pyxring.errors import CaptureFileError
            try:
                for pkt in src:
                    yield pkt.ts_ns, i, pkt
            except CaptureFileError:
                return        # a worker that died: its file ends at its last whole batch
        w = open_writer(out, fmt, linktype=linktype, snaplen=snaplen, ifname=iface,
                        ifdescription=description, precision=precision)
        try:
            for _ts, _i, pkt in heapq.merge(*(stream(i, s) for i, s in enumerate(sources)),
                                             key=lambda t: (t[0], t[1])):
                w.write(pkt)
            if fmt == "pcapng":
                w.write_stats(received=received, dropped=dropped)
        finally:
            w.close()
        return w.packets_written
    finally:
        for s in sources:
            s.close()


def _packets(n):
    return f"{n} packet" if n == 1 else f"{n} packets"


def _closing(args, res, out_paths, linktype, iface, description):
    st = res.stats
    captured = st.get("captured", 0)
    if out_paths is not None and not args.split_files:
        present = [p for p in out_paths if os.path.exists(p)]
        try:
            captured = merge_files(present, args.write, fmt=args.format or "pcapng",
                                   linktype=linktype, snaplen=args.snaplen, iface=iface,
                                   description=description, precision=args.time_precision or "ns",
                                   received=st.get("received"), dropped=st.get("dropped"))
        finally:
            for p in out_paths:
                _remove(p)
    elif out_paths is not None:
        captured = sum((w.result or {}).get("written", 0) for w in res.workers
                       if isinstance(w.result, dict))
    lines = [f"{_packets(captured)} captured", f"{_packets(st.get('received', 0))} received by filter",
             f"{_packets(st.get('dropped', 0))} dropped by kernel"]
    dead = [w for w in res.workers if w.exit is not None]
    for w in dead:
        lines.append(f"worker {w.index} (pid {w.pid}) {w.exit}: {_packets(w.stats.get('lost', 0))} "
                     f"it had received were lost")
    if getattr(args, "verbose", 0):
        for w in res.workers:
            ws = w.stats
            where = f"queues {w.queues}" if w.queues else f"fanout group {w.group}"
            extra = "".join(f", {k}={ws[k]}" for k in ("rollover", "rollover_failed", "lost")
                            if ws.get(k))
            lines.append(f"worker {w.index} (pid {w.pid}, {where}): {ws.get('captured', 0)} packets "
                         f"captured, {ws.get('received', 0)} received by filter, "
                         f"{ws.get('dropped', 0)} dropped by kernel{extra}")
    sys.stderr.write("".join(line + "\n" for line in lines))
    sys.stderr.flush()
    return 1 if dead else 0
