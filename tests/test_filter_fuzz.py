"""Random classic BPF programs (every opcode libpcap's interpreter knows,
including the corners: shifts by 32 and more, division by an X of 0, loads
past the end through ``[x + k]``, scratch memory, unreachable code) judged
three ways: libpcap's interpreter, the reference interpreter and the
generated XDP program under BPF_PROG_TEST_RUN."""
import os
import random

import pytest

from pyxring import _libpcap
from pyxring.bpf import cbpf
from pyxring.bpf.xdp_filter import load_test_filter, run_matches

ROOT = os.geteuid() == 0
CI = os.environ.get("CI") == "true"
privileged = pytest.mark.skipif(not ROOT and not CI, reason="needs root (bpf(2))")

SEED = 20261122
SLOTS = 4          # scratch slots written up front (libpcap leaves memory undefined)

_ALU_K = [cbpf.ADD, cbpf.SUB, cbpf.MUL, cbpf.DIV, cbpf.OR, cbpf.AND, cbpf.LSH, cbpf.RSH,
          cbpf.MOD, cbpf.XOR]
_JMPS = [cbpf.JEQ, cbpf.JGT, cbpf.JGE, cbpf.JSET]


def _imm(rng):
    return rng.choice([0, 1, 2, 4, 31, 32, 33, 0x800, 0x86DD, 0xFFFF, 0x7FFFFFFF,
                       0x80000000, 0xFFFFFFFF, rng.randrange(1 << 32), rng.randrange(64)])


def random_program(rng, length):
    prog = []
    for slot in range(SLOTS):
        prog.append((cbpf.LD | cbpf.IMM, 0, 0, _imm(rng)))
        prog.append((cbpf.ST, 0, 0, slot))
    body_start = len(prog)
    total = body_start + length
    while len(prog) < total - 1:
        pc = len(prog)
        room = total - 1 - pc          # instructions after this one
        kind = rng.randrange(12)
        if kind == 0:
            size = rng.choice([cbpf.W, cbpf.H, cbpf.B])
            k = rng.choice([rng.randrange(80), rng.randrange(80), 0xFFF0, 70000])
            prog.append((cbpf.LD | cbpf.ABS | size, 0, 0, k))
        elif kind == 1:
            size = rng.choice([cbpf.W, cbpf.H, cbpf.B])
            prog.append((cbpf.LD | cbpf.IND | size, 0, 0, rng.choice([0, rng.randrange(40), 0xFFFF0])))
        elif kind == 2:
            prog.append((cbpf.LDX | cbpf.MSH | cbpf.B, 0, 0, rng.randrange(70)))
        elif kind == 3:
            c = rng.choice([cbpf.LD, cbpf.LDX])
            m = rng.choice([cbpf.IMM, cbpf.MEM, cbpf.LEN])
            k = rng.randrange(SLOTS) if m == cbpf.MEM else _imm(rng)
            prog.append((c | m | (cbpf.W if m != cbpf.IMM else 0), 0, 0, k))
        elif kind == 4:
            prog.append((rng.choice([cbpf.ST, cbpf.STX]), 0, 0, rng.randrange(SLOTS)))
        elif kind in (5, 6):
            o = rng.choice(_ALU_K)
            if rng.random() < 0.5:
                prog.append((cbpf.ALU | o | cbpf.X, 0, 0, 0))
            else:
                k = _imm(rng)
                if o in (cbpf.DIV, cbpf.MOD) and k == 0:
                    k = 3
                if o in (cbpf.LSH, cbpf.RSH):
                    k %= 32           # libpcap's compiler refuses larger constant shifts
                prog.append((cbpf.ALU | o | cbpf.K, 0, 0, k))
        elif kind == 7:
            prog.append((rng.choice([cbpf.ALU | cbpf.NEG, cbpf.MISC | cbpf.TAX,
                                     cbpf.MISC | cbpf.TXA]), 0, 0, 0))
        elif kind in (8, 9):
            o = rng.choice(_JMPS)
            jt, jf = rng.randrange(min(room, 256)), rng.randrange(min(room, 256))
            src = rng.choice([cbpf.K, cbpf.X])
            prog.append((cbpf.JMP | o | src, jt, jf, _imm(rng) if src == cbpf.K else 0))
        elif kind == 10:
            prog.append((cbpf.JMP | cbpf.JA, 0, 0, rng.randrange(room)))
        else:
            if rng.random() < 0.5:
                prog.append((cbpf.RET | cbpf.RVAL_A, 0, 0, 0))
            else:
                prog.append((cbpf.RET | cbpf.K, 0, 0, rng.choice([0, 0, 1, 262144])))
    prog.append((cbpf.RET | cbpf.RVAL_A, 0, 0, 0) if rng.random() < 0.7
                else (cbpf.RET | cbpf.K, 0, 0, rng.choice([0, 262144])))
    return prog


def random_frames(rng, n):
    frames = []
    for _ in range(n):
        length = rng.choice([14, 15, 20, 34, 42, 54, 60, 64, 90, 128, rng.randrange(14, 300)])
        frames.append(bytes(rng.choice([rng.randrange(256), 0, 0xFF, 0x45, 0x08])
                            for _ in range(length)))
    return frames


PROGRAMS = 150
FRAMES_PER_PROGRAM = 40


def _cases():
    rng = random.Random(SEED)
    for i in range(PROGRAMS):
        yield i, random_program(rng, rng.randrange(4, 40)), random_frames(rng, FRAMES_PER_PROGRAM)


def test_interpreter_equals_libpcap_on_random_programs():
    outcomes = set()
    for i, prog, frames in _cases():
        for data in frames:
            # pcap_offline_filter returns an int: compare as the u_int bpf_filter returns
            ours, theirs = cbpf.run(prog, data), _libpcap.offline_filter(prog, data) & 0xFFFFFFFF
            assert ours == theirs, f"program {i}:\n{cbpf.disasm(prog)}\nframe {data.hex()}"
            outcomes.add(ours != 0)
    assert outcomes == {True, False}


@privileged
def test_xdp_equals_interpreter_on_random_programs():
    matched = total = 0
    for i, prog, frames in _cases():
        fd = load_test_filter(prog)
        try:
            for data in frames:
                want = cbpf.run(prog, data) != 0
                got = run_matches(fd, data)
                assert got == want, f"program {i}:\n{cbpf.disasm(prog)}\nframe {data.hex()}"
                matched += got
                total += 1
        finally:
            os.close(fd)
    assert 0 < matched < total
