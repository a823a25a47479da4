"""The stream's parts without a server: URLs, the message format, the
outbox and its spool, the reorder window, the Arrow source, duplicates."""
import os
import random

import numpy as np
import pyarrow as pa
import pytest

import pyxring.memory
from pyxring.errors import ConfigError
from pyxring.stream import wire
from pyxring.stream.consumer import SeenSequences
from pyxring.stream.merge import Held, ReorderBuffer
from pyxring.stream.outputs import Checkpoint, _ranges
from pyxring.stream.spool import Outbox, Spool
from pyxring.stream.url import parse_url, subject_token


# -- URLs -------------------------------------------------------------------------
def test_urls():
    u = parse_url("nats://10.0.0.1:4223/sensors.dc1")
    assert u.servers == ("nats://10.0.0.1:4223",) and u.prefix == "sensors.dc1"
    u = parse_url("nats://alice:s%40cret@h1,h2:5000,[::1]:4999")
    assert u.servers == ("nats://h1:4222", "nats://h2:5000", "nats://[::1]:4999")
    assert (u.user, u.password, u.prefix) == ("alice", "s@cret", "pkts")
    assert "s@cret" not in str(u) and "***" in str(u)
    assert u.connect_options() == {"servers": list(u.servers), "user": "alice",
                                   "password": "s@cret"}
    assert parse_url("nats://tok123@h").connect_options()["token"] == "tok123"
    assert subject_token("eth0.100") == "eth0_100" and subject_token("a b*>") == "a_b__"


@pytest.mark.parametrize("text,why", [
    ("10.0.0.1:4222", "expected nats://HOST"),
    ("http://h:4222", "the scheme must be nats://, not http://"),
    ("nats://", "no server"),
    ("nats://h:0", "port '0' is not a number between 1 and 65535"),
    ("nats://h:70000", "port '70000'"),
    ("nats://h:x", "port 'x'"),
    ("nats://h:", "port ''"),
    ("nats://h1,,h2", "an empty server in the list"),
    ("nats://::1:4222", "an IPv6 address goes in brackets"),
    ("nats://h/pk*ts", "invalid subject prefix 'pk*ts'"),
    ("nats://h/a..b", "invalid subject prefix 'a..b'"),
    ("nats://h/p?x=1", "no query or fragment"),
    ("nats://:pw@h", "empty user name"),
])
def test_bad_urls_say_what_is_wrong(text, why):
    with pytest.raises(ConfigError) as e:
        parse_url(text)
    assert why in str(e.value) and "\n" not in str(e.value)


# -- the message format -----------------------------------------------------------
def _frames(n, sizes=(60, 200, 1500), seed=1):
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.choice(sizes)) for _ in range(n)]


def _batch(frames, **kw):
    src = pyxring.memory.open(frames, batch_size=len(frames), name="eth0", **kw)
    return src, src.batch(0)


def test_a_batch_is_one_message_that_decodes_to_the_same_packets():
    frames = _frames(500)
    ts = [1_700_000_000_123_456_789 + 1000 * i for i in range(500)]
    src, b = _batch(frames, ts_ns=ts, wirelen=[len(f) + 4 for f in frames], queue=3)
    enc = wire.Encoder("pkts.h1.eth0", "h1", "eth0", "00ff")
    msgs = enc.encode(b, 1 << 20)
    assert len(msgs) == 1 and enc.seq == 1
    m = msgs[0]
    assert m.headers[wire.H_MSG_ID] == "h1/eth0/00ff/0" and m.headers[wire.H_PACKETS] == "500"
    rb = wire.decode(m.payload)
    assert rb.column("frame").to_pylist() == frames
    assert rb.column("ts_ns").cast(pa.int64()).to_pylist() == ts
    assert rb.column("wirelen").to_pylist() == [len(f) + 4 for f in frames]
    assert set(rb.column("queue").to_pylist()) == {3}
    meta = wire.message_meta(rb)
    assert (meta["host"], meta["interface"], meta["run"], meta["seq"]) == ("h1", "eth0", "00ff", "0")


@pytest.mark.parametrize("limit", [8192, 40_000, 300_000])
def test_a_batch_larger_than_the_max_payload_is_split_in_order(limit):
    frames = _frames(700, sizes=(1500,)) + _frames(300, sizes=(60, 1000), seed=2)
    src, b = _batch(frames)
    enc = wire.Encoder("s", "h", "i", "1")
    msgs = enc.encode(b, limit)
    assert len(msgs) > 1 and all(m.size <= limit - wire.PAYLOAD_MARGIN for m in msgs)
    assert [m.seq for m in msgs] == list(range(len(msgs)))
    assert [f for m in msgs for f in wire.decode(m.payload).column("frame").to_pylist()] == frames


