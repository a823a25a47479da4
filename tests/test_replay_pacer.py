"""The replay send loop's own logic, without a network: its timing
histogram, and the checks on what it is given."""
import random

import pytest

from pyxring.replay import _chunk, _pacer


def test_histogram_buckets_are_exact_below_4_ms_and_0_4_percent_above():
    rng = random.Random(7)
    values = [0, 999, 1000, 4_095_999, 4_096_000, 8_191_999, 8_192_000, 10**12, 2**40 * 1000]
    values += [rng.randrange(10**13) for _ in range(2000)] + [rng.randrange(10**7) for _ in range(2000)]
    last = -1
    for v in sorted(values):
        b, low, high = _pacer.histogram_bucket(v)
        assert b >= last
        last = b
        assert low <= v and (high is None or v < high), (v, b, low, high)
        if v < 4_096_000:
            assert high - low == 1000
        elif high is not None:
            assert (high - low) / low <= 1 / 256 + 1e-9


@pytest.mark.parametrize("kwargs,message", [
    ({"mode": "fast"}, "timing mode must be one of"),
    ({"mode": "file", "multiplier": 0.0}, "multiplier must be a positive number"),
    ({"mode": "pps", "pps": float("nan")}, "pps must be a positive number"),
    ({"mode": "mbps", "mbps": -1.0}, "mbps must be a positive number"),
    ({"mode": "top", "duration": float("inf")}, "duration must be a positive number"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _pacer.Pacer(**kwargs)


def test_chunks_hold_what_they_are_given():
    c = _chunk.Chunk(2)
    assert not c.add(b"\0" * 60, 0, 0)
    assert c.add(memoryview(b"\1" * 70), 5, 1)
    assert len(c) == 2
    with pytest.raises(ValueError, match="full"):
        c.add(b"", 0, 0)
    with pytest.raises(ValueError, match="lane"):
        _chunk.Chunk(1).add(b"x" * 20, 0, 99)


def test_fill_takes_records_until_full_and_keeps_them_before_damage(tmp_path):
    import pyxring
    from pyxring.errors import PyxringError
    from pyxring.reader import open_reader
    path = tmp_path / "f.pcap"
    with pyxring.open_writer(str(path), format="pcap") as w:
        for i in range(5):
            w.write(bytes([i]) * 60, ts_ns=10**18 + i * 1000)
    asked = []

    def lane_for(rec):
        asked.append(rec.interface_id)
        return 3

    lanes = {}
    with open_reader(str(path)) as rd:
        records = iter(rd)
        first, second = _chunk.Chunk(3), _chunk.Chunk(3)
        assert first.fill(records, lanes, lane_for, 10**18) is True      # full, more to come
        assert second.fill(records, lanes, lane_for, 10**18) is False    # the file ended
    assert (len(first), len(second)) == (3, 2)
    assert asked == [0] * 5                    # lane_for decides; the caller caches in lanes
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:-10])
    chunk = _chunk.Chunk(10)
    with open_reader(str(cut)) as rd, pytest.raises(PyxringError, match="truncated"):
        chunk.fill(iter(rd), {0: 0}, lane_for, 10**18)
    assert len(chunk) == 4
