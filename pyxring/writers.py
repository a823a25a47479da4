"""Opening capture files for writing: ``open_writer``."""
import os
import sys

from pyxring._writer import PcapngWriter, PcapWriter, Writer
from pyxring.errors import PyxringError

__all__ = ["open_writer", "Writer", "PcapWriter", "PcapngWriter"]

FORMATS = ("pcap", "pcapng")


def open_writer(path, format="pcapng", *, linktype=1, snaplen=262144, precision="ns",
                ifname=None, ifdescription=None):
    """Open ``path`` (``"-"`` for standard output, or an open binary file)
    for writing packets.

    ``format`` is ``"pcapng"`` (nanosecond timestamps, statistics block at
    the end) or ``"pcap"`` (``precision`` ``"ns"``: magic a1b23c4d, ``"us"``:
    a1b2c3d4).  The writer is a context manager; ``write(pkt)``,
    ``write_batch(batch)``, ``write_stats(received=, dropped=)``, ``close()``.
    """
    if format not in FORMATS:
        raise PyxringError(f"unknown file format {format!r} (choose pcap or pcapng)")
    if precision not in ("ns", "us"):
        raise PyxringError(f"unknown time precision {precision!r} (choose ns or us)")
    if path == "-":
        fileobj, name = sys.stdout.buffer, "-"
        sys.stdout.flush()
    elif hasattr(path, "fileno"):
        fileobj, name = path, getattr(path, "name", "<file>")
    else:
        name = os.fspath(path)
        try:
            fileobj = open(name, "wb")
        except OSError as exc:
            raise PyxringError(f"cannot write {name}: {exc.strerror}") from None
    try:
        if format == "pcap":
            return PcapWriter(fileobj, str(name), linktype, snaplen, precision)
        return PcapngWriter(fileobj, str(name), linktype, snaplen, ifname, ifdescription, None,
                            precision)
    except BaseException:
        if name != "-" and not hasattr(path, "fileno"):
            fileobj.close()
        raise
