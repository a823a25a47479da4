"""The TPACKET_V3 block walker over blocks laid out in ordinary memory,
exactly as the kernel lays them out (linux/if_packet.h)."""
import struct

from pyxring.tpacket import _tpacket as tp

BLOCK_DESC = 48          # struct tpacket_block_desc
HDR = 48                 # struct tpacket3_hdr (TPACKET_ALIGNed)
MAC_OFF = 82             # what the kernel uses for Ethernet with no reserve
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
PACKET_HOST, PACKET_OUTGOING = 0, 4


def test_struct_sizes_match_the_kernel_header():
    assert tp.SIZEOF_TPACKET3_HDR == HDR
    assert tp.SIZEOF_SOCKADDR_LL == 20
    assert tp.SIZEOF_BLOCK_DESC == BLOCK_DESC


def frame(n, size=60):
    return bytes(range(6)) + bytes(range(6, 12)) + b"\x08\x00" + bytes((n + i) & 0xFF for i in range(size - 14))


def make_block(packets, block_size=4096):
    """packets: dicts with data, wirelen, sec, nsec, ifindex, pkttype, status,
    vlan_tci, vlan_tpid, rxhash."""
    block = bytearray(block_size)
    off = BLOCK_DESC
    first = off
    offsets = []
    for p in packets:
        offsets.append(off)
        size = p.get("mac_off", MAC_OFF) + len(p["data"])
        offsets[-1] = (off, (size + 15) & ~15)
        off += (size + 15) & ~15
    for i, (p, (o, step)) in enumerate(zip(packets, offsets)):
        nxt = step if i + 1 < len(packets) else 0
        mac = p.get("mac_off", MAC_OFF)
        struct.pack_into("=IIIIIIHHIIHH", block, o, nxt, p.get("sec", 100), p.get("nsec", i),
                         len(p["data"]), p.get("wirelen", len(p["data"])),
                         TP_STATUS_USER | p.get("status", 0), mac, mac + 14,
                         p.get("rxhash", 0), p.get("vlan_tci", 0), p.get("vlan_tpid", 0), 0)
        # sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr
        struct.pack_into("=H2siHBB8s", block, o + HDR, 17, p.get("protocol", b"\x03\x00"),
                         p.get("ifindex", 7), p.get("hatype", 1), p.get("pkttype", PACKET_HOST),
                         p.get("halen", 6), p.get("addr", b""))
        block[o + mac:o + mac + len(p["data"])] = p["data"]
    struct.pack_into("=IIIIIIQ", block, 0, 3, 0, TP_STATUS_USER, len(packets), first, off, 1)
    return block


def test_walks_every_packet_with_its_metadata():
    pkts = [{"data": frame(i), "sec": 1700000000, "nsec": 5 + i, "ifindex": 9, "rxhash": 0xabc}
            for i in range(5)]
    got = tp.walk_block_for_test(make_block(pkts))
    assert len(got) == 5
    for i, (data, caplen, wirelen, ts, ifindex, tci, tpid, rxhash) in enumerate(got):
        assert data == frame(i)
        assert caplen == wirelen == 60
        assert ts == 1700000000 * 10**9 + 5 + i
        assert ifindex == 9
        assert tci is None and tpid is None
        assert rxhash == 0xabc


def test_out_of_band_vlan_tag_is_put_back_into_the_frame():
    pkts = [{"data": frame(1), "status": TP_STATUS_VLAN_VALID, "vlan_tci": 0x2064},
            {"data": frame(2), "status": TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID,
             "vlan_tci": 7, "vlan_tpid": 0x88A8},
            {"data": frame(3)}]
    block = make_block(pkts)
    got = tp.walk_block_for_test(block)
    d0, caplen0, wire0, _, _, tci0, tpid0, _ = got[0]
    assert d0 == frame(1)[:12] + b"\x81\x00\x20\x64" + frame(1)[12:]
    assert (caplen0, wire0, tci0, tpid0) == (64, 64, 0x2064, 0x8100)
    d1 = got[1][0]
    assert d1[12:16] == b"\x88\xa8\x00\x07" and got[1][6] == 0x88A8
    assert got[2][0] == frame(3) and got[2][5] is None
    # walking the same (already rewritten) block again must not add a second tag
    again = tp.walk_block_for_test(block)
    assert [g[0] for g in again] == [g[0] for g in got]


def test_vlan_id_zero_with_valid_flag_is_still_a_tag():
    got = tp.walk_block_for_test(make_block([{"data": frame(0), "status": TP_STATUS_VLAN_VALID}]))
    assert got[0][0][12:16] == b"\x81\x00\x00\x00"
    assert got[0][5] == 0


def test_snaplen_clips_captured_length_but_keeps_wire_length():
    got = tp.walk_block_for_test(make_block([{"data": frame(0, 200), "wirelen": 1500}]), snaplen=96)
    data, caplen, wirelen = got[0][:3]
    assert (len(data), caplen, wirelen) == (96, 96, 1500)


def test_outgoing_copies_on_loopback_are_dropped():
    # lo delivers what it sends a second time, as incoming: libpcap keeps one
    pkts = [{"data": frame(0), "pkttype": PACKET_OUTGOING, "ifindex": 1},
            {"data": frame(0), "pkttype": PACKET_HOST, "ifindex": 1},
            {"data": frame(1), "pkttype": PACKET_OUTGOING, "ifindex": 5}]
    got = tp.walk_block_for_test(make_block(pkts), lo_ifindex=1)
    assert [(g[0], g[4]) for g in got] == [(frame(0), 1), (frame(1), 5)]
    assert [g[4] for g in tp.walk_block_for_test(make_block(pkts), lo_ifindex=1, direction="out")] == [5]
    assert len(tp.walk_block_for_test(make_block(pkts))) == 3


def test_direction_filters_by_packet_type():
    pkts = [{"data": frame(0), "pkttype": PACKET_HOST},
            {"data": frame(1), "pkttype": PACKET_OUTGOING},
            {"data": frame(2), "pkttype": PACKET_HOST}]
    assert [g[0] for g in tp.walk_block_for_test(make_block(pkts), direction="in")] == [frame(0), frame(2)]
    assert [g[0] for g in tp.walk_block_for_test(make_block(pkts), direction="out")] == [frame(1)]
    assert len(tp.walk_block_for_test(make_block(pkts))) == 3


def test_corrupt_offsets_never_walk_past_the_block():
    block = make_block([{"data": frame(0)}, {"data": frame(1)}])
    # first packet's next offset points beyond the block
    struct.pack_into("=I", block, BLOCK_DESC, 1 << 20)
    got = tp.walk_block_for_test(block)
    assert [g[0] for g in got] == [frame(0)]


def test_ring_parameters_are_validated_with_the_name_of_the_bad_value():
    import pytest
    from pyxring.errors import ConfigError
    with pytest.raises(ConfigError, match="block size 5000"):
        tp.validate_ring(5000, 4, 2048, 100, 65535)
    with pytest.raises(ConfigError, match="block count 0"):
        tp.validate_ring(1 << 20, 0, 2048, 100, 65535)
    with pytest.raises(ConfigError, match="frame size 100"):
        tp.validate_ring(1 << 20, 4, 100, 100, 65535)
    with pytest.raises(ConfigError, match="block timeout 0"):
        tp.validate_ring(1 << 20, 4, 2048, 0, 65535)
    with pytest.raises(ConfigError, match="snaplen 0"):
        tp.validate_ring(1 << 20, 4, 2048, 100, 0)
    tp.validate_ring(1 << 20, 4, 2048, 100, 65535)
