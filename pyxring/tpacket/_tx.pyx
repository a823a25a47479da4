"""AF_PACKET TX ring (TPACKET_V2 frames): sending without a syscall per frame.

Ring protocol (Documentation/networking/packet_mmap.rst): a ring of
``frame_count`` fixed-size frames.  A free frame has status
``TP_STATUS_AVAILABLE``; we copy a packet into it, set ``tp_len`` and hand it
to the kernel with a release store of ``TP_STATUS_SEND_REQUEST``.  A
``sendto()`` with no data makes the kernel transmit every requested frame;
each goes back to ``TP_STATUS_AVAILABLE`` once sent, or is marked
``TP_STATUS_WRONG_FORMAT`` (with ``PACKET_LOSS`` on, the kernel skips a bad
frame instead of stopping the ring).  One user thread per ring.

The replay send loop drives the ring through ``tx_port()`` (see
``pyxring/includes/tx_port.pxd``): ``put`` fills the next frame, ``push``
is that ``sendto()``, without the GIL.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset, memcpy
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_New

from pyxring.includes.posix_io cimport (
    errno, EINTR, EAGAIN, ENOBUFS, EBADF, ETIMEDOUT, socket, bind, setsockopt, sendto, sockaddr, close, mmap, munmap,
    MAP_FAILED, PROT_READ, PROT_WRITE, MAP_SHARED, poll, pollfd, POLLOUT, AF_PACKET, SOCK_RAW,
    SOCK_CLOEXEC, MSG_DONTWAIT, now_monotonic_ns)
from pyxring.includes.if_packet cimport (
    sockaddr_ll, if_nametoindex, SOL_PACKET, PACKET_VERSION, TPACKET_ALIGN)
from pyxring.includes.atomics cimport load_acquire_u32, store_release_u32
from pyxring.includes.tx_port cimport tx_port, TX_PORT_CAPSULE

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


cdef int port_put(void *ctx, const uint8_t *data, uint32_t length) noexcept nogil:
    return (<TPacketTx>ctx)._put(data, length)


cdef int port_push(void *ctx) noexcept nogil:
    return (<TPacketTx>ctx)._push()


cdef int port_wait_room(void *ctx, int timeout_ms) noexcept nogil:
    return (<TPacketTx>ctx)._wait_room(timeout_ms)


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
    cdef tx_port port

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
        self.port.ctx = <void *>self
        self.port.max_len = self.max_len
        self.port.put = port_put
        self.port.push = port_push
        self.port.wait_room = port_wait_room

    cdef inline tpacket2_hdr *slot(self, uint32_t i) noexcept nogil:
        return <tpacket2_hdr *>(self.ring + <size_t>i * self.frame_size)

    # --- the port: fill, push, wait (no GIL) ------------------------------

    cdef int _put(self, const uint8_t *data, uint32_t length) noexcept nogil:
        cdef tpacket2_hdr *h
        cdef uint32_t st
        if self.ring == NULL:
            return -EBADF
        h = self.slot(self.next_slot)
        # acquire: pairs with the kernel's status store once it is done with
        # the frame (__packet_set_status + smp_wmb), so we may overwrite it
        st = load_acquire_u32(&h.tp_status)
        if st & TP_STATUS_WRONG_FORMAT:
            self.wrong_format += 1        # refused and skipped by the kernel: counted once, reused
        elif st != TP_STATUS_AVAILABLE:
            return 0
        memcpy(<uint8_t *>h + DATA_OFFSET, data, length)
        h.tp_len = length
        # release: the frame's bytes and length are written before the
        # kernel may see SEND_REQUEST (pairs with its status read in tpacket_snd)
        store_release_u32(&h.tp_status, TP_STATUS_SEND_REQUEST)
        self.next_slot = (self.next_slot + 1) % self.frame_count
        self.queued += 1
        return 1

    cdef int _push(self) noexcept nogil:
        # One sendto() makes the kernel walk the ring from its head and send
        # every SEND_REQUEST frame in order; on a device without a queue
        # (veth) they are transmitted before it returns.
        cdef int tries = 0
        cdef pollfd pfd
        while True:
            if sendto(self.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0:
                return 0
            if errno == EINTR:
                continue
            if errno != EAGAIN and errno != ENOBUFS:
                return -errno
            # the device queue is full: give it a moment to drain
            tries += 1
            if tries > 1000:
                return -ETIMEDOUT
            pfd.fd = self.fd
            pfd.events = POLLOUT
            pfd.revents = 0
            poll(&pfd, 1, 1)

    cdef int _wait_room(self, int timeout_ms) noexcept nogil:
        cdef pollfd pfd
        pfd.fd = self.fd
        pfd.events = POLLOUT
        pfd.revents = 0
        if poll(&pfd, 1, timeout_ms) < 0:
            return -errno
        return 0

    def tx_port(self):
        """The ring as a ``tx_port`` (pyxring/includes/tx_port.pxd), in a
        capsule; keep this object alive while the port is used."""
        if self.ring == NULL:
            raise ValueError(f"TX ring on {self.name} is closed")
        return PyCapsule_New(&self.port, TX_PORT_CAPSULE, NULL)

    # --- the Python API ---------------------------------------------------

    cdef int _check(self, int rc) except -1:
        if rc < 0:
            raise_errno(-rc, f"sending on {self.name}")
        return 0

    cdef int _wait_slot(self, tpacket2_hdr *h, uint64_t deadline=0) except -1:
        """Wait until the kernel has finished with frame ``h`` (sent it, or
        refused it: whoever reuses or frees the slot counts a refusal);
        returns 1 if ``deadline`` (monotonic ns, 0: none) came first."""
        cdef uint32_t st
        while True:
            st = load_acquire_u32(&h.tp_status)   # acquire: as in _put
            if st == TP_STATUS_AVAILABLE or st & TP_STATUS_WRONG_FORMAT:
                return 0
            if deadline and now_monotonic_ns() > deadline:
                return 1
            self._check(self._push())
            with nogil:
                self._wait_room(10)
            if PyErr_CheckSignals() < 0:
                raise

    def send(self, frames):
        """Queue ``frames`` (bytes-like) and start sending them; returns how
        many were queued (frames longer than ``max_len`` are not)."""
        cdef const uint8_t[:] view
        cdef uint32_t n = 0, ln
        cdef int rc
        if self.ring == NULL:
            raise ValueError(f"TX ring on {self.name} is closed")
        for f in frames:
            ln = len(f)
            if ln > self.max_len or ln < 14:
                continue
            view = f
            while True:
                rc = self._put(&view[0], ln)
                if rc != 0:
                    break
                self._wait_slot(self.slot(self.next_slot))
            self._check(rc)
            n += 1
        self._check(self._push())
        return n

    def flush(self, int timeout_ms=5000):
        """Send what is queued and wait (up to ``timeout_ms``) for every
        frame to be done; returns the frames the kernel refused
        (TP_STATUS_WRONG_FORMAT) so far, plus those still not done."""
        cdef uint32_t i, stuck = 0
        cdef uint64_t deadline = now_monotonic_ns() + <uint64_t>timeout_ms * 1000000ULL
        if self.ring == NULL:
            return self.wrong_format
        self._check(self._push())
        for i in range(self.frame_count):
            if self._wait_slot(self.slot(i), deadline):
                stuck += 1
                continue
            # count a refused frame once, then make its slot free again
            if load_acquire_u32(&self.slot(i).tp_status) & TP_STATUS_WRONG_FORMAT:
                self.wrong_format += 1
                store_release_u32(&self.slot(i).tp_status, TP_STATUS_AVAILABLE)
        return self.wrong_format + stuck

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
