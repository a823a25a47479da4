# The frame parser of the column decoder: small inline functions over one
# frame's bytes, shared by every extension that decodes descriptors (cimport
# them; they compile into the caller).  Every read is checked against the
# captured length; see _decode.pyx for the fields' meaning.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy

from pyxring.includes.byteorder cimport load_be16, load_be32, load_be64, load_le32, store_be16
from pyxring.includes.xxhash cimport XXH3_64bits


# XXH3-64 of a 14-byte key (an IPv4 flow) from two words held in registers.
# Through memory, xxHash reads the key back with two overlapping 8-byte loads
# right after it was stored in 6- and 1-byte pieces, and each load then waits
# for the stores to drain (a store-to-load forwarding stall), which cost more
# than the rest of the decode.  The constants: XXH3's default secret folded
# for seed 0 and 9 to 16 bytes of input (secret[24:32] ^ secret[32:40] and
# secret[40:48] ^ secret[48:56]), and its avalanche multiplier.
cdef extern from *:
    """
    #define PYX_XXH3_BITFLIP_LO 0x6782737BEA4239B9ULL
    #define PYX_XXH3_BITFLIP_HI 0xAF56BC3B0996523AULL
    #define PYX_XXH3_AVALANCHE 0x165667919E3779F9ULL
    static inline uint64_t pyx_xxh3_14(uint64_t lo, uint64_t hi)
    {
        unsigned __int128 m;
        uint64_t acc;
        lo ^= PYX_XXH3_BITFLIP_LO;
        hi ^= PYX_XXH3_BITFLIP_HI;
        m = (unsigned __int128)lo * hi;
        acc = 14 + __builtin_bswap64(lo) + hi + ((uint64_t)m ^ (uint64_t)(m >> 64));
        acc ^= acc >> 37;
        acc *= PYX_XXH3_AVALANCHE;
        return acc ^ (acc >> 32);
    }
    """
    uint64_t xxh3_14 "pyx_xxh3_14"(uint64_t lo, uint64_t hi) nogil
    uint64_t bswap64 "__builtin_bswap64"(uint64_t v) nogil

# One id per column; the valid bit of a decoded field is
# 1 << (id - COL_VLAN_TCI).  The order is the public field order.
cdef enum:
    COL_TS_NS
    COL_CAPLEN
    COL_WIRELEN
    COL_IFINDEX
    COL_QUEUE
    COL_LINKTYPE
    COL_EPB_FLAGS
    COL_VLAN_TCI
    COL_VLAN_TCI_INNER
    COL_ETHERTYPE
    COL_IP_VERSION
    COL_SRC4
    COL_DST4
    COL_SRC6
    COL_DST6
    COL_PROTO
    COL_TTL
    COL_IP_ID
    COL_FRAG
    COL_SPORT
    COL_DPORT
    COL_TCP_FLAGS
    COL_TCP_SEQ
    COL_TCP_ACK
    COL_TCP_WIN
    COL_ICMP_TYPE
    COL_ICMP_CODE
    COL_L4_OFFSET
    COL_PAYLOAD_LEN
    COL_FLOW_HASH
    COL_VALID
    N_COLS

# How far a frame must be parsed for a set of columns.
cdef enum:
    DEPTH_NONE = 0      # descriptor fields only
    DEPTH_LINK = 2
    DEPTH_NETWORK = 3
    DEPTH_TRANSPORT = 4

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

cdef enum:
    PREFETCH_AHEAD = 16

# IPv4 flags/offset layout, which the ``frag`` column keeps for IPv6 too
cdef enum:
    FRAG_OFFSET_MASK = 0x1FFF
    FRAG_MF = 0x2000

# The parsed headers of up to CHUNK packets, one array per field: a field's
# values for a run of packets lie side by side, so a column is filled from
# them with one memcpy instead of a strided copy per value.
cdef enum:
    CHUNK = 64

