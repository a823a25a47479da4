# distutils: include_dirs = xdp_prog
"""The ring helpers of ``_ring.pxd`` over ordinary memory, for tests.

``FakeRing`` plays the user-space side through the very inline helpers the
socket uses; its ``kernel_*`` methods play the kernel by moving the shared
indices directly, so reserve/submit/peek/release, wrap-around of the 32-bit
indices and full/empty can be checked without a socket.
"""
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free

from pyxring.xdp._ring cimport (xring, ring_init, ring_free, ring_reserve, ring_submit,
                                ring_peek, ring_cancel, ring_release, ring_addr,
                                fill_ring_entries as _fill_ring_entries)


def fill_ring_entries(uint32_t chunks):
    """The fill ring size the socket asks for, for ``chunks`` chunks."""
    return _fill_ring_entries(chunks)


cdef class FakeRing:
    cdef xring r
    cdef uint32_t *shared      # producer, consumer, flags
    cdef uint64_t *entries
    cdef readonly bint is_producer
    cdef object kernel_cons    # kernel_take's private consumer index

    def __cinit__(self, uint32_t size, bint is_producer, uint32_t start=0):
        if size == 0 or size & (size - 1):
            raise ValueError("ring size must be a power of two")
        self.shared = <uint32_t *>calloc(3, sizeof(uint32_t))
        self.entries = <uint64_t *>calloc(size, sizeof(uint64_t))
        if self.shared == NULL or self.entries == NULL:
            raise MemoryError()
        self.shared[0] = start
        self.shared[1] = start
        self.is_producer = is_producer
        ring_init(&self.r, &self.shared[0], &self.shared[1], &self.shared[2],
                  self.entries, size, is_producer)

    def __dealloc__(self):
        free(self.shared)
        free(self.entries)

    # user-space side, through the inline helpers
    def free(self, uint32_t wanted=1):
        return ring_free(&self.r, wanted)

    def reserve(self, uint32_t n):
        """Index of the first of ``n`` reserved slots, or None when full."""
        cdef uint32_t idx = 0
        if ring_reserve(&self.r, n, &idx) != n:
            return None
        return idx

    def write(self, idx, uint64_t value):
        """Fill slot ``idx`` (any int: indices wrap at 2**32 like the kernel's)."""
        ring_addr(&self.r, <uint32_t>(idx & 0xffffffff))[0] = value

    def submit(self, uint32_t n):
        ring_submit(&self.r, n)

    def peek(self, uint32_t n):
        """List of up to ``n`` ready entries (consumer side)."""
        cdef uint32_t idx = 0, got, i
        got = ring_peek(&self.r, n, &idx)
        return [ring_addr(&self.r, idx + i)[0] for i in range(got)]

    def cancel(self, uint32_t n):
        ring_cancel(&self.r, n)

    def release(self, uint32_t n):
        ring_release(&self.r, n)

    # the kernel's side: shared indices moved by hand
    @property
    def producer(self):
        return self.shared[0]

    @property
    def consumer(self):
        return self.shared[1]

    def kernel_produce(self, values):
        cdef uint32_t prod = self.shared[0]
        for v in values:
            if <uint32_t>(prod - self.shared[1]) >= self.r.size:
                raise OverflowError("kernel would overrun the consumer")
            self.entries[prod & self.r.mask] = v
            prod += 1
        self.shared[0] = prod

    def kernel_consume(self, uint32_t n):
        cdef uint32_t cons = self.shared[1]
        cdef uint32_t avail = self.shared[0] - cons
        if n > avail:
            n = avail
        out = [self.entries[(cons + i) & self.r.mask] for i in range(n)]
        self.shared[1] = cons + n
        return out

    def kernel_take(self, uint32_t n):
        """Consume up to ``n`` entries the way the kernel takes fill
        entries: through its private index, the shared one left as it was
        until ``kernel_publish``."""
        if self.kernel_cons is None:
            self.kernel_cons = self.shared[1]
        cdef uint32_t cons = self.kernel_cons
        cdef uint32_t avail = self.shared[0] - cons
        if n > avail:
            n = avail
        out = [self.entries[(cons + i) & self.r.mask] for i in range(n)]
        self.kernel_cons = <uint32_t>(cons + n)
        return out

    def kernel_publish(self):
        """Store the private consumer index of ``kernel_take`` (a flush)."""
        if self.kernel_cons is not None:
            self.shared[1] = self.kernel_cons
