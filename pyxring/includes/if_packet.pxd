# AF_PACKET / TPACKET_V3 declarations from <linux/if_packet.h> (fields pyxring reads).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "<linux/if_ether.h>" nogil:
    enum:
        ETH_P_ALL
        ETH_P_8021Q
        ETH_HLEN

cdef extern from "<linux/if_packet.h>" nogil:
    struct sockaddr_ll:
        unsigned short sll_family
        uint16_t sll_protocol
        int sll_ifindex
        unsigned short sll_hatype
        unsigned char sll_pkttype
        unsigned char sll_halen
        unsigned char sll_addr[8]

    struct packet_mreq:
        int mr_ifindex
        unsigned short mr_type
        unsigned short mr_alen
        unsigned char mr_address[8]

    struct tpacket_stats_v3:
        unsigned int tp_packets
        unsigned int tp_drops
        unsigned int tp_freeze_q_cnt

    struct tpacket_hdr_variant1:
        uint32_t tp_rxhash
        uint32_t tp_vlan_tci
        uint16_t tp_vlan_tpid

    struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint32_t tp_len
        uint32_t tp_status
        uint16_t tp_mac
        uint16_t tp_net
        tpacket_hdr_variant1 hv1

    struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
        uint32_t blk_len
        uint64_t seq_num

    union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1

    struct tpacket_block_desc:
        uint32_t version
        uint32_t offset_to_priv
        tpacket_bd_header_u hdr

    struct tpacket_rollover_stats:
        uint64_t tp_all
        uint64_t tp_huge
        uint64_t tp_failed

    struct tpacket_req3:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr
        unsigned int tp_retire_blk_tov
        unsigned int tp_sizeof_priv
        unsigned int tp_feature_req_word

    enum:
        SOL_PACKET
        PACKET_ADD_MEMBERSHIP
        PACKET_MR_PROMISC
        PACKET_RX_RING
        PACKET_STATISTICS
        PACKET_VERSION
        PACKET_RESERVE
        PACKET_IGNORE_OUTGOING
        PACKET_TIMESTAMP
        TP_STATUS_TS_RAW_HARDWARE
        TPACKET_V3
        PACKET_OUTGOING
        TP_STATUS_KERNEL
        TP_STATUS_USER
        TP_STATUS_VLAN_VALID
        TP_STATUS_VLAN_TPID_VALID
        TP_FT_REQ_FILL_RXHASH
        TPACKET_ALIGNMENT
        PACKET_FANOUT
        PACKET_FANOUT_DATA
        PACKET_ROLLOVER_STATS
        PACKET_FANOUT_FLAG_ROLLOVER
        PACKET_FANOUT_FLAG_UNIQUEID

    int TPACKET_ALIGN(int x)

cdef extern from "<linux/filter.h>" nogil:
    struct sock_filter:
        uint16_t code
        uint8_t jt
        uint8_t jf
        uint32_t k
    struct sock_fprog:
        unsigned short len
        sock_filter *filter

cdef extern from "<arpa/inet.h>" nogil:
    uint16_t htons(uint16_t)

cdef extern from "<net/if.h>" nogil:
    unsigned int if_nametoindex(const char *ifname)

cdef extern from "<linux/net_tstamp.h>" nogil:
    struct hwtstamp_config:
        int flags
        int tx_type
        int rx_filter
    enum:
        SOF_TIMESTAMPING_RAW_HARDWARE
        HWTSTAMP_TX_ON
        HWTSTAMP_FILTER_ALL

cdef extern from "<linux/sockios.h>" nogil:
    enum:
        SIOCSHWTSTAMP

cdef extern from "<net/if.h>" nogil:
    struct ifreq:
        char ifr_name[16]       # macros over glibc's unions
        char *ifr_data
