"""Send the packets of a pcap/pcapng file out of an interface.

    pyxring replay FILE IFACE [--rate PPS] [--loop N] [--backend auto|xdp|packet]

The AF_XDP backend queues frames on the TX ring of a socket bound to queue 0
(no XDP program is loaded for sending); frames larger than a UMEM chunk go
out through an AF_PACKET socket, in order.  ``packet`` is a plain AF_PACKET
socket, also the fallback where AF_XDP can't bind.  Pacing: frames leave in small groups, each group sent when its
due time comes (``--rate`` packets per second over the whole run), so the
average rate is exact without a syscall per sleep per packet.
"""
import errno as _errno
import os
import socket
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
                self.big = _PacketSender(self.iface)
            s, e = self.big.send([f])
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


class _PacketSender:
    name = "packet"

    def __init__(self, iface):
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except OSError as e:
            raise_errno(e.errno, f"opening an AF_PACKET socket to send on {iface}")
        try:
            self.sock.bind((iface, 0))
        except OSError as e:
            self.sock.close()
            raise_errno(e.errno, f"binding an AF_PACKET socket to {iface}")
        self.iface = iface

    def send(self, frames):
        sent = errors = 0
        for f in frames:
            for _attempt in range(200):
                try:
                    self.sock.send(f)
                    sent += 1
                    break
                except OSError as e:
                    if e.errno in (_errno.ENOBUFS, _errno.EAGAIN):
                        time.sleep(0.0005)    # qdisc full: let it drain
                        continue
                    if e.errno in (_errno.ENETDOWN, _errno.ENXIO, _errno.ENODEV):
                        raise_errno(e.errno, f"sending on {self.iface}")
                    errors += 1               # e.g. EMSGSIZE: this frame only
                    break
            else:
                errors += 1
        return sent, errors

    def close(self):
        self.sock.close()
        return 0


def _open_sender(iface, backend, notice):
    if backend not in ("auto", "xdp", "packet", "tpacket"):
        raise ConfigError(f"replay backend must be auto, xdp or packet, not {backend!r}")
    if backend in ("packet", "tpacket"):
        return _PacketSender(iface)
    try:
        return _XdpSender(iface)
    except PyxringError as exc:
        if backend == "xdp":
            raise
        notice(f"pyxring: AF_XDP TX unavailable on {iface} ({exc}); sending with AF_PACKET")
        return _PacketSender(iface)


def _records(path):
    try:
        from pyxring.reader import open_reader
    except ImportError:      # pragma: no cover - the reader ships with pyxring
        open_reader = _minimal_pcap_reader
    with open_reader(path) as rd:
        for rec in rd:
            lt = getattr(rec, "linktype", LINKTYPE_ETHERNET)
            if lt != LINKTYPE_ETHERNET:
                raise ConfigError(f"{path}: link type {lt} can't be replayed (Ethernet only)")
            yield bytes(rec.data)


def _minimal_pcap_reader(path):
    """Classic little-endian pcap only; used if pyxring.reader is missing."""
    import contextlib
    import struct

    class Rec:
        __slots__ = ("data", "linktype")

    @contextlib.contextmanager
    def reader():
        with open(path, "rb") as f:
            hdr = f.read(24)
            if len(hdr) < 24 or struct.unpack("<I", hdr[:4])[0] not in (0xA1B2C3D4, 0xA1B23C4D):
                raise ConfigError(f"{path}: not a little-endian pcap file")
            lt = struct.unpack("<I", hdr[20:24])[0]

            def gen():
                while True:
                    h = f.read(16)
                    if len(h) < 16:
                        return
                    r = Rec()
                    r.data = f.read(struct.unpack("<I", h[8:12])[0])
                    r.linktype = lt
                    yield r
            yield gen()
    return reader()


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
    parser.add_argument("--backend", default="auto", choices=("auto", "xdp", "packet"),
                        help="AF_XDP TX ring, or a plain AF_PACKET socket (default auto: xdp, else packet)")
    parser.add_argument("-q", dest="quiet", action="store_true", help="no end-of-run line")


def run(args):
    res = replay(args.file, args.iface, rate=args.rate, loop=args.loop, backend=args.backend)
    if not getattr(args, "quiet", False):
        rate = res["sent"] / res["seconds"] if res["seconds"] > 0 else 0.0
        print(f"{res['sent']} packets sent, {res['errors']} errors "
              f"({res['backend']}, {res['seconds']:.2f} s, {rate:.0f} pps)", file=sys.stderr)
    return 0 if res["errors"] == 0 else 1