ctypedef struct chunk_headers:
    uint32_t valid[CHUNK]
    uint16_t vlan_tci[CHUNK]
    uint16_t vlan_tci_inner[CHUNK]
    uint16_t ethertype[CHUNK]
    uint8_t ip_version[CHUNK]
    uint8_t proto[CHUNK]
    uint8_t ttl[CHUNK]
    uint8_t is_fragment[CHUNK]            # any fragment, first or not
    uint32_t src4[CHUNK]
    uint32_t dst4[CHUNK]
    const uint8_t *src6[CHUNK]            # into the frame
    const uint8_t *dst6[CHUNK]
    uint32_t ip_id[CHUNK]
    uint16_t frag[CHUNK]
    uint16_t sport[CHUNK]
    uint16_t dport[CHUNK]
    uint16_t tcp_flags[CHUNK]
    uint32_t tcp_seq[CHUNK]
    uint32_t tcp_ack[CHUNK]
    uint16_t tcp_win[CHUNK]
    uint8_t icmp_type[CHUNK]
    uint8_t icmp_code[CHUNK]
    uint32_t l4_offset[CHUNK]
    uint32_t payload_len[CHUNK]
    uint64_t flow_hash[CHUNK]


cdef inline bint is_vlan_tpid(uint32_t et) noexcept nogil:
    return et == ETH_P_8021Q or et == ETH_P_8021AD or et == ETH_P_QINQ_OLD


cdef inline bint has_ports(uint8_t proto) noexcept nogil:
    return proto == IPPROTO_TCP or proto == IPPROTO_UDP or proto == IPPROTO_SCTP


cdef inline uint32_t link_header(const uint8_t *p, uint32_t caplen, int linktype,
                                 chunk_headers *h, int j) noexcept nogil:
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
            h.ethertype[j] = ETH_P_IP
        elif p[0] >> 4 == 6:
            h.ethertype[j] = ETH_P_IPV6
        else:
            return 0
        h.valid[j] |= V_ETHERTYPE
        return 0
    elif linktype == LT_IPV4 or linktype == LT_IPV6:
        h.ethertype[j] = ETH_P_IP if linktype == LT_IPV4 else ETH_P_IPV6
        h.valid[j] |= V_ETHERTYPE
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
            h.ethertype[j] = ETH_P_IP
        elif fam == 10 or fam == 24 or fam == 28 or fam == 30:   # AF_INET6 of Linux, BSDs, macOS
            h.ethertype[j] = ETH_P_IPV6
        else:
            return 0
        h.valid[j] |= V_ETHERTYPE
        return 4
    else:
        return 0
    while is_vlan_tpid(et):
        if caplen < off + 2:
            return 0
        if ntags == 0:
            h.vlan_tci[j] = load_be16(p + off)
            h.valid[j] |= V_VLAN_TCI
        elif ntags == 1:
            h.vlan_tci_inner[j] = load_be16(p + off)
            h.valid[j] |= V_VLAN_TCI_INNER
        ntags += 1
        if caplen < off + 4:
            return 0
        et = load_be16(p + off + 2)
        off += 4
    if et < ETH_MIN_TYPE:
        return 0        # 802.3 length (LLC), or an SLL protocol code
    h.ethertype[j] = <uint16_t>et
    h.valid[j] |= V_ETHERTYPE
    return off


