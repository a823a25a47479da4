"""pyxring.workers on real veth pairs (two RX queues) in throwaway namespaces:
every packet to exactly one worker in every fanout mode, flows kept whole,
splits as the program says, exact accounting, a killed worker."""
import collections
import operator
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, require_root, wait_capturing
from pyxring.errors import ConfigError
from workers_lab import (collect_flows, collect_lengths, collect_seqs, count_packets,
                         fanout_socket, numbered_frames, send_on_cpu, send_per_queue, two_queue_lab)

pytestmark = pytest.mark.usefixtures("root")

TP = dict(block_timeout_ms=10, block_size=1 << 16, block_count=16)


@pytest.fixture
def root():
    require_root()


@pytest.fixture
def lab2():
    with two_queue_lab("pxk") as pair:
        yield pair


def start_b(lab, handler, n, **kw):
    from pyxring import workers
    if kw.get("backend", "tpacket") == "tpacket":
        for k, v in TP.items():
            kw.setdefault(k, v)
    with lab.enter_b():
        return workers.start(lab.if_b, handler, n, **kw)


def finish(pool, timeout=20):
    pool.stop()
    res = pool.join(timeout)
    pool.close()
    assert res is not None, "workers did not end"
    return res


def wait_handled(pool, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while sum(pool.handled()) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def send_mixed(lab, total, flows=40):
    """``total`` numbered frames over ``flows`` UDP source ports, half sent on
    each CPU (so on each TX queue, hence each RX queue of b)."""
    frames = []
    per = total // flows
    for f in range(flows):
        frames += numbered_frames(lab, f * per, per, sport=20000 + f)
    half = len(frames) // 2
    send_on_cpu(lab, frames[:half], 0)
    send_on_cpu(lab, frames[half:], 1)
    return len(frames)


def assert_exactly_once(res, sent):
    seqs = [s for w in res.workers for s in w.result]
    dup = [s for s, c in collections.Counter(seqs).items() if c > 1]
    assert not dup, f"{len(dup)} packets reached two workers, e.g. {dup[:5]}"
    assert sorted(seqs) == list(range(sent)), f"{sent - len(set(seqs))} packets missing"
    st = res.stats
    assert st["dropped"] == 0
    assert st["captured"] == st["received"] == sent       # sent == captured + dropped
    for w in res.workers:
        assert w.stats["captured"] + w.stats["dropped"] == w.stats["received"]
        assert w.stats["captured"] == len(w.result)
        assert w.exit is None


@pytest.mark.parametrize("mode,flags", [("hash", ()), ("lb", ()), ("cpu", ()), ("random", ()),
                                        ("rollover", ()), ("qm", ()), ("hash", ("rollover",)),
                                        ("lb", ("defrag",))])
def test_every_packet_reaches_exactly_one_worker(lab2, mode, flags):
    pool = start_b(lab2, collect_seqs, 2, fanout=mode, flags=flags, filter="udp",
                   init=list, reduce=operator.add)
    sent = send_mixed(lab2, 4000)
    wait_handled(pool, sent)
    res = finish(pool)
    assert_exactly_once(res, sent)
    assert len(res.result) == sent
    if mode in ("lb", "random", "hash", "qm"):
        # the kernel really shared the packets out
        assert all(len(w.result) > 0 for w in res.workers), [len(w.result) for w in res.workers]
    if mode == "lb":
        # round robin over every packet of the link (the few of the namespaces' own
        # that the filter drops after the choice included)
        assert abs(len(res.workers[0].result) - len(res.workers[1].result)) <= 20


def test_qm_workers_see_only_their_queue(lab2):
    pool = start_b(lab2, collect_seqs, 2, fanout="qm", filter="udp", init=list, reduce=operator.add)
    send_per_queue(lab2, 300)
    wait_handled(pool, 600)
    res = finish(pool)
    assert sorted(res.workers[0].result) == list(range(300))
    assert sorted(res.workers[1].result) == list(range(300, 600))


def test_hash_keeps_both_directions_of_a_flow_on_one_worker(lab2):
    """TCP conversations and UDP exchanges through the namespaces' own stacks:
    b sees a->b incoming and b->a outgoing."""
    pool = start_b(lab2, collect_flows, 2, fanout="hash", filter="tcp or udp",
                   init=list, reduce=operator.add)
    server = (f"import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              f"s.bind(('{lab2.ip_b}', 5001)); s.listen(64)\n"
              f"u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('{lab2.ip_b}', 5002))\n"
              f"for i in range(24):\n    c, _ = s.accept(); c.sendall(c.recv(100) * 4); c.close()\n"
              f"for i in range(24):\n    d, a = u.recvfrom(100); u.sendto(d, a)\n")
    client = (f"import socket\nfor i in range(24):\n"
              f"    c = socket.create_connection(('{lab2.ip_b}', 5001), timeout=5); c.sendall(b'x%d' % i)\n"
              f"    while c.recv(100): pass\n    c.close()\n"
              f"for i in range(24):\n    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)\n"
              f"    u.sendto(b'q%d' % i, ('{lab2.ip_b}', 5002)); u.recvfrom(100); u.close()\n")
    srv = lab2.popen("b", [sys.executable, "-c", server])
    try:
        time.sleep(0.3)
        lab2.run_a([sys.executable, "-c", client], timeout=60)
        srv.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    time.sleep(0.1)
    res = finish(pool)
    where = collections.defaultdict(set)
    directions = collections.defaultdict(set)
    for i, w in enumerate(res.workers):
        for src, dst, sp, dp, proto, _q, _s in w.result:
            key = (proto,) + tuple(sorted([(src, sp), (dst, dp)]))
            where[key].add(i)
            directions[key].add((src, sp))
    conv = [k for k in where if len(directions[k]) == 2]
    assert len(conv) >= 40, f"only {len(conv)} two-way flows seen"
    split = {k: v for k, v in where.items() if len(v) > 1}
    assert not split, f"{len(split)} flows reached both workers"
    assert all(len(w.result) for w in res.workers)


def test_cbpf_split_by_expressions(lab2):
    pool = start_b(lab2, collect_flows, 3, split=["udp dst port 1001", "udp dst port 1002"],
                   filter="udp", init=list, reduce=operator.add)
    frames = (numbered_frames(lab2, 0, 100, dport=1001) + numbered_frames(lab2, 100, 100, dport=1002)
              + numbered_frames(lab2, 200, 100, dport=1003))
    lab2.send_frames(frames)
    send_on_cpu(lab2, numbered_frames(lab2, 300, 50, dport=1001, src="b"), 1, side="b")
    wait_handled(pool, 350)
    res = finish(pool)
    ports = [collections.Counter(f[3] for f in w.result) for w in res.workers]
    assert ports[0] == {1001: 150}          # both directions: the program reads from the MAC header
    assert ports[1] == {1002: 100}
    assert ports[2] == {1003: 100}


def test_ebpf_host_pair_split_is_the_programs(lab2):
    from pyxring.workers.fanout import host_pair_index
    pool = start_b(lab2, collect_flows, 2, fanout="ebpf", filter="udp", init=list,
                   reduce=operator.add)
    frames = []
    for h in range(1, 33):
        frames += numbered_frames(lab2, h * 10, 10, src_ip=f"10.99.{h}.{h * 3 % 250 + 1}",
                                  sport=3000 + h)
    lab2.send_frames(frames)
    wait_handled(pool, len(frames))
    res = finish(pool)
    assert sum(len(w.result) for w in res.workers) == len(frames)
    for i, w in enumerate(res.workers):
        for src, dst, *_ in w.result:
            assert host_pair_index(src, dst) % 2 == i
    assert all(w.result for w in res.workers)


def test_per_packet_handler_count_and_reduce(lab2):
    pool = start_b(lab2, count_packets, 2, fanout="lb", per="packet", filter="udp", init=int,
                   reduce=operator.add, count=700)
    lab2.send_frames(numbered_frames(lab2, 0, 1000))
    deadline = time.monotonic() + 10
    while not pool.finished.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    res = finish(pool)
    assert res.result == 700 == res.stats["captured"]       # -c: exactly, over all workers
    assert sum(w.result for w in res.workers) == 700


def test_killed_worker_others_go_on_and_loss_is_counted(lab2):
    pool = start_b(lab2, collect_seqs, 2, fanout="lb", filter="udp", init=list, reduce=operator.add)
    first = numbered_frames(lab2, 0, 400)
    lab2.send_frames(first)
    wait_handled(pool, 400)
    victim = pool.results[1].pid
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pool.alive()[1] and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)                        # the parent has let the dead socket go
    lab2.send_frames(numbered_frames(lab2, 400, 600))
    wait_handled(pool, 1000 - 200)
    res = finish(pool)
    dead, alive = res.workers[1], res.workers[0]
    assert not res.ok
    assert dead.exit == "killed by SIGKILL" and alive.exit is None
    assert dead.result is None                       # its state died with it
    # the survivor took all the traffic after the death
    assert set(range(400, 1000)) <= set(alive.result)
    st = res.stats
    assert st["received"] == 1000
    assert st["captured"] + st["dropped"] + st["lost"] == st["received"]
    assert dead.stats["received"] == dead.stats["captured"] + dead.stats["lost"] + dead.stats["dropped"]


