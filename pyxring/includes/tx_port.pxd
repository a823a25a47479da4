# A transmit ring as the replay send loop drives it, whatever the backend.
#
# The send loop (pyxring/replay/_pacer.pyx) copies frames into a backend's
# TX ring with ``put`` and hands them to the kernel with ``push``; it never
# sees the ring itself.  Each TX class (AF_XDP in pyxring/xdp/_xsk.pyx,
# AF_PACKET in pyxring/tpacket/_tx.pyx) keeps one ``tx_port`` filled with
# its own functions and ``ctx`` pointing at itself, and exports its address
# in a capsule named TX_PORT_CAPSULE.  The capsule does not own the object:
# whoever uses the port keeps a reference to the TX object.
#
# All three functions run without the GIL and never block for long:
#   put(ctx, data, len)      copy one frame into the ring: 1 queued, 0 the
#                            ring is full (push, wait_room, try again),
#                            -errno on failure.  A queued frame is not sent
#                            before the next push.
#   push(ctx)                hand every queued frame to the kernel and return
#                            once the kernel has taken them all (on veth that
#                            means transmitted, in order): 0, or -errno
#                            (-ETIMEDOUT when the kernel stopped taking them).
#   wait_room(ctx, ms)       wait up to ``ms`` for the kernel to give ring
#                            space back: 0, -EINTR (a signal: let Python
#                            look), or -errno.
from libc.stdint cimport uint8_t, uint32_t

ctypedef int (*tx_put_fn)(void *ctx, const uint8_t *data, uint32_t length) noexcept nogil
ctypedef int (*tx_push_fn)(void *ctx) noexcept nogil
ctypedef int (*tx_wait_fn)(void *ctx, int timeout_ms) noexcept nogil

ctypedef struct tx_port:
    void *ctx
    uint32_t max_len          # longest frame ``put`` takes
    tx_put_fn put
    tx_push_fn push
    tx_wait_fn wait_room

cdef extern from *:
    """
    #define PYXRING_TX_PORT_CAPSULE "pyxring.tx_port"
    """
    const char *TX_PORT_CAPSULE "PYXRING_TX_PORT_CAPSULE"
