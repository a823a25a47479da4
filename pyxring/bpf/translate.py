"""Classic BPF (libpcap's output) to eBPF for an XDP context.

The generated program keeps classic BPF's machine in registers:

    r6  the xdp_md context         r7  A (32-bit, upper half always 0)
    r8  X                          r9  packet start (ctx->data)
    r4  packet end (ctx->data_end) r2, r3  address arithmetic
    r10-64 .. r10-4   the scratch memory M[0..15], 4 bytes per slot
    r10-72            the frame length for ``len``

No helper is called between the prologue and the verdict, so r1-r5 keep
their values and the packet pointers stay valid.  Every packet load is
preceded by a comparison against ctx->data_end; a load that would reach past
it jumps to the miss verdict, which is what libpcap does with a truncated
frame (the filter returns 0).  Comparisons use the 32-bit jump class, which
is classic BPF's unsigned 32-bit comparison exactly.

Which cBPF instruction ends where is decided by an ``Epilogue``: the test
epilogue returns XDP_TX on a match and XDP_PASS on a miss; the production one
(in ``xdp_filter``) redirects to the AF_XDP socket and counts.

``len``: classic BPF's wire length.  XDP has no separate wire length; the
program uses ``bpf_xdp_get_buff_len`` (the whole frame, fragments included),
which for a single-buffer frame is data_end - data.  Loads can only read the
first buffer of a multi-buffer frame; headers are always there, a load beyond
it counts as past the end.
"""
from . import cbpf
from . import ebpf as E
from .errors import FilterUnsupported

MEM_BASE = -64          # M[k] at r10 + MEM_BASE + 4k
LEN_SLOT = -72
SCRATCH_SLOT = -80      # free for the epilogue (map keys)
MAX_PKT_OFF = 0xFFFF    # the verifier's limit for a constant packet offset

R_CTX, R_A, R_X, R_DATA, R_END = E.R6, E.R7, E.R8, E.R9, E.R4


class Epilogue:
    """Code for the two verdicts.  Subclasses emit at ``asm`` the code that
    ends the program; only verdicts some path reaches are emitted (the
    verifier refuses unreachable instructions)."""

    def match(self, asm):
        raise NotImplementedError

    def miss(self, asm):
        raise NotImplementedError


class TestEpilogue(Epilogue):
    """Map-free verdicts for BPF_PROG_TEST_RUN: XDP_TX = match, XDP_PASS = miss."""

    MATCH, MISS = E.XDP_TX, E.XDP_PASS

    def match(self, asm):
        asm.mov64(E.R0, self.MATCH)
        asm.exit()

    def miss(self, asm):
        asm.mov64(E.R0, self.MISS)
        asm.exit()


def reachable(insns):
    """Indexes of the instructions some path from the first one reaches."""
    seen = set()
    todo = [0]
    n = len(insns)
    while todo:
        pc = todo.pop()
        if pc in seen or pc >= n:
            continue
        seen.add(pc)
        code, jt, jf, k = insns[pc]
        c = cbpf.cls(code)
        if c == cbpf.RET:
            continue
        if c == cbpf.JMP:
            if cbpf.op(code) == cbpf.JA:
                todo.append(pc + 1 + k)
            else:
                todo += [pc + 1 + jt, pc + 1 + jf]
        else:
            todo.append(pc + 1)
    return seen


