# File-descriptor calls beyond posix_io.pxd, of the file source (reading)
# and of the capture file writer (only what is used).
cdef extern from "<unistd.h>" nogil:
    ssize_t read(int fd, void *buf, size_t count)
    int ftruncate(int fd, long length)
    int usleep(unsigned usec)

cdef extern from "<sys/mman.h>" nogil:
    int madvise(void *addr, size_t length, int advice)
    enum:
        MADV_SEQUENTIAL
        MADV_WILLNEED
        MADV_HUGEPAGE
        MADV_POPULATE_WRITE             # Linux 5.14

cdef extern from "<fcntl.h>" nogil:
    int fcntl(int fd, int cmd, ...)
    enum:
        F_GETFL
        F_SETFL
        F_GETPIPE_SZ
        O_NONBLOCK
        O_DIRECT

cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)
    enum: FIONREAD

cdef extern from "<stdlib.h>" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)

cdef extern from "<errno.h>" nogil:
    enum:
        ENOSPC
        EIO
        EPIPE
        ETIMEDOUT
        EWOULDBLOCK
