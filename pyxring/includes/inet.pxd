# Address formatting from libc (what Python's socket.inet_ntop calls too,
# so C and Python print IPv6 addresses identically).
cdef extern from "<arpa/inet.h>" nogil:
    enum:
        AF_INET
        AF_INET6
        INET6_ADDRSTRLEN
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)
