"""What the replay tests share: a quiet veth pair, capture files to replay,
and the far side that captures what arrives (TPACKET_V3, pyxring's own)."""
import os
import sys
import time

import pytest

from conftest import require_root

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "filter_corpus"))
import packets  # noqa: E402

FILE_T0 = 1_700_000_000 * 10**9


def quiet(lab, *ifaces):
    """No IPv6 on the pair (and on ``ifaces``): the kernel then sends nothing
    of its own (router solicitations, MLD), so the far side sees only what
    a replay sends."""
    for side, name in (("a", lab.if_a), ("b", lab.if_b)) + tuple(ifaces):
        lab.run(side, ["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.disable_ipv6=1"])


@pytest.fixture
def lab():
    require_root()
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxr", ipv6=False) as pair:
        quiet(pair)
        yield pair


def write_file(path, frames, gaps_ns=100_000, fmt="pcap", wirelens=None):
    """``frames`` into a capture file, the first at FILE_T0 and each next one
    ``gaps_ns`` later (a number or one gap per frame after the first);
    returns the timestamps written."""
    import pyxring
    if isinstance(gaps_ns, (int, float)):
        gaps_ns = [gaps_ns] * max(len(frames) - 1, 0)
    stamps = [FILE_T0]
    for g in gaps_ns[:len(frames) - 1]:
        stamps.append(stamps[-1] + int(g))
    with pyxring.open_writer(str(path), format=fmt) as w:
        for i, (fr, ts) in enumerate(zip(frames, stamps)):
            w.write(fr, ts_ns=ts, wirelen=wirelens[i] if wirelens else len(fr))
    return stamps


def corpus():
    """The filter tests' broad set of frames (crafted, mutated, truncated;
    none shorter than an Ethernet header)."""
    return [data for _name, data in packets.frames()]


def kernel_keeps(frame):
    """Whether a receiving Linux stack shows ``frame`` to a capture: a frame
    whose 802.1Q/802.1ad tag can't be read (shorter than 20 bytes) is freed
    by skb_vlan_untag() before any packet socket sees it."""
    return not (frame[12:14] in (b"\x81\x00", b"\x88\xa8") and len(frame) < 20)


class FarSide:
    """A TPACKET_V3 capture of what arrives on ``iface`` in namespace ``ns``."""

    def __init__(self, lab, side="b", iface=None):
        import pyxring
        from pyxring.netlab import in_netns
        with in_netns(lab.ns(side)):
            self.cap = pyxring.capture(iface or (lab.if_b if side == "b" else lab.if_a),
                                       backend="tpacket", direction="in")

    def collect(self, want, timeout=10.0, settle=0.3):
        """(ts_ns, bytes) of what arrived: until ``want`` frames (then
        ``settle`` seconds more, to see any extra) or ``timeout``."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            with self.cap.batch(100) as b:
                got += [(p.ts_ns, p.copy()) for p in b]
        settle_end = time.monotonic() + settle
        while time.monotonic() < settle_end:
            with self.cap.batch(50) as b:
                got += [(p.ts_ns, p.copy()) for p in b]
        return got

    def close(self):
        self.cap.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def gaps(stamps):
    return [b - a for a, b in zip(stamps, stamps[1:])]


def median(values):
    s = sorted(values)
    return s[len(s) // 2]
