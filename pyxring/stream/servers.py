"""NATS servers for the tests, the benchmarks and trying things out: Debian's
``nats-server`` with JetStream, alone or three in a cluster, on loopback or
inside a network namespace (capture hosts in namespaces reach it through
their own veths).  Each server has its own store and log in a directory
the caller gives; everything is stopped (by PID) on exit.

    with NatsCluster(tmpdir, netns="pxs1234") as cluster:
        cluster.url                     # nats://10.1.2.3:4222,... for the clients
        cluster.leader("PKTS").kill()   # the stream's leader, gone
"""
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

from pyxring.errors import PyxringError


class ServerError(PyxringError):
    pass


def nats_server_binary():
    path = shutil.which("nats-server")
    if path is None:
        raise ServerError("nats-server is not installed (apt-get install nats-server)")
    return path


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class NatsServer:
    """One nats-server (JetStream on, file store in ``directory``)."""

    def __init__(self, directory, *, listen="127.0.0.1", port=None, netns=None, name="n1",
                 cluster_port=None, routes=(), user=None, password=None, max_payload=None,
                 jetstream=True, advertise=None):
        self.dir = os.path.abspath(directory)
        self.listen = listen
        self.port = port or (4222 if netns else free_port(listen))
        self.netns = netns
        self.name = name
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.user, self.password = user, password
        self.max_payload = max_payload
        self.jetstream = jetstream
        self.advertise = advertise          # the host clients should use (default: listen)
        self.proc = None
        self.log_path = os.path.join(self.dir, f"{name}.log")

    @property
    def host(self):
        return self.advertise or self.listen

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    @property
    def url(self):
        creds = f"{self.user}:{self.password}@" if self.user else ""
        return f"nats://{creds}{self.address}"

    def _config(self):
        lines = [f"server_name: {self.name}", f"listen: {self.listen}:{self.port}"]
        if self.jetstream:
            store = os.path.join(self.dir, f"{self.name}-store")
            lines.append(f'jetstream {{ store_dir: "{store}" }}')
        if self.max_payload:
            lines.append(f"max_payload: {self.max_payload}")
        if self.user:
            lines.append(f'authorization {{ user: "{self.user}", password: "{self.password}" }}')
        if self.cluster_port:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
            lines.append(f"cluster {{ name: pyxring, listen: 127.0.0.1:{self.cluster_port}, "
                         f"no_advertise: true, routes: [{routes}] }}")
        return "\n".join(lines) + "\n"

    def start(self, timeout=20):
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, f"{self.name}.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        cmd = [nats_server_binary(), "-c", conf]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"nats-server {self.name} exited ({self.proc.returncode}): "
                                  f"{self.log_tail()}")
            if b"Server is ready" in self._log():
                return self
            time.sleep(0.02)
        self.kill()
        raise ServerError(f"nats-server {self.name} did not start in {timeout} s: {self.log_tail()}")

    def _log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def log_tail(self, lines=5):
        return " | ".join(self._log().decode(errors="replace").strip().splitlines()[-lines:])

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self):
        """SIGKILL: the server dies as in a crash."""
        if self.running:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NatsCluster:
    """Three (``size``) servers routed to each other on the namespace's
    loopback, clients listening on ``listen`` (ports 4222, 4223, ...)."""

    def __init__(self, directory, size=3, *, listen="127.0.0.1", netns=None, advertise=None,
                 max_payload=None):
        self.netns = netns
        base = 4222 if netns else None
        ports = [base + i if base else free_port(listen) for i in range(size)]
        routes = [6222 + i if netns else free_port() for i in range(size)]
        self.servers = [NatsServer(directory, listen=listen, port=ports[i], netns=netns,
                                   name=f"n{i + 1}", cluster_port=routes[i],
                                   routes=[r for j, r in enumerate(routes) if j != i],
                                   advertise=advertise, max_payload=max_payload)
                        for i in range(size)]

    @property
    def url(self):
        return "nats://" + ",".join(s.address for s in self.servers)

    @property
    def local_url(self):
        """The URL from the servers' own namespace (loopback)."""
        return "nats://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self, timeout=30):
        for s in self.servers:
            s.start(timeout)
        self.wait_jetstream(timeout)
        return self

    def wait_jetstream(self, timeout=30):
        """Until the cluster has a JetStream meta leader (a stream can be made)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"JetStream cluster new metadata leader" in b"".join(s._log() for s in self.servers):
                if run_in(self.netns, _jetstream_ready(self.local_url)):
                    return
            time.sleep(0.1)
        raise ServerError(f"the cluster has no JetStream leader after {timeout} s")

    def by_name(self, name):
        return next(s for s in self.servers if s.name == name)

    def leader(self, stream):
        """The server leading ``stream`` now."""
        name = run_in(self.netns, _stream_leader(self.local_url, stream))
        if name is None:
            raise ServerError(f"stream {stream} has no leader")
        return self.by_name(name)

    def stop(self):
        for s in self.servers:
            s.stop()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


def run_in(netns, coro):
    """Run ``coro`` on a fresh event loop, its sockets in ``netns``."""
    if netns is None:
        return asyncio.run(coro)
    from pyxring.netlab import in_netns
    with in_netns(netns):
        return asyncio.run(coro)


def _servers(url):
    return ["nats://" + hp for hp in url[len("nats://"):].split(",")]


async def _jetstream_ready(url):
    import nats
    try:
        nc = await asyncio.wait_for(nats.connect(_servers(url)[0], connect_timeout=1,
                                                 allow_reconnect=False), 3)
    except Exception:
        return False
    try:
        await nc.jetstream().account_info()
        return True
    except Exception:
        return False
    finally:
        await nc.close()


async def _stream_leader(url, stream):
    import nats
    nc = await asyncio.wait_for(nats.connect(_servers(url), connect_timeout=2,
                                             max_reconnect_attempts=2), 10)
    try:
        for _ in range(50):
            try:
                info = await nc.jetstream().stream_info(stream)
                if info.cluster and info.cluster.leader:
                    return info.cluster.leader
            except Exception:
                pass
            await asyncio.sleep(0.1)
        return None
    finally:
        await nc.close()
