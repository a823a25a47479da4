"""TPACKET_V3 capture on a real veth pair between throwaway namespaces."""
import time

import pytest

import pyxring
from pyxring.errors import ConfigError, InterfaceError


def drain(cap, want, timeout=5.0):
    """Copy packets out of ``cap`` until ``want`` arrived or ``timeout``."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        with cap.batch(100) as b:
            got.extend((p.copy(), p.caplen, p.wirelen, p.ts_ns, p.vlan, p.ifindex) for p in b)
    # anything beyond ``want`` that is already there
    with cap.batch(150) as b:
        got.extend((p.copy(), p.caplen, p.wirelen, p.ts_ns, p.vlan, p.ifindex) for p in b)
    return got


def open_b(lab, **kw):
    with lab.enter_b():
        return pyxring.capture(lab.if_b, backend="tpacket", **kw)


def test_counts_and_bytes_match_what_was_sent(lab):
    cap = open_b(lab, filter="udp port 9999")
    frames = lab.udp_frames(500, size=128)
    before = time.time_ns()
    lab.send_frames(frames)
    got = drain(cap, 500)
    after = time.time_ns()
    assert [g[0] for g in got] == frames
    assert all(g[1] == g[2] == 128 for g in got)
    assert all(before <= g[3] <= after for g in got)
    assert all(g[5] == lab.ifindex_b for g in got)
    st = cap.stats()
    assert st["received"] == 500 and st["dropped"] == 0
    assert cap.delivered == 500
    cap.close()


def test_vlan_tagged_frames_come_out_tagged(lab):
    # compiled as tcpdump compiles it for a live Linux capture: the kernel
    # holds the tag out of band and the filter tests it there
    any_vlan = open_b(lab, filter="vlan")
    vlan43 = open_b(lab, filter="vlan 43")
    tagged = lab.udp_frames(10, vlan=42) + lab.udp_frames(5, vlan=43)
    lab.send_frames(lab.udp_frames(7) + tagged)
    got = drain(any_vlan, 15)
    assert [g[0] for g in got] == tagged
    assert [g[4] for g in got] == [42] * 10 + [43] * 5
    assert all(g[1] == g[2] == len(tagged[0]) for g in got)
    assert [g[0] for g in drain(vlan43, 5)] == tagged[10:]
    any_vlan.close()
    vlan43.close()


@pytest.mark.parametrize("expr,want", [
    ("udp", {"udp", "udp7000"}),
    ("icmp", {"icmp_req", "icmp_rep"}),
    ("icmp[icmptype] == icmp-echo", {"icmp_req"}),
    ("udp port 7000", {"udp7000"}),
    ("not udp and not ip6", {"icmp_req", "icmp_rep"}),
    ("ether src {mac_a} and ip", {"udp", "icmp_req", "udp7000"}),
])
def test_filters_select_exactly_the_expected_packets(lab, expr, want):
    import socket
    expr = expr.format(mac_a=lab.mac_a)
    cap = open_b(lab, filter=expr)
    # listeners, so that no ICMP port-unreachable joins the traffic
    with lab.enter_b():
        listeners = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s, port in zip(listeners, (9999, 7000)):
        s.bind((lab.ip_b, port))
    lab.send_frames(lab.udp_frames(3, dport=9999))
    lab.send_frames(lab.udp_frames(2, dport=7000))
    lab.run_a(["ping", "-c", "2", "-i", "0.2", lab.ip_b])
    got = drain(cap, 100, timeout=1.0)
    kinds = set()
    for data, *_ in got:
        ethertype = data[12:14]
        if ethertype != b"\x08\x00":
            kinds.add("other")
            continue
        proto = data[23]
        if proto == 17:
            kinds.add("udp7000" if data[36:38] == (7000).to_bytes(2, "big") else "udp")
        elif proto == 1:
            kinds.add("icmp_req" if data[34] == 8 else "icmp_rep" if data[34] == 0 else "icmp_other")
    assert kinds == want, f"{expr}: got {kinds}"
    counts = {"udp": 3, "udp7000": 2, "icmp_req": 2, "icmp_rep": 2}
    assert len(got) == sum(counts[k] for k in want)
    cap.close()
    for s in listeners:
        s.close()


def test_snaplen_truncates_and_keeps_the_original_length(lab):
    cap = open_b(lab, snaplen=64, filter="udp")
    frames = lab.udp_frames(20, size=1000)
    lab.send_frames(frames)
    got = drain(cap, 20)
    assert len(got) == 20
    assert [g[0] for g in got] == [f[:64] for f in frames]
    assert all(g[1] == 64 and g[2] == 1000 for g in got)
    cap.close()


def promiscuity(lab):
    out = lab.run_b(["ip", "-d", "-j", "link", "show", lab.if_b]).stdout
    import json
    return json.loads(out)[0]["promiscuity"]


def test_promiscuous_mode_by_default_and_p_turns_it_off(lab):
    """(veth has no MAC filter, so the effect is read off the interface's
    promiscuity count rather than from traffic.)"""
    assert promiscuity(lab) == 0
    plain = open_b(lab, promisc=False)
    assert promiscuity(lab) == 0
    promisc = open_b(lab)
    assert promiscuity(lab) == 1
    promisc.close()
    assert promiscuity(lab) == 0       # membership ends with the socket
    plain.close()


def test_direction_in_and_out(lab):
    cap_in = open_b(lab, filter="icmp", direction="in")
    cap_out = open_b(lab, filter="icmp", direction="out")
    lab.run_a(["ping", "-c", "3", "-i", "0.2", lab.ip_b])
    got_in, got_out = drain(cap_in, 3), drain(cap_out, 3)
    assert [g[0][34] for g in got_in] == [8, 8, 8]       # echo requests arrive
    assert [g[0][34] for g in got_out] == [0, 0, 0]      # echo replies leave
    cap_in.close()
    cap_out.close()


def test_per_packet_and_batch_iteration(lab):
    cap = open_b(lab, filter="udp")
    frames = lab.udp_frames(50)
    lab.send_frames(frames)
    seen = []
    for pkt in cap:
        seen.append(bytes(pkt.data))
        if len(seen) == 25:
            break
    n_batches = 0
    for batch in cap.batches(timeout_ms=100):
        n_batches += 1
        seen.extend(p.copy() for p in batch)
        if len(seen) >= 50:
            break
    assert seen == frames
    assert n_batches >= 1
    cap.close()


def test_memoryview_keeps_the_ring_mapped_after_close(lab):
    cap = open_b(lab, filter="udp")
    frames = lab.udp_frames(1)
    lab.send_frames(frames)
    b = cap.batch(2000)
    view = b[0].data
    cap.close()
    assert bytes(view) == frames[0]      # still mapped while the view exists
    del view
    b.release()


def test_errors_name_the_bad_value(lab):
    with lab.enter_b():
        with pytest.raises(InterfaceError, match="nosuchif0"):
            pyxring.capture("nosuchif0", backend="tpacket")
        with pytest.raises(ConfigError, match="block size 1000"):
            pyxring.capture(lab.if_b, backend="tpacket", block_size=1000)
        with pytest.raises(ValueError, match="invalid filter expression 'udp prt 5'"):
            pyxring.capture(lab.if_b, backend="tpacket", filter="udp prt 5")
        lab.run_b(["ip", "link", "set", lab.if_b, "down"])
        with pytest.raises(InterfaceError, match=f"interface {lab.if_b} is down"):
            pyxring.capture(lab.if_b, backend="tpacket")


def test_tx_ring_sends_every_frame_in_order(lab):
    from pyxring.tpacket._tx import TPacketTx
    from pyxring.errors import ConfigError
    cap = open_b(lab, filter="udp")
    with lab.enter_a():
        tx = TPacketTx(lab.if_a, frame_size=2048, frame_count=64)   # a small ring wraps often
    try:
        frames = lab.udp_frames(500, size=300)
        too_big = lab.udp_frames(1, size=2100)
        assert tx.send(frames[:250]) == 250
        assert tx.send(too_big + frames[250:]) == 250      # the oversized frame is not queued
        assert tx.flush() == 0
        assert tx.queued == 500
    finally:
        tx.close()
    assert [g[0] for g in drain(cap, 500)] == frames
    cap.close()
    with lab.enter_a():
        with pytest.raises(ConfigError, match="TX frame size 3000"):
            TPacketTx(lab.if_a, frame_size=3000)
