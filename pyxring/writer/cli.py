"""The writer's part of ``pyxring capture``: its options (-C -G -W -z
--rotate-align --writer ...), opening the writer for a source, and closing
it at the end with the counts that belong in tcpdump's closing lines.

``capture`` calls ``add_arguments`` once, ``open_for_capture`` when ``-w``
is given, ``stopping`` when a signal ends the capture, and
``close_for_capture`` before its closing lines.
"""
import argparse
import shutil
import signal
import sys

from pyxring.errors import ReaderGone, WriteError

# After Ctrl-C / SIGTERM, how long the last writes may take (a stalled pipe
# or disk); a second signal gives up at once.
STOP_TIMEOUT = 3.0


def _int_arg(what, minimum):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < minimum:
            raise argparse.ArgumentTypeError(f"invalid {what} {text}")
        return v
    return parse


def add_arguments(parser):
    g = parser.add_argument_group("writing files (-w)")
    g.add_argument("-C", dest="rotate_size", type=_int_arg("file size", 1), metavar="MB",
                   help="start a new file when the current one is larger than MB x 1,000,000 "
                        "bytes (tcpdump's names: FILE, FILE1, FILE2, ...)")
    g.add_argument("-G", dest="rotate_seconds", type=_int_arg("number of seconds", 0),
                   metavar="SECONDS",
                   help="start a new file every SECONDS; FILE is a strftime pattern")
    g.add_argument("--rotate-align", action="store_true",
                   help="with -G: rotate at multiples of SECONDS from local midnight")
    g.add_argument("-W", dest="max_files", type=_int_arg("number of output files", 1),
                   metavar="N", help="with -C: a ring of N files; with -G alone: stop after N files")
    g.add_argument("-z", dest="post_rotate", metavar="CMD",
                   help="run CMD FILE on each finished file (e.g. gzip); not waited for")
    g.add_argument("--writer", dest="writer_engine", choices=("auto", "uring", "write"),
                   default="auto", help="output engine: io_uring with registered buffers, or "
                                        "write(2) (default auto: io_uring where the kernel "
                                        "allows it)")
    g.add_argument("--direct-io", action="store_true",
                   help="io_uring: write with O_DIRECT where the file system takes it (less "
                        "CPU and no page cache, but the disk's own stalls reach the ring)")
    g.add_argument("--uring-buffers", type=_int_arg("io_uring buffer count", 2), metavar="N",
                   help="io_uring: number of registered buffers (default 8)")
    g.add_argument("--uring-buffer-size", type=_int_arg("io_uring buffer size", 4),
                   metavar="KiB", help="io_uring: size of each buffer in KiB, a multiple of 4 "
                                       "(default 2048)")


def _rotation_requested(args):
    return bool(args.rotate_size or args.rotate_seconds or args.max_files or args.post_rotate
                or args.rotate_align)


def check_arguments(args):
    """Usage errors tcpdump would not catch (raises ConfigError)."""
    from pyxring.errors import ConfigError
    if _rotation_requested(args) and not args.write:
        raise ConfigError("-C, -G, -W, -z and --rotate-align need -w FILE")
    if args.write == "-" and _rotation_requested(args):
        raise ConfigError("-C, -G, -W, -z and --rotate-align need a file name, not '-w -'")
    if args.rotate_align and not args.rotate_seconds:
        raise ConfigError("--rotate-align needs -G SECONDS")
    if args.post_rotate and shutil.which(args.post_rotate) is None:
        raise ConfigError(f"-z {args.post_rotate}: no such program")
    if args.direct_io and args.writer_engine == "write":
        raise ConfigError("--direct-io is io_uring's: not with --writer write")
    if args.uring_buffer_size is not None and args.uring_buffer_size % 4:
        raise ConfigError(f"io_uring buffer size {args.uring_buffer_size} KiB must be a "
                          f"multiple of 4")


def open_for_capture(args, sources, describe_source, notice=None):
    """The writer for ``capture -w``: ``sources`` is a list of ``(interface
    name, source)``, one interface block each, in that order (interface 0
    first); ``describe_source(src)`` gives each block's description."""
    from pyxring.writer import open_writer
    check_arguments(args)
    to_stdout = args.write == "-"
    fmt = args.format or ("pcap" if to_stdout and len(sources) == 1 else "pcapng")

    def counters():
        # every interface's cumulative counters, for each rotated file's blocks
        return {iid: {"received": st.get("received"), "dropped": st.get("dropped")}
                for iid, st in enumerate(src.stats() for _, src in sources)}
    ifname, src = sources[0]
    writer = open_writer(
        args.write, fmt, linktype=src.linktype, snaplen=args.snaplen,
        precision=args.time_precision or "ns", ifname=ifname,
        ifdescription=describe_source(src), engine=args.writer_engine, buffers=args.uring_buffers,
        direct=args.direct_io,
        buffer_size=args.uring_buffer_size * 1024 if args.uring_buffer_size else None,
        rotate_size=args.rotate_size * 1_000_000 if args.rotate_size else None,
        rotate_seconds=args.rotate_seconds or None, rotate_align=args.rotate_align,
        max_files=args.max_files, post_rotate=args.post_rotate, stats=counters, notice=notice)
    for name, other in sources[1:]:
        writer.add_interface(other.linktype, args.snaplen, name=name,
                             description=describe_source(other))
    if to_stdout:
        writer.flush()
    if getattr(args, "verbose", False):
        sys.stderr.write(f"pyxring: writing {args.write} with {describe(writer.stats())}\n")
    return writer


def describe(st):
    """'io_uring (O_DIRECT, 4 buffers of 1024 KiB)', 'write(2)', ... for -v."""
    if st.get("writer") == "io_uring":
        what = (f"io_uring ({'O_DIRECT' if st.get('direct_io') else 'buffered'}, "
                f"{st['buffers']} buffers of {st['buffer_size'] // 1024} KiB)")
    else:
        what = "write(2)"
    if st.get("compression"):
        what = f"{st['compression']} compression, {what}"
    return what


def stopping(writer):
    """A signal ended the capture: the closing writes get STOP_TIMEOUT."""
    if writer is not None:
        writer.set_deadline(STOP_TIMEOUT)


def close_for_capture(writer, stats, delivered, verbose=False):
    """Write the statistics blocks (``stats``: each interface's counters, in
    interface order) and close; returns ``(captured, lines, failure)``: the
    packets in the file(s), extra closing lines, and the WriteError to report
    last (None when all went well)."""
    from pyxring.cli import silence_stdout
    failure = None
    lines = []
    old = {}

    def give_up(signum, frame):
        writer.set_deadline(0)
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, give_up)
    try:
        try:
            for iid, st in enumerate(stats):
                writer.write_stats(received=st.get("received"), dropped=st.get("dropped"),
                                   interface_id=iid)
            writer.close()
        except ReaderGone:
            silence_stdout()
        except WriteError as exc:
            failure = exc
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    captured = writer.packets_written
    if captured < delivered:
        lines.append(f"{delivered - captured} packets not written")
    if verbose:
        st = writer.stats()
        line = f"writer: {describe(st)}"
        if st.get("writer") == "io_uring":
            line += (f", {st['writes']} writes, {st['full_waits']} waits for a free buffer "
                     f"({st['full_wait_ms']} ms)")
        line += f", longest wait {st.get('longest_block_ms', 0):.1f} ms"
        if st.get("files", 1) > 1:
            line += f", {st['files']} files"
        lines.append(line)
    return captured, lines, failure
