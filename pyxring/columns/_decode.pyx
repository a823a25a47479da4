# distutils: language = c
"""Header fields of a batch's frames, decoded in C into columns.

One pass over the batch's descriptors without the GIL.  Each frame is
parsed once, as deep as the requested columns need (link layer; IPv4/IPv6
with the IPv6 extension headers; TCP/UDP/SCTP/ICMP/ICMPv6), into a small
struct on the stack; then each requested column gets its value for that row
(0 where the packet doesn't have the field) and the row's ``valid`` word says
which fields the packet really has.  Every read is checked against the
captured length: a truncated frame gives the fields that were captured and no
more.

Columns are numpy arrays (or the fields of one structured array) given as
writable buffers; this module allocates nothing per packet.
"""
cimport cython
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_STRIDES
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memcmp, memcpy, memset

from pyxring._core cimport Batch, pkt_desc
from pyxring.includes.byteorder cimport load_be16, load_be32, load_le32
from pyxring.includes.xxhash cimport XXH3_64bits

cdef enum:
    # link types (LINKTYPE_* of pcap/pcapng, and DLT_RAW as Linux numbers it)
    LT_NULL = 0
    LT_ETHERNET = 1
    LT_DLT_RAW = 12
    LT_DLT_RAW_BSD = 14
    LT_RAW = 101
    LT_LOOP = 108
    LT_LINUX_SLL = 113
    LT_IPV4 = 228
    LT_IPV6 = 229
    LT_LINUX_SLL2 = 276

cdef enum:
    ETH_P_IP = 0x0800
    ETH_P_IPV6 = 0x86DD
    ETH_P_8021Q = 0x8100
    ETH_P_8021AD = 0x88A8
    ETH_P_QINQ_OLD = 0x9100
    ETH_MIN_TYPE = 0x0600     # below: an 802.3 length, not an EtherType

cdef enum:
    IPPROTO_HOPOPTS = 0
    IPPROTO_ICMP = 1
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_ROUTING = 43
    IPPROTO_FRAGMENT = 44
    IPPROTO_AH = 51
    IPPROTO_ICMPV6 = 58
    IPPROTO_DSTOPTS = 60
    IPPROTO_SCTP = 132

# valid bits, one per decoded column (see _decode.pxd)
cdef enum:
    V_VLAN_TCI = 1 << (COL_VLAN_TCI - COL_VLAN_TCI)
    V_VLAN_TCI_INNER = 1 << (COL_VLAN_TCI_INNER - COL_VLAN_TCI)
    V_ETHERTYPE = 1 << (COL_ETHERTYPE - COL_VLAN_TCI)
    V_IP_VERSION = 1 << (COL_IP_VERSION - COL_VLAN_TCI)
    V_SRC4 = 1 << (COL_SRC4 - COL_VLAN_TCI)
    V_DST4 = 1 << (COL_DST4 - COL_VLAN_TCI)
    V_SRC6 = 1 << (COL_SRC6 - COL_VLAN_TCI)
    V_DST6 = 1 << (COL_DST6 - COL_VLAN_TCI)
    V_PROTO = 1 << (COL_PROTO - COL_VLAN_TCI)
    V_TTL = 1 << (COL_TTL - COL_VLAN_TCI)
    V_IP_ID = 1 << (COL_IP_ID - COL_VLAN_TCI)
    V_FRAG = 1 << (COL_FRAG - COL_VLAN_TCI)
    V_SPORT = 1 << (COL_SPORT - COL_VLAN_TCI)
    V_DPORT = 1 << (COL_DPORT - COL_VLAN_TCI)
    V_TCP_FLAGS = 1 << (COL_TCP_FLAGS - COL_VLAN_TCI)
    V_TCP_SEQ = 1 << (COL_TCP_SEQ - COL_VLAN_TCI)
    V_TCP_ACK = 1 << (COL_TCP_ACK - COL_VLAN_TCI)
    V_TCP_WIN = 1 << (COL_TCP_WIN - COL_VLAN_TCI)
    V_ICMP_TYPE = 1 << (COL_ICMP_TYPE - COL_VLAN_TCI)
    V_ICMP_CODE = 1 << (COL_ICMP_CODE - COL_VLAN_TCI)
    V_L4_OFFSET = 1 << (COL_L4_OFFSET - COL_VLAN_TCI)
    V_PAYLOAD_LEN = 1 << (COL_PAYLOAD_LEN - COL_VLAN_TCI)
    V_FLOW_HASH = 1 << (COL_FLOW_HASH - COL_VLAN_TCI)