def test_a_handler_that_raises_stops_the_run(lab2):
    from pyxring.workers import WorkerError

    def bad(batch):
        if len(batch):
            raise RuntimeError("handler bug")
    pool = start_b(lab2, bad, 2, fanout="lb", filter="udp")
    lab2.send_frames(numbered_frames(lab2, 0, 50))
    assert pool.finished.wait(10)
    with pytest.raises(WorkerError, match="handler bug"):
        pool.join()
    pool.close()


def test_lambda_handler_forked_and_forkserver_refuses_it_clearly(lab2):
    pool = start_b(lab2, lambda batch, n: n + len(batch), 2, fanout="lb", filter="udp",
                   init=int, reduce=operator.add)
    assert pool.method == "fork"
    lab2.send_frames(numbered_frames(lab2, 0, 100))
    wait_handled(pool, 100)
    assert finish(pool).result == 100
    with pytest.raises(ConfigError, match="can't be sent to a forkserver worker"):
        start_b(lab2, lambda batch: None, 2, start_method="forkserver")


def test_forkserver_workers_join_the_callers_namespace(lab2):
    pool = start_b(lab2, collect_seqs, 2, fanout="hash", filter="udp", init=list,
                   reduce=operator.add, start_method="forkserver")
    sent = send_mixed(lab2, 400)
    wait_handled(pool, sent)
    assert_exactly_once(finish(pool), sent)


