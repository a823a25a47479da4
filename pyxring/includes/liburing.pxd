# liburing (Debian's liburing-dev): only what the io_uring file output uses.
from libc.stdint cimport uint64_t

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<liburing.h>" nogil:
    struct io_uring:
        pass
    struct io_uring_sqe:
        pass
    struct io_uring_cqe:
        uint64_t user_data
        int res
        unsigned int flags
    struct __kernel_timespec:
        long long tv_sec
        long long tv_nsec

    int io_uring_queue_init(unsigned entries, io_uring *ring, unsigned flags)
    void io_uring_queue_exit(io_uring *ring)
    int io_uring_register_buffers(io_uring *ring, const iovec *iovecs, unsigned nr_iovecs)
    io_uring_sqe *io_uring_get_sqe(io_uring *ring)
    void io_uring_prep_write_fixed(io_uring_sqe *sqe, int fd, const void *buf, unsigned nbytes,
                                   unsigned long long offset, int buf_index)
    void io_uring_sqe_set_data64(io_uring_sqe *sqe, uint64_t data)
    int io_uring_submit(io_uring *ring)
    int io_uring_peek_cqe(io_uring *ring, io_uring_cqe **cqe_ptr)
    int io_uring_wait_cqe_timeout(io_uring *ring, io_uring_cqe **cqe_ptr, __kernel_timespec *ts)
    void io_uring_cqe_seen(io_uring *ring, io_uring_cqe *cqe)
