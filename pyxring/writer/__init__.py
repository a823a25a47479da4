"""The capture file writer: one sink with options.

    records (pcap / pcapng, _format) -> [compression (_codec)]
        -> output: write(2) (_output) or io_uring (_uring) -> [rotation]

``open_writer`` puts the stages together from its options; every
combination has the same API (``write_batch``, ``write``, ``add_interface``,
``write_stats``, ``flush``, ``close``).  The output engine is chosen per
file: io_uring with registered buffers for regular files where the kernel
allows it (``engine="auto"``), otherwise write(2), with one notice saying
why.  Through the page cache by default: it absorbs the disk's own stalls,
which with O_DIRECT (``direct=True``) reach the capture ring.
"""
import errno as _errno
import os
import sys

from pyxring.compress import codec_for_name
from pyxring.errors import PyxringError
from pyxring.writer._format import Writer
from pyxring.writer._output import FdOutput

__all__ = ["open_writer", "open_file", "open_output", "Writer", "FileLimitReached", "ENGINES", "FORMATS"]

FORMATS = ("pcap", "pcapng")
ENGINES = ("auto", "uring", "write")
COMPRESSIONS = ("auto", "none", "gzip", "zstd", "lz4")
# Measured with 1500-byte frames at 100k pps (150 MB/s) to this kind of
# machine's virtual disk with O_DIRECT: 4 or 8 buffers of 1 MiB waited for a
# free buffer tens of times (up to 240 ms), 8 of 2 MiB not at all; the CPU
# per packet did not change with the sizes.
URING_BUFFERS = 8
URING_BUFFER_SIZE = 2 << 20


class FileLimitReached(Exception):
    """``-G`` with ``-W N`` (and no ``-C``): the Nth file is complete, the
    capture is over (tcpdump: "Maximum file limit reached")."""

    def __init__(self, count):
        super().__init__(f"maximum file limit reached: {count}")
        self.count = count


