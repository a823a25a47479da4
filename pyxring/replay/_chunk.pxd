# Frames handed to the replay send loop: a chunk of pointers into bytes
# objects it holds, with their lengths, file timestamps and lanes.  The
# send loop (_pacer.pyx) reads the arrays without the GIL.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t

cdef enum:
    MAX_LANES = 64          # TX rings one run may drive

cdef class Chunk:
    cdef list frames               # the bytes objects the pointers point into
    cdef const uint8_t **data
    cdef uint32_t *lens
    cdef int64_t *ts               # file time in ns, from the file's first frame
    cdef uint16_t *lanes
    cdef readonly Py_ssize_t capacity, count
    cdef Py_ssize_t pos            # next frame to send (the send loop's)
