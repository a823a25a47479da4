# What the convert extensions share: how pcap and pcapng records are laid
# out and how their stored times map to nanoseconds, as small inline
# helpers (see _extract.pyx, _recwriter.pyx).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memset

from pyxring.file._filesrc cimport fs_u32, fs_put32, fs_units_to_ns, u128

cdef enum:
    BT_PB = 2
    BT_SPB = 3
    BT_EPB = 6
    FMT_PCAP = 1
    FMT_PCAPNG = 2
    EPB_HEADER = 28
    SPB_HEADER = 12
    FLAGS_OPTION = 12           # epb_flags (4 + 4 bytes) and opt_endofopt (4)

# Why write_batch stopped before the end of the batch (Python handles all
# but the last)
cdef enum RowStatus:
    R_OK = 0
    R_NO_INTERFACE = 1      # the row's interface has no description block yet
    R_LINKTYPE = 2          # pcap: the row's link type is not the file's
    R_TIME = 3              # the time can't be stored on the row's interface
    R_FULL = 4              # the output buffer has no room for the row

cdef enum:
    NS_PER_S = 1000000000


cdef inline uint32_t pad4(uint32_t n) noexcept nogil:
    return (n + 3) & ~<uint32_t>3


cdef inline bint all_zero(const uint8_t *p, uint32_t n) noexcept nogil:
    cdef uint32_t i
    for i in range(n):
        if p[i]:
            return False
    return True


# --- pcap ---------------------------------------------------------------------------

ctypedef struct pcap_layout:
    int swapped
    uint32_t hdr_len        # 16, or 24 (Kuznetsov's patched libpcap)
    int lengths             # 0: caplen, len; 1: len, caplen (before 2.3); 2: either (2.3)
    uint32_t ns_mul         # ns per unit of the fraction field: 1 or 1000


cdef inline uint32_t pcap_stored(const uint8_t *rec, const pcap_layout *L,
                                 uint32_t *wirelen) noexcept nogil:
    """The captured length a record header says (and its original length),
    read as libpcap reads them."""
    cdef uint32_t a = fs_u32(rec + 8, L.swapped), b = fs_u32(rec + 12, L.swapped)
    if L.lengths == 1 or (L.lengths == 2 and a > b):
        wirelen[0] = a
        return b
    wirelen[0] = b
    return a


cdef inline uint64_t pcap_ts_ns(uint64_t raw, const pcap_layout *L) noexcept nogil:
    """ts_ns of a stored time, as the file source makes it."""
    cdef uint32_t sec = <uint32_t>(raw >> 32)
    if <int32_t>sec < 0:
        return 0
    return <uint64_t>sec * NS_PER_S + (raw & 0xFFFFFFFFULL) * L.ns_mul


cdef inline void pcap_header(uint8_t *h, const pcap_layout *L, uint64_t raw, uint32_t stored,
                      uint32_t wirelen) noexcept nogil:
    fs_put32(h, <uint32_t>(raw >> 32), L.swapped)
    fs_put32(h + 4, <uint32_t>raw, L.swapped)
    if L.lengths == 1:
        fs_put32(h + 8, wirelen, L.swapped)
        fs_put32(h + 12, stored, L.swapped)
    else:
        fs_put32(h + 8, stored, L.swapped)
        fs_put32(h + 12, wirelen, L.swapped)
    if L.hdr_len > 16:
        memset(h + 16, 0, L.hdr_len - 16)


# --- pcapng ---------------------------------------------------------------------------

ctypedef struct iface_out:
    uint32_t local_id       # the interface's number in its section
    int swapped             # its section's byte order is not ours
    u128 per_sec            # if_tsresol: units per second
    int64_t tsoffset        # if_tsoffset, seconds
    uint64_t ns_per_unit    # decimal resolution of 1 ns .. 1 s and no offset, else 0
    bint defined


cdef inline uint64_t units_ns(uint64_t units, const iface_out *f) noexcept nogil:
    """ts_ns of a stored time, as the file source makes it (clamped)."""
    cdef uint64_t ns
    if f.ns_per_unit and units <= 0xFFFFFFFFFFFFFFFFULL // f.ns_per_unit:
        return units * f.ns_per_unit
    fs_units_to_ns(units, f.per_sec, f.tsoffset, &ns)
    return ns


cdef inline bint ns_units(uint64_t ns, const iface_out *f, uint64_t *units) noexcept nogil:
    """The interface's units for ``ns`` (rounded down); False if they don't
    fit a pcapng timestamp."""
    cdef int64_t sec
    cdef u128 u
    if f.ns_per_unit and f.tsoffset == 0:
        units[0] = ns // f.ns_per_unit
        return True
    if f.per_sec == 0 or f.per_sec > <u128>0xFFFFFFFFFFFFFFFFULL:
        return False
    sec = <int64_t>(ns // NS_PER_S)
    if f.tsoffset > 0 and sec < f.tsoffset:
        return False
    if f.tsoffset < 0 and sec > 0x7FFFFFFFFFFFFFFFLL + f.tsoffset:
        return False
    sec -= f.tsoffset
    u = <u128>sec * f.per_sec
    if u > <u128>0xFFFFFFFFFFFFFFFFULL:
        return False
    u += (<u128>(ns % NS_PER_S) * f.per_sec) // NS_PER_S
    if u > <u128>0xFFFFFFFFFFFFFFFFULL:
        return False
    units[0] = <uint64_t>u
    return True


