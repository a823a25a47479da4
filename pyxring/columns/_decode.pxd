# The column decoder's C interface, for extensions that decode descriptors
# they hold (a file source's chunks, the stream producer) without a Batch.
from libc.stdint cimport uint32_t, int32_t

from pyxring._core cimport pkt_desc
from pyxring.columns._headers cimport N_COLS, DEPTH_NONE, DEPTH_LINK, DEPTH_NETWORK, DEPTH_TRANSPORT

ctypedef struct column:
    char *base              # NULL: not requested
    Py_ssize_t stride       # bytes from one row to the next

ctypedef struct column_set:
    column col[N_COLS]
    uint32_t valid_mask     # valid bits of the requested fields
    int depth

# Decode ``n`` descriptors into rows ``first_row ..`` of the columns.
cdef void decode_descs(const pkt_desc *descs, Py_ssize_t n, Py_ssize_t first_row,
                       const column_set *cs) noexcept nogil