def test_a_frame_no_message_can_hold_is_counted_not_sent():
    frames = [b"a" * 100, b"b" * 9000, b"c" * 100]
    src, b = _batch(frames)
    enc = wire.Encoder("s", "h", "i", "1")
    msgs = enc.encode(b, 6000)
    assert enc.too_large == 1 and "maximum payload (6000 bytes)" in enc.too_large_reason
    assert [f for m in msgs for f in wire.decode(m.payload).column("frame").to_pylist()] == \
        [b"a" * 100, b"c" * 100]


@pytest.mark.parametrize("payload,why", [
    (b"", "not an Arrow IPC stream"),
    (b"garbage" * 20, "not an Arrow IPC stream"),
])
def test_messages_that_are_not_batches_are_refused(payload, why):
    with pytest.raises(wire.BadMessage) as e:
        wire.decode(payload)
    assert why in str(e.value)


def _ipc(rb):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rb.schema) as w:
        w.write_batch(rb)
    return sink.getvalue().to_pybytes()


def test_arrow_that_is_not_the_schema_is_refused():
    other = pa.record_batch([pa.array([1, 2])], names=["x"])
    with pytest.raises(wire.BadMessage, match="not a pyxring.columns/1"):
        wire.decode(_ipc(other))
    src, b = _batch(_frames(5))
    rb = b.to_arrow([])
    bad = rb.drop_columns(["wirelen"]).replace_schema_metadata(rb.schema.metadata)
    with pytest.raises(wire.BadMessage, match="column wirelen"):
        wire.decode(_ipc(bad))
    # offsets that go backwards: refused before a source walks them
    frame = rb.column("frame")
    offsets = np.frombuffer(frame.buffers()[1], dtype=np.int32).copy()
    offsets[1] = offsets[2] + 7
    broken = pa.Array.from_buffers(pa.binary(), len(frame), [None, pa.py_buffer(offsets),
                                                            frame.buffers()[2]])
    cols = [broken if n == "frame" else rb.column(n) for n in rb.schema.names]
    with pytest.raises(wire.BadMessage, match="inconsistent"):
        wire.decode(_ipc(pa.RecordBatch.from_arrays(cols, schema=rb.schema)))


# -- the Arrow source -------------------------------------------------------------
def test_arrow_frames_walk_rows_in_the_order_given_without_copying():
    frames = _frames(50)
    src, b = _batch(frames, ts_ns=list(range(50)), ifindex=[i % 3 for i in range(50)])
    rb = b.to_arrow([])
    part2 = rb.slice(10, 20)                       # a slice: offsets start inside the buffers
    order = (np.array([1, 0, 1, 0], np.int32), np.array([19, 0, 0, 49], np.int64))
    s = pyxring.memory.from_arrow([rb, part2], order=order)
    got = [(p.ts_ns, p.copy(), p.ifindex) for p in s.batch(0)]
    assert got == [(29, frames[29], 29 % 3), (0, frames[0], 0), (10, frames[10], 10 % 3),
                   (49, frames[49], 49 % 3)]
    split = pyxring.memory.from_arrow([rb, part2], interface_ids=[5, 7], split_by_interface=True,
                                      order=(np.array([0, 0, 1, 1, 0]), np.array([1, 2, 3, 4, 5])))
    runs = []
    for batch in split.batches():
        runs.append((split.batch_interface, [p.ts_ns for p in batch]))
    assert runs == [(5, [1, 2]), (7, [13, 14]), (5, [5])]
    # decoded like any batch
    cols = pyxring.memory.from_arrow(rb).batch(0).columns(["caplen"])
    assert cols["caplen"].tolist() == [len(f) for f in frames]


def test_arrow_frames_refuse_rows_outside_the_batches():
    src, b = _batch(_frames(5))
    rb = b.to_arrow([])
    with pytest.raises(ConfigError, match="row number outside"):
        pyxring.memory.from_arrow(rb, order=(np.array([0]), np.array([5])))
    with pytest.raises(ConfigError, match="part number outside"):
        pyxring.memory.from_arrow(rb, order=(np.array([1]), np.array([0])))
    with pytest.raises(ConfigError, match="no wirelen column"):
        pyxring.memory.from_arrow(rb.drop_columns(["wirelen"]))


