"""A small eBPF assembler: instruction encoders and forward labels.

Just what the filter translator needs.  An ``Asm`` collects instructions;
jumps name a label, and ``Asm.assemble()`` turns labels into the relative
offsets the kernel wants (offset = target - (jump + 1), counted in 8-byte
slots, where ``ld_imm64`` takes two).
"""
import struct

# instruction classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
SIZE_OF = {1: B, 2: H, 4: W, 8: DW}
# modes
IMM, MEM = 0x00, 0x60
# ALU operations
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
# jump operations
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0)
K, X = 0x00, 0x08
TO_BE = 0x08   # BPF_END source bit: convert to big endian

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

PSEUDO_MAP_FD = 1   # ld_imm64 src_reg: imm is a map fd the kernel resolves

# helper function ids (include/uapi/linux/bpf.h, __BPF_FUNC_MAPPER order)
FN_map_lookup_elem = 1
FN_redirect_map = 51
FN_xdp_get_buff_len = 188

# XDP actions
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)

_INSN = struct.Struct("<BBhi")


def _s32(v):
    """An imm field: the kernel reads 32 bits, signed; accept u32 too."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class Label:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<Label {self.name}>"


class Asm:
    def __init__(self):
        self._items = []        # (code, dst, src, off, imm, label) or Label
        self._placed = set()
        self.used = set()       # labels some jump refers to

    # --- plumbing ---
    def raw(self, code, dst=0, src=0, off=0, imm=0, target=None):
        if target is not None:
            self.used.add(target)
        self._items.append((code, dst, src, off, imm, target))

    def place(self, label):
        if label in self._placed:
            raise ValueError(f"label {label} placed twice")
        self._placed.add(label)
        self._items.append(label)

    def __len__(self):
        return sum(2 if it[0] == (LD | DW | IMM) else 1
                   for it in self._items if not isinstance(it, Label))

    # --- instructions ---
    def alu32(self, o, dst, imm):
        self.raw(ALU | o | K, dst, 0, 0, _s32(imm))

    def alu32_reg(self, o, dst, src):
        self.raw(ALU | o | X, dst, src)

    def alu64(self, o, dst, imm):
        self.raw(ALU64 | o | K, dst, 0, 0, _s32(imm))

    def alu64_reg(self, o, dst, src):
        self.raw(ALU64 | o | X, dst, src)

    def mov32(self, dst, imm):
        self.alu32(MOV, dst, imm)

    def mov32_reg(self, dst, src):
        self.alu32_reg(MOV, dst, src)

    def mov64(self, dst, imm):
        self.alu64(MOV, dst, imm)

    def mov64_reg(self, dst, src):
        self.alu64_reg(MOV, dst, src)

    def neg32(self, dst):
        self.raw(ALU | NEG | K, dst)

    def to_be(self, dst, bits):
        """Packet order to host order (the kernel's BPF_END|BPF_TO_BE); the
        result is zero-extended, as classic BPF's A expects."""
        self.raw(ALU | END | TO_BE, dst, 0, 0, bits)

    def ldx(self, nbytes, dst, src, off):
        self.raw(LDX | MEM | SIZE_OF[nbytes], dst, src, off)

    def stx(self, nbytes, dst, off, src):
        self.raw(STX | MEM | SIZE_OF[nbytes], dst, src, off)

    def st(self, nbytes, dst, off, imm):
        self.raw(ST | MEM | SIZE_OF[nbytes], dst, 0, off, _s32(imm))

    def ld_map_fd(self, dst, fd):
        self.raw(LD | DW | IMM, dst, PSEUDO_MAP_FD, 0, fd)

    def ja(self, target):
        self.raw(JMP | JA, 0, 0, 0, 0, target)

    def jmp(self, o, dst, imm, target):
        """64-bit compare with a sign-extended imm (pointers, bounded scalars)."""
        self.raw(JMP | o | K, dst, 0, 0, _s32(imm), target)

    def jmp_reg(self, o, dst, src, target):
        self.raw(JMP | o | X, dst, src, 0, 0, target)

    def jmp32(self, o, dst, imm, target):
        """32-bit compare: classic BPF's unsigned 32-bit semantics exactly."""
        self.raw(JMP32 | o | K, dst, 0, 0, _s32(imm), target)

    def jmp32_reg(self, o, dst, src, target):
        self.raw(JMP32 | o | X, dst, src, 0, 0, target)

    def call(self, fn):
        self.raw(JMP | CALL, 0, 0, 0, fn)

    def exit(self):
        self.raw(JMP | EXIT)

    # --- output ---
    def assemble(self):
        """The program as bytes (struct bpf_insn[]); every used label must
        have been placed."""
        missing = self.used - self._placed
        if missing:
            raise ValueError(f"labels used but not placed: {sorted(l.name for l in missing)}")
        pos = {}
        at = 0
        for it in self._items:
            if isinstance(it, Label):
                pos[it] = at
            else:
                at += 2 if it[0] == (LD | DW | IMM) else 1
        out = []
        at = 0
        for it in self._items:
            if isinstance(it, Label):
                continue
            code, dst, src, off, imm, target = it
            if target is not None:
                off = pos[target] - (at + 1)
                if not -32768 <= off <= 32767:
                    raise ValueError("jump offset out of range (filter too large)")
            regs = (src << 4) | dst
            if code == (LD | DW | IMM):
                out.append(_INSN.pack(code, regs, 0, _s32(imm)))
                out.append(_INSN.pack(0, 0, 0, 0))
                at += 2
            else:
                out.append(_INSN.pack(code, regs, off, imm))
                at += 1
        return b"".join(out)
