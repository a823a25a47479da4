from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "pyxring/includes/byteorder.h" nogil:
    uint16_t load_be16(const uint8_t *p)
    uint32_t load_be32(const uint8_t *p)
    uint64_t load_be64(const uint8_t *p)
    uint32_t load_le32(const uint8_t *p)
    void store_be16(uint8_t *p, uint16_t v)
    void store_be48(uint8_t *p, uint64_t v)
    void prefetch(const void *p)
