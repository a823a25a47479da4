# The capture-file source: pcap and pcapng records walked in C into the
# same Batch of pkt_desc the live backends fill (see _filesrc.pyx).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from pyxring._core cimport Source, Batch, pkt_desc

cdef extern from "pyxring/file/filetime.h" nogil:
    # only ever passed between C functions, never converted to Python
    ctypedef unsigned long long u128 "unsigned __int128"
    uint16_t fs_u16(const uint8_t *p, int swapped)
    uint32_t fs_u32(const uint8_t *p, int swapped)
    uint64_t fs_u64(const uint8_t *p, int swapped)
    void fs_put16(uint8_t *p, uint16_t v, int swapped)
    void fs_put32(uint8_t *p, uint32_t v, int swapped)
    u128 fs_units_per_sec(uint8_t tsresol)
    int fs_units_to_ns(uint64_t units, u128 per_sec, int64_t offset, uint64_t *ns)
    const uint8_t *fs_prefetch_to(const uint8_t *start, const uint8_t *end)
    enum: FS_PREFETCH_AHEAD

cdef enum FileFormat:
    FMT_PCAP = 1
    FMT_PCAPNG = 2

# Why a walk stopped.
cdef enum WalkStop:
    WALK_FULL = 0       # the batch has its packets (or bytes)
    WALK_MORE = 1       # the next record is not wholly in the buffer (or the buffer is done)
    WALK_META = 2       # a section header, interface description or statistics block is at pos
    WALK_ERROR = 3      # the record at pos is corrupt (err_* say how)

# What was wrong (err_code); err_a/err_b carry the numbers of the message.
cdef enum FileError:
    ERR_NONE = 0
    ERR_CAPLEN = 1          # pcap record caplen above the link type's maximum (a, b: caplen, max)
    ERR_BLOCK_LEN = 2       # pcapng block length < 12 or not a multiple of 4 (a: length, b: type)
    ERR_BLOCK_BIG = 3       # pcapng block longer than the maximum (a: length, b: maximum)
    ERR_TRAILER = 4         # header and trailer lengths differ (a: header, b: trailer)
    ERR_SHORT = 5           # block too short for its fixed part (a: length, b: type)
    ERR_BLOCK_CAPLEN = 6    # packet block: caplen beyond the block (a: caplen, b: type)
    ERR_IFACE = 7           # packet for an interface without a description (a: id, b: type)
    ERR_BOM = 8             # section header with a bad byte-order magic (a: magic)
    ERR_SHB_LEN = 9         # section header length invalid (a: length)

ctypedef struct file_iface:
    uint32_t linktype
    uint32_t snaplen        # as recorded (pcapng: 0 means none)
    uint32_t spb_caplen     # what a simple packet block may hold (the adjusted snaplen)
    uint32_t ns_per_unit    # fast path: 10^(9-k) for decimal k <= 9 and no offset, else 0
    u128 per_sec            # units per second (0: finer than 10^-38)
    int64_t tsoffset        # seconds added to every time

ctypedef struct file_chunk:
    uint8_t *data
    size_t cap
    Py_ssize_t refs         # batches pointing into it
    file_chunk *next        # every chunk, for freeing at the end


cdef class FileSource(Source):
    cdef readonly str format            # "pcap" or "pcapng"
    cdef readonly list interfaces       # Interface, numbered across the whole file
    cdef readonly dict interface_stats  # file-wide interface number -> ISB values
    cdef readonly dict shb_options      # the first section's options (code -> bytes)
    cdef readonly object pcap_header    # pcap: (version_major, version_minor, thiszone, sigfigs)
    cdef readonly bint nanosecond       # pcap: ns magic; pcapng: always (ts_ns is ns)
    cdef readonly int sections          # section headers read so far
    cdef readonly unsigned long long bytes_read  # bytes the walk has consumed
    cdef readonly unsigned long long records     # packet records the walk has read
    cdef readonly bint keep_blocks      # keep every block that is not a packet, raw (take_blocks)
    cdef list kept                      # (packets before it, bytes) of each block kept

    # where the bytes are: the whole mapping, or the current stream chunk
    cdef const uint8_t *base
    cdef size_t avail                   # valid bytes at base
    cdef size_t pos                     # next unread byte
    cdef uint64_t base_off              # file offset of base[0]
    cdef void *map
    cdef size_t map_size
    cdef int fd                         # stream read by read(2), or -1
    cdef object fileobj                 # stream read by readinto(), or None
    cdef bint owns_file
    cdef bint eof                       # the stream has no more bytes
    cdef file_chunk *chunk              # current chunk (streams)
    cdef file_chunk *chunks             # all chunks
    cdef Py_ssize_t batches_out         # filled batches not yet released

    # format state
    cdef int fmt
    cdef int swapped                    # current section / file byte order is not ours
    cdef uint32_t rec_hdr_len           # pcap record header: 16, or 24 (Kuznetsov)
    cdef int lengths_swapped            # pcap < 2.3: 1 always, 2 when caplen > len
    cdef uint32_t pcap_ns_mul           # pcap: 1 (ns) or 1000 (us) ns per fraction unit
    cdef uint32_t max_caplen            # pcap: above this a record is corrupt
    cdef uint32_t snapshot              # pcap: records are cut to this (as libpcap does)
    cdef uint32_t max_block             # pcapng: longest block accepted
    cdef file_iface *ifaces
    cdef Py_ssize_t n_ifaces, cap_ifaces
    cdef uint32_t *sec_map              # this section's interface ids -> file-wide ids
    cdef Py_ssize_t n_sec, cap_sec

    cdef Py_ssize_t batch_packets
    cdef size_t batch_bytes
    cdef size_t fill_bytes              # record bytes in the batch being filled
    cdef size_t buffer_size             # streams: bytes read at a time (at least)

    # the error at pos, found by the walk
    cdef int err_code
    cdef uint64_t err_a, err_b
    cdef object pending_error           # raised by the next fill, after the good records

    cdef int set_error(self, int code, uint64_t a, uint64_t b) noexcept nogil
    cdef int walk_pcap(self, Batch b, Py_ssize_t limit) noexcept nogil
    cdef int walk_pcapng(self, Batch b, Py_ssize_t limit) noexcept nogil
    cdef int walk(self, Batch b, Py_ssize_t limit) except -1
    cdef bint need(self, size_t n) except -1
    cdef int refill(self, size_t want, int timeout_ms) except -1
    cdef file_chunk *take_chunk(self, size_t cap) except NULL
    cdef int add_iface(self, object iface) except -1
    cdef _open_path(self, str path)
    cdef _open_fd(self, int fd, bint owns)
    cdef _open_fileobj(self, f, bint owns)
    cdef _map(self, int fd, size_t size, size_t start)
    cdef _read_header(self)
    cdef _pcap_header(self)
    cdef _prime_pcapng(self)
    cdef _meta(self)
    cdef object _walk_error(self)
    cdef object _truncation_error(self)
    cdef size_t record_size(self)
    cdef size_t _wanted(self)
    cdef ssize_t _read_into(self, uint8_t *dst, size_t n) except -1