# -- outbox and spool -------------------------------------------------------------
def _msg(i, size=1000, run="r1"):
    return wire.Message("pkts.h.i", {wire.H_MSG_ID: f"h/i/{run}/{i}"}, bytes([i % 256]) * size,
                        packets=i + 1, run=run, seq=i)


def test_outbox_keeps_the_order_through_the_spool(tmp_path):
    spool = Spool(tmp_path, 1 << 30, "r1")
    box = Outbox(3500, spool)
    where = [box.put(_msg(i)) for i in range(10)]
    assert where == ["memory"] * 3 + ["spool"] * 7
    got = [box.take() for _ in range(4)]
    assert box.put(_msg(10)) == "spool"        # the spool still holds older ones: behind them
    got += [box.take() for _ in range(8)]
    assert [m.seq for m in got if m] == list(range(11)) and got[-1] is None
    assert box.put(_msg(11)) == "memory"       # the spool was read to its end
    for m in got[:11]:
        box.acknowledged(m)
    assert spool.left() == (0, 0)
    assert box.spooled_packets == sum(i + 1 for i in range(3, 11))


def test_spool_segments_go_once_acknowledged(tmp_path, monkeypatch):
    monkeypatch.setattr("pyxring.stream.spool.SEGMENT_BYTES", 5000)
    spool = Spool(tmp_path, 1 << 30, "r1")
    box = Outbox(0, spool)
    for i in range(12):
        box.put(_msg(i))
    assert len(list(tmp_path.glob("*.spool"))) == 3
    taken = [box.take() for _ in range(12)]
    for m in taken[:6]:
        box.acknowledged(m)
    assert len(list(tmp_path.glob("*.spool"))) == 2       # four records a segment: one is gone
    for m in taken[6:8]:
        box.acknowledged(m)
    assert len(list(tmp_path.glob("*.spool"))) == 1
    assert spool.left() == (4, sum(i + 1 for i in range(8, 12)))


def test_spool_bound_and_no_spool_drop_with_the_reason(tmp_path):
    box = Outbox(2500, Spool(tmp_path, 3500, "r1"))
    where = [box.put(_msg(i)) for i in range(8)]
    assert where == ["memory", "memory", "spool", "spool", "spool", "dropped", "dropped",
                     "dropped"]
    assert dict(box.dropped) == {"the spool is full (0.00333786 MiB)": 6 + 7 + 8}
    nospool = Outbox(2500, None)
    assert [nospool.put(_msg(i)) for i in range(3)] == ["memory", "memory", "dropped"]
    assert list(nospool.dropped) == ["the server was away or slow and the memory buffer "
                                     "(0.00238419 MiB) was full; no spool"]


def test_a_later_run_adopts_what_an_ended_run_spooled(tmp_path):
    spool = Spool(tmp_path, 1 << 30, "r1")
    alive = Spool(tmp_path, 1 << 30, "r9")      # a run that is still going keeps its own
    Outbox(0, alive).put(_msg(0, run="r9"))
    box = Outbox(0, spool)
    for i in range(5):
        box.put(_msg(i))
    m0 = box.take()
    box.acknowledged(m0)
    assert spool.close() is True                # four unacknowledged: the segment stays
    later = Spool(tmp_path, 1 << 30, "r2")
    box2 = Outbox(1 << 20, later)
    got = [box2.take() for _ in range(6)]
    # the whole segment comes again (the one acknowledged too: the stream's
    # duplicate window and the collector drop it)
    assert [(m.run, m.seq) for m in got[:5]] == [("r1", i) for i in range(5)]
    assert got[5] is None and later.adopted_messages == 5
    for m in got[:5]:
        box2.acknowledged(m)
    assert [p.name for p in tmp_path.glob("*.spool")] == ["r9-000001.spool"]
    alive.close()
    later.close()


def test_a_torn_spool_record_loses_only_the_rest_of_its_segment(tmp_path):
    spool = Spool(tmp_path, 1 << 30, "r1")
    box = Outbox(0, spool)
    for i in range(3):
        box.put(_msg(i, size=2000))
    spool.close()
    seg = next(tmp_path.glob("*.spool"))
    with open(seg, "r+b") as f:                 # a crash in the middle of the last record
        f.truncate(os.path.getsize(seg) - 500)
    later = Spool(tmp_path, 1 << 30, "r2")
    box2 = Outbox(0, later)
    got = [box2.take() for _ in range(3)]
    assert [m.seq for m in got[:2]] == [0, 1] and got[2] is None
    assert later.torn and "cut short" in later.torn[0][2]


