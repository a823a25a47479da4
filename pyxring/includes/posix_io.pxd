# System calls shared by the backends, declared once (only what pyxring uses).
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EINTR
        EAGAIN
        ENOBUFS
        EBUSY
        EINVAL
        EPERM
        ENODEV
        ENXIO
        ENETDOWN
        ENOMEM
        EOPNOTSUPP
        EBADF
        ETIMEDOUT

cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void *buf, size_t count)
    int close(int fd)
    long sysconf(int name)
    int usleep(unsigned int usec)
    enum: _SC_PAGESIZE

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    enum:
        CLOCK_REALTIME
        CLOCK_MONOTONIC
    int clock_gettime(int clk, timespec *ts)

cdef extern from "<sys/mman.h>" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    int mprotect(void *addr, size_t length, int prot)
    void *MAP_FAILED
    enum:
        PROT_NONE
        PROT_READ
        PROT_WRITE
        MAP_SHARED
        MAP_PRIVATE
        MAP_ANONYMOUS
        MAP_POPULATE
        MAP_LOCKED
        MAP_HUGETLB

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum:
        POLLIN
        POLLOUT
        POLLERR
        POLLHUP
        POLLNVAL

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        unsigned short sa_family
    int socket(int domain, int type, int protocol)
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    ssize_t sendto(int fd, const void *buf, size_t len, int flags, const sockaddr *addr, socklen_t alen)
    enum:
        AF_PACKET
        AF_XDP
        SOCK_RAW
        SOCK_DGRAM
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_ATTACH_FILTER
        SO_LOCK_FILTER
        MSG_DONTWAIT

cdef inline uint64_t now_realtime_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000ULL + <uint64_t>ts.tv_nsec

cdef inline uint64_t now_monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000ULL + <uint64_t>ts.tv_nsec

cdef inline int pending_error(int fd) noexcept nogil:
    """A socket's pending error (SO_ERROR; reading it clears it): 0 if none,
    -1 with errno set if it can't be read."""
    cdef int err = 0
    cdef socklen_t ln = sizeof(err)
    if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &ln) < 0:
        return -1
    return err

cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)

cdef extern from "<sys/syscall.h>" nogil:
    long syscall(long number, ...)
    enum: SYS_membarrier

cdef extern from "<linux/membarrier.h>" nogil:
    enum: MEMBARRIER_CMD_GLOBAL
