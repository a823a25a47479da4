# The contract every packet source (backend) fulfils, shared at C level.
#
# A backend walks its kernel ring without the GIL and fills an array of
# ``pkt_desc`` in a ``Batch``.  Each descriptor points *into* the ring; the
# memory stays valid until the batch is released, at which point the backend
# hands the ring space back to the kernel.  Writers and the per-packet
# iterator read the descriptors directly, so no Python object is made per
# packet unless the user asks for one.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    PKT_VLAN = 0x1          # vlan_tci/vlan_tpid valid; the tag is in ``data``
    PKT_RXHASH = 0x2        # rxhash valid
    PKT_TS_BATCH = 0x4      # timestamp read from the clock per batch, not per packet
    PKT_TS_HW = 0x8         # timestamp from hardware / driver metadata
    PKT_TRUNCATED = 0x10    # caplen < wirelen
    PKT_VLAN_LOST = 0x20    # an offloaded tag existed but could not be recovered
    PKT_TS_RAW = 0x40       # the file's time does not fit ts_ns exactly: ts_parts comes
                            # from ts_raw (ts_ns is then clamped to 0 .. 2**64-1)

ctypedef struct pkt_desc:
    const uint8_t *data     # first byte of the link-layer frame
    uint32_t caplen         # bytes at ``data``
    uint32_t wirelen        # length on the wire (>= caplen live; files: as recorded)
    uint64_t ts_ns          # CLOCK_REALTIME nanoseconds
    uint32_t ifindex
    uint32_t rxhash
    uint16_t vlan_tci
    uint16_t vlan_tpid
    uint16_t queue
    uint16_t flags
    # Fields added for capture files (live sources leave them as next_desc sets them)
    uint16_t linktype       # LINKTYPE_ of the packet's interface (the source's, for live ones)
    uint16_t reserved
    uint32_t epb_flags      # pcapng epb_flags (direction, reception type, FCS...), else 0
    uint64_t ts_raw         # files: the record's own timestamp field, as stored (PKT_TS_RAW)

cdef class Source

cdef class Batch

cdef class Batch:
    cdef pkt_desc *descs
    cdef Py_ssize_t count
    cdef Py_ssize_t capacity
    cdef readonly Source source
    cdef bint released
    cdef uint16_t linktype          # the source's link type, for next_desc
    # backend cookies: which ring slots this batch holds
    cdef uint64_t cookie
    cdef uint64_t cookie2
    cdef int reserve(self, Py_ssize_t n) except -1
    cdef inline pkt_desc *next_desc(self) noexcept nogil:
        # the caller has reserved room; see ``reserve``
        cdef pkt_desc *d = &self.descs[self.count]
        self.count += 1
        d.linktype = self.linktype
        d.epb_flags = 0
        return d
    cpdef release(self)

cdef class Packet:
    cdef pkt_desc d
    cdef Batch batch

cdef class Source:
    """Base class of every backend (TPACKET_V3, AF_XDP, myring)."""
    cdef readonly str name          # interface or device name
    cdef readonly int linktype      # DLT_/LINKTYPE_ value of the frames
    cdef readonly unsigned int snaplen
    cdef readonly bint closed
    cdef readonly bint at_end       # no packet will ever come again (end of a file)
    cdef public int exports         # outstanding buffer exports into the ring
    cdef readonly unsigned long long delivered   # packets handed to the user
    cdef Batch _spare               # a released batch kept for reuse
    cdef object _iter               # the per-packet iterator (resumable)
    cdef Batch new_batch(self)
    cdef Py_ssize_t next_batch(self, Batch batch, int timeout_ms) except -1
    # Fill ``batch`` with what is ready, waiting up to ``timeout_ms`` (-1:
    # forever, 0: no wait).  Returns the number of packets, 0 on timeout.
    cdef Py_ssize_t fill_batch(self, Batch batch, int timeout_ms) except -1
    cdef int release_batch(self, Batch batch) except -1
    # ``(sec, frac_ns)`` of a packet whose descriptor has PKT_TS_RAW
    cdef object exact_time(self, const pkt_desc *d)
