"""The stream against a real nats-server (JetStream) on loopback, started by
the tests: what goes in comes out byte for byte, exactly once, in time
order; splits under the max payload; the spool when the server is away;
a collector that is killed and started again; the one-line errors."""
import asyncio
import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pyxring
import pyxring.file
import pyxring.memory
import pyxring.stream
from conftest import ROOT, pyxring_cmd, require_tool
from pyxring.cli import ExitStatus, main
from pyxring.stream.producer import StreamSink
from pyxring.stream.servers import NatsCluster, NatsServer

CORPUS = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "columns-*.pcap")))
T0 = 1_764_000_000_000_000_000


@pytest.fixture
def server(tmp_path):
    require_tool("nats-server")
    with NatsServer(tmp_path / "nats") as srv:
        yield srv


def records(path):
    """(interface name, ts_ns, wirelen, bytes) of every record of ``path``."""
    with pyxring.file.open_file(str(path)) as src:
        out = []
        for batch in src.batches():
            out += [(p.ifindex, p.ts_ns, p.wirelen, p.copy()) for p in batch]
        names = [i.name for i in src.interfaces]
    return [(names[i], ts, wl, data) for i, ts, wl, data in out]


def tshark_fields(path, *fields):
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields",
                        *[x for f in fields for x in ("-e", f)]], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.decode().splitlines()]


def collect(*args, timeout=120):
    r = subprocess.run(pyxring_cmd("collect", *args), capture_output=True, timeout=timeout,
                       cwd=ROOT)
    return r.returncode, r.stderr.decode()


def frames_source(n, size=700, ts0=T0, step=1000, seed=0, batch=500):
    rnd = np.random.default_rng(seed)
    frames = [rnd.bytes(int(rnd.integers(60, size + 1))) for _ in range(n)]
    ts = [ts0 + i * step for i in range(n)]
    return frames, ts, pyxring.memory.open(frames, ts_ns=ts, batch_size=batch)


def test_a_broad_corpus_goes_through_byte_exact_in_every_output(server, tmp_path):
    """Eight link types, malformed and truncated frames (caplen < wirelen):
    each file published as one interface, collected into pcapng (judged by
    tshark and capinfos), Parquet (judged by DuckDB) and Arrow files."""
    sent = {}
    for path in CORPUS:
        name = os.path.basename(path)[len("columns-"):-5]
        with pyxring.file.open_file(path) as src:
            r = pyxring.stream.publish(src, server.url, host="lab", interface=name,
                                       spool_dir=str(tmp_path / "spool"))
        assert r["acknowledged"] == r["captured"] == r["published"] and r["dropped"] == 0
        sent[f"{name}@lab"] = [rec[1:] for rec in records(path)]
    total = sum(map(len, sent.values()))
    assert total > 10000

    merged = tmp_path / "merged.pcapng"
    code, err = collect(server.url, "-w", str(merged), "--drain")
    assert code == 0, err
    assert f"{total} packets written to {merged} (8 interfaces of 1 host)" in err
    got = {}
    for name, ts, wl, data in records(merged):
        got.setdefault(name, []).append((ts, wl, data))
    for name in sent:
        assert sorted(got[name]) == sorted(sent[name]), name      # every frame, exactly once
    ts_all = [r[1] for r in records(merged)]
    assert ts_all == sorted(ts_all)                                 # one time order
    rows = tshark_fields(merged, "frame.interface_name", "frame.len", "frame.cap_len")
    assert len(rows) == total
    assert {n: sum(1 for r in rows if r[0] == n) for n in sent} == {n: len(v) for n, v in sent.items()}
    caps = subprocess.run([require_tool("capinfos"), "-I", str(merged)], capture_output=True,
                          timeout=60).stdout.decode()
    for encap in ("Linux cooked-mode capture v2", "Raw IPv4", "Raw IPv6", "OpenBSD loopback",
                  "NULL/Loopback", "Ethernet"):
        assert encap in caps, encap

    pq_dir = tmp_path / "pq"
    code, err = collect(server.url, "--parquet", str(pq_dir), "--drain", "--durable", "pq")
    assert code == 0, err
    import duckdb
    counts = dict(duckdb.sql(f"SELECT interface, count(*) FROM read_parquet('{pq_dir}/*.parquet') "
                             f"GROUP BY interface").fetchall())
    assert counts == {n.split("@")[0]: len(v) for n, v in sent.items()}
    frames = duckdb.sql(f"SELECT interface, epoch_ns(ts_ns), wirelen, frame FROM "
                        f"read_parquet('{pq_dir}/*.parquet') WHERE host = 'lab'").fetchall()
    assert sorted((f"{i}@lab", t, w, bytes(f)) for i, t, w, f in frames) == \
        sorted((n, *rec) for n, recs in sent.items() for rec in recs)

    arrow_dir = tmp_path / "arrow"
    code, err = collect(server.url, "--arrow", str(arrow_dir), "--drain", "--durable", "ar",
                        "--fields", "src4,dport")
    assert code == 0, err
    import pyarrow as pa
    tables = [pa.ipc.open_file(p).read_all() for p in sorted(arrow_dir.glob("*.arrow"))]
    table = pa.concat_tables(tables)
    assert table.num_rows == total
    assert {"ts_ns", "host", "interface", "src4", "dport", "frame"} <= set(table.column_names)
    assert "proto" not in table.column_names