# IPv4 flags/offset layout, which the ``frag`` column keeps for IPv6 too
cdef enum:
    FRAG_OFFSET_MASK = 0x1FFF
    FRAG_MF = 0x2000

ctypedef struct headers:
    uint32_t valid
    uint16_t vlan_tci
    uint16_t vlan_tci_inner
    uint16_t ethertype
    uint8_t ip_version
    uint8_t proto
    uint8_t ttl
    uint8_t is_fragment         # any fragment, first or not
    uint32_t src4
    uint32_t dst4
    const uint8_t *src6         # into the frame
    const uint8_t *dst6
    uint32_t ip_id
    uint16_t frag
    uint16_t sport
    uint16_t dport
    uint16_t tcp_flags
    uint32_t tcp_seq
    uint32_t tcp_ack
    uint16_t tcp_win
    uint8_t icmp_type
    uint8_t icmp_code
    uint32_t l4_offset
    uint32_t payload_len
    uint64_t flow_hash


cdef inline bint is_vlan_tpid(uint32_t et) noexcept nogil:
    return et == ETH_P_8021Q or et == ETH_P_8021AD or et == ETH_P_QINQ_OLD


cdef inline bint has_ports(uint8_t proto) noexcept nogil:
    return proto == IPPROTO_TCP or proto == IPPROTO_UDP or proto == IPPROTO_SCTP


cdef inline uint32_t link_header(const uint8_t *p, uint32_t caplen, int linktype,
                                 headers *h) noexcept nogil:
    """Parse the link layer and any 802.1Q/802.1ad tags; sets ``ethertype``
    when the frame names its network protocol.  Returns the offset of the
    network header, or 0 with V_ETHERTYPE unset when there is none."""
    cdef uint32_t off, et, fam, ntags = 0
    if linktype == LT_ETHERNET:
        if caplen < 14:
            return 0
        et = load_be16(p + 12)
        off = 14
    elif linktype == LT_LINUX_SLL:
        if caplen < 16:
            return 0
        et = load_be16(p + 14)
        off = 16
    elif linktype == LT_LINUX_SLL2:
        if caplen < 20:
            return 0
        et = load_be16(p)
        off = 20
    elif linktype == LT_RAW or linktype == LT_DLT_RAW or linktype == LT_DLT_RAW_BSD:
        # no link header: the IP version nibble names the protocol
        if caplen < 1:
            return 0
        if p[0] >> 4 == 4:
            h.ethertype = ETH_P_IP
        elif p[0] >> 4 == 6:
            h.ethertype = ETH_P_IPV6
        else:
            return 0
        h.valid |= V_ETHERTYPE
        return 0
    elif linktype == LT_IPV4 or linktype == LT_IPV6:
        h.ethertype = ETH_P_IP if linktype == LT_IPV4 else ETH_P_IPV6
        h.valid |= V_ETHERTYPE
        return 0
    elif linktype == LT_NULL or linktype == LT_LOOP:
        # a 4-byte address family: network order for LOOP, the capturing
        # host's order for NULL (so both are tried, as tcpdump does)
        if caplen < 4:
            return 0
        fam = load_be32(p) if linktype == LT_LOOP else load_le32(p)
        if fam > 0xFFFF:
            fam = ((fam >> 24) | ((fam >> 8) & 0xFF00) | ((fam << 8) & 0xFF0000) | (fam << 24))
        if fam == 2:
            h.ethertype = ETH_P_IP
        elif fam == 10 or fam == 24 or fam == 28 or fam == 30:   # AF_INET6 of Linux, BSDs, macOS
            h.ethertype = ETH_P_IPV6
        else:
            return 0
        h.valid |= V_ETHERTYPE
        return 4
    else:
        return 0
    while is_vlan_tpid(et):
        if caplen < off + 2:
            return 0
        if ntags == 0:
            h.vlan_tci = load_be16(p + off)
            h.valid |= V_VLAN_TCI
        elif ntags == 1:
            h.vlan_tci_inner = load_be16(p + off)
            h.valid |= V_VLAN_TCI_INNER
        ntags += 1
        if caplen < off + 4:
            return 0
        et = load_be16(p + off + 2)
        off += 4
    if et < ETH_MIN_TYPE:
        return 0        # 802.3 length (LLC), or an SLL protocol code
    h.ethertype = <uint16_t>et
    h.valid |= V_ETHERTYPE
    return off


