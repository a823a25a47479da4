# libpcap's device, link-type and time-stamp-type API: what tcpdump's -D, -L,
# -J, -y and -j are built on (only what pyxring uses).
from pyxring.includes.pcap cimport pcap_t, bpf_u_int32

cdef extern from "<pcap/pcap.h>" nogil:
    struct pcap_addr:
        pass
    ctypedef struct pcap_if_t:
        pcap_if_t *next
        char *name
        char *description
        pcap_addr *addresses
        bpf_u_int32 flags
    enum:
        PCAP_IF_LOOPBACK
        PCAP_IF_UP
        PCAP_IF_RUNNING
        PCAP_IF_WIRELESS
        PCAP_IF_CONNECTION_STATUS
        PCAP_IF_CONNECTION_STATUS_UNKNOWN
        PCAP_IF_CONNECTION_STATUS_CONNECTED
        PCAP_IF_CONNECTION_STATUS_DISCONNECTED
        PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE
        PCAP_ERROR
        PCAP_WARNING
    int pcap_findalldevs(pcap_if_t **alldevs, char *errbuf)
    void pcap_freealldevs(pcap_if_t *alldevs)
    int pcap_datalink(pcap_t *p)
    int pcap_set_datalink(pcap_t *p, int dlt)
    int pcap_list_datalinks(pcap_t *p, int **dlt_buf)
    void pcap_free_datalinks(int *dlt_list)
    int pcap_datalink_name_to_val(const char *name)
    int pcap_list_tstamp_types(pcap_t *p, int **tstamp_types)
    void pcap_free_tstamp_types(int *tstamp_types)
    int pcap_tstamp_type_name_to_val(const char *name)
    const char *pcap_tstamp_type_val_to_name(int tstamp_type)
    const char *pcap_tstamp_type_val_to_description(int tstamp_type)
    const char *pcap_statustostr(int error)
