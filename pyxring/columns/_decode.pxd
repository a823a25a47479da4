# The column decoder's C interface, for extensions that decode descriptors
# they hold (a file source's chunks, the stream producer) without a Batch.
from libc.stdint cimport uint32_t, int32_t

from pyxring._core cimport pkt_desc

# One id per column; the valid bit of a decoded field is
# 1 << (id - COL_VLAN_TCI).  The order is the public field order.
cdef enum:
    COL_TS_NS
    COL_CAPLEN
    COL_WIRELEN
    COL_IFINDEX
    COL_QUEUE
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

ctypedef struct column:
    char *base              # NULL: not requested
    Py_ssize_t stride       # bytes from one row to the next

ctypedef struct column_set:
    column col[N_COLS]
    uint32_t valid_mask     # valid bits of the requested fields
    int depth
    int linktype            # of every packet, unless by_interface says otherwise
    const int32_t *by_interface   # link type per interface number (ifindex), or NULL
    uint32_t n_interfaces

# Decode ``n`` descriptors into rows ``first_row ..`` of the columns.
cdef void decode_descs(const pkt_desc *descs, Py_ssize_t n, Py_ssize_t first_row,
                       const column_set *cs) noexcept nogil
