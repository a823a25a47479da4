# The myring ABI, declared from kmod/myring_uapi.h and the consumer helpers
# in kmod/myring_user.h (the single source of truth; only what is used).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

from pyxring._core cimport Source, Batch, pkt_desc
from pyxring._libpcap cimport BatchFilter

cdef extern from "myring_user.h" nogil:
    struct myring_hdr:
        uint32_t magic
        uint32_t version
        uint32_t hdr_size
        uint32_t ring_size
        uint32_t flags
        uint64_t producer
        uint64_t consumer
        uint64_t produced
        uint64_t lost
        uint64_t lost_pending
        uint64_t drop_records
        uint64_t wm_signals
        uint64_t bad_consumer

    struct myring_rec:
        uint32_t len
        uint16_t type
        uint16_t flags
        uint64_t seq
        uint64_t ts_ns
        uint32_t wirelen
        uint32_t ifindex

    struct myring_drop:
        uint64_t lost
        uint64_t first_seq

    struct myring_config:
        uint32_t mode
        uint32_t rate_hz
        uint32_t record_size
        uint32_t snaplen
        uint32_t wm_high
        uint32_t wm_low
        uint32_t flags
        uint32_t pad

    struct myring_info:
        uint32_t version
        uint32_t hdr_size
        uint32_t ring_size
        uint64_t mmap_size

    struct myring_stats:
        uint64_t produced
        uint64_t lost
        uint64_t lost_pending
        uint64_t drop_records
        uint64_t bytes
        uint64_t wm_signals
        uint64_t bad_consumer
        uint64_t producer
        uint64_t consumer
        uint32_t running
        uint32_t mode

    struct myring_consumer:
        myring_hdr *hdr
        uint8_t *ring
        uint64_t ring_size
        uint64_t cached_prod
        uint64_t pos
        int corrupt

    int myring_consumer__init(myring_consumer *c, void *map)
    uint64_t myring_consumer__avail(myring_consumer *c)
    const myring_rec *myring_consumer__next(myring_consumer *c)
    void myring_consumer__release(myring_consumer *c, uint64_t pos)
    const uint8_t *myring_rec__data(const myring_rec *rec)

    enum:
        MYRING_VERSION
        MYRING_REC_PACKET
        MYRING_REC_DROP
        MYRING_RF_TRUNCATED
        MYRING_F_RUNNING
        MYRING_F_STOPPED
        MYRING_MODE_SYNTH
        MYRING_MODE_NETFILTER
        MYRING_SYNTH_MIN
        MYRING_SYNTH_MAX
        MYRING_RATE_MAX
    unsigned long MYRING_IOC_INFO
    unsigned long MYRING_IOC_CONFIG
    unsigned long MYRING_IOC_SET_EVENTFD
    unsigned long MYRING_IOC_START
    unsigned long MYRING_IOC_STOP
    unsigned long MYRING_IOC_STATS


cdef class MyringSource(Source):
    cdef int fd                 # /dev/myring
    cdef int efd                # eventfd signalled at the high watermark and on stop
    cdef int epfd               # epoll over efd
    cdef void *map
    cdef size_t map_size
    cdef myring_consumer cons
    cdef uint64_t released_pos  # consumer index published to the kernel
    cdef dict _released_early   # batch start -> end, released out of order
    cdef readonly str device
    cdef readonly int mode
    cdef readonly int wakeup_ms # longest sleep before looking at the ring again
    cdef Py_ssize_t max_batch
    # counters (records read by this consumer)
    cdef uint64_t matched       # packets that passed the filter into batches
    cdef uint64_t filtered
    cdef uint64_t lost          # sum of DROP records' counts
    cdef uint64_t drop_records
    # an optional user-space filter (libpcap's interpreter over each batch)
    cdef BatchFilter bfilter
    cdef bint have_filter       # records are cut to the snaplen after the filter ran
    cdef Py_ssize_t collect(self, Batch batch) noexcept nogil
    cdef _teardown(self)
