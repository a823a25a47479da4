# distutils: libraries = pcap
"""tcpdump expressions to classic BPF, through libpcap's own compiler.

The instructions are returned as ``(code, jt, jf, k)`` tuples so that every
consumer (SO_ATTACH_FILTER, the eBPF translator, the reference interpreter)
starts from exactly what tcpdump would run.
"""
from libc.string cimport memset
from pyxring.includes.pcap cimport (
    pcap_create, pcap_set_snaplen, pcap_set_buffer_size, pcap_set_immediate_mode, pcap_activate,
    PCAP_ERRBUF_SIZE, pcap_t, bpf_program, bpf_insn, pcap_pkthdr, pcap_open_dead, pcap_compile,
    pcap_freecode, pcap_geterr, pcap_close, pcap_offline_filter, PCAP_NETMASK_UNKNOWN)
from pyxring.includes.pcap_live cimport pcap_datalink, pcap_set_datalink


class FilterError(ValueError):
    """A tcpdump expression libpcap refused; the message is libpcap's."""


def compile_filter(str expression, int linktype=1, int snaplen=262144, bint optimize=True,
                   str live_iface=None):
    """Compile ``expression`` for ``linktype`` frames; returns a list of
    ``(code, jt, jf, k)``.  The accepting ``ret`` carries ``snaplen``.

    With ``live_iface``, compile exactly as tcpdump does for a live Linux
    capture on that interface: libpcap then tests VLAN tags through the
    kernel's ancillary data (AF_PACKET sees frames with the tag taken out),
    not in the frame.  Falls back to the offline form when the interface
    can't be opened that way.
    """
    cdef pcap_t *p = NULL
    cdef bpf_program prog
    cdef unsigned int i
    cdef char errbuf[PCAP_ERRBUF_SIZE]
    if live_iface is not None:
        p = pcap_create(live_iface.encode(), errbuf)
        if p != NULL:
            pcap_set_snaplen(p, snaplen)
            pcap_set_immediate_mode(p, 1)
            pcap_set_buffer_size(p, 1 << 16)
            # compile for the link type asked for (e.g. LINUX_SLL2 on "any",
            # whose live default is LINUX_SLL), as tcpdump does after -y
            if pcap_activate(p) < 0 or (pcap_datalink(p) != linktype and
                                        pcap_set_datalink(p, linktype) != 0):
                pcap_close(p)
                p = NULL
    if p == NULL:
        p = pcap_open_dead(linktype, snaplen)
    if p == NULL:
        raise MemoryError("pcap_open_dead failed")
    memset(&prog, 0, sizeof(prog))
    expr_b = expression.encode()
    try:
        if pcap_compile(p, &prog, expr_b, optimize, PCAP_NETMASK_UNKNOWN) != 0:
            msg = (<bytes>pcap_geterr(p)).decode(errors="replace")
            raise FilterError(f"invalid filter expression {expression!r}: {msg}")
        insns = [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf,
                  prog.bf_insns[i].k) for i in range(prog.bf_len)]
        pcap_freecode(&prog)
        return insns
    finally:
        pcap_close(p)


def pack_insns(insns):
    """Instructions as the kernel's ``struct sock_filter`` array (bytes)."""
    import struct
    return b"".join(struct.pack("=HBBI", c, jt, jf, k) for c, jt, jf, k in insns)


def offline_filter(insns, const unsigned char[:] data not None, unsigned int wirelen=0):
    """Run classic BPF on one frame with libpcap's interpreter; returns the
    filter's return value (0 = no match, else the snap length)."""
    cdef bpf_program prog
    cdef pcap_pkthdr hdr
    cdef bytes raw = pack_insns(insns)
    cdef Py_ssize_t n = len(data)
    cdef unsigned char empty = 0
    prog.bf_len = len(insns)
    prog.bf_insns = <bpf_insn *><char *>raw
    memset(&hdr, 0, sizeof(hdr))
    hdr.caplen = n
    hdr.len = wirelen if wirelen else n
    return pcap_offline_filter(&prog, &hdr, &data[0] if n else &empty)
