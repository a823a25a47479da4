"""asyncio captures (pyxring.aio) on real veth pairs, both ring backends:
a concurrent task keeps its schedule while the capture waits and while it
receives at a high rate, nothing is lost against the same capture done with
the blocking API, no thread and no busy loop, cancellation and Ctrl-C leave
nothing registered or held, a lost interface ends the capture with its
error.  (myring's asyncio capture runs in the QEMU guest:
kmod/qemu/guest_py.py, checked by tests/test_kmod_qemu.py.)"""
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import pyxring
from conftest import ROOT, require_root
from pyxring.errors import InterfaceError

DPORT = 9999
TICK_S = 0.01
# a tick's lateness this machine keeps even when loaded (a capture that
# blocked the loop would hold it for the whole wait, 1 s here)
LATE_BOUND_S = 0.25
# frames per burst: fewer than each ring holds (TPACKET 64 MiB, AF_XDP's
# RX ring 16384 entries), so a slow consumer can't lose any and a loss
# would be the asyncio layer's
BURST = {"tpacket": 100_000, "xdp": 12_000}

SENDER = """
import socket, sys
iface, frame, n = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.bind((iface, 0))
send = s.send
for _ in range(n):
    send(frame)
print("SENT", n, flush=True)
"""


@pytest.fixture
def lab():
    require_root()
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxa", ipv6=False) as pair:
        yield pair


def open_b(lab, backend, **kw):
    with lab.enter_b():
        return pyxring.capture(lab.if_b, backend=backend, filter=f"udp dst port {DPORT}", **kw)