def test_validation_before_any_worker_starts(lab2):
    from pyxring import workers
    with lab2.enter_b():
        with pytest.raises(ConfigError, match="unknown fanout mode 'hsah'"):
            workers.start(lab2.if_b, print, 2, fanout="hsah")
        with pytest.raises(ConfigError, match="unknown fanout flag"):
            workers.start(lab2.if_b, print, 2, flags=("rolover",))
        with pytest.raises(ConfigError, match="3 workers for .* 2 RX queue"):
            workers.start(lab2.if_b, print, 3, fanout="qm")
        with pytest.raises(ConfigError, match="3 AF_XDP workers for .* 2 RX queue"):
            workers.start(lab2.if_b, print, 3, backend="xdp")
        with pytest.raises(ConfigError, match="one per worker at most"):
            workers.start(lab2.if_b, print, 1, split=["udp", "tcp"])
    other = fanout_socket(lab2, 4242, 1)        # somebody's lb group
    try:
        with lab2.enter_b():
            with pytest.raises(ConfigError, match="fanout group 4242 is in use on .* mode lb"):
                workers.start(lab2.if_b, print, 2, fanout="hash", group=4242)
    finally:
        other.close()


def test_explicit_group_id(lab2):
    pool = start_b(lab2, collect_seqs, 2, fanout="hash", group=777, filter="udp", init=list,
                   reduce=operator.add)
    assert [r.group for r in pool.results] == [777, 777]
    sent = send_mixed(lab2, 400)
    wait_handled(pool, sent)
    assert_exactly_once(finish(pool), sent)


