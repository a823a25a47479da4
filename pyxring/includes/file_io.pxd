# File-descriptor calls of the capture file writer (write(2) itself is in
# posix_io.pxd, shared with the backends).
cdef extern from "<fcntl.h>" nogil:
    int fcntl(int fd, int cmd, ...)
    enum:
        F_GETFL
        F_SETFL
        F_GETPIPE_SZ
        O_NONBLOCK
        O_DIRECT

cdef extern from "<unistd.h>" nogil:
    int ftruncate(int fd, long length)
    int usleep(unsigned usec)

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
