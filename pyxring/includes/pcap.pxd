# libpcap, only for compiling tcpdump expressions to classic BPF.
from libc.stdint cimport uint32_t

cdef extern from "<pcap/pcap.h>" nogil:
    ctypedef struct pcap_t:
        pass
    struct bpf_insn:
        unsigned short code
        unsigned char jt
        unsigned char jf
        uint32_t k
    struct bpf_program:
        unsigned int bf_len
        bpf_insn *bf_insns
    struct timeval:
        long tv_sec
        long tv_usec
    struct pcap_pkthdr:
        timeval ts
        uint32_t caplen
        uint32_t len
    ctypedef unsigned int bpf_u_int32
    pcap_t *pcap_open_dead(int linktype, int snaplen)
    pcap_t *pcap_create(const char *source, char *errbuf)
    int pcap_set_snaplen(pcap_t *p, int snaplen)
    int pcap_set_buffer_size(pcap_t *p, int size)
    int pcap_set_immediate_mode(pcap_t *p, int on)
    int pcap_activate(pcap_t *p)
    enum: PCAP_ERRBUF_SIZE
    int pcap_compile(pcap_t *p, bpf_program *fp, const char *expr, int optimize, bpf_u_int32 netmask)
    void pcap_freecode(bpf_program *fp)
    char *pcap_geterr(pcap_t *p)
    void pcap_close(pcap_t *p)
    int pcap_offline_filter(const bpf_program *fp, const pcap_pkthdr *h, const unsigned char *pkt)
    unsigned int PCAP_NETMASK_UNKNOWN
    const char *pcap_datalink_val_to_name(int dlt)
    const char *pcap_datalink_val_to_description(int dlt)