def test_xdp_workers_one_per_queue(lab2):
    pool = start_b(lab2, collect_flows, None, backend="xdp", filter="udp", init=list,
                   reduce=operator.add, xdp_mode="native", frame_count=4096, rx_ring_size=1024)
    assert [r.queues for r in pool.results] == [[0], [1]]
    send_per_queue(lab2, 500)
    wait_handled(pool, 1000)
    res = finish(pool)
    for i, w in enumerate(res.workers):
        assert {f[5] for f in w.result} == {i}             # pkt.queue
        assert sorted(f[6] for f in w.result) == list(range(500 * i, 500 * (i + 1)))
    st = res.stats
    assert st["captured"] == 1000 and st["dropped"] == 0 and st["received"] == 1000


def test_xdp_one_worker_takes_both_queues(lab2):
    pool = start_b(lab2, collect_flows, 1, backend="xdp", filter="udp", init=list,
                   reduce=operator.add, xdp_mode="native", frame_count=4096, rx_ring_size=1024)
    assert [r.queues for r in pool.results] == [[0, 1]]
    send_per_queue(lab2, 200)
    wait_handled(pool, 400)
    res = finish(pool)
    assert {f[5] for f in res.result} == {0, 1}
    assert sorted(f[6] for f in res.result) == list(range(400))


