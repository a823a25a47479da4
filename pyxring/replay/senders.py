"""The TX rings a replay sends through, per destination interface.

``Destination(iface, backend)`` opens what one interface needs: an AF_XDP
socket with a TX ring on queue 0 (no XDP program is loaded for sending), or
an AF_PACKET TX ring (``pyxring/tpacket/_tx.pyx``) sized for the MTU; with
AF_XDP, frames longer than a UMEM chunk go through an AF_PACKET ring too,
in order.  ``auto`` falls back from AF_XDP to AF_PACKET only for failures
AF_PACKET can cure (queue taken, no AF_XDP, locked-memory limit); a missing
interface or missing privilege is the error itself, with no notice first.
"""
import sys
import time

from pyxring.errors import ConfigError, InterfaceError, PermissionDenied, PyxringError, ResourceBusy

__all__ = ["Destination", "BACKENDS"]

BACKENDS = ("auto", "xdp", "tpacket")
XDP_TX_FRAMES = 2048
XDP_PACKET_HEADROOM = 256
BUSY_RETRY_SECONDS = 0.5
ETH_HEADER = 14
VLAN_TAG = 4


def _stderr(msg):
    print(msg, file=sys.stderr)


class Destination:
    """One interface's TX rings: ``lanes`` is a list of (name, TX object),
    the AF_PACKET ring first when both are open."""

    def __init__(self, iface, backend="auto", notice=None):
        from pyxring.backends import check_interface
        from pyxring.xdp import link_info
        if backend not in BACKENDS:
            raise ConfigError(f"replay backend must be auto, xdp or tpacket, not {backend!r}")
        check_interface(iface)                 # no such interface / down: the error, no notice
        self.iface = iface
        self.ifindex, self.mtu, _ = link_info(iface)
        self.mtu_len = self.mtu + ETH_HEADER
        self.lanes = []
        self.kind = backend
        try:
            if backend == "tpacket":
                self.lanes.append(("tpacket", self._open_tpacket()))
                return
            try:
                xsk = self._open_xdp()
            except (PermissionDenied, InterfaceError):
                raise
            except PyxringError as exc:
                if backend == "xdp":
                    raise
                (notice or _stderr)(f"pyxring: AF_XDP TX unavailable on {iface} ({exc}); "
                                    f"sending with the AF_PACKET TX ring")
                self.kind = "tpacket"
                self.lanes.append(("tpacket", self._open_tpacket()))
                return
            self.kind = "xdp"
            if self.mtu_len + VLAN_TAG > xsk.frame_size - XDP_PACKET_HEADROOM - xsk.headroom:
                # jumbo frames don't fit a chunk: AF_PACKET sends those
                self.lanes.append(("tpacket", self._open_tpacket()))
            self.lanes.append(("xdp", xsk))
        except BaseException:
            self.close()
            raise

    def _open_xdp(self):
        from pyxring.xdp._xsk import XskSource
        deadline = time.monotonic() + BUSY_RETRY_SECONDS
        while True:
            try:
                return XskSource(self.iface, self.ifindex, [0], rx=False, tx_frames=XDP_TX_FRAMES,
                                 frame_count=XDP_TX_FRAMES, tx_ring_size=XDP_TX_FRAMES)
            except ResourceBusy:
                # the kernel frees a closed AF_XDP socket's queue in deferred
                # work: a queue just given up (the last run's) is busy a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _open_tpacket(self):
        from pyxring.tpacket._tx import TPacketTx
        need = self.mtu_len + VLAN_TAG + 32        # a tagged frame and the frame header
        frame_size = 2048
        while frame_size < need and frame_size < 65536:
            frame_size *= 2
        return TPacketTx(self.iface, frame_size=frame_size, frame_count=max(1024, 65536 // frame_size))

    def add_lanes(self, pacer, group):
        """Register the rings with ``pacer``; returns the lane new frames go to."""
        lane = -1
        for _name, tx in self.lanes:
            lane = pacer.add_lane(tx.tx_port(), tx, self.mtu_len, group, lane)
        return lane

    def close(self):
        """Wait for what is in flight and close; returns how many frames the
        kernel refused or never completed."""
        lost = 0
        for name, tx in self.lanes:
            try:
                if name == "xdp":
                    lost += tx.flush(2000) + tx.stats()["tx_invalid_descs"]
                else:
                    lost += tx.flush()
            finally:
                tx.close()
        self.lanes = []
        return lost
