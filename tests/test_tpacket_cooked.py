"""Cooked mode (-i any, -y LINUX_SLL): the LINUX_SLL2 / LINUX_SLL header
built from the sockaddr_ll as libpcap builds it, VLAN tags as libpcap puts
them back, and filters moved to the kernel's view as libpcap's fix_program
does (fake blocks here; live captures against tcpdump in test_capture_tcpdump)."""
import struct

import pytest

from pyxring import tpacket
from pyxring._libpcap import compile_filter
from pyxring.tpacket import _tpacket as tp
from test_tpacket_walker import PACKET_HOST, PACKET_OUTGOING, TP_STATUS_VLAN_VALID, make_block

DGRAM_MAC_OFF = 96       # where the kernel puts the network header of a SOCK_DGRAM V3 socket
MAC = bytes.fromhex("0a1b2c3d4e5f")


def ip_packet(n, size=40):
    return b"\x45\x00" + struct.pack("!H", size) + bytes((n + i) & 0xFF for i in range(size - 4))


def cooked(n, **kw):
    p = {"data": ip_packet(n), "mac_off": DGRAM_MAC_OFF, "protocol": b"\x08\x00", "addr": MAC,
         "ifindex": 3}
    p.update(kw)
    return p


def sll2(pkt):
    return (pkt.get("protocol", b"\x08\x00") + b"\0\0" + struct.pack("!IHBB", pkt["ifindex"],
            pkt.get("hatype", 1), pkt.get("pkttype", PACKET_HOST), pkt.get("halen", 6)) +
            pkt.get("addr", MAC).ljust(8, b"\0"))


def sll1(pkt, protocol=None):
    return (struct.pack("!HHH", pkt.get("pkttype", PACKET_HOST), pkt.get("hatype", 1),
                        pkt.get("halen", 6)) + pkt.get("addr", MAC).ljust(8, b"\0") +
            (protocol or pkt.get("protocol", b"\x08\x00")))


def test_linux_sll2_header_from_the_sockaddr_ll():
    pkts = [cooked(0), cooked(1, pkttype=PACKET_OUTGOING, ifindex=2, hatype=772, addr=b""),
            cooked(2, protocol=b"\x86\xdd", wirelen=1500)]
    got = tp.walk_block_for_test(make_block(pkts), cooked=tpacket.LINKTYPE_LINUX_SLL2)
    assert [g[0] for g in got] == [sll2(p) + p["data"] for p in pkts]
    assert [(g[1], g[2]) for g in got] == [(60, 60), (60, 60), (60, 1520)]
    assert [g[4] for g in got] == [3, 2, 3]


def test_linux_sll2_keeps_no_vlan_tag_and_sll_puts_it_before_the_protocol():
    pkt = cooked(0, status=TP_STATUS_VLAN_VALID, vlan_tci=0x0064)
    got2 = tp.walk_block_for_test(make_block([pkt]), cooked=tpacket.LINKTYPE_LINUX_SLL2)
    assert got2[0][0] == sll2(pkt) + pkt["data"] and got2[0][5] is None
    block = make_block([pkt])
    got1 = tp.walk_block_for_test(block, cooked=tpacket.LINKTYPE_LINUX_SLL)
    want = sll1(pkt, protocol=b"\x81\x00") + b"\x00\x64" + b"\x08\x00" + pkt["data"]
    assert got1[0][0] == want
    assert (got1[0][1], got1[0][2], got1[0][5]) == (60, 60, 0x64)
    # walking the block again gives the same frame (the header is rebuilt, not stacked)
    assert tp.walk_block_for_test(block, cooked=tpacket.LINKTYPE_LINUX_SLL)[0][0] == want


def test_snaplen_counts_the_cooked_header():
    got = tp.walk_block_for_test(make_block([cooked(0)]), snaplen=30, cooked=tpacket.LINKTYPE_LINUX_SLL2)
    assert (len(got[0][0]), got[0][1], got[0][2]) == (30, 30, 60)


@pytest.mark.parametrize("expression,fields", [
    ("ip", {0: "protocol"}),
    ("inbound", {10: "pkttype"}),
    ("ifindex 3", {4: "ifindex"}),
    ("udp port 53", {0: "protocol"}),
])
def test_filters_move_to_the_kernels_view_of_a_cooked_packet(expression, fields):
    insns = compile_filter(expression, linktype=tpacket.LINKTYPE_LINUX_SLL2)
    fixed = tpacket.fix_cooked_program(insns, tpacket.LINKTYPE_LINUX_SLL2)
    assert fixed is not None and len(fixed) == len(insns)
    ad = {"protocol": tpacket.SKF_AD_PROTOCOL, "pkttype": tpacket.SKF_AD_PKTTYPE,
          "ifindex": tpacket.SKF_AD_IFINDEX}
    for (code, jt, jf, k), (code2, jt2, jf2, k2) in zip(insns, fixed):
        assert (code, jt, jf) == (code2, jt2, jf2)
        reads_packet = code & 0x07 in (0, 1) and code & 0xE0 in (0x20, 0x40, 0xA0)
        if not reads_packet:
            assert k2 == k
        elif code & 0xE0 == 0x20 and k in fields:
            assert k2 == tpacket.SKF_AD_OFF + ad[fields[k]]
        elif code & 0xE0 == 0x20 and k < 20:
            pytest.fail(f"a load from the header at {k} was left for the kernel")
        else:
            assert k2 == k - 20


def test_a_filter_on_other_header_fields_runs_on_the_cooked_frame():
    # link[8:2] is the SLL2 hatype: the kernel has no ancillary load for it
    insns = compile_filter("link[8:2] == 772", linktype=tpacket.LINKTYPE_LINUX_SLL2)
    assert tpacket.fix_cooked_program(insns, tpacket.LINKTYPE_LINUX_SLL2) is None
    kernel, userland = tpacket.kernel_filter("link[8:2] == 772", "lo", tpacket.LINKTYPE_LINUX_SLL2, 262144)
    assert kernel == [(0x06, 0, 0, 262144)] and userland is not None
    pkts = [cooked(0, hatype=1), cooked(1, hatype=772), cooked(2, hatype=772)]
    got = tp.walk_block_for_test(make_block(pkts), cooked=tpacket.LINKTYPE_LINUX_SLL2,
                                 userland_bpf=userland)
    assert [g[0] for g in got] == [sll2(p) + p["data"] for p in pkts[1:]]
