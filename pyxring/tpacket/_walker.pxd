# The TPACKET_V3 block walker (``_walker.pyx``): turns the packets of one
# user-owned block into pkt_desc in a Batch, without the GIL.
from libc.stdint cimport uint8_t, uint32_t
from pyxring._core cimport Batch
from pyxring.includes.pcap cimport bpf_program

cdef enum:
    DIR_INOUT = 0
    DIR_IN = 1
    DIR_OUT = 2

cdef enum:
    LT_ETHERNET = 1
    LT_DOCSIS = 143             # a label of Ethernet frames
    LT_LINUX_SLL = 113
    LT_LINUX_SLL2 = 276

ctypedef struct walk_params:
    uint32_t snaplen
    int direction
    int lo_ifindex              # outgoing copies on this ifindex are dropped (-1: none)
    int cooked                  # 0: frames as the socket gives them; else LT_LINUX_SLL(2)
    bint ethernet               # frames as given are Ethernet: VLAN tags go back in
    const bpf_program *userland # the filter, when the kernel can't run it (cooked mode); or NULL

cdef Py_ssize_t walk_block(uint8_t *block, size_t block_size, Batch batch,
                           const walk_params *wp) except -1 nogil