cdef inline void transport_header(const uint8_t *p, uint32_t end, uint32_t l4,
                                  int64_t ip_payload, chunk_headers *h, int j) noexcept nogil:
    """Parse the transport header at ``l4`` of the first (or only) fragment;
    ``end`` is where the IP datagram's captured bytes end (bytes after the
    length the IP header gives are the link's padding, not transport data).
    ``ip_payload`` is the length the IP header gives for what follows the
    network headers (-1 when malformed)."""
    cdef const uint8_t *q
    cdef uint32_t a, hlen = 0
    if l4 > end:
        return
    h.l4_offset[j] = l4
    h.valid[j] |= V_L4_OFFSET
    q = p + l4
    a = end - l4
    if has_ports(h.proto[j]):
        if a >= 2:
            h.sport[j] = load_be16(q)
            h.valid[j] |= V_SPORT
        if a >= 4:
            h.dport[j] = load_be16(q + 2)
            h.valid[j] |= V_DPORT
        if h.proto[j] == IPPROTO_TCP:
            if a >= 8:
                h.tcp_seq[j] = load_be32(q + 4)
                h.valid[j] |= V_TCP_SEQ
            if a >= 12:
                h.tcp_ack[j] = load_be32(q + 8)
                h.valid[j] |= V_TCP_ACK
            if a >= 13 and (q[12] >> 4) >= 5:
                hlen = (q[12] >> 4) * 4
            if a >= 14:
                # the 9 flag bits: NS (now AE) in byte 12, CWR..FIN in byte 13
                h.tcp_flags[j] = ((q[12] & 1) << 8) | q[13]
                h.valid[j] |= V_TCP_FLAGS
            if a >= 16:
                h.tcp_win[j] = load_be16(q + 14)
                h.valid[j] |= V_TCP_WIN
        elif h.proto[j] == IPPROTO_UDP:
            hlen = 8
        else:
            hlen = 12       # SCTP common header
    elif (h.proto[j] == IPPROTO_ICMP and h.ip_version[j] == 4) or \
            (h.proto[j] == IPPROTO_ICMPV6 and h.ip_version[j] == 6):
        if a >= 1:
            h.icmp_type[j] = q[0]
            h.valid[j] |= V_ICMP_TYPE
        if a >= 2:
            h.icmp_code[j] = q[1]
            h.valid[j] |= V_ICMP_CODE
        hlen = 8
    if hlen and not h.is_fragment[j] and ip_payload >= hlen:
        h.payload_len[j] = <uint32_t>(ip_payload - hlen)
        h.valid[j] |= V_PAYLOAD_LEN


cdef inline void ipv4_header(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
                             uint32_t off, int depth, chunk_headers *h, int j) noexcept nogil:
    cdef const uint8_t *ip = p + off
    cdef uint32_t avail = caplen - off, ihl, total, end
    if avail < 1 or ip[0] >> 4 != 4:
        return
    h.ip_version[j] = 4
    h.valid[j] |= V_IP_VERSION
    ihl = (ip[0] & 0xF) * 4
    if ihl < 20:
        return          # not a header: nothing after the version is trusted
    if avail >= 6:
        h.ip_id[j] = load_be16(ip + 4)
        h.valid[j] |= V_IP_ID
    if avail >= 8:
        h.frag[j] = load_be16(ip + 6)
        h.is_fragment[j] = (h.frag[j] & (FRAG_MF | FRAG_OFFSET_MASK)) != 0
        h.valid[j] |= V_FRAG
    if avail >= 9:
        h.ttl[j] = ip[8]
        h.valid[j] |= V_TTL
    if avail >= 10:
        h.proto[j] = ip[9]
        h.valid[j] |= V_PROTO
    if avail >= 16:
        h.src4[j] = load_be32(ip + 12)
        h.valid[j] |= V_SRC4
    if avail >= 20:
        h.dst4[j] = load_be32(ip + 16)
        h.valid[j] |= V_DST4
    if depth < DEPTH_TRANSPORT or avail < ihl:
        return
    total = load_be16(ip + 2)
    if total == 0 and wirelen > off:
        # a TSO/GSO send seen on the way out carries no length: the frame's
        # own length stands for it (tcpdump does the same)
        total = wirelen - off
    if total < ihl:
        return
    if h.frag[j] & FRAG_OFFSET_MASK:
        return          # a later fragment: no transport header here
    end = caplen if caplen - off < total else off + total
    transport_header(p, end, off + ihl, total - ihl, h, j)


cdef inline void ipv6_header(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
                             uint32_t off, int depth, chunk_headers *h, int j) noexcept nogil:
    cdef const uint8_t *ip = p + off
    cdef uint32_t avail = caplen - off, pos = 40, hlen, plen
    cdef uint16_t fo
    cdef uint8_t nh
    cdef bint later_fragment = False
    if avail < 1 or ip[0] >> 4 != 6:
        return
    h.ip_version[j] = 6
    h.valid[j] |= V_IP_VERSION
    if avail >= 8:
        h.ttl[j] = ip[7]
        h.valid[j] |= V_TTL
    if avail >= 24:
        h.src6[j] = ip + 8
        h.valid[j] |= V_SRC6
    if avail >= 40:
        h.dst6[j] = ip + 24
        h.valid[j] |= V_DST6
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
            h.frag[j] = ((fo >> 3) & FRAG_OFFSET_MASK) | ((fo & 1) * FRAG_MF)
            h.ip_id[j] = load_be32(ip + pos + 4)
            h.is_fragment[j] = (h.frag[j] & (FRAG_MF | FRAG_OFFSET_MASK)) != 0
            h.valid[j] |= V_FRAG | V_IP_ID
            nh = ip[pos]
            pos += 8
            if h.frag[j] & FRAG_OFFSET_MASK:
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
    h.proto[j] = nh
    h.valid[j] |= V_PROTO
    if not (h.valid[j] & V_FRAG):
        h.valid[j] |= V_FRAG       # no fragment header: not a fragment (frag = 0)
    if depth < DEPTH_TRANSPORT or avail < 40 or later_fragment or pos > 40 + plen:
        return
    transport_header(p, off + avail, off + pos, plen - (pos - 40), h, j)