def test_spill_at_the_end_keeps_what_memory_and_the_window_held(tmp_path):
    spool = Spool(tmp_path, 1 << 30, "r1")
    box = Outbox(1 << 20, spool)
    for i in range(4):
        box.put(_msg(i))
    inflight = [box.take(), box.take()]
    kept = box.spill(inflight)
    assert kept == 1 + 2 + 3 + 4
    assert spool.left() == (4, 10)


# -- the reorder window -----------------------------------------------------------
def _rb(ts, tag):
    frames = [bytes([tag]) + t.to_bytes(8, "big") for t in ts]
    src, b = _batch(frames, ts_ns=ts)
    return b.to_arrow([])


def _ts_of(release):
    return [int(release.parts[p].column("ts_ns")[r].value)
            for p, r in zip(release.idx.tolist(), release.rows.tolist())]


def test_reorder_releases_in_time_order_behind_the_newest_by_the_window():
    buf = ReorderBuffer(window=1.0)
    s = 1_000_000_000
    buf.add(Held(_rb([0, 2 * s, 4 * s], 1), "a", 0, "m1", arrival=0))
    buf.add(Held(_rb([1 * s, 3 * s], 2), "b", 1, "m2", arrival=0))
    r = buf.release(now=0.1)                       # newest 4 s: up to 3 s may go
    assert _ts_of(r) == [0, s, 2 * s, 3 * s] and [h.token for h in r.finished] == ["m2"]
    buf.add(Held(_rb([int(3.5 * s)], 3), "b", 1, "m3", arrival=0.2))
    assert len(buf.release(now=0.3)) == 0
    r = buf.release(now=1.05)                      # m1 has waited the window: it goes
    assert _ts_of(r) == [int(3.5 * s), 4 * s] and buf.late == 0
    buf.add(Held(_rb([s // 2], 4), "c", 2, "m4", arrival=1.1))   # behind what was written
    r = buf.release(now=2.2)
    assert _ts_of(r) == [s // 2] and buf.late == 1 and len(buf) == 0


def test_reorder_limit_gives_back_the_newest():
    buf = ReorderBuffer(window=0.0)
    buf.add(Held(_rb([1, 3, 5], 1), "a", 0, "m1", arrival=0))
    buf.add(Held(_rb([2, 4, 6], 2), "b", 1, "m2", arrival=0))
    r = buf.release(now=1, everything=True, limit=4)
    assert _ts_of(r) == [1, 2, 3, 4] and r.finished == []
    r = buf.release(now=1, everything=True)
    assert _ts_of(r) == [5, 6] and [h.token for h in r.finished] == ["m1", "m2"]


def test_reorder_on_many_random_messages_is_a_sorted_merge():
    rnd = np.random.default_rng(5)
    buf = ReorderBuffer(window=0.0)
    everything = []
    for k in range(30):
        ts = np.sort(rnd.integers(0, 10 ** 9, size=rnd.integers(1, 50))).tolist()
        everything += ts
        buf.add(Held(_rb(ts, k), k % 4, k % 4, k, arrival=0))
    r = buf.release(now=1, everything=True)
    assert _ts_of(r) == sorted(everything) and len(r.finished) == 30


# -- duplicates and the checkpoint ------------------------------------------------
def test_seen_sequences_stay_bounded():
    seen = SeenSequences(limit=100)
    assert not seen.check_and_add("k", 0) and seen.check_and_add("k", 0)
    for s in range(2, 1000):                    # 1 never comes
        assert not seen.check_and_add("k", s)
    assert seen.check_and_add("k", 500)
    assert len(seen.runs["k"][1]) <= 101


def test_checkpoint_round_trip(tmp_path):
    cp = Checkpoint(str(tmp_path / "x.pyxring-collect"))
    assert not cp.found
    cp.stream, cp.consumer = "PKTS", "c1"
    cp.committed = {1, 2, 3, 7, 9, 10}
    cp.output = {"size": 123}
    cp.save()
    again = Checkpoint(str(tmp_path / "x.pyxring-collect"))
    assert again.found and again.committed == {1, 2, 3, 7, 9, 10} and again.output == {"size": 123}
    assert _ranges({1, 2, 3, 7, 9, 10}) == [[1, 3], [7, 7], [9, 10]]
    again.prune(7)
    assert again.committed == {9, 10}
