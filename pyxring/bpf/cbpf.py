"""Classic BPF: opcode names, a disassembler and a reference interpreter.

The interpreter follows libpcap's ``bpf_filter`` (the one behind
``pcap_offline_filter``) rule for rule, so that it can judge the eBPF
translation and filter frames in user space for backends that have no
in-kernel filter:

* a load that reaches past the captured bytes ends the program with 0
  (no match), also for ``ld [x + k]`` and ``ldx 4*([k]&0xf)``;
* ``len`` is the wire length, which may exceed the captured bytes;
* division or modulo by an ``x`` of 0 ends the program with 0;
* a shift by an ``x`` of 32 or more gives 0 (libpcap >= 1.10);
* A, X and the scratch memory start at 0 (libpcap leaves the memory
  undefined; its compiler never reads a slot it has not written).

Instructions are ``(code, jt, jf, k)`` tuples as ``compile_filter`` returns.
"""

# instruction classes
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
# sizes
W, H, B = 0x00, 0x08, 0x10
SIZE_BYTES = {W: 4, H: 2, B: 1}
# addressing modes
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# ALU / jump operations
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
# operand source
K, X = 0x00, 0x08
# return value source
RVAL_A = 0x10
# misc
TAX, TXA = 0x00, 0x80

MEMWORDS = 16
MASK32 = 0xFFFFFFFF

# Linux's "ancillary data" area: loads at these offsets read socket-buffer
# metadata, not packet bytes (libpcap uses them for inbound/outbound, ifindex).
SKF_AD_OFF = 0xFFFFF000
SKF_LL_OFF = 0xFFE00000   # the lowest of Linux's special negative offsets
SKF_AD_NAMES = {
    0: "protocol", 4: "pkttype (inbound/outbound)", 8: "ifindex", 12: "nlattr",
    16: "nlattr_nest", 20: "mark", 24: "queue", 28: "hatype", 32: "rxhash",
    36: "cpu", 40: "alu_xor_x", 44: "vlan_tci", 48: "vlan_avail",
    52: "pay_offset", 56: "random", 60: "vlan_tpid",
}


def cls(code):
    return code & 0x07


def size(code):
    return code & 0x18


def mode(code):
    return code & 0xE0


def op(code):
    return code & 0xF0


def src(code):
    return code & 0x08


def special_offset_name(k):
    """Name of the Linux-only load at offset ``k``, or None for packet data."""
    if k >= SKF_AD_OFF:
        return "ancillary load " + SKF_AD_NAMES.get(k - SKF_AD_OFF, f"#{k - SKF_AD_OFF}")
    if k >= SKF_LL_OFF:
        return "negative (link/network-relative) offset load"
    return None


_ALU_NAMES = {ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", OR: "or", AND: "and",
              LSH: "lsh", RSH: "rsh", NEG: "neg", MOD: "mod", XOR: "xor"}