def test_batches_are_split_under_a_small_max_payload(tmp_path):
    require_tool("nats-server")
    with NatsServer(tmp_path / "nats", max_payload=65536) as srv:
        frames, ts, src = frames_source(3000, size=1500, batch=1000)
        r = pyxring.stream.publish(src, srv.url, host="h", interface="big", spool_dir=None)
        assert r["acknowledged"] == 3000 and r["published_messages"] >= 3000 * 800 // 65536
        got = []
        with pyxring.stream.subscribe(srv.url, drain=True) as sub:
            for rb in sub:
                got += rb.column("frame").to_pylist()
        assert got == frames


def test_subscribe_yields_record_batches_and_writable_batches_and_resumes(server, tmp_path):
    frames, ts, src = frames_source(2000, batch=250)
    pyxring.stream.publish(src, server.url, host="h1", interface="eth0", spool_dir=None)
    with pyxring.stream.subscribe(server.url, "pkts.h1.>", durable="api", drain=True) as sub:
        first = next(iter(sub))
        meta = first.schema.metadata
        assert meta[b"pyxring.host"] == b"h1" and meta[b"pyxring.stream.seq"] == b"0"
        assert meta[b"pyxring.interface"] == b"eth0"      # the name it was published as
        assert first.column("frame").to_pylist() == frames[:250]
    # the first message was acknowledged when the loop asked for the next... the
    # consumer resumes after it; its batches go to the writer as they are
    out = tmp_path / "rest.pcapng"
    with pyxring.stream.subscribe(server.url, "pkts.h1.>", durable="api", drain=True) as sub, \
            pyxring.open_writer(str(out)) as w:
        for batch in sub.batches():
            w.write_batch(batch)
    assert [rec[3] for rec in records(out)] == frames[250:]
    assert [rec[1] for rec in records(out)] == ts[250:]