cdef inline void transport_header(const uint8_t *p, uint32_t end, uint32_t l4,
                                  int64_t ip_payload, headers *h) noexcept nogil:
    """Parse the transport header at ``l4`` of the first (or only) fragment;
    ``end`` is where the IP datagram's captured bytes end (bytes after the
    length the IP header gives are the link's padding, not transport data).
    ``ip_payload`` is the length the IP header gives for what follows the
    network headers (-1 when malformed)."""
    cdef const uint8_t *q
    cdef uint32_t a, hlen = 0
    if l4 > end:
        return
    h.l4_offset = l4
    h.valid |= V_L4_OFFSET
    q = p + l4
    a = end - l4
    if has_ports(h.proto):
        if a >= 2:
            h.sport = load_be16(q)
            h.valid |= V_SPORT
        if a >= 4:
            h.dport = load_be16(q + 2)
            h.valid |= V_DPORT
        if h.proto == IPPROTO_TCP:
            if a >= 8:
                h.tcp_seq = load_be32(q + 4)
                h.valid |= V_TCP_SEQ
            if a >= 12:
                h.tcp_ack = load_be32(q + 8)
                h.valid |= V_TCP_ACK
            if a >= 13 and (q[12] >> 4) >= 5:
                hlen = (q[12] >> 4) * 4
            if a >= 14:
                # the 9 flag bits: NS (now AE) in byte 12, CWR..FIN in byte 13
                h.tcp_flags = ((q[12] & 1) << 8) | q[13]
                h.valid |= V_TCP_FLAGS
            if a >= 16:
                h.tcp_win = load_be16(q + 14)
                h.valid |= V_TCP_WIN
        elif h.proto == IPPROTO_UDP:
            hlen = 8
        else:
            hlen = 12       # SCTP common header
    elif (h.proto == IPPROTO_ICMP and h.ip_version == 4) or \
            (h.proto == IPPROTO_ICMPV6 and h.ip_version == 6):
        if a >= 1:
            h.icmp_type = q[0]
            h.valid |= V_ICMP_TYPE
        if a >= 2:
            h.icmp_code = q[1]
            h.valid |= V_ICMP_CODE
        hlen = 8
    if hlen and not h.is_fragment and ip_payload >= hlen:
        h.payload_len = <uint32_t>(ip_payload - hlen)
        h.valid |= V_PAYLOAD_LEN


cdef inline void ipv4_header(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
                             uint32_t off, int depth, headers *h) noexcept nogil:
    cdef const uint8_t *ip = p + off
    cdef uint32_t avail = caplen - off, ihl, total, end
    if avail < 1 or ip[0] >> 4 != 4:
        return
    h.ip_version = 4
    h.valid |= V_IP_VERSION
    ihl = (ip[0] & 0xF) * 4
    if ihl < 20:
        return          # not a header: nothing after the version is trusted
    if avail >= 6:
        h.ip_id = load_be16(ip + 4)
        h.valid |= V_IP_ID
    if avail >= 8:
        h.frag = load_be16(ip + 6)
        h.is_fragment = (h.frag & (FRAG_MF | FRAG_OFFSET_MASK)) != 0
        h.valid |= V_FRAG
    if avail >= 9:
        h.ttl = ip[8]
        h.valid |= V_TTL
    if avail >= 10:
        h.proto = ip[9]
        h.valid |= V_PROTO
    if avail >= 16:
        h.src4 = load_be32(ip + 12)
        h.valid |= V_SRC4
    if avail >= 20:
        h.dst4 = load_be32(ip + 16)
        h.valid |= V_DST4
    if depth < DEPTH_TRANSPORT or avail < ihl:
        return
    total = load_be16(ip + 2)
    if total == 0 and wirelen > off:
        # a TSO/GSO send seen on the way out carries no length: the frame's
        # own length stands for it (tcpdump does the same)
        total = wirelen - off
    if total < ihl:
        return
    if h.frag & FRAG_OFFSET_MASK:
        return          # a later fragment: no transport header here
    end = caplen if caplen - off < total else off + total
    transport_header(p, end, off + ihl, total - ihl, h)


