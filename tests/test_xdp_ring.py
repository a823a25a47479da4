"""The AF_XDP ring helpers (reserve/submit/peek/release) over ordinary memory."""
import pytest

from pyxring.xdp._ring import FakeRing, fill_ring_entries


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


def run_fill_cycle(fill_size, chunks, seed, steps=4000):
    """Chunks go round fill ring -> kernel -> RX -> a held batch -> fill ring,
    with the kernel's order of a flush (xsk_flush): the RX descriptors are
    published first, the fill ring's consumer index a moment later, and the
    consumer may hand chunks back in that moment.  Returns how many times a
    batch found no room in the fill ring; asserts no chunk is lost or doubled."""
    import random
    rng = random.Random(seed)
    fq = FakeRing(fill_size, True)
    idx = fq.reserve(chunks)
    for k in range(chunks):
        fq.write(idx + k, k * 2048)
    fq.submit(chunks)
    taken, rx, held, refused = [], [], [], 0
    for _ in range(steps):
        op = rng.random()
        if op < 0.3:
            taken += fq.kernel_take(rng.randint(1, 64))
        elif op < 0.5:
            rx += taken          # the flush: RX first ...
            taken = []
            while rng.random() < 0.5:
                n = rng.randint(1, len(rx)) if rx else 0
                if n:
                    held.append(rx[:n])
                    del rx[:n]
                if held and rng.random() < 0.7:
                    batch = held.pop(0)
                    at = fq.reserve(len(batch))
                    if at is None:
                        refused += 1
                        held.insert(0, batch)
                        break
                    for k, chunk in enumerate(batch):
                        fq.write(at + k, chunk)
                    fq.submit(len(batch))
            fq.kernel_publish()  # ... then the fill ring's consumer index
        elif op < 0.75 and rx:
            n = rng.randint(1, len(rx))
            held.append(rx[:n])
            del rx[:n]
        elif held:
            batch = held.pop(0)
            at = fq.reserve(len(batch))
            if at is None:
                refused += 1
                held.insert(0, batch)
                continue
            for k, chunk in enumerate(batch):
                fq.write(at + k, chunk)
            fq.submit(len(batch))
    fq.kernel_publish()
    in_fill = fq.kernel_consume(2**31)
    everywhere = sorted(in_fill + taken + rx + [c for b in held for c in b])
    assert everywhere == [k * 2048 for k in range(chunks)]
    return refused


@pytest.mark.parametrize("chunks", [64, 512, 1000, 4096])
def test_fill_ring_always_takes_a_batch_back(chunks):
    # the size the socket asks for never refuses a batch handed back ...
    size = fill_ring_entries(chunks)
    assert size >= 2 * chunks and size & (size - 1) == 0
    for seed in range(5):
        assert run_fill_cycle(size, chunks, seed) == 0


def test_fill_ring_of_the_chunk_count_can_refuse_a_batch():
    # ... where a ring of just the chunk count does (the chunks the soak
    # found missing from the fill ring had been dropped on such a refusal)
    assert sum(run_fill_cycle(512, 512, seed) for seed in range(5)) > 0
