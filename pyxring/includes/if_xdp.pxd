# AF_XDP user-space interface (<linux/if_xdp.h>) and pyxring's XDP ABI
# (xdp_prog/pyxring_xdp.h), declared once; only what pyxring uses.
from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef extern from "<linux/if_xdp.h>" nogil:
    enum:
        XDP_SHARED_UMEM
        XDP_COPY
        XDP_ZEROCOPY
        XDP_USE_NEED_WAKEUP
        XDP_RING_NEED_WAKEUP
        XDP_MMAP_OFFSETS
        XDP_RX_RING
        XDP_TX_RING
        XDP_UMEM_REG
        XDP_UMEM_FILL_RING
        XDP_UMEM_COMPLETION_RING
        XDP_STATISTICS
        XDP_OPTIONS
        XDP_OPTIONS_ZEROCOPY
    unsigned long long XDP_PGOFF_RX_RING
    unsigned long long XDP_PGOFF_TX_RING
    unsigned long long XDP_UMEM_PGOFF_FILL_RING
    unsigned long long XDP_UMEM_PGOFF_COMPLETION_RING

    struct sockaddr_xdp:
        uint16_t sxdp_family
        uint16_t sxdp_flags
        uint32_t sxdp_ifindex
        uint32_t sxdp_queue_id
        uint32_t sxdp_shared_umem_fd
    struct xdp_ring_offset:
        uint64_t producer
        uint64_t consumer
        uint64_t desc
        uint64_t flags
    struct xdp_mmap_offsets:
        xdp_ring_offset rx
        xdp_ring_offset tx
        xdp_ring_offset fr
        xdp_ring_offset cr
    struct xdp_umem_reg:
        uint64_t addr
        uint64_t len
        uint32_t chunk_size
        uint32_t headroom
        uint32_t flags
    struct xdp_statistics:
        uint64_t rx_dropped
        uint64_t rx_invalid_descs
        uint64_t tx_invalid_descs
        uint64_t rx_ring_full
        uint64_t rx_fill_ring_empty_descs
        uint64_t tx_ring_empty_descs
    struct xdp_options:
        uint32_t flags
    struct xdp_desc:
        uint64_t addr
        uint32_t len
        uint32_t options

cdef extern from "<linux/if_link.h>" nogil:
    enum:
        XDP_FLAGS_UPDATE_IF_NOEXIST
        XDP_FLAGS_SKB_MODE
        XDP_FLAGS_DRV_MODE
        XDP_FLAGS_REPLACE
        XDP_ATTACHED_NONE
        XDP_ATTACHED_DRV
        XDP_ATTACHED_SKB
        XDP_ATTACHED_MULTI

cdef extern from "pyxring_xdp.h" nogil:
    const char *PYXRING_XSKS_MAP_NAME
    const char *PYXRING_COUNTERS_MAP_NAME
    const char *PYXRING_FILTER_MAP_NAME
    const char *PYXRING_PROG_PLAIN
    const char *PYXRING_PROG_FRAGS
    const char *PYXRING_PROG_VLAN
    const char *PYXRING_PROG_VLAN_FRAGS
    enum:
        XDP_USE_SG
        XDP_PKT_CONTD
        BPF_F_XDP_DEV_BOUND_ONLY
        PYXRING_MAX_QUEUES
        PYXRING_FILTER_SLOT
    struct pyxring_counters:
        uint64_t seen
        uint64_t redirected
        uint64_t passed
        uint64_t filtered
        uint64_t vlan_restored
        uint64_t vlan_lost