_JMP_NAMES = {JA: "ja", JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
_SIZE_SUFFIX = {W: "", H: "h", B: "b"}


def disasm_one(insn, pc=0):
    """One instruction in tcpdump -d syntax (for error messages and debugging)."""
    code, jt, jf, k = insn
    c = cls(code)
    if c in (LD, LDX):
        reg = "ld" if c == LD else "ldx"
        m = mode(code)
        sfx = _SIZE_SUFFIX.get(size(code), "?")
        if m == IMM:
            return f"{reg} #{k:#x}"
        if m == ABS:
            return f"{reg}{sfx} [{k}]"
        if m == IND:
            return f"{reg}{sfx} [x + {k}]"
        if m == MEM:
            return f"{reg} M[{k}]"
        if m == LEN:
            return f"{reg} #pktlen"
        if m == MSH:
            return f"ldxb 4*([{k}]&0xf)"
    elif c == ST:
        return f"st M[{k}]"
    elif c == STX:
        return f"stx M[{k}]"
    elif c == ALU:
        name = _ALU_NAMES.get(op(code), f"alu?{op(code):#x}")
        if op(code) == NEG:
            return "neg"
        return f"{name} x" if src(code) == X else f"{name} #{k:#x}"
    elif c == JMP:
        name = _JMP_NAMES.get(op(code), f"jmp?{op(code):#x}")
        if op(code) == JA:
            return f"ja {pc + 1 + (k - (1 << 32) if k & 0x80000000 else k)}"
        operand = "x" if src(code) == X else f"#{k:#x}"
        return f"{name} {operand} jt {pc + 1 + jt} jf {pc + 1 + jf}"
    elif c == RET:
        return "ret a" if (code & 0x18) == RVAL_A else f"ret #{k}"
    elif c == MISC:
        return "tax" if (code & 0xF8) == TAX else "txa" if (code & 0xF8) == TXA else "misc?"
    return f"unknown opcode {code:#06x}"


def disasm(insns):
    return "\n".join(f"({pc:03d}) {disasm_one(i, pc)}" for pc, i in enumerate(insns))


def run(insns, data, wirelen=None):
    """Run ``insns`` on ``data`` (the captured bytes); returns what libpcap's
    ``bpf_filter`` returns: 0 for no match, else the accepted length."""
    data = bytes(data)
    buflen = len(data)
    if wirelen is None:
        wirelen = buflen
    a = x = 0
    mem = [0] * MEMWORDS
    pc = 0
    n = len(insns)
    while pc < n:
        code, jt, jf, k = insns[pc]
        pc += 1
        c = cls(code)
        if c == RET:
            return (a if (code & 0x18) == RVAL_A else k) & MASK32
        if c in (LD, LDX):
            m = mode(code)
            if m in (ABS, IND):
                width = SIZE_BYTES[size(code)]
                base = k if m == ABS else x + k
                # base and width are unbounded Python ints: no wrap-around, so
                # this is libpcap's overflow-safe "k > buflen || width > buflen - k"
                if base + width > buflen:
                    return 0
                val = int.from_bytes(data[base:base + width], "big")
            elif m == IMM:
                val = k
            elif m == MEM:
                val = mem[k]
            elif m == LEN:
                val = wirelen
            elif m == MSH and c == LDX:
                if k >= buflen:
                    return 0
                val = (data[k] & 0xF) << 2
            else:
                raise ValueError(f"bad load at {pc - 1}: {disasm_one(insns[pc - 1])}")
            if c == LD:
                a = val
            else:
                x = val
        elif c == ST:
            mem[k] = a
        elif c == STX:
            mem[k] = x
        elif c == ALU:
            o = op(code)
            v = x if src(code) == X else k
            if o == ADD:
                a = (a + v) & MASK32
            elif o == SUB:
                a = (a - v) & MASK32
            elif o == MUL:
                a = (a * v) & MASK32
            elif o in (DIV, MOD):
                if v == 0:
                    return 0
                a = a // v if o == DIV else a % v
            elif o == AND:
                a &= v
            elif o == OR:
                a |= v
            elif o == XOR:
                a ^= v
            elif o == LSH:
                a = (a << v) & MASK32 if v < 32 else 0
            elif o == RSH:
                a = a >> v if v < 32 else 0
            elif o == NEG:
                a = (-a) & MASK32
            else:
                raise ValueError(f"bad ALU op at {pc - 1}: {code:#x}")
        elif c == JMP:
            o = op(code)
            if o == JA:
                # libpcap sign-extends: protochain walks headers with a backward ja
                pc += k - (1 << 32) if k & 0x80000000 else k
                continue
            v = x if src(code) == X else k
            if o == JEQ:
                cond = a == v
            elif o == JGT:
                cond = a > v
            elif o == JGE:
                cond = a >= v
            elif o == JSET:
                cond = (a & v) != 0
            else:
                raise ValueError(f"bad jump at {pc - 1}: {code:#x}")
            pc += jt if cond else jf
        elif c == MISC:
            if (code & 0xF8) == TAX:
                x = a
            else:
                a = x
    # libpcap's validator never lets a program run off its end
    raise ValueError("classic BPF program ran past its last instruction")


class Filter:
    """A compiled expression applied in user space (the myring backend's
    fallback): ``Filter("udp port 53").match(frame)``."""

    def __init__(self, expression, linktype=1, snaplen=262144):
        from pyxring._libpcap import compile_filter
        self.expression = expression
        self.insns = compile_filter(expression, linktype, snaplen)

    def match(self, data, wirelen=None):
        return run(self.insns, data, wirelen) != 0