cdef inline void ipv6_header(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
                             uint32_t off, int depth, headers *h) noexcept nogil:
    cdef const uint8_t *ip = p + off
    cdef uint32_t avail = caplen - off, pos = 40, hlen, plen
    cdef uint16_t fo
    cdef uint8_t nh
    cdef bint later_fragment = False
    if avail < 1 or ip[0] >> 4 != 6:
        return
    h.ip_version = 6
    h.valid |= V_IP_VERSION
    if avail >= 8:
        h.ttl = ip[7]
        h.valid |= V_TTL
    if avail >= 24:
        h.src6 = ip + 8
        h.valid |= V_SRC6
    if avail >= 40:
        h.dst6 = ip + 24
        h.valid |= V_DST6
    if avail < 7:
        return
    plen = load_be16(ip + 4)
    if plen == 0 and wirelen - off >= 40:
        plen = wirelen - off - 40     # jumbogram or GSO send: the frame's length
    if avail > 40 + plen:
        avail = 40 + plen             # the rest is the link's padding
    nh = ip[6]
    # Walk the extension headers (those Linux skips: hop-by-hop, routing,
    # fragment, destination options, AH) to the upper-layer protocol.  Each
    # step moves on by at least 8 bytes, so the walk ends within the frame.
    while nh == IPPROTO_HOPOPTS or nh == IPPROTO_ROUTING or nh == IPPROTO_DSTOPTS or \
            nh == IPPROTO_AH or nh == IPPROTO_FRAGMENT:
        if nh == IPPROTO_FRAGMENT:
            if avail < pos + 8:
                return
            fo = load_be16(ip + pos + 2)
            h.frag = ((fo >> 3) & FRAG_OFFSET_MASK) | ((fo & 1) * FRAG_MF)
            h.ip_id = load_be32(ip + pos + 4)
            h.is_fragment = (h.frag & (FRAG_MF | FRAG_OFFSET_MASK)) != 0
            h.valid |= V_FRAG | V_IP_ID
            nh = ip[pos]
            pos += 8
            if h.frag & FRAG_OFFSET_MASK:
                later_fragment = True   # what follows is data, not headers
                break
            continue
        if avail < pos + 2:
            return
        if nh == IPPROTO_AH:
            hlen = (ip[pos + 1] + 2) * 4
        else:
            hlen = (ip[pos + 1] + 1) * 8
        nh = ip[pos]
        pos += hlen
    h.proto = nh
    h.valid |= V_PROTO
    if not (h.valid & V_FRAG):
        h.valid |= V_FRAG       # no fragment header: not a fragment (frag = 0)
    if depth < DEPTH_TRANSPORT or avail < 40 or later_fragment or pos > 40 + plen:
        return
    transport_header(p, off + avail, off + pos, plen - (pos - 40), h)


