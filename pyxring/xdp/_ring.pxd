# The four AF_XDP rings (fill, completion, RX, TX) as single-producer /
# single-consumer queues shared with the kernel.
#
# Protocol: each ring is an array of ``size`` (a power of two) entries plus
# a producer and a consumer index that only ever grow (wrapping at 2**32);
# the slot of index i is ``i & mask``.  User space produces into fill and TX
# and consumes from RX and completion; the kernel does the opposite.  Each
# side keeps a private cached copy of the other side's index and re-reads the
# shared one only when the cache says the ring is full/empty, so a burst
# costs one shared-memory load, not one per entry.
#
# Ordering: a producer writes the entries, then publishes them with a
# release store of ``producer`` (pairs with the consumer's acquire load of
# ``producer``); a consumer reads the entries, then hands the slots back with
# a release store of ``consumer`` (pairs with the producer's acquire load of
# ``consumer``).  The kernel side does the same (net/xdp/xsk_queue.h).
#
# Threading: one ring has one user-space owner; nothing here is thread-safe.
# The helpers work on any memory, so tests drive them over ordinary buffers
# (see ``_ring.pyx``).
from libc.stdint cimport uint32_t, uint64_t

from pyxring.includes.if_xdp cimport xdp_desc, XDP_RING_NEED_WAKEUP

from pyxring.includes.atomics cimport load_acquire_u32, store_release_u32


ctypedef struct xring:
    uint32_t cached_prod    # producer index as last seen (or as owned)
    uint32_t cached_cons    # consumer index as last seen (+ size for producers)
    uint32_t mask
    uint32_t size
    uint32_t *producer      # shared with the kernel
    uint32_t *consumer      # shared with the kernel
    uint32_t *flags         # XDP_RING_NEED_WAKEUP lives here
    void *descs             # uint64_t[] (fill, completion) or xdp_desc[] (RX, TX)
    void *map               # mmap()ed area, for munmap
    size_t map_len


cdef inline void ring_init(xring *r, void *producer, void *consumer, void *flags,
                           void *descs, uint32_t size, bint is_producer) noexcept nogil:
    r.producer = <uint32_t *>producer
    r.consumer = <uint32_t *>consumer
    r.flags = <uint32_t *>flags
    r.descs = descs
    r.size = size
    r.mask = size - 1
    # no ordering needed: nothing has been exchanged through the ring yet
    r.cached_prod = r.producer[0]
    r.cached_cons = r.consumer[0]
    if is_producer:
        # a producer's cached_cons is kept one lap ahead, so that
        # cached_cons - cached_prod is directly the number of free slots
        r.cached_cons += size
    r.map = NULL
    r.map_len = 0


# --- producer side (fill, TX) ---

cdef inline uint32_t ring_free(xring *r, uint32_t wanted) noexcept nogil:
    cdef uint32_t free_slots = r.cached_cons - r.cached_prod
    if free_slots >= wanted:
        return free_slots
    # acquire: pairs with the kernel's release of ``consumer`` after it has
    # read the entries, so the slots we are about to overwrite are done with
    r.cached_cons = load_acquire_u32(r.consumer) + r.size
    return r.cached_cons - r.cached_prod


cdef inline uint32_t ring_reserve(xring *r, uint32_t n, uint32_t *idx) noexcept nogil:
    """All ``n`` slots or none; their first index goes to ``idx``."""
    if ring_free(r, n) < n:
        return 0
    idx[0] = r.cached_prod
    r.cached_prod += n
    return n


cdef inline void ring_submit(xring *r, uint32_t n) noexcept nogil:
    # release: the entries written into the reserved slots become visible to
    # the kernel before the new producer index (pairs with its acquire load);
    # a plain read of ``producer`` is enough, only we ever write it
    store_release_u32(r.producer, r.producer[0] + n)


cdef inline uint32_t ring_in_flight(xring *r) noexcept nogil:
    """Entries produced (reserved or submitted) that the kernel has not
    consumed yet."""
    # acquire: pairs with the kernel's release of ``consumer`` after it has
    # read the entries (a TX frame read is a TX frame sent, in copy mode)
    return r.cached_prod - load_acquire_u32(r.consumer)


cdef inline uint32_t fill_ring_entries(uint32_t chunks) noexcept nogil:
    """Slots a fill ring needs so that handing ``chunks`` chunks back never
    finds it full: a power of two of at least twice ``chunks`` (and 64).

    The kernel takes fill entries through a private copy of the consumer
    index and stores the shared one only when it flushes, after it has
    published the RX descriptors of those chunks (xsk_flush in
    net/xdp/xsk.c: RX producer first, then the fill consumer).  A consumer
    quick enough can take a chunk off the RX ring and give it back while
    the chunk's old fill slot still reads as taken, so a chunk may count
    twice for a moment; a ring only as big as the chunk count then has no
    room for a batch being handed back."""
    cdef uint64_t size = 64
    while size < <uint64_t>chunks * 2:
        size <<= 1
    return <uint32_t>size


# --- consumer side (RX, completion) ---

cdef inline uint32_t ring_peek(xring *r, uint32_t n, uint32_t *idx) noexcept nogil:
    """Up to ``n`` ready entries; their first index goes to ``idx``."""
    cdef uint32_t entries = r.cached_prod - r.cached_cons
    if entries == 0:
        # acquire: pairs with the kernel's release of ``producer``, so the
        # entries below it are fully written when we read them
        r.cached_prod = load_acquire_u32(r.producer)
        entries = r.cached_prod - r.cached_cons
    if entries > n:
        entries = n
    if entries:
        idx[0] = r.cached_cons
        r.cached_cons += entries
    return entries


cdef inline void ring_cancel(xring *r, uint32_t n) noexcept nogil:
    """Un-peek the last ``n`` entries (they will be peeked again)."""
    r.cached_cons -= n


cdef inline void ring_release(xring *r, uint32_t n) noexcept nogil:
    # release: our reads of the entries are done before the kernel may
    # overwrite the slots (pairs with its acquire load of ``consumer``);
    # a plain read of ``consumer`` is enough, only we ever write it
    store_release_u32(r.consumer, r.consumer[0] + n)


cdef inline bint ring_needs_wakeup(xring *r) noexcept nogil:
    # acquire: pairs with the kernel's store of the flag (xsk_set_rx_need_wakeup);
    # a stale value only costs one extra or one late kick, no data depends on it
    return r.flags != NULL and (load_acquire_u32(r.flags) & XDP_RING_NEED_WAKEUP) != 0


cdef inline uint64_t *ring_addr(xring *r, uint32_t idx) noexcept nogil:
    """Fill / completion entry ``idx``."""
    return &(<uint64_t *>r.descs)[idx & r.mask]


cdef inline xdp_desc *ring_desc(xring *r, uint32_t idx) noexcept nogil:
    """RX / TX entry ``idx``."""
    return &(<xdp_desc *>r.descs)[idx & r.mask]