def test_xdp_killed_worker_its_queue_goes_to_the_stack_and_is_counted(lab2):
    pool = start_b(lab2, collect_flows, None, backend="xdp", filter="udp", init=list,
                   reduce=operator.add, xdp_mode="native", frame_count=4096, rx_ring_size=1024)
    send_per_queue(lab2, 200)
    wait_handled(pool, 400)
    os.kill(pool.results[1].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pool.alive()[1] and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    send_on_cpu(lab2, numbered_frames(lab2, 1000, 100, sport=9), 1)     # queue 1: nobody's
    send_on_cpu(lab2, numbered_frames(lab2, 2000, 100, sport=8), 0)     # queue 0: worker 0
    wait_handled(pool, 500)
    res = finish(pool)
    dead, alive = res.workers[1], res.workers[0]
    assert dead.exit == "killed by SIGKILL" and alive.exit is None and not res.ok
    assert sorted(f[6] for f in alive.result) == list(range(200)) + list(range(2000, 2100))
    # the dead worker's socket received its 200 before it died; then its queue passed
    assert dead.stats["received"] == 200
    assert dead.stats["captured"] + dead.stats["dropped"] + dead.stats["lost"] == 200
    assert res.stats["received"] == 500


def test_an_open_error_in_a_worker_is_the_error_of_start(lab2):
    from pyxring.errors import InterfaceError
    with pytest.raises(ConfigError, match="block size 1000 must be a power of two"):
        start_b(lab2, print, 2, block_size=1000)
    with pytest.raises(InterfaceError, match="no such interface: nosuch0"):
        from pyxring import workers
        workers.start("nosuch0", print, 2)


def test_one_queue_takes_one_af_xdp_socket_of_its_own_umem(lab2):
    """What the README says AF_XDP allows on one queue: a second socket with
    a UMEM of its own is refused (the kernel's EBUSY)."""
    from pyxring.errors import ResourceBusy
    from pyxring.xdp import link_info
    from pyxring.xdp._xsk import XskSource
    with lab2.enter_b():
        idx = link_info(lab2.if_b)[0]
        first = XskSource(lab2.if_b, idx, [0], frame_count=1024, rx_ring_size=512, batch_size=64,
                          bind_mode="copy")
        try:
            with pytest.raises(ResourceBusy, match="another AF_XDP socket is bound to this queue"):
                XskSource(lab2.if_b, idx, [0], frame_count=1024, rx_ring_size=512, batch_size=64,
                          bind_mode="copy")
        finally:
            first.close()


def test_defrag_flag_hands_workers_whole_datagrams(lab2):
    """UDP datagrams sent in three IP fragments: with the defrag flag each
    datagram reaches one worker whole (the kernel reassembles it before the
    choice); without it, the workers get the fragments.  (udp: b answers each
    datagram with an ICMP port unreachable, left out.)"""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    frames = []
    for i in range(40):
        pkt = (Ether(src=lab2.mac_a, dst=lab2.mac_b) / IP(src=lab2.ip_a, dst=lab2.ip_b, id=100 + i)
               / UDP(sport=6000 + i, dport=6001) / (bytes([i]) * 2000))
        frames += [bytes(f) for f in fragment(pkt, fragsize=800)]
    assert len(frames) == 120
    for flags, want in ((("defrag",), [14 + 20 + 8 + 2000] * 40), ((), None)):
        pool = start_b(lab2, collect_lengths, 2, fanout="hash", flags=flags, filter="udp",
                       init=list, reduce=operator.add)
        lab2.send_frames(frames)
        wait_handled(pool, 40 if want else 120)
        res = finish(pool)
        if want:
            assert sorted(res.result) == want
            assert res.stats["captured"] == 40
        else:
            assert res.stats["captured"] == 120


def test_ebpf_program_of_the_callers_own(lab2):
    """``program=FD``: a SOCKET_FILTER program the caller loaded (here: odd
    UDP source ports to worker 1, even to worker 0)."""
    from pyxring.bpf import ebpf as E
    from pyxring.bpf import syscall
    a = E.Asm()
    a.mov64_reg(E.R6, E.R1)
    a.raw(E.LD | E.H | 0x20, 0, 0, 0, -0x100000 + 20)     # the UDP source port (IPv4, no options)
    a.alu32(E.AND, E.R0, 1)
    a.exit()
    fd = syscall.prog_load(a.assemble(), name="odd_sport", prog_type=1, attach_type=0,
                           what="the test's fanout program")
    try:
        pool = start_b(lab2, collect_flows, 2, fanout="ebpf", program=fd, filter="udp",
                       init=list, reduce=operator.add)
    finally:
        os.close(fd)                 # the group holds its own reference
    frames = []
    for sp in range(5000, 5020):
        frames += numbered_frames(lab2, sp * 10, 10, sport=sp)
    lab2.send_frames(frames)
    wait_handled(pool, 200)
    res = finish(pool)
    for i, w in enumerate(res.workers):
        assert len(w.result) == 100 and {f[2] % 2 for f in w.result} == {i}


def test_a_handler_typed_at_the_interactive_prompt(lab2):
    """The interpreter's own prompt (python -i, reading stdin): a handler
    defined there has no module to be imported from; forked workers run it."""
    session = "\n".join([
        "from pyxring import workers",
        "import operator",
        "def count(batch, n):",
        "    return n + len(batch)",
        "",
        f"res = workers.run({lab2.if_b!r}, count, 2, fanout='lb', filter='udp', init=int, "
        f"reduce=operator.add, count=300)",
        "print('RESULT', res.result, res.ok)",
        ""])
    proc = lab2.popen("b", [sys.executable, "-q", "-i"], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.stdin.write(session.encode())
        proc.stdin.flush()
        wait_capturing(lab2, proc, sockets=2)
        time.sleep(0.3)
        lab2.send_frames(numbered_frames(lab2, 0, 400))
        out, err = proc.communicate(b"exit()\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"RESULT 300 True" in out, err