cdef inline void flow_hash(headers *h) noexcept nogil:
    """xxHash3-64 of the canonical 5-tuple: the (address, port) endpoint
    that sorts lower comes first, so both directions give one value."""
    cdef uint8_t key[40]
    cdef uint8_t ep_a[18]
    cdef uint8_t ep_b[18]
    cdef size_t alen, elen
    cdef uint16_t sport = 0, dport = 0
    cdef uint32_t need
    if h.ip_version == 4:
        need = V_SRC4 | V_DST4 | V_PROTO
        alen = 4
    else:
        need = V_SRC6 | V_DST6 | V_PROTO
        alen = 16
    if h.valid & need != need:
        return
    if has_ports(h.proto) and not h.is_fragment:
        if h.valid & (V_SPORT | V_DPORT) != V_SPORT | V_DPORT:
            return
        sport = h.sport
        dport = h.dport
    elen = alen + 2
    if alen == 4:
        ep_a[0] = h.src4 >> 24
        ep_a[1] = h.src4 >> 16
        ep_a[2] = h.src4 >> 8
        ep_a[3] = h.src4
        ep_b[0] = h.dst4 >> 24
        ep_b[1] = h.dst4 >> 16
        ep_b[2] = h.dst4 >> 8
        ep_b[3] = h.dst4
    else:
        memcpy(ep_a, h.src6, 16)
        memcpy(ep_b, h.dst6, 16)
    ep_a[alen] = sport >> 8
    ep_a[alen + 1] = sport & 0xFF
    ep_b[alen] = dport >> 8
    ep_b[alen + 1] = dport & 0xFF
    if memcmp(ep_b, ep_a, elen) < 0:
        memcpy(key, ep_b, elen)
        memcpy(key + elen, ep_a, elen)
    else:
        memcpy(key, ep_a, elen)
        memcpy(key + elen, ep_b, elen)
    key[2 * elen] = h.proto
    key[2 * elen + 1] = h.ip_version
    h.flow_hash = XXH3_64bits(key, 2 * elen + 2)
    h.valid |= V_FLOW_HASH


cdef inline void parse_frame(const uint8_t *p, uint32_t caplen, uint32_t wirelen, int linktype,
                             int depth, bint want_hash, headers *h) noexcept nogil:
    cdef uint32_t off = link_header(p, caplen, linktype, h)
    if depth < DEPTH_NETWORK or not (h.valid & V_ETHERTYPE):
        return
    if h.ethertype == ETH_P_IP:
        ipv4_header(p, caplen, wirelen, off, depth, h)
    elif h.ethertype == ETH_P_IPV6:
        ipv6_header(p, caplen, wirelen, off, depth, h)
    else:
        return
    if want_hash and h.ip_version:
        flow_hash(h)


# --- stores into the columns (a NULL base: the column was not asked for) ---

cdef inline void put8(const column *c, Py_ssize_t i, uint8_t v) noexcept nogil:
    if c.base != NULL:
        (<uint8_t *>(c.base + i * c.stride))[0] = v

cdef inline void put16(const column *c, Py_ssize_t i, uint16_t v) noexcept nogil:
    if c.base != NULL:
        (<uint16_t *>(c.base + i * c.stride))[0] = v

cdef inline void put32(const column *c, Py_ssize_t i, uint32_t v) noexcept nogil:
    if c.base != NULL:
        (<uint32_t *>(c.base + i * c.stride))[0] = v

cdef inline void put64(const column *c, Py_ssize_t i, uint64_t v) noexcept nogil:
    if c.base != NULL:
        (<uint64_t *>(c.base + i * c.stride))[0] = v

cdef inline void put_addr16(const column *c, Py_ssize_t i, const uint8_t *v) noexcept nogil:
    if c.base != NULL:
        if v != NULL:
            memcpy(c.base + i * c.stride, v, 16)
        else:
            memset(c.base + i * c.stride, 0, 16)


