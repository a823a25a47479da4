# distutils: libraries = pcap
"""tcpdump expressions to classic BPF, through libpcap's own compiler, and
run over whole batches.

The instructions are returned as ``(code, jt, jf, k)`` tuples so that every
consumer (SO_ATTACH_FILTER, the eBPF translator, the reference interpreter)
starts from exactly what tcpdump would run.  ``BatchFilter`` runs them where
no kernel does (files, the myring device): libpcap's interpreter over a
batch's descriptors without the GIL, one program per link type.
"""
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset
from pyxring._core cimport Batch, pkt_desc
from pyxring.includes.pcap cimport (
    pcap_create, pcap_set_snaplen, pcap_set_buffer_size, pcap_set_immediate_mode, pcap_activate,
    PCAP_ERRBUF_SIZE, pcap_t, bpf_program, bpf_insn, pcap_pkthdr, pcap_open_dead, pcap_compile,
    pcap_freecode, pcap_geterr, pcap_close, pcap_offline_filter, PCAP_NETMASK_UNKNOWN,
    pcap_datalink_val_to_name, pcap_datalink_val_to_description)
from pyxring.includes.pcap_live cimport pcap_datalink, pcap_set_datalink

# LINKTYPE_ values (files) whose DLT_ value (libpcap's API) differs on Linux;
# every other value is the same in both (libpcap's linktype_to_dlt)
_LINKTYPE_TO_DLT = {100: 11, 101: 12, 102: 15, 103: 16, 106: 19}


def linktype_to_dlt(int linktype):
    """The DLT_ value libpcap uses for a file's LINKTYPE_ value."""
    return _LINKTYPE_TO_DLT.get(linktype, linktype)


def datalink_name(int linktype):
    """libpcap's name and description of a LINKTYPE_ value, as tcpdump
    prints them (``("EN10MB", "Ethernet")``); ``(None, None)`` if unknown."""
    cdef int dlt = linktype_to_dlt(linktype)
    cdef const char *name = pcap_datalink_val_to_name(dlt)
    cdef const char *desc = pcap_datalink_val_to_description(dlt)
    return (None if name == NULL else (<bytes>name).decode(),
            None if desc == NULL else (<bytes>desc).decode())


class FilterError(ValueError):
    """A tcpdump expression libpcap refused; the message is libpcap's."""


def compile_filter(str expression, int linktype=1, int snaplen=262144, bint optimize=True,
                   str live_iface=None):
    """Compile ``expression`` for ``linktype`` frames (a LINKTYPE_ value,
    as files carry); returns a list of ``(code, jt, jf, k)``.  The accepting
    ``ret`` carries ``snaplen``.

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
            if pcap_activate(p) < 0 or (pcap_datalink(p) != linktype_to_dlt(linktype) and
                                        pcap_set_datalink(p, linktype_to_dlt(linktype)) != 0):
                pcap_close(p)
                p = NULL
    if p == NULL:
        p = pcap_open_dead(linktype_to_dlt(linktype), snaplen)
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


cdef class BatchFilter:
    """A tcpdump expression run over batches by libpcap's interpreter.

    The expression is compiled once per link type, when a batch first
    brings a packet of that type, so a file whose interfaces differ filters
    each packet by its own interface's program.  ``apply(batch)`` keeps the
    matching packets, in order, at the front of the batch.
    """

    def __cinit__(self, *args, **kwargs):
        self.progs = NULL
        self.n_progs = 0

    def __init__(self, str expression, unsigned int snaplen=262144):
        self.expression = expression
        self.snaplen = snaplen

    @staticmethod
    def from_program(insns, int linktype=1, str expression=None):
        """A filter of already compiled instructions for ``linktype`` frames
        (a batch bringing any other link type raises ``FilterError``)."""
        cdef BatchFilter f = BatchFilter.__new__(BatchFilter)
        f.expression = expression
        f.snaplen = 262144
        f.add_program(linktype, insns)
        return f

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n_progs):
            free(self.progs[i].prog.bf_insns)
        free(self.progs)

    cdef int add_program(self, int linktype, insns) except -1:
        cdef linktype_program *p
        cdef bytes raw = pack_insns(insns)
        cdef bpf_insn *code = <bpf_insn *>malloc(len(raw) if raw else 1)
        if code == NULL:
            raise MemoryError()
        memcpy(code, <const char *>raw, len(raw))
        p = <linktype_program *>realloc(self.progs, (self.n_progs + 1) * sizeof(linktype_program))
        if p == NULL:
            free(code)
            raise MemoryError()
        self.progs = p
        p[self.n_progs].linktype = linktype
        p[self.n_progs].prog.bf_len = len(insns)
        p[self.n_progs].prog.bf_insns = code
        self.n_progs += 1
        return 0

    cdef int ensure_programs(self, Batch batch) except -1:
        cdef Py_ssize_t i, j
        cdef int lt, last = -1
        for i in range(batch.count):
            lt = batch.descs[i].linktype
            if lt == last:
                continue
            last = lt
            for j in range(self.n_progs):
                if self.progs[j].linktype == lt:
                    break
            else:
                if self.expression is None:
                    raise FilterError(f"the filter was compiled for link type "
                                      f"{self.progs[0].linktype}, not {lt}")
                try:
                    insns = compile_filter(self.expression, lt, self.snaplen)
                except FilterError as exc:
                    name = datalink_name(lt)[0] or lt
                    raise FilterError(f"{exc} (link type {name})") from None
                self.add_program(lt, insns)
        return 0

    cpdef Py_ssize_t apply(self, Batch batch) except -1:
        """Keep only the packets of ``batch`` that match; returns how many."""
        cdef Py_ssize_t i, j, kept = 0, n = batch.count
        cdef int cur_lt = -1
        cdef const bpf_program *prog = NULL
        cdef pkt_desc *d
        cdef pcap_pkthdr hdr
        if n == 0:
            return 0
        self.ensure_programs(batch)
        memset(&hdr, 0, sizeof(hdr))
        with nogil:
            for i in range(n):
                d = &batch.descs[i]
                if d.linktype != cur_lt:
                    cur_lt = d.linktype
                    for j in range(self.n_progs):
                        if self.progs[j].linktype == cur_lt:
                            prog = &self.progs[j].prog
                            break
                hdr.caplen = d.caplen
                hdr.len = d.wirelen
                if pcap_offline_filter(prog, &hdr, d.data) != 0:
                    if kept != i:
                        batch.descs[kept] = d[0]
                    kept += 1
        batch.count = kept
        self.matched += kept
        self.filtered += n - kept
        return kept

    def __repr__(self):
        return f"<BatchFilter {self.expression!r} for {self.n_progs} link type(s)>"
