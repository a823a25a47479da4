"""``pyxring capture --stream`` on capture hosts in namespaces, into a
NATS server (or a three-node cluster) in a namespace of its own, and
``pyxring collect`` there: every frame of every host arrives byte-exact,
exactly once, with its timestamp; the stream's leader killed, then every
server stopped, while the capture goes on."""
import asyncio
import re
import signal
import threading
import time

import pytest

import pyxring
from conftest import require_root, require_tool, wait_listening
from pyxring.cli import ExitStatus
from pyxring.stream.lab import StreamLab
from pyxring.stream.servers import NatsCluster, NatsServer, run_in
from test_cli import finish, lab_capture


def host_records(path):
    """(ts_ns, wirelen, bytes) of every record, sorted."""
    with pyxring.open_reader(str(path)) as r:
        return sorted((rec.ts_ns, rec.wirelen, rec.data) for rec in r)


def merged_records(path):
    with pyxring.file.open_file(str(path)) as src:
        names = None
        out = []
        for batch in src.batches():
            out += [(p.ifindex, p.ts_ns, p.wirelen, p.copy()) for p in batch]
        names = [i.name for i in src.interfaces]
    return [(names[i], ts, wl, d) for i, ts, wl, d in out]


def count(pattern, text):
    m = re.search(pattern, text, re.M)
    assert m, f"{pattern!r} not in:\n{text}"
    return int(m.group(1))


def stream_counts(err):
    return {k: count(rf"^(\d+) packets? {k}", err)
            for k in ("captured", "published", "acknowledged", "spooled")} | {
        "dropped": sum(int(n) for n in re.findall(r"^(\d+) packets? dropped before the stream",
                                                    err, re.M))}


