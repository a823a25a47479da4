"""The AF_XDP ring helpers (reserve/submit/peek/release) over ordinary memory."""
import pytest

from pyxring.xdp._ring import FakeRing


def test_producer_reserve_submit_and_full():
    r = FakeRing(8, True)
    assert r.free() == 8
    idx = r.reserve(5)
    assert idx == 0
    for k in range(5):
        r.write(idx + k, 100 + k)
    assert r.producer == 0          # nothing visible before submit
    r.submit(5)
    assert r.producer == 5
    assert r.reserve(4) is None     # only 3 free: all or nothing
    idx = r.reserve(3)
    assert idx == 5
    r.submit(3)
    assert r.reserve(1) is None     # full
    assert r.kernel_consume(2) == [100, 101]
    assert r.reserve(2) == 8        # cached consumer refreshed only now
    assert r.reserve(1) is None


def test_consumer_peek_release_and_empty():
    r = FakeRing(4, False)
    assert r.peek(4) == []
    r.kernel_produce([1, 2, 3])
    assert r.peek(2) == [1, 2]
    assert r.consumer == 0          # slots still ours until release
    with pytest.raises(OverflowError):
        r.kernel_produce([4, 5])    # ring holds 3 unreleased + 1 free
    r.release(2)
    assert r.consumer == 2
    assert r.peek(8) == [3]
    assert r.peek(8) == []
    r.release(1)
    r.kernel_produce([4, 5, 6, 7])
    assert r.peek(8) == [4, 5, 6, 7]


def test_cancel_makes_entries_peekable_again():
    r = FakeRing(8, False)
    r.kernel_produce([10, 11, 12])
    assert r.peek(3) == [10, 11, 12]
    r.cancel(1)
    r.release(2)
    assert r.peek(3) == [12]


@pytest.mark.parametrize("start", [2**32 - 3, 2**32 - 1, 2**31])
def test_wraparound_of_32bit_indices(start):
    prod = FakeRing(4, True, start)
    seen = []
    value = 0
    for _ in range(10):
        idx = prod.reserve(3)
        assert idx is not None
        for k in range(3):
            prod.write(idx + k, value)
            value += 1
        prod.submit(3)
        seen += prod.kernel_consume(3)
    assert seen == list(range(30))
    assert prod.producer == (start + 30) % 2**32

    cons = FakeRing(4, False, start)
    out = []
    for i in range(10):
        cons.kernel_produce([i * 2, i * 2 + 1])
        got = cons.peek(4)
        cons.release(len(got))
        out += got
    assert out == list(range(20))
    assert cons.consumer == (start + 20) % 2**32


def test_size_must_be_power_of_two():
    with pytest.raises(ValueError):
        FakeRing(6, True)
