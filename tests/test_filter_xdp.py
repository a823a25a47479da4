"""The generated XDP programs, run by the kernel with BPF_PROG_TEST_RUN (no
traffic needed): for every expression x frame of the corpus the verdict must
equal libpcap's (pcap_offline_filter) and the reference interpreter's; the
production variant must redirect/count as the contract in
xdp_prog/pyxring_xdp.h says, also when tail-called from the real program."""
import os
import re
import struct
import sys

import pytest

from pyxring import _libpcap
from pyxring.bpf import FilterLoadError, cbpf, ebpf, syscall, xdp_filter
from pyxring.bpf.xdp_filter import load_filter, load_test_filter, read_counters, run_matches

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "filter_corpus"))
import packets  # noqa: E402

from conftest import ON_CI as CI, privileged  # noqa: E402
pytestmark = privileged

HERE = os.path.dirname(os.path.abspath(__file__))
XDP_HEADER = os.path.join(HERE, "..", "xdp_prog", "pyxring_xdp.h")
XDP_OBJECT = os.path.join(HERE, "..", "xdp_prog", "pyxring_xdp.o")

EXPRESSIONS = packets.expressions()
FRAMES = packets.frames()


@pytest.fixture
def fds():
    """Collects fds to close at the end of a test."""
    opened = []
    yield opened
    for fd in opened:
        os.close(fd)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_xdp_verdict_equals_libpcap(expr, fds):
    insns = _libpcap.compile_filter(expr)
    fd = load_test_filter(insns)
    fds.append(fd)
    mismatches = []
    matched = 0
    for name, data in FRAMES:
        xdp = run_matches(fd, data)
        ref = cbpf.run(insns, data) != 0
        pcap = _libpcap.offline_filter(insns, data) != 0
        matched += xdp
        if not xdp == ref == pcap:
            mismatches.append(f"{name}: xdp={xdp} interpreter={ref} libpcap={pcap}")
    assert not mismatches, f"{expr!r}:\n" + "\n".join(mismatches[:10])
    assert 0 < matched < len(FRAMES)


def test_truncated_frames_do_not_match(fds):
    fd = load_test_filter("udp port 53")
    fds.append(fd)
    frame = dict(FRAMES)["udp53-0"]
    assert run_matches(fd, frame)
    # cut inside the UDP header (dport at 36..37): a short read, no match
    for cut in (14, 23, 30, 36, 37):
        assert not run_matches(fd, frame[:cut]), cut
    assert run_matches(fd, frame[:38])


def test_frags_program_len_is_whole_frame(fds):
    """With BPF_F_XDP_HAS_FRAGS, ``len`` counts every buffer of the frame
    (bpf_xdp_get_buff_len); loads reach only the first buffer."""
    fd = load_test_filter("len > 5000", frags=True)
    fds.append(fd)
    big = dict(FRAMES)["udp53-0"] + bytes(6000)
    assert run_matches(fd, big)
    assert not run_matches(fd, big[:4000])


def _counter_offsets_from_header():
    with open(XDP_HEADER) as f:
        text = f.read()
    body = re.search(r"struct pyxring_counters\s*{(.*?)};", text, re.S).group(1)
    return re.findall(r"__u64\s+(\w+);", body)


def test_counter_layout_matches_header():
    if not os.path.exists(XDP_HEADER):
        pytest.fail(f"{XDP_HEADER} is missing")
    assert tuple(_counter_offsets_from_header()) == xdp_filter.COUNTER_FIELDS


def _maps(fds):
    xsks = syscall.map_create(syscall.BPF_MAP_TYPE_XSKMAP, 4, 4, 4, "test_xsks")
    counters = syscall.map_create(syscall.BPF_MAP_TYPE_PERCPU_ARRAY, 4,
                                  xdp_filter.COUNTERS_SIZE, 1, "test_counters")
    fds += [xsks, counters]
    return xsks, counters


def test_production_program_counts(fds):
    xsks, counters = _maps(fds)
    fd, info = load_filter("udp port 53", xsks_map_fd=xsks, counters_fd=counters)
    fds.append(fd)
    assert info["cbpf_insns"] > 0 and info["ebpf_insns"] > info["cbpf_insns"]
    dns, syn = dict(FRAMES)["udp53-0"], dict(FRAMES)["tcp80-syn-0"]
    # a match with no socket on queue 0: the redirect falls back to XDP_PASS
    assert syscall.prog_test_run(fd, dns) == ebpf.XDP_PASS
    assert syscall.prog_test_run(fd, dns) == ebpf.XDP_PASS
    assert syscall.prog_test_run(fd, syn) == ebpf.XDP_PASS
    c = read_counters(counters)
    assert (c["passed"], c["filtered"], c["redirected"], c["seen"]) == (2, 1, 0, 0)


def test_production_frags_program_loads(fds):
    xsks, counters = _maps(fds)
    fd, info = load_filter("vlan and tcp", xsks_map_fd=xsks, counters_fd=counters, frags=True)
    fds.append(fd)
    assert info["frags"]
    assert syscall.prog_test_run(fd, dict(FRAMES)["vlan100-tcp80"] + bytes(5000)) == ebpf.XDP_PASS
    assert read_counters(counters)["passed"] == 1


@pytest.mark.parametrize("frags", [False, True])
def test_tail_called_from_redirect_program(frags, fds):
    """The contract end to end, without traffic: the C program counts seen
    and tail-calls the filter, which decides."""
    if not os.path.exists(XDP_OBJECT):
        (pytest.fail if CI else pytest.skip)("xdp_prog/pyxring_xdp.o not built (make xdp)")
    from pyxring.xdp._bpf import XdpProgram
    prog = XdpProgram(XDP_OBJECT, "lo", 1,
                      prog_name="pyxring_xdp_frags" if frags else "pyxring_xdp")
    try:
        fd, _ = load_filter("udp port 53", xsks_map_fd=prog.xsks_map_fd,
                            counters_fd=prog.counters_fd, frags=frags)
        fds.append(fd)
        prog.set_filter(fd)
        dns, syn = dict(FRAMES)["udp53-0"], dict(FRAMES)["tcp80-syn-0"]
        for frame in (dns, syn, syn):
            assert syscall.prog_test_run(prog.prog_fd, frame) == ebpf.XDP_PASS
        c = prog.counters()
        assert (c["seen"], c["passed"], c["filtered"], c["redirected"]) == (3, 1, 2, 0)
    finally:
        prog.close()


def test_verifier_log_reaches_the_user():
    # "exit" without setting r0: every verifier refuses that
    bad = struct.pack("<BBhi", 0x95, 0, 0, 0)
    with pytest.raises(FilterLoadError) as exc:
        syscall.prog_load(bad, what="a broken program")
    assert "R0" in str(exc.value) and "a broken program" in str(exc.value)
    assert exc.value.log