def start_sender(lab, n):
    frame = lab.udp_frames(1, size=64, dport=DPORT)[0]
    return lab.popen("a", [sys.executable, "-c", SENDER, lab.if_a, frame.hex(), str(n)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class Ticker:
    """A task that wants to run every TICK_S and records how late it ran."""

    def __init__(self):
        self.late = []
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self):
        loop = asyncio.get_running_loop()
        due = loop.time() + TICK_S
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.late.append(loop.time() - due)
            due += TICK_S

    def mark(self):
        return len(self.late)

    def since(self, mark):
        return self.late[mark:]


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_a_concurrent_task_keeps_its_schedule_and_nothing_is_lost(lab, backend):
    n = BURST[backend]
    rx0 = lab.counters("b").get("rx_packets", 0)

    async def main():
        ticker = Ticker()
        async with open_b(lab, backend) as cap:
            stream = cap.abatches()
            got = 0
            threads = threading.active_count()
            # idle: the capture waits, the loop must stay free and cool
            mark, cpu0, t0 = ticker.mark(), time.process_time(), time.monotonic()
            try:
                await asyncio.wait_for(stream.__anext__(), 1.0)
                pytest.fail("a batch arrived with no traffic")
            except asyncio.TimeoutError:
                pass
            idle_late, idle_cpu = ticker.since(mark), time.process_time() - cpu0
            idle_wall = time.monotonic() - t0
            # busy: a burst from another process while the capture reads it
            mark = ticker.mark()
            sender = start_sender(lab, n)
            try:
                async for batch in cap.abatches():
                    got += len(batch)
                    if got >= n:
                        break
            finally:
                out, err = sender.communicate(timeout=60)
            busy_late = ticker.since(mark)
            stats = cap.stats()
        ticker.task.cancel()
        return got, stats, idle_late, idle_cpu, idle_wall, busy_late, threads, out

    got, stats, idle_late, idle_cpu, idle_wall, busy_late, threads, out = \
        asyncio.run(asyncio.wait_for(main(), 90))
    assert out.split() == [b"SENT", str(n).encode()]
    assert got == n and stats["dropped"] == 0
    delivered = lab.counters("b").get("rx_packets", 0) - rx0
    assert delivered >= n and stats["received"] == got + stats["dropped"]
    assert threads == 1                                        # no thread
    assert len(idle_late) >= 0.5 * idle_wall / TICK_S and max(idle_late) < LATE_BOUND_S
    assert idle_cpu < 0.3 * idle_wall                          # no busy loop
    assert busy_late and max(busy_late) < LATE_BOUND_S


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_same_counts_as_the_blocking_api(lab, backend):
    n = BURST[backend] // 4

    def sync_capture():
        with open_b(lab, backend) as cap:
            sender = start_sender(lab, n)
            got, deadline = 0, time.monotonic() + 30
            for batch in cap.batches(skip_empty=False):
                got += len(batch)
                if got >= n or time.monotonic() > deadline:
                    break
            sender.communicate(timeout=60)
            return got, cap.stats()

    async def async_capture():
        async with open_b(lab, backend) as cap:
            sender = start_sender(lab, n)
            got, deadline = 0, time.monotonic() + 30
            async for pkt in cap:                  # per packet this time
                assert pkt.wirelen == 64
                got += 1
                if got >= n or time.monotonic() > deadline:
                    break
            sender.communicate(timeout=60)
            return got, cap.stats()

    s_got, s_stats = sync_capture()
    a_got, a_stats = asyncio.run(asyncio.wait_for(async_capture(), 60))
    assert s_got == a_got == n
    assert s_stats["dropped"] == a_stats["dropped"] == 0
    assert s_stats["received"] == a_stats["received"] == n


def readers(loop):
    return {key.fd for key in loop._selector.get_map().values()
            if key.events & 1 and key.fd not in (loop._ssock.fileno(), loop._csock.fileno())}


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_cancelling_a_wait_unregisters_and_holds_nothing(lab, backend):
    async def main():
        loop = asyncio.get_running_loop()
        cap = open_b(lab, backend)
        fds = {fd for _, fd in cap.xsk_fds()} if backend == "xdp" else {cap.fileno()}
        stream = cap.abatches()
        task = loop.create_task(stream.__anext__())
        await asyncio.sleep(0.3)
        registered = readers(loop) & fds
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after_cancel = readers(loop) & fds
        # a batch held by the loop body goes back when the stream is closed
        lab.send_frames(lab.udp_frames(50, dport=DPORT))
        batch = await asyncio.wait_for(stream.__anext__(), 10)
        n = len(batch)
        await stream.aclose()
        with pytest.raises(ValueError, match="released"):
            batch.columns()
        # the ring works on after all that
        lab.send_frames(lab.udp_frames(20, dport=DPORT))
        more = 0
        async for b in cap.abatches():
            more += len(b)
            if n + more >= 70:
                break
        async with cap:
            pass
        return registered, after_cancel, n + more, cap.closed

    registered, after_cancel, total, closed = asyncio.run(asyncio.wait_for(main(), 60))
    assert registered and after_cancel == set()
    assert total == 70 and closed


CTRL_C_SCRIPT = """
import asyncio, sys
import pyxring
from pyxring.netlab import in_netns

async def main(cap):
    print("READY", flush=True)
    async for batch in cap.abatches():
        pass

with in_netns(sys.argv[1]):
    cap = pyxring.capture(sys.argv[2], backend=sys.argv[3])
try:
    asyncio.run(main(cap))
except KeyboardInterrupt:
    cap.close()
    print("INTERRUPTED closed", cap.closed, flush=True)
"""


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_ctrl_c_under_asyncio_run_is_clean(lab, backend):
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, lab.ns_b, lab.if_b, backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == b"READY"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.strip() == b"INTERRUPTED closed True"
    assert b"Traceback" not in err
    link = subprocess.run(["ip", "-n", lab.ns_b, "link", "show", "dev", lab.if_b],
                          capture_output=True, text=True).stdout
    assert "xdp" not in link                       # the program went with the capture


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_a_lost_interface_ends_the_capture_with_its_error(lab, backend):
    async def main():
        async with open_b(lab, backend) as cap:
            async def remove():
                await asyncio.sleep(0.3)
                lab.run_a(["ip", "link", "del", lab.if_a])
            task = asyncio.get_running_loop().create_task(remove())
            try:
                with pytest.raises(InterfaceError, match="disappeared|went down"):
                    async for _ in cap.abatches():
                        pass
            finally:
                await task

    asyncio.run(asyncio.wait_for(main(), 30))


def test_holding_a_batch_while_waiting_for_the_next_is_no_busy_loop(lab):
    """The kernel counts a TPACKET block the user still holds as ready, so
    the socket stays readable while the next block fills: a second stream
    waiting then must not spin, and must still get the next block."""
    async def main():
        cap = open_b(lab, "tpacket")
        async with cap:
            first, second = cap.abatches(), cap.abatches()
            lab.send_frames(lab.udp_frames(10, dport=DPORT))
            held = await asyncio.wait_for(first.__anext__(), 10)
            cpu0, t0 = time.process_time(), time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(second.__anext__(), 1.0)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
            lab.send_frames(lab.udp_frames(7, dport=DPORT))
            nxt = await asyncio.wait_for(second.__anext__(), 10)
            return len(held), len(nxt), cpu, wall

    n_held, n_next, cpu, wall = asyncio.run(main())
    assert (n_held, n_next) == (10, 7)
    assert cpu < 0.3 * wall