cdef void decode_descs(const pkt_desc *descs, Py_ssize_t n, Py_ssize_t first_row,
                       const column_set *cs) noexcept nogil:
    cdef Py_ssize_t k, i
    cdef const pkt_desc *d
    cdef const column *c = &cs.col[0]
    cdef headers h
    cdef int linktype
    cdef bint want_hash = c[COL_FLOW_HASH].base != NULL
    for k in range(n):
        d = &descs[k]
        i = first_row + k
        put64(&c[COL_TS_NS], i, d.ts_ns)
        put32(&c[COL_CAPLEN], i, d.caplen)
        put32(&c[COL_WIRELEN], i, d.wirelen)
        put32(&c[COL_IFINDEX], i, d.ifindex)
        put16(&c[COL_QUEUE], i, d.queue)
        if cs.depth == DEPTH_NONE:
            put32(&c[COL_VALID], i, 0)
            continue
        memset(&h, 0, sizeof(h))
        linktype = cs.linktype
        if cs.by_interface != NULL and d.ifindex < cs.n_interfaces:
            linktype = cs.by_interface[d.ifindex]
        parse_frame(d.data, d.caplen, d.wirelen, linktype, cs.depth, want_hash, &h)
        put16(&c[COL_VLAN_TCI], i, h.vlan_tci)
        put16(&c[COL_VLAN_TCI_INNER], i, h.vlan_tci_inner)
        put16(&c[COL_ETHERTYPE], i, h.ethertype)
        put8(&c[COL_IP_VERSION], i, h.ip_version)
        put32(&c[COL_SRC4], i, h.src4)
        put32(&c[COL_DST4], i, h.dst4)
        put_addr16(&c[COL_SRC6], i, h.src6)
        put_addr16(&c[COL_DST6], i, h.dst6)
        put8(&c[COL_PROTO], i, h.proto)
        put8(&c[COL_TTL], i, h.ttl)
        put32(&c[COL_IP_ID], i, h.ip_id)
        put16(&c[COL_FRAG], i, h.frag)
        put16(&c[COL_SPORT], i, h.sport)
        put16(&c[COL_DPORT], i, h.dport)
        put16(&c[COL_TCP_FLAGS], i, h.tcp_flags)
        put32(&c[COL_TCP_SEQ], i, h.tcp_seq)
        put32(&c[COL_TCP_ACK], i, h.tcp_ack)
        put16(&c[COL_TCP_WIN], i, h.tcp_win)
        put8(&c[COL_ICMP_TYPE], i, h.icmp_type)
        put8(&c[COL_ICMP_CODE], i, h.icmp_code)
        put32(&c[COL_L4_OFFSET], i, h.l4_offset)
        put32(&c[COL_PAYLOAD_LEN], i, h.payload_len)
        put64(&c[COL_FLOW_HASH], i, h.flow_hash)
        put32(&c[COL_VALID], i, h.valid & cs.valid_mask)


cdef void copy_frames(const pkt_desc *descs, Py_ssize_t n, int32_t *offsets,
                      uint8_t *data) noexcept nogil:
    cdef Py_ssize_t k
    cdef int32_t pos = 0
    for k in range(n):
        offsets[k] = pos
        memcpy(data + pos, descs[k].data, descs[k].caplen)
        pos += descs[k].caplen
    offsets[n] = pos


# --- the Python entry points (pyxring.columns builds on these) ---

# (name, column id, depth, numpy dtype); the valid bit of a decoded field is
# 1 << (id - COL_VLAN_TCI)
COLUMNS = (
    ("ts_ns", COL_TS_NS, DEPTH_NONE, "u8"),
    ("caplen", COL_CAPLEN, DEPTH_NONE, "u4"),
    ("wirelen", COL_WIRELEN, DEPTH_NONE, "u4"),
    ("ifindex", COL_IFINDEX, DEPTH_NONE, "u4"),
    ("queue", COL_QUEUE, DEPTH_NONE, "u2"),
    ("vlan_tci", COL_VLAN_TCI, DEPTH_LINK, "u2"),
    ("vlan_tci_inner", COL_VLAN_TCI_INNER, DEPTH_LINK, "u2"),
    ("ethertype", COL_ETHERTYPE, DEPTH_LINK, "u2"),
    ("ip_version", COL_IP_VERSION, DEPTH_NETWORK, "u1"),
    ("src4", COL_SRC4, DEPTH_NETWORK, "u4"),
    ("dst4", COL_DST4, DEPTH_NETWORK, "u4"),
    ("src6", COL_SRC6, DEPTH_NETWORK, "16u1"),
    ("dst6", COL_DST6, DEPTH_NETWORK, "16u1"),
    ("proto", COL_PROTO, DEPTH_NETWORK, "u1"),
    ("ttl", COL_TTL, DEPTH_NETWORK, "u1"),
    ("ip_id", COL_IP_ID, DEPTH_NETWORK, "u4"),
    ("frag", COL_FRAG, DEPTH_NETWORK, "u2"),
    ("sport", COL_SPORT, DEPTH_TRANSPORT, "u2"),
    ("dport", COL_DPORT, DEPTH_TRANSPORT, "u2"),
    ("tcp_flags", COL_TCP_FLAGS, DEPTH_TRANSPORT, "u2"),
    ("tcp_seq", COL_TCP_SEQ, DEPTH_TRANSPORT, "u4"),
    ("tcp_ack", COL_TCP_ACK, DEPTH_TRANSPORT, "u4"),
    ("tcp_win", COL_TCP_WIN, DEPTH_TRANSPORT, "u2"),
    ("icmp_type", COL_ICMP_TYPE, DEPTH_TRANSPORT, "u1"),
    ("icmp_code", COL_ICMP_CODE, DEPTH_TRANSPORT, "u1"),
    ("l4_offset", COL_L4_OFFSET, DEPTH_TRANSPORT, "u4"),
    ("payload_len", COL_PAYLOAD_LEN, DEPTH_TRANSPORT, "u4"),
    ("flow_hash", COL_FLOW_HASH, DEPTH_TRANSPORT, "u8"),
    ("valid", COL_VALID, DEPTH_NONE, "u4"),
)
FIRST_DECODED = COL_VLAN_TCI


