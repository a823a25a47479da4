"""What the parent does with its copies of the workers' sockets: read a
dead worker's kernel counters, and nothing else.

The parent holds a duplicate of every worker's capture socket (sent over
the worker's control pipe with SCM_RIGHTS).  While a worker lives the copy
is never read (reading TPACKET statistics resets them); when it dies, the
socket is still open, so its counters are still there: the parent reads
them, then closes its copy, and the socket goes (a fanout group then shares
the traffic among the members left).
"""
import ctypes
import os
import struct

SOL_PACKET = 263
PACKET_STATISTICS = 6
SOL_XDP = 283
XDP_STATISTICS = 7

_libc = ctypes.CDLL(None, use_errno=True)


def _getsockopt(fd, level, name, size):
    buf = ctypes.create_string_buffer(size)
    ln = ctypes.c_uint32(size)
    if _libc.getsockopt(fd, level, name, buf, ctypes.byref(ln)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return buf.raw[:ln.value]


def tpacket_counters(fd):
    """(received, dropped) since the last read of PACKET_STATISTICS (the
    kernel resets them on each read)."""
    packets, drops = struct.unpack_from("=II", _getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, 12))
    return packets, drops


def xdp_counters(fd):
    """The AF_XDP socket's drops (rx_dropped + rx_ring_full +
    rx_invalid_descs, as XskSource.stats counts them; cumulative)."""
    raw = _getsockopt(fd, SOL_XDP, XDP_STATISTICS, 48)
    vals = struct.unpack_from(f"={len(raw) // 8}Q", raw)
    rx_dropped, rx_invalid = vals[0], vals[1]
    rx_ring_full = vals[3] if len(vals) > 3 else 0
    return rx_dropped + rx_ring_full + rx_invalid


def close(fd):
    try:
        os.close(fd)
    except OSError:
        pass