def check_supported(insns, linktype=1):
    """Raise FilterUnsupported naming the first construct XDP can't evaluate."""
    if linktype != 1:
        raise FilterUnsupported(
            f"link type {linktype}: XDP sees Ethernet frames only (link type 1)")
    live = reachable(insns)
    for pc in sorted(live):
        insn = insns[pc]
        code, jt, jf, k = insn
        c = cbpf.cls(code)
        where = f"instruction {pc} ({cbpf.disasm_one(insn, pc)})"
        if c in (cbpf.LD, cbpf.LDX):
            m = cbpf.mode(code)
            if m == cbpf.ABS and c == cbpf.LD:
                name = cbpf.special_offset_name(k)
                if name:
                    raise FilterUnsupported(
                        f"{name} at {where}: Linux socket metadata that XDP does not "
                        f"have (expressions like 'inbound', 'outbound', 'ifindex')")
            ok = (m in (cbpf.IMM, cbpf.MEM, cbpf.LEN)
                  or (c == cbpf.LD and m in (cbpf.ABS, cbpf.IND)
                      and cbpf.size(code) in cbpf.SIZE_BYTES)
                  or (c == cbpf.LDX and m == cbpf.MSH and cbpf.size(code) == cbpf.B))
            if not ok or (m == cbpf.MEM and k >= cbpf.MEMWORDS):
                raise FilterUnsupported(f"load mode at {where}")
        elif c in (cbpf.ST, cbpf.STX):
            if k >= cbpf.MEMWORDS:
                raise FilterUnsupported(f"scratch slot out of range at {where}")
        elif c == cbpf.ALU:
            if cbpf.op(code) not in (cbpf.ADD, cbpf.SUB, cbpf.MUL, cbpf.DIV, cbpf.OR,
                                     cbpf.AND, cbpf.LSH, cbpf.RSH, cbpf.NEG, cbpf.MOD,
                                     cbpf.XOR):
                raise FilterUnsupported(f"ALU operation at {where}")
        elif c == cbpf.JMP:
            if cbpf.op(code) not in (cbpf.JA, cbpf.JEQ, cbpf.JGT, cbpf.JGE, cbpf.JSET):
                raise FilterUnsupported(f"jump at {where}")
            if cbpf.op(code) == cbpf.JA and k >= 0x80000000:
                # libpcap sign-extends ja's offset for protochain's header walk;
                # that loop has no bound the verifier could prove
                raise FilterUnsupported(
                    f"backward jump (a loop, as 'protochain' generates) at {where}")
            targets = [pc + 1 + k] if cbpf.op(code) == cbpf.JA else [pc + 1 + jt, pc + 1 + jf]
            if any(t >= len(insns) for t in targets):
                raise FilterUnsupported(f"jump past the end at {where}")
        elif c == cbpf.RET:
            if (code & 0x18) not in (cbpf.K, cbpf.RVAL_A):
                raise FilterUnsupported(f"return value source at {where}")
        elif c == cbpf.MISC:
            if (code & 0xF8) not in (cbpf.TAX, cbpf.TXA):
                raise FilterUnsupported(f"misc operation at {where}")
    last = max(live) if live else 0
    if not insns or (cbpf.cls(insns[last][0]) not in (cbpf.RET, cbpf.JMP)):
        raise FilterUnsupported("the program does not end with a return")
    return live


def _abs_extent(insn):
    """End of the packet bytes a constant-offset load reads (k + width), or 0."""
    code, _, _, k = insn
    c, m = cbpf.cls(code), cbpf.mode(code)
    if c == cbpf.LD and m == cbpf.ABS:
        end = k + cbpf.SIZE_BYTES[cbpf.size(code)]
    elif c == cbpf.LDX and m == cbpf.MSH:
        end = k + 1
    else:
        return 0
    return end if end <= MAX_PKT_OFF else 0


def checked_lengths(insns, live):
    """For each reachable instruction, how many packet bytes every path to it
    has already proven present (a load that got past its bounds test).  A
    load within that length needs no test of its own: the verifier also
    tracks the proven range per path.  Jumps only go forward, so one pass in
    index order sees every predecessor first."""
    checked = {0: 0}
    for pc in sorted(live):
        have = checked.get(pc, 0)
        insn = insns[pc]
        out = max(have, _abs_extent(insn))
        code, jt, jf, k = insn
        c = cbpf.cls(code)
        if c == cbpf.RET:
            succ = []
        elif c == cbpf.JMP:
            succ = [pc + 1 + k] if cbpf.op(code) == cbpf.JA else [pc + 1 + jt, pc + 1 + jf]
        else:
            succ = [pc + 1]
        for t in succ:
            checked[t] = min(checked[t], out) if t in checked else out
    return checked


