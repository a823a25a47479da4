# System calls the file source uses beyond posix_io.pxd (only what is used).
cdef extern from "<unistd.h>" nogil:
    ssize_t read(int fd, void *buf, size_t count)

cdef extern from "<sys/mman.h>" nogil:
    int madvise(void *addr, size_t length, int advice)
    enum:
        MADV_SEQUENTIAL
        MADV_WILLNEED
