"""Throwaway network topologies for the demo, the tests and the benchmarks.

``VethPair`` makes two network namespaces joined by one veth link, with
addresses, static neighbour entries (an XDP redirect program also takes ARP,
so nobody may depend on ARP) and helpers to run commands or open sockets in
either namespace.  Both ends live in namespaces made here; nothing in the
caller's namespace is touched, and everything is removed on exit, also when
the body raised.
"""
import contextlib
import ctypes
import os
import random
import socket
import struct
import subprocess
import threading

from pyroute2 import NetNS, netns

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name):
    """Run the body (this thread) inside namespace ``name``; sockets opened
    there stay in it after the body ends."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


def ipv4_udp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload,
                   vlan=None, vlan_tpid=0x8100, ttl=64, ident=0):
    """An Ethernet/IPv4/UDP frame (optionally 802.1Q-tagged) as bytes."""
    udp_len = 8 + len(payload)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0x4000,
                         ttl, 17, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip_hdr = ip_hdr[:10] + struct.pack("!H", _csum(ip_hdr)) + ip_hdr[12:]
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = _csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    eth = mac_bytes(dst_mac) + mac_bytes(src_mac)
    if vlan is not None:
        eth += struct.pack("!HH", vlan_tpid, vlan & 0xFFFF)
    return eth + b"\x08\x00" + ip_hdr + udp


class VethPair:
    """Two namespaces ``ns_a`` and ``ns_b`` joined by veth ``if_a`` <-> ``if_b``."""

    def __init__(self, prefix="pyx", mtu=None, queues=None, ipv6=True):
        tag = f"{os.getpid() % 100000}{random.randrange(16**4):04x}"
        self.ns_a, self.ns_b = f"{prefix}{tag}a", f"{prefix}{tag}b"
        base = f"{prefix}{tag}"[:14]      # interface names: 15 characters at most
        self.if_a, self.if_b = base + "a", base + "b"
        net = random.randrange(16, 250)
        sub = random.randrange(1, 250)
        self.ip_a, self.ip_b = f"10.{net}.{sub}.1", f"10.{net}.{sub}.2"
        self.ip6_a, self.ip6_b = f"fd00:{net:x}:{sub:x}::1", f"fd00:{net:x}:{sub:x}::2"
        self.mtu = mtu
        self.queues = queues
        self.ipv6 = ipv6
        self.mac_a = self.mac_b = None
        self.ifindex_a = self.ifindex_b = None
        self._made = []

    # -- life cycle --------------------------------------------------------
    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _create(self):
        for ns in (self.ns_a, self.ns_b):
            netns.create(ns)
            self._made.append(ns)
        peer = {"ifname": self.if_b, "net_ns_fd": self.ns_b}
        extra = {}
        if self.queues:
            extra = {"num_rx_queues": self.queues, "num_tx_queues": self.queues}
            peer.update(extra)
        with NetNS(self.ns_a) as a:
            a.link("add", ifname=self.if_a, kind="veth", peer=peer, **extra)
        for ns, ifname, ip, ip6, side in ((self.ns_a, self.if_a, self.ip_a, self.ip6_a, "a"),
                                          (self.ns_b, self.if_b, self.ip_b, self.ip6_b, "b")):
            with NetNS(ns) as n:
                idx = n.link_lookup(ifname=ifname)[0]
                lo = n.link_lookup(ifname="lo")[0]
                if self.mtu:
                    n.link("set", index=idx, mtu=self.mtu)
                n.addr("add", index=idx, address=ip, prefixlen=24)
                n.link("set", index=lo, state="up")
                n.link("set", index=idx, state="up")
                mac = n.get_links(idx)[0].get("address")
                setattr(self, f"mac_{side}", mac)
                setattr(self, f"ifindex_{side}", idx)
        if self.ipv6:
            for ns, ifname, ip6 in ((self.ns_a, self.if_a, self.ip6_a), (self.ns_b, self.if_b, self.ip6_b)):
                self._ip(ns, "addr", "add", f"{ip6}/64", "dev", ifname, "nodad")
        # static neighbours both ways: nothing may wait on ARP/ND
        for ns, ifname, ip, ip6, mac in ((self.ns_a, self.if_a, self.ip_b, self.ip6_b, self.mac_b),
                                         (self.ns_b, self.if_b, self.ip_a, self.ip6_a, self.mac_a)):
            self._ip(ns, "neigh", "replace", ip, "lladdr", mac, "dev", ifname, "nud", "permanent")
            if self.ipv6:
                self._ip(ns, "neigh", "replace", ip6, "lladdr", mac, "dev", ifname, "nud", "permanent")

    def _ip(self, ns, *args):
        subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, timeout=10)

    def close(self):
        for ns in reversed(self._made):
            try:
                netns.remove(ns)
            except Exception:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._made = []

    # -- running things ----------------------------------------------------
    def ns(self, side):
        return {"a": self.ns_a, "b": self.ns_b}[side]

    def run(self, side, cmd, timeout=30, check=True, **kw):
        kw.setdefault("capture_output", True)
        return subprocess.run(["ip", "netns", "exec", self.ns(side), *cmd],
                              timeout=timeout, check=check, **kw)

    def run_a(self, cmd, **kw):
        return self.run("a", cmd, **kw)

    def run_b(self, cmd, **kw):
        return self.run("b", cmd, **kw)

    def popen(self, side, cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns(side), *cmd], **kw)

    def enter_a(self):
        return in_netns(self.ns_a)

    def enter_b(self):
        return in_netns(self.ns_b)

    def counters(self, side):
        """Interface counters (rx_packets, rx_dropped, ...) of ``if_<side>``."""
        ifname = {"a": self.if_a, "b": self.if_b}[side]
        with NetNS(self.ns(side)) as n:
            link = n.get_links(n.link_lookup(ifname=ifname)[0])[0]
            return dict(link.get("IFLA_STATS64") or {})

    # -- traffic -----------------------------------------------------------
    def udp_frames(self, n, size=64, dport=9999, sport=40000, vlan=None, src="a"):
        """``n`` UDP frames from ``src`` to the other side, each ``size`` bytes
        (Ethernet frame without FCS, at least 60) with its sequence number in the payload."""
        if src == "a":
            smac, dmac, sip, dip = self.mac_a, self.mac_b, self.ip_a, self.ip_b
        else:
            smac, dmac, sip, dip = self.mac_b, self.mac_a, self.ip_b, self.ip_a
        overhead = 14 + 20 + 8 + (4 if vlan is not None else 0)
        pad = max(size - overhead - 8, 0)
        return [ipv4_udp_frame(smac, dmac, sip, dip, sport, dport,
                               struct.pack("!Q", i) + bytes((i + j) & 0xFF for j in range(pad)),
                               vlan=vlan, ident=i)
                for i in range(n)]

    def send_frames(self, frames, side="a"):
        """Send raw frames out of ``if_<side>``; returns how many were sent."""
        ifname = {"a": self.if_a, "b": self.if_b}[side]
        with in_netns(self.ns(side)):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            s.bind((ifname, 0))
            for f in frames:
                s.send(f)
        finally:
            s.close()
        return len(frames)
