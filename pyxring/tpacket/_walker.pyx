# distutils: language = c
# distutils: libraries = pcap
"""The TPACKET_V3 block walker: the packets of one block the kernel handed
over, as pkt_desc, without the GIL (see ``_walker.pxd``).

libpcap's rules, applied in C: the direction check and the loopback's
second copy (linux_check_direction), VLAN tags put back into Ethernet
frames, and in cooked mode (-i any) the LINUX_SLL2 / LINUX_SLL header built
from the sockaddr_ll, with the filter run here when the kernel can't.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memmove, memcpy

from pyxring._core cimport Source, Batch, pkt_desc, PKT_VLAN, PKT_RXHASH, PKT_TRUNCATED
from pyxring.includes.if_packet cimport *
from pyxring.includes.pcap cimport bpf_program, bpf_insn, pcap_pkthdr, pcap_offline_filter

from pyxring._libpcap import pack_insns

cdef enum:
    VLAN_TAG_LEN = 4

# Offset of the sockaddr_ll that follows each tpacket3_hdr.
cdef size_t SLL_OFFSET = TPACKET_ALIGN(sizeof(tpacket3_hdr))


cdef inline uint16_t be16(uint16_t v) noexcept nogil:
    return ((v & 0xff) << 8) | (v >> 8)


cdef inline uint32_t be32(uint32_t v) noexcept nogil:
    return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24)


cdef enum:
    SLL_HDR_LEN = 16
    SLL2_HDR_LEN = 20

cdef inline bint wanted(const sockaddr_ll *sll, const walk_params *wp) noexcept nogil:
    """libpcap's direction check (linux_check_direction)."""
    if sll.sll_pkttype == PACKET_OUTGOING:
        # a loopback device delivers what it sends a second time, incoming:
        # keep only that copy, as libpcap does
        if sll.sll_ifindex == wp.lo_ifindex:
            return False
        return wp.direction != DIR_IN
    return wp.direction != DIR_OUT


cdef inline uint8_t *cook(uint8_t *mac, const sockaddr_ll *sll, int linktype) noexcept nogil:
    """Build libpcap's cooked header in the gap before the network header
    (SOCK_DGRAM); returns where the packet now starts.  Written from the
    sockaddr_ll each time, so walking a block twice is harmless."""
    cdef uint8_t *p
    if linktype == LT_LINUX_SLL2:
        # protocol, reserved, ifindex, hatype, pkttype, halen, 8 address bytes
        p = mac - SLL2_HDR_LEN
        (<uint16_t *>p)[0] = sll.sll_protocol
        (<uint16_t *>(p + 2))[0] = 0
        (<uint32_t *>(p + 4))[0] = be32(<uint32_t>sll.sll_ifindex)
        (<uint16_t *>(p + 8))[0] = be16(sll.sll_hatype)
        p[10] = sll.sll_pkttype
        p[11] = sll.sll_halen
        memcpy(p + 12, sll.sll_addr, 8)
        return p
    # LINKTYPE_LINUX_SLL: pkttype, hatype, halen, 8 address bytes, protocol
    p = mac - SLL_HDR_LEN
    (<uint16_t *>p)[0] = be16(sll.sll_pkttype)
    (<uint16_t *>(p + 2))[0] = be16(sll.sll_hatype)
    (<uint16_t *>(p + 4))[0] = be16(sll.sll_halen)
    memcpy(p + 6, sll.sll_addr, 8)
    (<uint16_t *>(p + 14))[0] = sll.sll_protocol
    return p


cdef inline uint8_t *sll_put_vlan_back(uint8_t *p, uint16_t tpid, uint16_t tci) noexcept nogil:
    """libpcap's VLAN reinsertion for LINKTYPE_LINUX_SLL (vlan_offset 14):
    the header but its protocol moves 4 bytes down, the tag goes before the
    protocol.  (libpcap puts no tag back in LINKTYPE_LINUX_SLL2.)"""
    memmove(p - VLAN_TAG_LEN, p, 14)
    p -= VLAN_TAG_LEN
    (<uint16_t *>(p + 14))[0] = be16(tpid)
    (<uint16_t *>(p + 16))[0] = be16(tci)
    return p


