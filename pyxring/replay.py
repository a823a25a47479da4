"""Send the packets of a pcap/pcapng file out of an interface.

    pyxring replay FILE IFACE [--rate PPS] [--loop N] [--backend auto|xdp|tpacket]

The AF_XDP backend queues frames on the TX ring of a socket bound to queue 0
(no XDP program is loaded for sending); frames larger than a UMEM chunk go
out through the AF_PACKET TX ring, in order.  ``tpacket`` is an AF_PACKET
socket with a TX ring (``pyxring/tpacket/_tx.pyx``), also the fallback where
AF_XDP can't bind.  Pacing: frames leave in small groups, each group sent
when its due time comes (``--rate`` packets per second over the whole run),
so the average rate is exact without a syscall per sleep per packet.
"""
import fcntl
import os
import socket
import struct
import sys
import time

from pyxring.errors import ConfigError, PyxringError, raise_errno

__all__ = ["replay", "add_arguments", "run"]

LINKTYPE_ETHERNET = 1
TX_FRAMES = 2048
MAX_GROUP = 64


class _XdpSender:
    name = "xdp"

    def __init__(self, iface):
        from pyxring.xdp import link_info
        from pyxring.xdp._xsk import XskSource
        ifindex, _mtu, _nq = link_info(iface)
        self.iface = iface
        self.src = XskSource(iface, ifindex, [0], rx=False, tx_frames=TX_FRAMES,
                             frame_count=TX_FRAMES, tx_ring_size=TX_FRAMES)
        self.maxlen = self.src.frame_size - 256 - self.src.headroom
        self.big = None       # AF_PACKET, for frames larger than a UMEM chunk

    def send(self, frames):
        """(sent, errors) for this group; order is kept."""
        sent = errors = 0
        run = []
        for f in frames:
            if len(f) <= self.maxlen:
                run.append(f)
                continue
            # a jumbo frame: what is queued goes first, then AF_PACKET sends it
            s, e = self._send_run(run)
            sent, errors, run = sent + s, errors + e, []
            self.src.flush(1000)
            if self.big is None:
                self.big = _TPacketSender(self.iface)
            s, e = self.big.send([f])
            self.big.flush()
            sent, errors = sent + s, errors + e
        s, e = self._send_run(run)
        return sent + s, errors + e

    def _send_run(self, run):
        ok = [f for f in run if len(f) >= 14]
        sent = self.src.send(ok) if ok else 0
        return sent, len(run) - sent

    def close(self):
        left = self.src.flush(2000)
        st = self.src.stats()
        self.src.close()
        if self.big is not None:
            self.big.close()
        return left + st["tx_invalid_descs"]


class _TPacketSender:
    """The AF_PACKET TX ring, with frames sized for the interface's MTU."""
    name = "tpacket"

    def __init__(self, iface):
        from pyxring.tpacket._tx import TPacketTx
        need = _mtu(iface) + 14 + 8 + 32        # Ethernet + two tags + frame header
        frame_size = 2048
        while frame_size < need and frame_size < 65536:
            frame_size *= 2
        self.tx = TPacketTx(iface, frame_size=frame_size, frame_count=max(1024, 65536 // frame_size))

    def send(self, frames):
        """(queued, refused) for this group; order is kept."""
        queued = self.tx.send(frames)
        return queued, len(frames) - queued

    def flush(self):
        self.tx.flush()

    def close(self):
        refused = self.tx.flush()
        self.tx.close()
        return refused


def _mtu(iface):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16si12x", iface.encode()[:15], 0)
        return struct.unpack("16si12x", fcntl.ioctl(s, 0x8921, req))[1]    # SIOCGIFMTU
    except OSError as e:
        raise_errno(e.errno, f"reading the MTU of {iface}")
    finally:
        s.close()


def _open_sender(iface, backend, notice):
    if backend not in ("auto", "xdp", "tpacket"):
        raise ConfigError(f"replay backend must be auto, xdp or tpacket, not {backend!r}")
    if backend == "tpacket":
        return _TPacketSender(iface)
    try:
        return _XdpSender(iface)
    except PyxringError as exc:
        if backend == "xdp":
            raise
        notice(f"pyxring: AF_XDP TX unavailable on {iface} ({exc}); sending with the AF_PACKET TX ring")
        return _TPacketSender(iface)


def _records(path):
    from pyxring.reader import open_reader
    with open_reader(path) as rd:
        for rec in rd:
            lt = getattr(rec, "linktype", LINKTYPE_ETHERNET)
            if lt != LINKTYPE_ETHERNET:
                raise ConfigError(f"{path}: link type {lt} can't be replayed (Ethernet only)")
            yield bytes(rec.data)


def replay(path, iface, rate=None, loop=1, backend="auto", notice=None):
    """Send every packet of ``path`` out of ``iface``, ``loop`` times, at
    ``rate`` packets per second (None: as fast as the backend goes).

    Returns {"sent", "errors", "bytes", "seconds", "backend", "loops"};
    ``errors`` counts frames the kernel refused or never completed.
    """
    if not os.path.exists(path):
        raise ConfigError(f"no such file: {path}")
    if rate is not None and rate <= 0:
        raise ConfigError(f"--rate must be positive, not {rate}")
    if loop < 1:
        raise ConfigError(f"--loop must be at least 1, not {loop}")
    notice = notice or (lambda msg: print(msg, file=sys.stderr))
    sender = _open_sender(iface, backend, notice)
    group = MAX_GROUP if rate is None else max(1, min(MAX_GROUP, int(rate // 1000)))
    sent = errors = nbytes = 0
    start = time.monotonic()
    queued = 0                       # frames handed to send(), for pacing
    try:
        for _ in range(loop):
            pending = []
            for data in _records(path):
                pending.append(data)
                if len(pending) >= group:
                    s, e = _send_paced(sender, pending, rate, start, queued)
                    queued += len(pending)
                    sent += s
                    errors += e
                    nbytes += sum(len(p) for p in pending)
                    pending = []
            if pending:
                s, e = _send_paced(sender, pending, rate, start, queued)
                queued += len(pending)
                sent += s
                errors += e
                nbytes += sum(len(p) for p in pending)
    finally:
        lost = sender.close()
    sent -= lost
    errors += lost
    return {"sent": sent, "errors": errors, "bytes": nbytes,
            "seconds": time.monotonic() - start, "backend": sender.name, "loops": loop}


def _send_paced(sender, frames, rate, start, queued):
    if rate is not None:
        due = start + queued / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return sender.send(frames)


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file")
    parser.add_argument("iface", metavar="IFACE", help="interface to send on")
    parser.add_argument("--rate", type=float, metavar="PPS", help="packets per second (default: as fast as possible)")
    parser.add_argument("--loop", type=int, default=1, metavar="N", help="send the file N times (default 1)")
    parser.add_argument("--backend", default="auto", choices=("auto", "xdp", "tpacket"),
                        help="AF_XDP TX ring, or the AF_PACKET TX ring (default auto: xdp, else tpacket)")
    parser.add_argument("-q", dest="quiet", action="store_true", help="no end-of-run line")


def run(args):
    res = replay(args.file, args.iface, rate=args.rate, loop=args.loop, backend=args.backend)
    if not getattr(args, "quiet", False):
        rate = res["sent"] / res["seconds"] if res["seconds"] > 0 else 0.0
        print(f"{res['sent']} packets sent, {res['errors']} errors "
              f"({res['backend']}, {res['seconds']:.2f} s, {rate:.0f} pps)", file=sys.stderr)
    return 0 if res["errors"] == 0 else 1
