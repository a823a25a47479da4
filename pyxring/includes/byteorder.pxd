from libc.stdint cimport uint8_t, uint16_t, uint32_t

cdef extern from "pyxring/includes/byteorder.h" nogil:
    uint16_t load_be16(const uint8_t *p)
    uint32_t load_be32(const uint8_t *p)
    uint32_t load_le32(const uint8_t *p)
