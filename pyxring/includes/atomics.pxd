from libc.stdint cimport uint32_t, uint64_t

cdef extern from "pyxring/includes/atomics.h" nogil:
    uint32_t load_acquire_u32(const uint32_t *p)
    void store_release_u32(uint32_t *p, uint32_t v)
    uint64_t load_acquire_u64(const uint64_t *p)
    void store_release_u64(uint64_t *p, uint64_t v)
    void full_barrier()