@cython.final
cdef class ColumnBuffers:
    """The writable buffers of one decode: acquired from the arrays given
    (one per column id, or None), released when the decode is done."""
    cdef column_set cs
    cdef Py_buffer views[N_COLS]
    cdef bint held[N_COLS]

    def __cinit__(self):
        memset(&self.cs, 0, sizeof(self.cs))
        memset(self.held, 0, sizeof(self.held))

    cdef int take(self, list arrays, Py_ssize_t rows) except -1:
        cdef int i
        cdef object arr
        for i in range(N_COLS):
            arr = arrays[i]
            if arr is None:
                continue
            PyObject_GetBuffer(arr, &self.views[i], PyBUF_WRITABLE | PyBUF_STRIDES)
            self.held[i] = True
            if self.views[i].shape[0] < rows:
                raise ValueError(f"column {COLUMNS[i][0]} has room for "
                                 f"{self.views[i].shape[0]} rows, not {rows}")
            self.cs.col[i].base = <char *>self.views[i].buf
            self.cs.col[i].stride = self.views[i].strides[0]
        return 0

    def __dealloc__(self):
        cdef int i
        for i in range(N_COLS):
            if self.held[i]:
                PyBuffer_Release(&self.views[i])


def decode_batch(Batch batch, list arrays, int depth, uint32_t valid_mask, int linktype,
                 by_interface=None, Py_ssize_t first_row=0):
    """Decode ``batch`` into ``arrays`` (a list indexed by column id: a
    writable 1-D buffer, or None) from row ``first_row`` on.
    ``by_interface``: an int32 buffer giving the link type of each
    interface number, for sources whose packets differ (files)."""
    cdef ColumnBuffers bufs = ColumnBuffers()
    cdef const int32_t[::1] table
    if len(arrays) != N_COLS:
        raise ValueError(f"{N_COLS} column slots expected, got {len(arrays)}")
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    bufs.take(arrays, first_row + batch.count)
    bufs.cs.depth = depth
    bufs.cs.valid_mask = valid_mask
    bufs.cs.linktype = linktype
    if by_interface is not None and len(by_interface):
        table = by_interface
        bufs.cs.by_interface = &table[0]
        bufs.cs.n_interfaces = <uint32_t>table.shape[0]
    with nogil:
        decode_descs(batch.descs, batch.count, first_row, &bufs.cs)
    return batch.count


def frames_into(Batch batch, int32_t[::1] offsets, uint8_t[::1] data):
    """Copy the batch's frames end to end into ``data`` and their start
    offsets into ``offsets`` (len(batch) + 1 entries): Arrow's binary layout."""
    cdef Py_ssize_t i, total = 0
    if batch.released:
        raise ValueError("the batch was released: its frames are gone")
    if offsets.shape[0] < batch.count + 1:
        raise ValueError("offsets too short")
    for i in range(batch.count):
        total += batch.descs[i].caplen
    if data.shape[0] < total or total >= 2 ** 31:
        raise ValueError(f"{total} bytes of frames don't fit")
    cdef uint8_t *dst = &data[0] if data.shape[0] else NULL
    with nogil:
        copy_frames(batch.descs, batch.count, &offsets[0], dst)
    return total