cdef inline bint take_packet(tpacket3_hdr *h, pkt_desc *d, const walk_params *wp) noexcept nogil:
    """Describe one packet of a user-owned block in ``d``; False when it is
    not wanted (direction, loopback copy, userland filter).

    May rewrite the block in place to put an out-of-band VLAN tag back into
    the frame (as libpcap does): the 12 address bytes move 4 bytes towards
    the sockaddr_ll, into the gap the kernel leaves before ``tp_mac``.  In
    cooked mode the gap takes the cooked header instead.
    """
    cdef sockaddr_ll *sll = <sockaddr_ll *>(<uint8_t *>h + SLL_OFFSET)
    cdef uint8_t *mac = <uint8_t *>h + h.tp_mac
    cdef uint32_t caplen = h.tp_snaplen
    cdef uint32_t wirelen = h.tp_len
    cdef uint32_t status = h.tp_status
    cdef bint tagged = h.hv1.tp_vlan_tci != 0 or status & TP_STATUS_VLAN_VALID
    cdef uint16_t tpid = h.hv1.tp_vlan_tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
    cdef pcap_pkthdr ph
    if not wanted(sll, wp):
        return False
    d.flags = 0
    d.vlan_tci = 0
    d.vlan_tpid = 0
    if wp.cooked:
        if h.tp_mac < SLL_OFFSET + sizeof(sockaddr_ll) + SLL2_HDR_LEN:
            return False        # no room for the header: SOCK_DGRAM always leaves it
        mac = cook(mac, sll, wp.cooked)
        caplen += <uint32_t>(<uint8_t *>h + h.tp_mac - mac)
        wirelen += <uint32_t>(<uint8_t *>h + h.tp_mac - mac)
        if wp.userland != NULL:
            # as libpcap does: the filter sees the cooked frame before a
            # VLAN tag is put back, with the kernel's own length
            ph.caplen = caplen
            ph.len = h.tp_len
            if pcap_offline_filter(wp.userland, &ph, mac) == 0:
                return False
        if tagged and wp.cooked == LT_LINUX_SLL and h.tp_snaplen >= 14:
            mac = sll_put_vlan_back(mac, tpid, <uint16_t>h.hv1.tp_vlan_tci)
            caplen += VLAN_TAG_LEN
            wirelen += VLAN_TAG_LEN
            d.flags |= PKT_VLAN
            d.vlan_tci = <uint16_t>h.hv1.tp_vlan_tci
            d.vlan_tpid = tpid
    elif tagged and wp.ethernet and caplen >= 12 and \
            h.tp_mac >= SLL_OFFSET + sizeof(sockaddr_ll) + VLAN_TAG_LEN:
        memmove(mac - VLAN_TAG_LEN, mac, 12)
        mac -= VLAN_TAG_LEN
        (<uint16_t *>(mac + 12))[0] = be16(tpid)
        (<uint16_t *>(mac + 14))[0] = be16(<uint16_t>h.hv1.tp_vlan_tci)
        # mark the header so a second walk of this block is harmless
        h.tp_mac -= VLAN_TAG_LEN
        h.hv1.tp_vlan_tci = 0
        h.tp_status = status & ~(TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID)
        h.tp_snaplen += VLAN_TAG_LEN
        h.tp_len += VLAN_TAG_LEN
        caplen += VLAN_TAG_LEN
        wirelen += VLAN_TAG_LEN
        d.flags |= PKT_VLAN
        d.vlan_tci = <uint16_t>(be16((<uint16_t *>(mac + 14))[0]))
        d.vlan_tpid = tpid
    elif wp.ethernet and caplen >= 16 and (mac[12] == 0x81 and mac[13] == 0x00):
        # tag already in the frame (kept in band, or reinserted earlier)
        d.flags |= PKT_VLAN
        d.vlan_tpid = ETH_P_8021Q
        d.vlan_tci = (mac[14] << 8) | mac[15]
    if caplen > wp.snaplen:
        caplen = wp.snaplen
    d.data = mac
    d.caplen = caplen
    d.wirelen = wirelen
    if caplen < wirelen:
        d.flags |= PKT_TRUNCATED
    d.ts_ns = <uint64_t>h.tp_sec * 1000000000ULL + h.tp_nsec
    d.ifindex = sll.sll_ifindex
    d.rxhash = h.hv1.tp_rxhash
    if d.rxhash:
        d.flags |= PKT_RXHASH
    d.queue = 0
    return True


cdef Py_ssize_t walk_block(uint8_t *block, size_t block_size, Batch batch,
                           const walk_params *wp) except -1 nogil:
    """Append the wanted packets of one user-owned block to ``batch``."""
    cdef tpacket_block_desc *bd = <tpacket_block_desc *>block
    cdef uint32_t n = bd.hdr.bh1.num_pkts
    cdef size_t off = bd.hdr.bh1.offset_to_first_pkt
    cdef tpacket3_hdr *h
    cdef uint32_t i
    cdef Py_ssize_t added = 0
    with gil:
        batch.reserve(n)
    for i in range(n):
        # The kernel wrote these headers before publishing the block; a
        # corrupt offset would be a kernel bug, but never walk past the block.
        if off + sizeof(tpacket3_hdr) > block_size:
            break
        h = <tpacket3_hdr *>(block + off)
        if h.tp_mac + h.tp_snaplen > block_size - off:
            break
        if take_packet(h, batch.next_desc(), wp):
            added += 1
        else:
            batch.count -= 1
        if h.tp_next_offset == 0:
            break
        off += h.tp_next_offset
    return added


def walk_block_for_test(bytearray block, unsigned int snaplen=262144, str direction="inout",
                        int lo_ifindex=-1, int cooked=0, list userland_bpf=None):
    """Run the block walker over a block laid out in ordinary memory (tests)."""
    cdef unsigned char[:] view = block
    cdef FakeSource src = FakeSource()
    cdef Batch b = Batch.__new__(Batch, src)
    cdef walk_params wp
    cdef bpf_program prog
    cdef bytes code
    wp.snaplen = snaplen
    wp.direction = {"inout": DIR_INOUT, "in": DIR_IN, "out": DIR_OUT}[direction]
    wp.lo_ifindex = lo_ifindex
    wp.cooked = cooked
    wp.ethernet = not cooked
    wp.userland = NULL
    if userland_bpf is not None:
        code = pack_insns(userland_bpf)
        prog.bf_len = len(userland_bpf)
        prog.bf_insns = <bpf_insn *><char *>code
        wp.userland = &prog
    walk_block(&view[0], len(block), b, &wp)
    b.released = False
    return [(bytes(p.data), p.caplen, p.wirelen, p.ts_ns, p.ifindex, p.vlan_tci, p.vlan_tpid,
             p.rxhash) for p in b]


cdef class FakeSource(Source):
    pass


SIZEOF_TPACKET3_HDR = sizeof(tpacket3_hdr)
SIZEOF_SOCKADDR_LL = sizeof(sockaddr_ll)
SIZEOF_BLOCK_DESC = sizeof(tpacket_block_desc)
