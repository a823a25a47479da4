"""The user's filter as the tail-called XDP program of the AF_XDP backend.

Contract with ``xdp_prog/pyxring_xdp.c`` (maps and counters declared in
``xdp_prog/pyxring_xdp.h``): the redirect program counts ``seen`` and
tail-calls ``filter_jmp[0]``; the program made here then owns the frame:

* match: ``bpf_redirect_map(xsks_map, rx_queue_index, XDP_PASS)``, counting
  ``redirected`` or (no socket on that queue) ``passed``;
* miss: count ``filtered`` and return XDP_PASS, so the stack sees the frame
  as if nobody were capturing.

The AF_XDP backend calls ``load_filter`` and writes the returned fd into
``filter_jmp[0]`` before its socket starts receiving.
"""
import struct

from pyxring import _libpcap

from . import ebpf as E
from . import syscall
from .translate import R_CTX, SCRATCH_SLOT, Epilogue, TestEpilogue, check_supported, translate

# struct pyxring_counters (pyxring_xdp.h): byte offsets of the __u64 fields
COUNTER_FIELDS = ("seen", "redirected", "passed", "filtered", "vlan_restored", "vlan_lost")
OFF_SEEN, OFF_REDIRECTED, OFF_PASSED, OFF_FILTERED = 0, 8, 16, 24
COUNTERS_SIZE = 8 * len(COUNTER_FIELDS)
XDP_MD_RX_QUEUE_INDEX = 16   # offsetof(struct xdp_md, rx_queue_index)

# registers the verdict code may use: the filter body is finished with A and X
_R_ACTION = E.R7


class RedirectEpilogue(Epilogue):
    """The production verdicts (see the module doc)."""

    def __init__(self, xsks_map_fd, counters_fd):
        self.xsks_map_fd = xsks_map_fd
        self.counters_fd = counters_fd

    def _count(self, asm, offset):
        """counters[0].<offset> += 1.  A per-CPU value, and XDP runs with
        migration disabled, so a plain read-modify-write cannot race."""
        skip = E.Label("count_skip")
        asm.st(4, E.R10, SCRATCH_SLOT, 0)
        asm.ld_map_fd(E.R1, self.counters_fd)
        asm.mov64_reg(E.R2, E.R10)
        asm.alu64(E.ADD, E.R2, SCRATCH_SLOT)
        asm.call(E.FN_map_lookup_elem)
        asm.jmp(E.JEQ, E.R0, 0, skip)
        asm.ldx(8, E.R1, E.R0, offset)
        asm.alu64(E.ADD, E.R1, 1)
        asm.stx(8, E.R0, offset, E.R1)
        asm.place(skip)

    def match(self, asm):
        passed = E.Label("redirect_failed")
        asm.ld_map_fd(E.R1, self.xsks_map_fd)
        asm.ldx(4, E.R2, R_CTX, XDP_MD_RX_QUEUE_INDEX)
        # the flags' low bits are the action when the queue has no socket
        asm.mov64(E.R3, E.XDP_PASS)
        asm.call(E.FN_redirect_map)
        asm.mov64_reg(_R_ACTION, E.R0)
        asm.jmp(E.JNE, _R_ACTION, E.XDP_REDIRECT, passed)
        self._count(asm, OFF_REDIRECTED)
        asm.mov64_reg(E.R0, _R_ACTION)
        asm.exit()
        asm.place(passed)
        self._count(asm, OFF_PASSED)
        asm.mov64_reg(E.R0, _R_ACTION)
        asm.exit()

    def miss(self, asm):
        self._count(asm, OFF_FILTERED)
        asm.mov64(E.R0, E.XDP_PASS)
        asm.exit()


def compile_expression(expression, linktype=1):
    """pcap_compile the expression and check that XDP can run it; returns the
    classic BPF instructions."""
    insns = _libpcap.compile_filter(expression, linktype)
    check_supported(insns, linktype)
    return insns


def load_filter(expression, *, xsks_map_fd, counters_fd, frags=False, linktype=1):
    """Compile ``expression`` into the XDP program that decides each frame's
    fate (see the module doc) and load it; returns ``(prog_fd, info)``.

    Raises ``FilterUnsupported`` (a construct XDP can't evaluate, named in the
    message), ``pyxring._libpcap.FilterError`` (invalid expression) or
    ``FilterLoadError`` (the verifier said no; the message carries its log).
    ``frags`` must match the program that tail-calls this one.
    """
    insns = compile_expression(expression, linktype)
    code = translate(insns, RedirectEpilogue(xsks_map_fd, counters_fd))
    fd = syscall.prog_load(code, name="pyxring_filter",
                           flags=syscall.BPF_F_XDP_HAS_FRAGS if frags else 0,
                           what=f"the XDP program for filter {expression!r}")
    info = {"expression": expression, "cbpf_insns": len(insns),
            "ebpf_insns": len(code) // 8, "frags": bool(frags)}
    return fd, info


def load_test_filter(expression_or_insns, *, frags=False, linktype=1):
    """The map-free variant for BPF_PROG_TEST_RUN: returns a prog fd whose
    verdict is XDP_TX on a match and XDP_PASS on a miss."""
    if isinstance(expression_or_insns, str):
        insns = compile_expression(expression_or_insns, linktype)
        what = f"the test program for filter {expression_or_insns!r}"
    else:
        insns = list(expression_or_insns)
        check_supported(insns, linktype)
        what = "the test program"
    code = translate(insns, TestEpilogue())
    return syscall.prog_load(code, name="pyxring_ftest",
                             flags=syscall.BPF_F_XDP_HAS_FRAGS if frags else 0, what=what)


def run_matches(prog_fd, frame):
    """Run a ``load_test_filter`` program on one frame: True on a match."""
    ret = syscall.prog_test_run(prog_fd, frame)
    if ret not in (TestEpilogue.MATCH, TestEpilogue.MISS):
        raise RuntimeError(f"test filter returned unexpected XDP action {ret}")
    return ret == TestEpilogue.MATCH


def read_counters(counters_fd):
    """The counters map summed over CPUs, as a dict."""
    ncpu = syscall.possible_cpus()
    raw = syscall.map_lookup(counters_fd, struct.pack("=I", 0), COUNTERS_SIZE * ncpu)
    totals = dict.fromkeys(COUNTER_FIELDS, 0)
    for cpu in range(ncpu):
        vals = struct.unpack_from(f"={len(COUNTER_FIELDS)}Q", raw, cpu * COUNTERS_SIZE)
        for name, v in zip(COUNTER_FIELDS, vals):
            totals[name] += v
    return totals