def test_the_producer_spools_while_the_server_is_away_then_backfills(server, tmp_path):
    frames, ts, src = frames_source(6000, size=1000, batch=200)
    spool = tmp_path / "spool"
    sink = StreamSink(server.url, [("eth0", src)], host="h1", spool_dir=str(spool),
                      memory_bytes=200_000)
    for b in src.batches():
        sink.write_batch(b)
    server.stop()
    more_frames, more_ts, more = frames_source(4000, size=1000, ts0=T0 + 10 ** 10, seed=1,
                                               batch=200)
    for b in more.batches():
        sink.write_batch(b)         # never waits: memory, then the spool
    assert sink.outbox.spooled_packets > 3000 and list(spool.glob("*.spool"))
    server.start()
    r = sink.close(wait=60)
    assert r["captured"] == 10000
    assert r["acknowledged"] + r["dropped"] + r["left_in_spool"] == r["captured"]
    assert r["acknowledged"] == r["published"] == 10000 and r["dropped"] == 0
    assert r["spooled"] == sink.outbox.spooled_packets and r["reconnects"] >= 1
    assert not list(spool.glob("*.spool"))                   # sent: the spool is empty again
    with pyxring.stream.subscribe(server.url, drain=True) as sub:
        got = [f for rb in sub for f in rb.column("frame").to_pylist()]
    assert got == frames + more_frames


def test_what_could_not_be_kept_is_dropped_with_its_reason(server, tmp_path):
    server.stop()
    frames, ts, src = frames_source(10, size=1000)
    with pytest.raises(pyxring.PyxringError, match="cannot reach the NATS server"):
        StreamSink(server.url, [("eth0", src)], spool_dir=None)
    server.start()
    sink = StreamSink(server.url, [("eth0", src)], host="h1", spool_dir=str(tmp_path / "sp"),
                      spool_bytes=300_000, memory_bytes=100_000)
    server.stop()
    frames, ts, src = frames_source(3000, size=1000, batch=100)
    for b in src.batches():
        sink.write_batch(b)
    r = sink.close(wait=0.5)
    assert r["captured"] == 3000
    assert r["acknowledged"] + r["dropped"] + r["left_in_spool"] == 3000
    reasons = r["dropped_reasons"]
    assert r["dropped"] > 2000 and reasons["the spool is full (0.286102 MiB)"] > 1500
    # what memory held at the end found the spool full too
    assert set(reasons) <= {"the spool is full (0.286102 MiB)",
                            "not acknowledged before the end, and the spool is full (0.286102 MiB)"}
    assert r["left_in_spool"] > 0


def test_what_an_ended_capture_left_in_the_spool_goes_with_the_next(server, tmp_path):
    spool = str(tmp_path / "spool")
    frames, ts, src = frames_source(1000, size=800, batch=100)
    sink = StreamSink(server.url, [("eth0", src)], host="h1", spool_dir=spool, memory_bytes=0)
    server.stop()
    for b in src.batches():
        sink.write_batch(b)
    r = sink.close(wait=0.2)
    assert r["left_in_spool"] == 1000 and r["acknowledged"] == 0 and r["dropped"] == 0
    server.start()
    frames2, ts2, src2 = frames_source(100, size=800, ts0=T0 + 10 ** 10, seed=3)
    r2 = pyxring.stream.publish(src2, server.url, host="h1", interface="eth0", spool_dir=spool)
    assert r2["earlier_acknowledged"] == r2["earlier_published"] == 1000
    # this capture's own counts: published + dropped == captured
    assert r2["published"] == r2["acknowledged"] == r2["captured"] == 100
    code, err = collect(server.url, "-w", str(tmp_path / "m.pcapng"), "--drain")
    assert code == 0, err
    assert [rec[3] for rec in records(tmp_path / "m.pcapng")] == frames + frames2


