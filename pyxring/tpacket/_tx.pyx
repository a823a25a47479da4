"""AF_PACKET TX ring (TPACKET_V2 frames): sending without a syscall per frame.

Ring protocol (Documentation/networking/packet_mmap.rst): a ring of
``frame_count`` fixed-size frames.  A free frame has status
``TP_STATUS_AVAILABLE``; we copy a packet into it, set ``tp_len`` and hand it
to the kernel with a release store of ``TP_STATUS_SEND_REQUEST``.  A
``sendto()`` with no data makes the kernel transmit every requested frame;
each goes back to ``TP_STATUS_AVAILABLE`` once sent, or is marked
``TP_STATUS_WRONG_FORMAT`` (with ``PACKET_LOSS`` on, the kernel skips a bad
frame instead of stopping the ring).  One user thread per ring.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset, memcpy
from cpython.exc cimport PyErr_CheckSignals

from pyxring.includes.posix_io cimport (
    errno, EINTR, EAGAIN, ENOBUFS, socket, bind, setsockopt, sendto, sockaddr, close, mmap, munmap,
    MAP_FAILED, PROT_READ, PROT_WRITE, MAP_SHARED, poll, pollfd, POLLOUT, AF_PACKET, SOCK_RAW,
    SOCK_CLOEXEC, MSG_DONTWAIT)
from pyxring.includes.if_packet cimport (
    sockaddr_ll, if_nametoindex, SOL_PACKET, PACKET_VERSION, TPACKET_ALIGN)
from pyxring.includes.atomics cimport load_acquire_u32, store_release_u32

from pyxring.errors import ConfigError, InterfaceError, raise_errno

cdef extern from "<linux/if_packet.h>" nogil:
    struct tpacket2_hdr:
        uint32_t tp_status
        uint32_t tp_len
        uint32_t tp_snaplen
    struct tpacket_req:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr
    enum:
        PACKET_TX_RING
        PACKET_LOSS
        TPACKET_V2
        TP_STATUS_AVAILABLE
        TP_STATUS_SEND_REQUEST
        TP_STATUS_SENDING
        TP_STATUS_WRONG_FORMAT

cdef enum:
    BLOCK_SIZE = 1 << 16

# Where the packet starts in a TX frame: the kernel reads it at
# tp_hdrlen - sizeof(struct sockaddr_ll), i.e. right after the aligned header.
cdef size_t DATA_OFFSET = TPACKET_ALIGN(sizeof(tpacket2_hdr))


cdef class TPacketTx:
    """A TX ring on one interface.  ``send(frames)`` queues and kicks;
    ``flush()`` waits until the kernel has sent everything."""
    cdef int fd
    cdef uint8_t *ring
    cdef size_t ring_size
    cdef readonly str name
    cdef readonly uint32_t frame_size, frame_count, max_len
    cdef uint32_t next_slot
    cdef readonly unsigned long long queued, wrong_format

    def __cinit__(self):
        self.fd = -1
        self.ring = NULL

    def __init__(self, str iface, unsigned int frame_size=2048, unsigned int frame_count=1024):
        cdef int version = TPACKET_V2, one = 1
        cdef tpacket_req req
        cdef sockaddr_ll sll
        cdef unsigned int ifindex
        if frame_size < 128 or frame_size > BLOCK_SIZE or frame_size & (frame_size - 1):
            raise ConfigError(f"TX frame size {frame_size} must be a power of two from 128 to {BLOCK_SIZE}")
        if frame_count < BLOCK_SIZE // frame_size or frame_count % (BLOCK_SIZE // frame_size):
            raise ConfigError(f"TX frame count {frame_count} must be a multiple of {BLOCK_SIZE // frame_size}")
        self.name = iface
        self.frame_size = frame_size
        self.frame_count = frame_count
        self.max_len = frame_size - DATA_OFFSET
        ifindex = if_nametoindex(iface.encode())
        if ifindex == 0:
            raise InterfaceError(f"no such interface: {iface}")
        # protocol 0: this socket only sends, it never receives
        self.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)
        if self.fd < 0:
            raise_errno(errno, f"opening an AF_PACKET socket to send on {iface}")
        try:
            if setsockopt(self.fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0:
                raise_errno(errno, f"selecting TPACKET_V2 for the TX ring on {iface}")
            if setsockopt(self.fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0:
                raise_errno(errno, f"PACKET_LOSS on {iface}")
            memset(&req, 0, sizeof(req))
            req.tp_block_size = BLOCK_SIZE
            req.tp_frame_size = frame_size
            req.tp_frame_nr = frame_count
            req.tp_block_nr = frame_count // (BLOCK_SIZE // frame_size)
            if setsockopt(self.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0:
                raise_errno(errno, f"setting up a {frame_count}-frame TX ring on {iface}")
            self.ring_size = <size_t>req.tp_block_nr * BLOCK_SIZE
            self.ring = <uint8_t *>mmap(NULL, self.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                                        self.fd, 0)
            if self.ring == <uint8_t *>MAP_FAILED:
                self.ring = NULL
                raise_errno(errno, f"mapping the TX ring of {iface}")
            memset(&sll, 0, sizeof(sll))
            sll.sll_family = AF_PACKET
            sll.sll_ifindex = ifindex
            if bind(self.fd, <sockaddr *>&sll, sizeof(sll)) < 0:
                raise_errno(errno, f"binding the TX socket to {iface}")
        except BaseException:
            self.close()
            raise

    cdef inline tpacket2_hdr *slot(self, uint32_t i) noexcept nogil:
        return <tpacket2_hdr *>(self.ring + <size_t>i * self.frame_size)

    cdef int _kick(self, bint wait) except -1:
        """Ask the kernel to send the requested frames (``wait``: until done)."""
        cdef ssize_t rc
        while True:
            with nogil:
                rc = sendto(self.fd, NULL, 0, 0 if wait else MSG_DONTWAIT, NULL, 0)
            if rc >= 0 or errno == EAGAIN:
                return 0
            if errno == EINTR:
                if PyErr_CheckSignals() < 0:
                    raise
                continue
            if errno == ENOBUFS:
                return 0      # the qdisc is full: frames stay queued, retried on the next kick
            raise_errno(errno, f"sending on {self.name}")

    cdef int _wait_slot(self, tpacket2_hdr *h) except -1:
        """Wait until the kernel has finished with frame ``h``."""
        cdef uint32_t st
        cdef pollfd pfd
        while True:
            # acquire: pairs with the kernel's status store after it is done
            # reading the frame (__packet_set_status + smp_wmb), so we may
            # overwrite it
            st = load_acquire_u32(&h.tp_status)
            if st == TP_STATUS_AVAILABLE:
                return 0
            if st & TP_STATUS_WRONG_FORMAT:
                self.wrong_format += 1
                return 0
            self._kick(False)
            pfd.fd = self.fd
            pfd.events = POLLOUT
            with nogil:
                poll(&pfd, 1, 10)
            if PyErr_CheckSignals() < 0:
                raise

    def send(self, frames):
        """Queue ``frames`` (bytes-like) and start sending them; returns how
        many were queued (frames longer than ``max_len`` are not)."""
        cdef const uint8_t[:] view
        cdef tpacket2_hdr *h
        cdef uint32_t n = 0, ln
        if self.ring == NULL:
            raise ValueError(f"TX ring on {self.name} is closed")
        for f in frames:
            ln = len(f)
            if ln > self.max_len or ln < 14:
                continue
            h = self.slot(self.next_slot)
            self._wait_slot(h)
            view = f
            memcpy(<uint8_t *>h + DATA_OFFSET, &view[0], ln)
            h.tp_len = ln
            # release: the frame's bytes and length are written before the
            # kernel may see SEND_REQUEST (pairs with its status read in tpacket_snd)
            store_release_u32(&h.tp_status, TP_STATUS_SEND_REQUEST)
            self.next_slot = (self.next_slot + 1) % self.frame_count
            n += 1
        self.queued += n
        self._kick(False)
        return n

    def flush(self):
        """Send what is queued and wait for every frame to be done; returns
        the frames the kernel refused (TP_STATUS_WRONG_FORMAT) so far."""
        cdef uint32_t i
        if self.ring == NULL:
            return self.wrong_format
        self._kick(True)
        for i in range(self.frame_count):
            self._wait_slot(self.slot(i))
            # count a refused frame once, then make its slot free again
            if load_acquire_u32(&self.slot(i).tp_status) & TP_STATUS_WRONG_FORMAT:
                store_release_u32(&self.slot(i).tp_status, TP_STATUS_AVAILABLE)
        return self.wrong_format

    def close(self):
        if self.ring != NULL:
            munmap(self.ring, self.ring_size)
            self.ring = NULL
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1

    def __dealloc__(self):
        if self.ring != NULL:
            munmap(self.ring, self.ring_size)
        if self.fd >= 0:
            close(self.fd)
