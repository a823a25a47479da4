"""The reference classic BPF interpreter and the translator's front end,
without privileges: the interpreter must give libpcap's own verdict
(pcap_offline_filter) on every expression x frame of the corpus, and
constructs XDP can't evaluate must be refused by name."""
import os
import sys

import pytest

from pyxring import _libpcap
from pyxring.bpf import FilterUnsupported, cbpf
from pyxring.bpf.translate import check_supported, translate
from pyxring.bpf.xdp_filter import compile_expression

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "filter_corpus"))
import packets  # noqa: E402

EXPRESSIONS = packets.expressions()
FRAMES = packets.frames()


def test_corpus_is_big_enough():
    assert len(EXPRESSIONS) >= 60
    assert len(FRAMES) >= 300
    # truncated and mutated frames are part of it
    assert any("~cut" in name for name, _ in FRAMES)
    assert any("~mut" in name for name, _ in FRAMES)
    assert min(len(d) for _, d in FRAMES) == 14


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_interpreter_agrees_with_libpcap(expr):
    insns = _libpcap.compile_filter(expr)
    verdicts = []
    for name, data in FRAMES:
        ours = cbpf.run(insns, data)
        theirs = _libpcap.offline_filter(insns, data)
        assert ours == theirs, f"{expr!r} on {name}: interpreter {ours}, libpcap {theirs}"
        verdicts.append(ours != 0)
    # the corpus must exercise both outcomes, or the comparison proves little
    assert any(verdicts) and not all(verdicts), f"{expr!r}: {sum(verdicts)}/{len(verdicts)} match"


def test_wire_length_is_len():
    insns = _libpcap.compile_filter("len > 100")
    frame = bytes(60)
    assert cbpf.run(insns, frame) == 0
    # a frame captured short: len is still the wire length
    assert cbpf.run(insns, frame, wirelen=1500) != 0
    assert _libpcap.offline_filter(insns, frame, 1500) != 0


def test_filter_class_in_user_space():
    from pyxring.netlab import ipv4_udp_frame
    f = cbpf.Filter("udp port 53")
    dns = ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1", "10.0.0.2",
                         40000, 53, b"q")
    assert f.match(dns)
    assert not f.match(dns[:36])        # truncated before the port: no match


@pytest.mark.parametrize("expr, construct", [
    ("inbound", "pkttype"),
    ("outbound", "pkttype"),
    ("ifindex 3", "ifindex"),
    ("ip protochain 17", "backward jump"),
    ("ip6 protochain 6", "backward jump"),
])
def test_unsupported_constructs_are_named(expr, construct):
    with pytest.raises(FilterUnsupported) as exc:
        compile_expression(expr)
    assert construct in str(exc.value)


def test_unsupported_link_type():
    with pytest.raises(FilterUnsupported, match="link type"):
        check_supported(_libpcap.compile_filter("ip"), 101)


def test_invalid_expression_is_libpcaps_error():
    with pytest.raises(_libpcap.FilterError):
        compile_expression("udp port")


def test_translation_is_deterministic_and_plausible():
    insns = _libpcap.compile_filter("tcp[tcpflags] & tcp-syn != 0")
    code = translate(insns)
    assert code == translate(insns)
    assert len(code) % 8 == 0 and len(code) // 8 > len(insns)
    # every program ends in an exit (opcode 0x95)
    assert code[-8] == 0x95


def test_unreachable_instructions_are_skipped():
    # ret #0 first: nothing after it runs, and no match verdict may be emitted
    insns = [(0x06, 0, 0, 0), (0x28, 0, 0, 12), (0x06, 0, 0, 1)]
    code = translate(insns)
    # prologue (ctx, data, data_end, A, X), ja miss, miss (mov r0, exit)
    assert len(code) // 8 == 5 + 1 + 2
    assert bytes.fromhex("b700000003000000") not in code    # no XDP_TX verdict