def _stderr_notice(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _direct_open(path, flags):
    try:
        return os.open(path, flags | os.O_DIRECT, 0o666), None
    except OSError as exc:
        if exc.errno == _errno.EINVAL:
            return None, f"{os.path.dirname(os.path.abspath(path))} does not take O_DIRECT"
        raise


def _open_output(path, engine, buffers, buffer_size, notice, flags, direct):
    """The file output stage for ``path`` (a name, "-" or a file object)."""
    if path == "-" or hasattr(path, "fileno"):
        if engine == "uring":
            raise PyxringError("--writer uring needs a regular file, not "
                               f"{'standard output' if path == '-' else 'a file object'}")
        if path == "-":
            sys.stdout.flush()
            return FdOutput(sys.stdout.buffer, "-", owns=False)
        name = getattr(path, "name", None)
        return FdOutput(path, name if isinstance(name, str) else "<file>", owns=False)
    name = os.fspath(path)
    try:
        exists_special = os.path.exists(name) and not os.path.isfile(name)
        if engine == "write" or exists_special:
            if engine == "uring":
                raise PyxringError(f"--writer uring needs a regular file; {name} is not one")
            return FdOutput(os.open(name, flags, 0o666), name)
        from pyxring.writer._uring import UringOutput, UringUnavailable
        fd = None
        if direct:
            fd, why = _direct_open(name, flags)
            if fd is None:
                # without O_DIRECT io_uring is still asynchronous
                notice(f"pyxring: {why}; writing {name} through the page cache")
        direct = fd is not None
        if fd is None:
            fd = os.open(name, flags, 0o666)
        try:
            return UringOutput(fd, name, direct, buffers or URING_BUFFERS,
                               buffer_size or URING_BUFFER_SIZE)
        except UringUnavailable as exc:
            os.close(fd)
            if engine == "uring":
                raise PyxringError(f"--writer uring: {exc}") from None
            why = f"io_uring unavailable ({exc})"
        except BaseException:
            os.close(fd)
            raise
        notice(f"pyxring: {why}; writing {name} with write(2)")
        return FdOutput(os.open(name, flags, 0o666), name)
    except OSError as exc:
        raise PyxringError(f"cannot write {name}: {exc.strerror}") from None


def open_output(path, *, compression="auto", level=None, engine="auto", buffers=None,
                buffer_size=None, direct=False, notice=None):
    """The byte stages of a capture file: an optional codec (``compression``
    ``"auto"``: by the name) on top of the chosen output, for a record
    formatter to write into (``Writer``, or ``pyxring.convert``'s); an
    existing file is replaced."""
    if engine not in ENGINES:
        raise PyxringError(f"unknown writer {engine!r} (choose auto, uring or write)")
    if compression not in COMPRESSIONS:
        raise PyxringError(f"unknown compression {compression!r} (choose gzip, zstd, lz4 or none)")
    codec = None
    if compression == "auto":
        if isinstance(path, (str, bytes, os.PathLike)) and path != "-":
            codec = codec_for_name(path)
    elif compression != "none":
        codec = compression
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_TRUNC
    sink = _open_output(path, engine, buffers, buffer_size, notice or _stderr_notice, flags,
                        direct)
    if codec is None:
        return sink, sink
    try:
        from pyxring.writer._codec import CodecOutput
        return CodecOutput(sink, codec, level), sink
    except BaseException:
        try:
            sink.finish()
        except Exception:
            pass
        raise


def open_file(path, format="pcapng", interfaces=(), *, precision="ns", compression="auto",
              level=None, engine="auto", buffers=None, buffer_size=None, direct=False,
              notice=None):
    """One capture file (no rotation): the record stage on top of an
    optional codec on top of the chosen output; an existing file is replaced."""
    if format not in FORMATS:
        raise PyxringError(f"unknown file format {format!r} (choose pcap or pcapng)")
    if precision not in ("ns", "us"):
        raise PyxringError(f"unknown time precision {precision!r} (choose ns or us)")
    from pyxring.writer._format import check_interface
    for iface in interfaces:
        check_interface(iface["linktype"], iface["snaplen"])
    out, sink = open_output(path, compression=compression, level=level, engine=engine,
                            buffers=buffers, buffer_size=buffer_size, direct=direct,
                            notice=notice)
    try:
        return Writer(out, sink, format, interfaces, precision)
    except BaseException:
        try:
            out.finish()
        except Exception:
            pass
        raise


def open_writer(path, format="pcapng", *, linktype=1, snaplen=262144, precision="ns",
                ifname=None, ifdescription=None, interfaces=None, compression="auto", level=None,
                engine="auto", buffers=None, buffer_size=None, direct=False, rotate_size=None,
                rotate_seconds=None, rotate_align=False, max_files=None, post_rotate=None,
                stats=None, notice=None):
    """Open ``path`` (``"-"`` for standard output, or an open binary file)
    for writing packets.

    ``format``: ``"pcapng"`` (nanosecond timestamps, any number of
    interfaces, statistics blocks) or ``"pcap"`` (``precision`` ``"ns"``:
    magic a1b23c4d, ``"us"``: a1b2c3d4).  Interface 0 is described by
    ``linktype``, ``snaplen``, ``ifname``, ``ifdescription`` (or give
    ``interfaces``, a list of dicts); ``add_interface()`` adds more.

    ``compression``: ``"auto"`` (by the name: .gz, .zst, .lz4), ``"none"``,
    ``"gzip"``, ``"zstd"``, ``"lz4"``.  ``engine``: ``"auto"`` (io_uring for
    regular files where possible), ``"uring"``, ``"write"``; ``buffers`` and
    ``buffer_size`` size io_uring's registered buffers; ``direct`` writes
    them with O_DIRECT where the file system takes it (less CPU, and the
    page cache left alone, but a disk that stalls stalls the capture).

    Rotation, with tcpdump's names: ``rotate_size`` (bytes, tcpdump's
    ``-C`` times 1,000,000), ``rotate_seconds`` (``-G``; the name is a
    strftime pattern), ``rotate_align`` (on wall-clock multiples),
    ``max_files`` (``-W``), ``post_rotate`` (``-z``: a program run on each
    finished file), ``stats`` (a callable returning the source's cumulative
    counters, for each file's statistics block).

    ``notice`` is called with one-line notices (default: standard error).
    """
    if interfaces is None:
        iface = {"linktype": linktype, "snaplen": snaplen}
        if ifname:
            iface["name"] = ifname
        if ifdescription:
            iface["description"] = ifdescription
        interfaces = [iface]
    options = dict(precision=precision, compression=compression, level=level, engine=engine,
                   buffers=buffers, buffer_size=buffer_size, direct=direct, notice=notice)
    if rotate_size or rotate_seconds or post_rotate or max_files:
        from pyxring.writer.rotation import Rotation, RotatingWriter
        rotation = Rotation(size=rotate_size, seconds=rotate_seconds, align=rotate_align,
                            max_files=max_files, command=post_rotate)
        return RotatingWriter(path, format, interfaces, rotation, stats=stats, **options)
    return open_file(path, format, interfaces, **options)