cdef inline void flow_hash(chunk_headers *h, int j) noexcept nogil:
    """xxHash3-64 of the canonical 5-tuple: the (address, port) endpoint
    that sorts lower comes first, so both directions give one value."""
    cdef uint8_t key[38]
    cdef uint64_t a_hi, a_lo, b_hi, b_lo
    cdef uint16_t sport = 0, dport = 0
    cdef uint32_t need
    cdef bint swap
    if h.ip_version[j] == 4:
        need = V_SRC4 | V_DST4 | V_PROTO
    else:
        need = V_SRC6 | V_DST6 | V_PROTO
    if h.valid[j] & need != need:
        return
    if has_ports(h.proto[j]) and not h.is_fragment[j]:
        if h.valid[j] & (V_SPORT | V_DPORT) != V_SPORT | V_DPORT:
            return
        sport = h.sport[j]
        dport = h.dport[j]
    if h.ip_version[j] == 4:
        # each endpoint as one number, address then port, compared as such
        a_lo = (<uint64_t>h.src4[j] << 16) | sport
        b_lo = (<uint64_t>h.dst4[j] << 16) | dport
        if b_lo < a_lo:
            a_lo, b_lo = b_lo, a_lo
        # the key's bytes 0..7 and 6..13 as little-endian words: each
        # endpoint's 6 bytes in network order, then proto and version
        a_lo = bswap64(a_lo << 16)
        b_lo = bswap64(b_lo << 16)
        h.flow_hash[j] = xxh3_14(a_lo | (b_lo << 48),
                              b_lo | (<uint64_t>h.proto[j] << 48) | (<uint64_t>h.ip_version[j] << 56))
        h.valid[j] |= V_FLOW_HASH
        return
    a_hi = load_be64(h.src6[j])
    b_hi = load_be64(h.dst6[j])
    a_lo = load_be64(h.src6[j] + 8)
    b_lo = load_be64(h.dst6[j] + 8)
    swap = b_hi < a_hi or (b_hi == a_hi and (b_lo < a_lo or (b_lo == a_lo and dport < sport)))
    if swap:
        memcpy(key, h.dst6[j], 16)
        store_be16(key + 16, dport)
        memcpy(key + 18, h.src6[j], 16)
        store_be16(key + 34, sport)
    else:
        memcpy(key, h.src6[j], 16)
        store_be16(key + 16, sport)
        memcpy(key + 18, h.dst6[j], 16)
        store_be16(key + 34, dport)
    key[36] = h.proto[j]
    key[37] = h.ip_version[j]
    # a constant length lets the compiler drop xxHash's dispatch
    h.flow_hash[j] = XXH3_64bits(key, 38)
    h.valid[j] |= V_FLOW_HASH


cdef inline void parse_frame(const uint8_t *p, uint32_t caplen, uint32_t wirelen, int linktype,
                             int depth, bint want_hash, chunk_headers *h, int j) noexcept nogil:
    cdef uint32_t off = link_header(p, caplen, linktype, h, j)
    if depth < DEPTH_NETWORK or not (h.valid[j] & V_ETHERTYPE):
        return
    if h.ethertype[j] == ETH_P_IP:
        ipv4_header(p, caplen, wirelen, off, depth, h, j)
    elif h.ethertype[j] == ETH_P_IPV6:
        ipv6_header(p, caplen, wirelen, off, depth, h, j)
    else:
        return
    if want_hash and h.ip_version[j]:
        flow_hash(h, j)