CRASH_AFTER_COMMIT = r"""
import os, sys
import pyxring.stream.collector as c
real = c.Collector._commit
async def commit_then_die(self):
    if self.written >= int(sys.argv[1]):
        state = self.output.prepare()                 # the file synced ...
        self.checkpoint.output = dict(state, partial={})
        self.checkpoint.committed.update(d.stream_seq for d in self.ready)
        if sys.argv[2] == "recorded":                 # ... and recorded, not acknowledged
            self.checkpoint.output["partial"] = {
                str(h.token.stream_seq): h.pos for h in self.buffer.held if h.pos}
            self.checkpoint.save()
            self.output.complete()
        os._exit(9)
    await real(self)
c.Collector._commit = commit_then_die
from pyxring.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("kind", ["pcapng", "parquet"])
@pytest.mark.parametrize("when", ["recorded", "synced"])
def test_a_collector_killed_at_a_commit_resumes_with_nothing_lost_or_twice(server, tmp_path,
                                                                            kind, when):
    """Killed after its output was synced (and the commit recorded, or not)
    but before acknowledging: started again, it writes every packet once.
    The reorder window makes commits fall in the middle of messages."""
    # 120 messages of 50 packets 1 ms apart; a fetch takes 64 messages, after
    # which the window (0.525 s) lets 2675 packets go: the first commit ends
    # inside a message, the second (the one that dies) covers 5475
    frames, ts, src = frames_source(6000, size=400, batch=50, step=10 ** 6)
    pyxring.stream.publish(src, server.url, host="h", interface="eth0", spool_dir=None)
    out = tmp_path / ("m.pcapng" if kind == "pcapng" else "pq")
    outarg = ["-w", str(out)] if kind == "pcapng" else ["--parquet", str(out),
                                                         "--roll-seconds", "0"]
    args = ["collect", server.url, *outarg, "--reorder-window", "0.525", "--commit-interval",
            "0", "--drain", "--ack-wait", "2"]
    r = subprocess.run([sys.executable, "-c", CRASH_AFTER_COMMIT, "4000", when, *args],
                       capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 9, r.stderr.decode()
    if when == "recorded":
        import json
        state = json.load(open(f"{out}.pyxring-collect" if kind == "pcapng"
                               else out / ".pyxring-collect"))
        assert list(state["output"]["partial"].values()) == [25]   # half a message is in
    code, err = collect(*args[1:])
    assert code == 0, err
    if kind == "pcapng":
        got = [rec[3] for rec in records(out)]
        if when == "synced":
            assert "bytes after the last commit cut off" in err
        assert len(tshark_fields(out, "frame.len")) == 6000
    else:
        import duckdb
        got = [bytes(f) for (f,) in duckdb.sql(
            f"SELECT frame FROM read_parquet('{out}/*.parquet') ORDER BY ts_ns").fetchall()]
        assert not list(out.glob(".*.tmp"))
    assert sorted(got) == sorted(frames) and len(got) == 6000


def test_a_collector_killed_anywhere_resumes(server, tmp_path):
    """SIGKILL at a moment the test doesn't choose, twice; the union of what
    the runs wrote is every packet once (the file is cut back to its last
    commit and continued as a new pcapng section)."""
    frames, ts, src = frames_source(20000, size=300, batch=500, step=10 ** 5)
    pyxring.stream.publish(src, server.url, host="h", interface="eth0", spool_dir=None)
    out = tmp_path / "m.pcapng"
    args = ["collect", server.url, "-w", str(out), "--commit-interval", "0.05",
            "--reorder-window", "0.2", "--drain", "--ack-wait", "2"]
    for _ in range(2):
        proc = subprocess.Popen(pyxring_cmd(*args), cwd=ROOT, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(f"{out}.pyxring-collect") and os.path.getsize(out) > 400_000 * (_ + 1):
                break
            time.sleep(0.01)
        proc.kill()
        proc.communicate()
    code, err = collect(*args[1:])
    assert code == 0, err
    got = [rec[3] for rec in records(out)]
    assert sorted(got) == sorted(frames) and len(got) == 20000
    assert len(tshark_fields(out, "frame.len")) == 20000


def test_collect_stops_after_count_and_the_next_run_takes_the_rest(server, tmp_path):
    """-c COUNT ends once COUNT packets are written, in time order (the cut
    falls inside a message and inside the reorder window); a collector
    started again on the same file writes the rest: every packet once."""
    frames, ts, src = frames_source(3000, size=200, batch=500, step=10 ** 5)
    pyxring.stream.publish(src, server.url, host="h", interface="eth0", spool_dir=None)
    out = tmp_path / "m.pcapng"
    code, err = collect(server.url, "-w", str(out), "-c", "1234", "--ack-wait", "2")
    assert code == 0, err
    first = records(out)
    assert [r[1] for r in first] == ts[:1234]
    assert [r[3] for r in first] == frames[:1234]
    code, err = collect(server.url, "-w", str(out), "--drain", "--ack-wait", "2")
    assert code == 0, err
    got = records(out)
    assert sorted(r[3] for r in got) == sorted(frames) and len(got) == 3000


@pytest.mark.parametrize("argv,message", [
    (["collect", "http://h:4222", "-w", "x"], "bad stream URL 'http://h:4222': the scheme"),
    (["collect", "nats://h:99999", "-w", "x"], "port '99999' is not a number"),
    (["collect", "nats://h"], "needs one output: -w FILE, --parquet DIR or --arrow DIR"),
    (["collect", "nats://h", "-w", "x", "--parquet", "d"], "choose one output"),
    (["collect", "nats://h", "--parquet", "d", "--fields", "srcip"], "unknown field 'srcip'"),
    (["collect", "nats://h", "-w", "x", "--subject", "pkts.>.x"], "invalid subject 'pkts.>.x'"),
    (["collect", "nats://h", "-w", "x", "--reorder-window", "-1"], "invalid number of seconds -1"),
    (["capture", "nosuchif0", "--stream", "nats//h"], "bad stream URL 'nats//h'"),
    (["capture", "nosuchif0", "--stream", "nats://u:pw@h:1/a.*"], "bad stream URL 'nats://u:***@h:1/a.*'"),
    (["capture", "nosuchif0", "--stream-replicas", "3"], "--stream-replicas needs --stream URL"),
    (["capture", "nosuchif0", "--stream", "nats://h", "--stream-host", "a.b"], "--stream-host 'a.b'"),
    (["capture", "nosuchif0", "--stream", "nats://h", "--stream-spool-size", "x"], "invalid spool size x"),
    (["capture", "nosuchif0", "--stream", "nats://h", "--stream-buffer", "0"],
     "--stream-buffer 0: batches need memory"),
])
def test_bad_stream_arguments_are_one_line_usage_errors(capsys, argv, message):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE, err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_servers_that_cannot_be_used_are_one_line_errors(tmp_path):
    require_tool("nats-server")
    with NatsServer(tmp_path / "auth", user="alice", password="s3cret") as auth, \
            NatsServer(tmp_path / "plain", jetstream=False) as plain:
        port = auth.port
        cases = [
            ([f"nats://127.0.0.1:{port}"], f"nats://127.0.0.1:{port}: the server refused the "
                                          f"credentials (none given)"),
            ([f"nats://alice:wrong@127.0.0.1:{port}"], "the server refused the credentials "
                                                      "(authorization violation)"),
            ([plain.url], f"the NATS server at {plain.url} has no JetStream"),
            ([auth.url], f"no stream at nats://alice:***@127.0.0.1:{port} stores pkts.>"),
        ]
        for url, message in cases:
            code, err = collect(*url, "-w", str(tmp_path / "x.pcapng"), timeout=60)
            assert code == ExitStatus.ERROR, err
            assert message in err and len(err.strip().splitlines()) == 1, err
    code, err = collect(f"nats://127.0.0.1:{port}", "-w", str(tmp_path / "x.pcapng"))
    assert code == ExitStatus.ERROR
    assert err.strip() == (f"pyxring: cannot reach the NATS server at nats://127.0.0.1:{port}: "
                           f"connection refused"), err


def _js_answer(url):
    """What one JetStream request to the server at ``url`` gets now."""
    async def ask():
        import nats
        nc = await nats.connect(url, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
            return "ok"
        except Exception as exc:
            return getattr(exc, "err_code", None) or type(exc).__name__
        finally:
            await nc.close()
    return asyncio.run(ask())


def test_a_cluster_without_quorum_is_waited_for_not_called_jetstream_less(tmp_path, monkeypatch):
    """The last server of a cluster answers "temporarily unavailable"
    (503, 10008) once it has been alone a while; nats-py raises that as
    the same exception as "no responders".  pyxring asks again while the
    cluster comes back and says "not ready" (not "no JetStream") when it
    does not."""
    require_tool("nats-server")
    from pyxring.stream import client
    from pyxring.stream.url import parse_url
    with NatsCluster(tmp_path / "c") as cluster:
        alone = cluster.servers[0]
        for s in cluster.servers[1:]:
            s.stop()
        deadline = time.monotonic() + 90
        while _js_answer(alone.url) != client.JS_TEMPORARILY_UNAVAILABLE:
            assert time.monotonic() < deadline, "the lone server never said 10008"
            time.sleep(1)
        url = parse_url(alone.url + "/pkts")

        async def ready():
            nc = await client.connect(url, name="test")
            try:
                await client.jetstream(nc, url)
            finally:
                await nc.close()
        monkeypatch.setattr(client, "JETSTREAM_READY_WAIT", 1.0)
        with pytest.raises(client.StreamError) as e:
            asyncio.run(ready())
        assert str(e.value) == (f"the NATS server at {url} is not ready for JetStream after 1 s: "
                                f"JetStream system temporarily unavailable")
        monkeypatch.setattr(client, "JETSTREAM_READY_WAIT", 60.0)
        back = threading.Timer(2, lambda: [s.start() for s in cluster.servers[1:]])
        back.start()
        try:
            t0 = time.monotonic()
            asyncio.run(ready())
            assert time.monotonic() - t0 >= 1.5          # it did wait for the others
        finally:
            back.join()


def test_the_duckdb_example_reads_the_parquet_output(server, tmp_path):
    """examples/stream_duckdb.py, as the README shows it, on two hosts'
    traffic: its counts are dpkt's, packet by packet, of the same frames."""
    import collections
    import dpkt
    from pyxring.netlab import ipv4_udp_frame
    rnd = np.random.default_rng(7)
    sent = {}
    for h, (src, dst) in {"sensor1": ("10.1.0.1", "10.9.0.1"),
                          "sensor2": ("10.2.0.2", "10.9.0.1")}.items():
        frames = [ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", src, dst, 5000,
                                 53 if i % 3 else 443, rnd.bytes(int(rnd.integers(20, 900))))
                  for i in range(1200)]
        frames += [ipv4_udp_frame("02:00:00:00:00:02", "02:00:00:00:00:01", dst, src, 53, 5000,
                                  rnd.bytes(100)) for _ in range(300)]
        ts = [T0 + i * 10 ** 6 for i in range(len(frames))]
        pyxring.stream.publish(pyxring.memory.open(frames, ts_ns=ts, batch_size=256),
                               server.url, host=h, interface="eth0", spool_dir=None)
        sent[h] = frames
    out = tmp_path / "pq"
    code, err = collect(server.url, "--parquet", str(out), "--drain")
    assert code == 0, err
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "stream_duckdb.py"),
                        str(out)], capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    per_host = {ln.split()[0]: (int(ln.split()[2]), int(ln.split()[3]))
                for ln in lines[1:3]}
    talkers = collections.Counter()
    volume = collections.Counter()
    for h, frames in sent.items():
        assert per_host[h] == (len(frames), sum(map(len, frames)))
        for f in frames:
            ip = dpkt.ethernet.Ethernet(f).data
            key = (socket_ntoa(ip.src), socket_ntoa(ip.dst))
            talkers[key] += 1
            volume[key] += len(f)
    shown = [ln.split() for ln in lines[5:]]
    expect = sorted(talkers, key=lambda k: (-volume[k], -talkers[k], k))
    assert [(s[0], s[1]) for s in shown] == expect
    assert [(int(s[4]), int(s[5])) for s in shown] == [(talkers[k], volume[k]) for k in expect]


def socket_ntoa(b):
    import socket
    return socket.inet_ntoa(b)
