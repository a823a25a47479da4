"""The stream's test and benchmark topology: capture hosts and a server,
each in a network namespace of its own.

    host i:  gen_i --veth (traffic)--> cap_i --uplink veth--> srv
                                       captures here          nats-server(s), the collector

Each capture host is a ``VethPair`` (side a sends, side b captures on
``if_b``) whose capture namespace has a second veth to the server
namespace, so the stream's own traffic never crosses the captured link.
Everything is removed on exit, also when the test failed.
"""
import contextlib
import os
import random
import subprocess
import sys

from pyxring.netlab import VethPair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Host:
    def __init__(self, pair, name, uplink_ip, server_ip):
        self.pair = pair
        self.name = name
        self.uplink_ip = uplink_ip      # its end of the uplink
        self.server_ip = server_ip      # the server namespace's end

    def popen(self, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return self.pair.popen("b", [sys.executable, "-m", "pyxring", *args], cwd=ROOT, **kw)


class StreamLab:
    """``hosts`` capture hosts (``lab.hosts``) and the server namespace
    ``lab.srv``; ``ipv6=False`` keeps the capture links quiet (no neighbour
    discovery), as the benchmarks want."""

    def __init__(self, hosts=2, prefix="pxs", ipv6=True):
        self.n_hosts = hosts
        self.prefix = prefix
        self.ipv6 = ipv6
        self.hosts = []
        self.srv = None
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _ip(self, *args):
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def _create(self):
        tag = f"{random.randrange(16 ** 6):06x}"
        self.srv = f"{self.prefix}{tag}s"
        self._ip("netns", "add", self.srv)
        self._stack.callback(self._ip, "netns", "del", self.srv)
        self._ip("-n", self.srv, "link", "set", "lo", "up")
        net = random.randrange(1, 250)
        for i in range(self.n_hosts):
            pair = self._stack.enter_context(VethPair(prefix=self.prefix, ipv6=self.ipv6))
            host_if, srv_if = f"up{tag}{i}h", f"up{tag}{i}s"
            host_ip, srv_ip = f"10.254.{net}.{4 * i + 1}", f"10.254.{net}.{4 * i + 2}"
            self._ip("-n", pair.ns_b, "link", "add", host_if, "type", "veth", "peer", "name",
                     srv_if, "netns", self.srv)
            self._ip("-n", pair.ns_b, "addr", "add", f"{host_ip}/30", "dev", host_if)
            self._ip("-n", self.srv, "addr", "add", f"{srv_ip}/30", "dev", srv_if)
            self._ip("-n", pair.ns_b, "link", "set", host_if, "up")
            self._ip("-n", self.srv, "link", "set", srv_if, "up")
            self.hosts.append(Host(pair, f"host{i + 1}", host_ip, srv_ip))

    def run_in_server(self, args, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", 120)
        return subprocess.run(["ip", "netns", "exec", self.srv, sys.executable, "-m", "pyxring",
                               *args], cwd=ROOT, **kw)

    def popen_in_server(self, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(["ip", "netns", "exec", self.srv, sys.executable, "-m",
                                 "pyxring", *args], cwd=ROOT, **kw)

    def close(self):
        self._stack.close()
