# xxHash (Debian's libxxhash-dev), compiled inline: XXH_INLINE_ALL makes every
# function static in the including module, so no library is linked.
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #define XXH_INLINE_ALL
    #include <xxhash.h>
    """
    uint64_t XXH3_64bits(const void *data, size_t length) nogil