class _Translator:
    def __init__(self, insns, epilogue):
        self.insns = insns
        self.epi = epilogue
        self.asm = E.Asm()
        self.labels = [E.Label(f"pc{i}") for i in range(len(insns))]
        self.match = E.Label("match")
        self.miss = E.Label("miss")
        self.checked = 0        # packet bytes proven present on every path here

    def always_miss(self):
        # A conditional jump that is always taken rather than ``ja``: the
        # instructions after it must stay reachable in the control-flow graph
        # (the verifier refuses unreachable code, it only prunes dead code).
        self.asm.jmp(E.JGE, R_A, 0, self.miss)

    # a load of ``width`` bytes at packet offset k into register ``dst``
    def load_abs(self, dst, k, width):
        a = self.asm
        if k + width > MAX_PKT_OFF:
            # no XDP frame has that many bytes in its first buffer
            self.always_miss()
            return False
        if k + width > self.checked:
            a.mov64_reg(E.R3, R_DATA)
            a.alu64(E.ADD, E.R3, k + width)
            a.jmp_reg(E.JGT, E.R3, R_END, self.miss)
        if k <= 0x7FFF:
            a.ldx(width, dst, R_DATA, k)
        else:
            a.mov64_reg(E.R2, R_DATA)
            a.alu64(E.ADD, E.R2, k)
            a.ldx(width, dst, E.R2, 0)
        if width > 1:
            a.to_be(dst, width * 8)
        return True

    def load_ind(self, k, width):
        a = self.asm
        if k + width > MAX_PKT_OFF:
            self.always_miss()
            return False
        # X is zero-extended in r8 and k is small, so the 64-bit sum can't wrap:
        # the same answer as libpcap's overflow-safe bounds test.  The explicit
        # bound also lets the verifier accept the variable packet offset.
        a.mov32_reg(E.R2, R_X)
        if k:
            a.alu64(E.ADD, E.R2, k)
        a.jmp(E.JGT, E.R2, MAX_PKT_OFF - width, self.miss)
        a.mov64_reg(E.R3, R_DATA)
        a.alu64_reg(E.ADD, E.R3, E.R2)
        a.mov64_reg(E.R2, E.R3)
        a.alu64(E.ADD, E.R2, width)
        a.jmp_reg(E.JGT, E.R2, R_END, self.miss)
        a.ldx(width, R_A, E.R3, 0)
        if width > 1:
            a.to_be(R_A, width * 8)
        return True

    def cond_jump(self, pc, code, jt, jf, k):
        """Classic BPF's two-way branch; falls through when a target is next."""
        a = self.asm
        o = cbpf.op(code)
        use_x = cbpf.src(code) == cbpf.X
        t, f = pc + 1 + jt, pc + 1 + jf
        nxt = pc + 1
        eop = {cbpf.JEQ: E.JEQ, cbpf.JGT: E.JGT, cbpf.JGE: E.JGE, cbpf.JSET: E.JSET}[o]
        inverse = {E.JEQ: E.JNE, E.JGT: E.JLE, E.JGE: E.JLT}.get(eop)

        def emit(opc, target):
            if use_x:
                a.jmp32_reg(opc, R_A, R_X, self.labels[target])
            else:
                a.jmp32(opc, R_A, k, self.labels[target])

        if t == f:
            if t != nxt:
                a.ja(self.labels[t])
            return
        if t == nxt and inverse is not None:
            emit(inverse, f)
            return
        emit(eop, t)
        if f != nxt:
            a.ja(self.labels[f])

    def translate(self):
        a = self.asm
        insns = self.insns
        live = check_supported(insns)
        uses_len = any(cbpf.cls(insns[i][0]) in (cbpf.LD, cbpf.LDX)
                       and cbpf.mode(insns[i][0]) == cbpf.LEN for i in live)
        mem_read = sorted({insns[i][3] for i in live
                           if cbpf.cls(insns[i][0]) in (cbpf.LD, cbpf.LDX)
                           and cbpf.mode(insns[i][0]) == cbpf.MEM})

        # prologue
        a.mov64_reg(R_CTX, E.R1)
        if uses_len:
            # before the packet pointers are loaded: a call clobbers r1-r5
            a.call(E.FN_xdp_get_buff_len)
            a.stx(4, E.R10, LEN_SLOT, E.R0)
        a.ldx(4, R_DATA, R_CTX, 0)      # ctx->data
        a.ldx(4, R_END, R_CTX, 4)       # ctx->data_end
        a.mov32(R_A, 0)
        a.mov32(R_X, 0)
        for slot in mem_read:
            # libpcap's compiler never reads a slot before writing it, but the
            # verifier can't know that; 0 matches the reference interpreter
            a.st(4, E.R10, MEM_BASE + 4 * slot, 0)

        checked = checked_lengths(insns, live)
        for pc in range(len(insns)):
            if pc not in live:
                continue
            a.place(self.labels[pc])
            self.checked = checked[pc]
            code, jt, jf, k = insns[pc]
            c = cbpf.cls(code)
            m = cbpf.mode(code)
            if c == cbpf.LD:
                if m == cbpf.ABS:
                    self.load_abs(R_A, k, cbpf.SIZE_BYTES[cbpf.size(code)])
                elif m == cbpf.IND:
                    self.load_ind(k, cbpf.SIZE_BYTES[cbpf.size(code)])
                elif m == cbpf.IMM:
                    a.mov32(R_A, k)
                elif m == cbpf.MEM:
                    a.ldx(4, R_A, E.R10, MEM_BASE + 4 * k)
                elif m == cbpf.LEN:
                    a.ldx(4, R_A, E.R10, LEN_SLOT)
            elif c == cbpf.LDX:
                if m == cbpf.MSH:
                    if self.load_abs(R_X, k, 1):
                        a.alu32(E.AND, R_X, 0xF)
                        a.alu32(E.LSH, R_X, 2)
                elif m == cbpf.IMM:
                    a.mov32(R_X, k)
                elif m == cbpf.MEM:
                    a.ldx(4, R_X, E.R10, MEM_BASE + 4 * k)
                elif m == cbpf.LEN:
                    a.ldx(4, R_X, E.R10, LEN_SLOT)
            elif c == cbpf.ST:
                a.stx(4, E.R10, MEM_BASE + 4 * k, R_A)
            elif c == cbpf.STX:
                a.stx(4, E.R10, MEM_BASE + 4 * k, R_X)
            elif c == cbpf.ALU:
                self.alu(code, k)
            elif c == cbpf.JMP:
                if cbpf.op(code) == cbpf.JA:
                    if k:
                        a.ja(self.labels[pc + 1 + k])
                else:
                    self.cond_jump(pc, code, jt, jf, k)
                continue
            elif c == cbpf.RET:
                if (code & 0x18) == cbpf.RVAL_A:
                    a.jmp32(E.JNE, R_A, 0, self.match)
                    a.ja(self.miss)
                else:
                    a.ja(self.match if k else self.miss)
                continue
            elif c == cbpf.MISC:
                if (code & 0xF8) == cbpf.TAX:
                    a.mov32_reg(R_X, R_A)
                else:
                    a.mov32_reg(R_A, R_X)
            # straight-line instructions fall into the next one
            if pc + 1 >= len(insns):
                a.ja(self.miss)

        if self.match in a.used:
            a.place(self.match)
            self.epi.match(a)
        if self.miss in a.used:
            a.place(self.miss)
            self.epi.miss(a)
        return a

    def alu(self, code, k):
        a = self.asm
        o = cbpf.op(code)
        eop = {cbpf.ADD: E.ADD, cbpf.SUB: E.SUB, cbpf.MUL: E.MUL, cbpf.DIV: E.DIV,
               cbpf.OR: E.OR, cbpf.AND: E.AND, cbpf.LSH: E.LSH, cbpf.RSH: E.RSH,
               cbpf.MOD: E.MOD, cbpf.XOR: E.XOR}.get(o)
        if o == cbpf.NEG:
            a.neg32(R_A)
            return
        if cbpf.src(code) == cbpf.K:
            if o in (cbpf.DIV, cbpf.MOD) and k == 0:
                self.always_miss()      # libpcap's compiler refuses this anyway
            elif o in (cbpf.LSH, cbpf.RSH) and k >= 32:
                a.mov32(R_A, 0)         # the verifier refuses such a shift
            else:
                a.alu32(eop, R_A, k)
            return
        if o in (cbpf.DIV, cbpf.MOD):
            # eBPF defines x/0 as 0 and x%0 as x; classic BPF rejects the frame
            a.jmp32(E.JEQ, R_X, 0, self.miss)
            a.alu32_reg(eop, R_A, R_X)
        elif o in (cbpf.LSH, cbpf.RSH):
            # eBPF masks the count to 5 bits; libpcap gives 0 for 32 and more
            big, done = E.Label("shift_big"), E.Label("shift_done")
            a.jmp32(E.JGT, R_X, 31, big)
            a.alu32_reg(eop, R_A, R_X)
            a.ja(done)
            a.place(big)
            a.mov32(R_A, 0)
            a.place(done)
        else:
            a.alu32_reg(eop, R_A, R_X)


def translate(insns, epilogue=None):
    """Translate classic BPF ``insns`` into an eBPF XDP program (bytes)."""
    return _Translator(list(insns), epilogue or TestEpilogue()).translate().assemble()