def wait_until(cond, timeout=30, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def readable(path):
    n = 0
    try:
        with pyxring.open_reader(str(path)) as r:
            for _ in r:
                n += 1
    except (pyxring.PyxringError, FileNotFoundError):
        pass
    return n


def mixed_frames(pair, n, seed):
    """UDP frames of three sizes, their numbers in the payload."""
    sizes = (64, 700, 1500)
    return [f for k, size in enumerate(sizes)
            for f in pair.udp_frames(n // 3, size=size, sport=40000 + seed * 10 + k)]


def test_two_capture_hosts_one_server_every_frame_once(tmp_path):
    require_root()
    require_tool("nats-server")
    with StreamLab(2) as lab, NatsServer(tmp_path / "srv", listen="0.0.0.0", netns=lab.srv):
        procs = []
        for h in lab.hosts:
            out = tmp_path / f"{h.name}.pcapng"
            p = h.popen(["capture", h.pair.if_b, "--stream", f"nats://{h.server_ip}:4222/pkts",
                         "--stream-host", h.name, "--stream-spool", str(tmp_path / h.name),
                         "-w", str(out), "udp"])
            procs.append((h, p, out))
        try:
            for _, p, _ in procs:
                wait_listening(p)
            sent = {h.name: mixed_frames(h.pair, 3000, i) for i, h in enumerate(lab.hosts)}
            senders = [threading.Thread(target=h.pair.send_frames, args=(sent[h.name],))
                       for h in lab.hosts]
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            assert all(wait_until(lambda: readable(out) == 3000) for _, _, out in procs)
            errs = {}
            for h, p, _ in procs:
                p.send_signal(signal.SIGINT)
            for h, p, _ in procs:
                code, _, err = finish(p, timeout=60)
                assert code == 0, err
                errs[h.name] = err
        finally:
            for _, p, _ in procs:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
        for h, _, out in procs:
            c = stream_counts(errs[h.name])
            assert c == {"captured": 3000, "published": 3000, "acknowledged": 3000,
                         "spooled": 0, "dropped": 0}, errs[h.name]
            assert f"published to stream PKTS at nats://{h.server_ip}:4222/pkts" in errs[h.name]
            assert not re.search(r"^\d+ packets? (\d+:\d+|IP)", errs[h.name], re.M)
        merged = tmp_path / "merged.pcapng"
        r = lab.run_in_server(["collect", "nats://127.0.0.1:4222", "-w", str(merged), "--drain"])
        err = r.stderr.decode()
        assert r.returncode == 0, err
        assert "6000 packets written" in err and "(2 interfaces of 2 hosts)" in err
        got = merged_records(merged)
        for h, _, out in procs:
            mine = sorted(rec[1:] for rec in got if rec[0] == f"{h.pair.if_b}@{h.name}")
            assert mine == host_records(out)                  # byte-exact, with its time
            assert sorted(r[2] for r in mine) == sorted(sent[h.name])
        times = [rec[1] for rec in got]
        assert times == sorted(times) and "out of time order" not in err


async def _stream_messages(url, name="PKTS"):
    import nats
    # any of the cluster's servers: the first may be the leader just killed
    hosts = url.removeprefix("nats://").split(",")
    nc = await nats.connect(servers=[f"nats://{h}" for h in hosts], connect_timeout=2,
                            max_reconnect_attempts=1)
    try:
        return (await nc.jetstream().stream_info(name)).state.messages
    except Exception:
        return None
    finally:
        await nc.close()


def test_a_cluster_loses_its_leader_then_every_server_and_nothing_is_lost(tmp_path):
    """Three servers, a stream of three replicas: the stream's leader is
    killed mid-capture (publishing goes on), then all three are stopped
    for a few seconds (the producer spools, and sends it all once they are
    back); the collector's file holds every frame once, and published +
    dropped == captured."""
    require_root()
    require_tool("nats-server")
    with StreamLab(1) as lab:
        h = lab.hosts[0]
        cluster = NatsCluster(tmp_path / "cluster", listen="0.0.0.0", netns=lab.srv,
                              advertise=h.server_ip)
        with cluster:
            out = tmp_path / "host.pcapng"
            p = h.popen(["capture", h.pair.if_b, "--stream", cluster.url + "/pkts",
                         "--stream-replicas", "3", "--stream-host", h.name, "--stream-spool",
                         str(tmp_path / "spool"), "--stream-buffer", "1", "--stream-wait", "90",
                         "-w", str(out), "-v", "udp"])
            sent = []

            def send(n, seed, chunks=10):
                frames = mixed_frames(h.pair, n, seed)
                for i in range(chunks):
                    part = frames[i * len(frames) // chunks:(i + 1) * len(frames) // chunks]
                    h.pair.send_frames(part)
                    time.sleep(0.05)
                sent.extend(frames)
            try:
                wait_listening(p)
                send(1500, 0)
                assert wait_until(lambda: run_in(lab.srv, _stream_messages(cluster.local_url)))
                leader = cluster.leader("PKTS")
                leader.kill()
                send(1500, 1)
                before = run_in(lab.srv, _stream_messages(cluster.local_url))
                send(600, 2)
                # publishing goes on through the other two
                assert wait_until(lambda: (run_in(lab.srv, _stream_messages(cluster.local_url))
                                           or 0) > (before or 0), timeout=40)
                leader.start()
                for s in cluster.servers:
                    s.stop()
                send(3000, 3)                       # no server at all: to the spool
                time.sleep(2)
                assert list((tmp_path / "spool").glob("*.spool"))
                for s in cluster.servers:
                    s.start()
                send(900, 4)
                assert wait_until(lambda: readable(out) == len(sent))
                p.send_signal(signal.SIGINT)
                code, _, err = finish(p, timeout=150)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            assert code == 0, err
            c = stream_counts(err)
            assert c["captured"] == len(sent) == 7500, err
            assert c["published"] + c["dropped"] == c["captured"], err
            assert c["acknowledged"] == c["published"] and c["dropped"] == 0, err
            assert c["spooled"] > 0, err
            assert count(r"(\d+) reconnections", err) >= 1
            merged = tmp_path / "merged.pcapng"
            r = lab.run_in_server(["collect", cluster.local_url, "-w", str(merged), "--drain"],
                                  timeout=180)
            err = r.stderr.decode()
            assert r.returncode == 0, err
            got = sorted(rec[1:] for rec in merged_records(merged))
            assert got == host_records(out)                   # every frame, exactly once
            assert sorted(g[2] for g in got) == sorted(sent)


@pytest.fixture
def ns_server(lab, tmp_path):
    """Servers on the capture namespace's own loopback."""
    require_tool("nats-server")
    servers = []

    def start(**kw):
        s = NatsServer(tmp_path / f"s{len(servers)}", netns=lab.ns_b, port=4300 + len(servers),
                       **kw).start()
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


def test_capture_with_a_server_that_cannot_be_used_is_one_line(lab, ns_server, tmp_path):
    auth = ns_server(user="alice", password="s3cret")
    plain = ns_server(jetstream=False)
    cases = [
        ("nats://127.0.0.1:4399", "pyxring: cannot reach the NATS server at "
                                  "nats://127.0.0.1:4399: connection refused"),
        (f"nats://alice:nope@127.0.0.1:{auth.port}",
         f"pyxring: nats://alice:***@127.0.0.1:{auth.port}: the server refused the credentials "
         f"(authorization violation)"),
        (f"nats://127.0.0.1:{plain.port}",
         f"pyxring: the NATS server at nats://127.0.0.1:{plain.port} has no JetStream (start it "
         f"with -js, or 'jetstream {{}}' in its configuration)"),
    ]
    for url, message in cases:
        proc = lab_capture(lab, "--stream", url, "--stream-spool", str(tmp_path / "sp"), "udp")
        code, _, err = finish(proc, timeout=60)
        assert code == ExitStatus.ERROR, err
        assert err.strip() == message, err
    proc = lab_capture(lab, "--stream", f"nats://127.0.0.1:{auth.port}", "udp")
    code, _, err = finish(proc, timeout=60)
    assert code == ExitStatus.ERROR and "refused the credentials (none given)" in err, err


def test_stream_alone_prints_no_packets_and_counts_them(lab, ns_server, tmp_path):
    srv = ns_server()
    proc = lab_capture(lab, "--stream", srv.url + "/pkts", "--stream-spool", str(tmp_path / "sp"),
                       "--stream-host", "solo", "-c", "50", "udp")
    try:
        wait_listening(proc)
        lab.send_frames(lab.udp_frames(80))
        code, out, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0, err
    assert out == b""
    assert stream_counts(err) == {"captured": 50, "published": 50, "acknowledged": 50,
                                  "spooled": 0, "dropped": 0}
    got = []
    with pyxring.netlab.in_netns(lab.ns_b):
        sub = pyxring.stream.subscribe(srv.url, "pkts.solo.>", drain=True)
    with sub:
        for rb in sub:
            got += rb.column("frame").to_pylist()
            assert rb.schema.metadata[b"pyxring.interface"] == lab.if_b.encode()
    assert got == lab.udp_frames(80)[:50]
