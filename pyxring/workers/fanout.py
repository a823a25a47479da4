"""PACKET_FANOUT for TPACKET_V3 workers: the modes, their flags, the group
in use check, and the programs of the ``cbpf`` and ``ebpf`` modes.

The kernel (net/packet/af_packet.c, packet_rcv_fanout) picks one member
socket of a group per packet:

- ``hash``: ``__skb_get_hash_symmetric`` of the flow (addresses and ports,
  sorted), so both directions of a TCP or UDP conversation reach the same
  member (measured here with TCP both ways; the tests check it).  A
  non-first IP fragment has no ports and hashes elsewhere unless the
  ``defrag`` flag reassembles datagrams first (the member then receives
  the reassembled datagram).
- ``lb`` round robin, ``cpu`` the receiving CPU, ``random``, ``qm`` the
  skb's queue mapping (the RX queue; on veth, the sender's TX queue),
  ``rollover`` the first member with room in its ring.
- ``cbpf`` / ``ebpf``: a program returns the member's index (modulo the
  number of members).  The program runs before the link-layer header is
  pushed back on received packets (their data starts at the network
  header, while an outgoing packet's starts at the MAC header), so
  ``split_program`` rewrites every packet load of libpcap's code to the
  kernel's MAC-relative offsets (``SKF_LL_OFF``), which mean the same in
  both directions.
- flag ``rollover``: a member whose ring is full passes the packet to the
  next member with room (flow affinity gives way to not dropping);
  ``defrag``: see ``hash``.

A group is known by a 16-bit id per network namespace.  Without an
explicit id the first worker asks the kernel for an unused one
(``PACKET_FANOUT_FLAG_UNIQUEID``) and the others join it.
"""
import os
import socket
import struct

from pyxring.errors import ConfigError

MODES = {"hash": 0, "lb": 1, "cpu": 2, "rollover": 3, "random": 4, "qm": 5, "cbpf": 6, "ebpf": 7}
MODE_NAMES = {v: k for k, v in MODES.items()}
FLAGS = {"rollover": 0x1000, "defrag": 0x8000}
FLAG_UNIQUEID = 0x2000
MAX_MEMBERS = 256                  # PACKET_FANOUT_MAX with the 4-byte setsockopt

SKF_AD_OFF = 0xFFFFF000            # -0x1000: ancillary loads (protocol, ifindex, ...)
SKF_LL_OFF = 0xFFE00000            # -0x200000: offsets from the MAC header
BPF_MAXINSNS = 4096


def type_flags(mode, flags=()):
    """The ``PACKET_FANOUT`` mode|flags word, or ConfigError naming what is
    wrong (an unknown mode or flag, ``rollover`` twice)."""
    if mode not in MODES:
        raise ConfigError(f"unknown fanout mode {mode!r} (choose {', '.join(MODES)})")
    word = MODES[mode]
    for f in flags or ():
        if f not in FLAGS:
            raise ConfigError(f"unknown fanout flag {f!r} (choose {', '.join(FLAGS)})")
        if f == "rollover" and mode == "rollover":
            raise ConfigError("fanout mode rollover takes no rollover flag (the kernel refuses it)")
        word |= FLAGS[f]
    return word


def describe(word):
    """'hash', 'hash+rollover+defrag', ... for messages and -v."""
    parts = [MODE_NAMES.get(word & 0xFF, str(word & 0xFF))]
    parts += [name for name, bit in FLAGS.items() if word & bit]
    return "+".join(parts)


# --- which groups are in use (sock_diag for AF_PACKET, net/packet/diag.c) ---

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_PACKET_SHOW_INFO, _PACKET_SHOW_FANOUT = 0x1, 0x8          # <linux/packet_diag.h>
_PACKET_DIAG_INFO, _PACKET_DIAG_FANOUT = 0, 4


def groups_in_use():
    """The fanout groups of this thread's network namespace: ``{group id:
    {"mode": word & 0xff, "members": n, "ifindexes": set()}}``, from the
    kernel's packet socket diagnostics."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG)
    try:
        req = struct.pack("=BBHIIII", socket.AF_PACKET, 0, 0, 0,
                          _PACKET_SHOW_INFO | _PACKET_SHOW_FANOUT, 0xFFFFFFFF, 0xFFFFFFFF)
        s.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY,
                           _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + req)
        groups = {}
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                ln, kind = struct.unpack_from("=IH", data, off)
                if kind == _NLMSG_DONE:
                    return groups
                if kind == _NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, off + 16)[0]
                    raise OSError(err, f"packet socket diagnostics: {os.strerror(err)}")
                _parse_diag(data[off + 16:off + ln], groups)
                off += (ln + 3) & ~3
            if not data:
                return groups
    finally:
        s.close()


def _parse_diag(msg, groups):
    off = 16                                    # struct packet_diag_msg
    ifindex, fan = None, None
    while off + 4 <= len(msg):
        alen, atype = struct.unpack_from("=HH", msg, off)
        if alen < 4:
            break
        if atype == _PACKET_DIAG_INFO:
            ifindex = struct.unpack_from("=I", msg, off + 4)[0]
        elif atype == _PACKET_DIAG_FANOUT:
            fan = struct.unpack_from("=I", msg, off + 4)[0]
        off += (alen + 3) & ~3
    if fan is None:
        return
    g = groups.setdefault(fan & 0xFFFF, {"mode": (fan >> 16) & 0xFF, "members": 0,
                                         "ifindexes": set()})
    g["members"] += 1
    if ifindex is not None:
        g["ifindexes"].add(ifindex)


def check_group_free(group, iface):
    """ConfigError when ``group`` already has members in this namespace:
    joining it would share another capture's packets (same mode) or fail
    (another mode or interface)."""
    if not 0 <= group <= 0xFFFF:
        raise ConfigError(f"fanout group {group} must be between 0 and 65535")
    try:
        groups = groups_in_use()
    except OSError:
        return              # no diagnostics: the join itself reports a mismatch
    g = groups.get(group)
    if g is None:
        return
    names = []
    for idx in sorted(g["ifindexes"]):
        try:
            names.append(socket.if_indextoname(idx) if idx else "any")
        except OSError:
            names.append(f"ifindex {idx}")
    where = f" on {', '.join(names)}" if names else ""
    raise ConfigError(f"fanout group {group} is in use{where} by {g['members']} socket(s) in "
                      f"mode {MODE_NAMES.get(g['mode'], g['mode'])}; choose another group "
                      f"(or none: the kernel then picks a free one)")


# --- cbpf: a split by tcpdump expressions ---

def split_program(expressions, workers, iface, linktype=1, snaplen=262144):
    """A classic BPF fanout program for ``workers`` members sending a packet
    to the index of the first expression it matches; a packet matching none
    goes to the last worker (so with one expression fewer than workers, the
    last one takes the rest).

    Each expression is compiled by libpcap as tcpdump would for a live
    capture on ``iface``; its accepting returns become ``ret #i`` and its
    rejecting ones a jump to the next expression; every packet load is made
    MAC-relative (see the module's doc).  Expressions reading the length
    (``len``, ``less``, ``greater``) are refused: the kernel's length
    excludes the link-layer header of received packets at that point."""
    from pyxring._libpcap import compile_filter
    if not expressions:
        raise ConfigError("a fanout split needs at least one expression")
    if len(expressions) > workers:
        raise ConfigError(f"{len(expressions)} fanout split expressions for {workers} workers: "
                          f"one per worker at most")
    blocks = []
    for i, expr in enumerate(expressions):
        insns = compile_filter(expr, linktype=linktype, snaplen=snaplen, live_iface=iface)
        blocks.append((expr, insns))
    total = sum(len(b) for _, b in blocks) + 1
    if total > BPF_MAXINSNS:
        raise ConfigError(f"the fanout split is {total} instructions, more than the kernel's "
                          f"{BPF_MAXINSNS}")
    out = []
    for i, (expr, insns) in enumerate(blocks):
        end = len(out) + len(insns)           # index of the next block's first instruction
        for j, (code, jt, jf, k) in enumerate(insns):
            cls, mode = code & 0x07, code & 0xE0
            if cls in (0x00, 0x01) and mode == 0x80:          # BPF_LEN
                raise ConfigError(f"fanout split {expr!r}: len, less and greater can't be used "
                                  f"(the kernel counts the length without the link-layer "
                                  f"header when it picks a worker)")
            if cls in (0x00, 0x01) and mode in (0x20, 0x40, 0xA0) and k < SKF_AD_OFF:
                if k >= 0x100000:
                    raise ConfigError(f"fanout split {expr!r}: packet offset {k} is too large")
                k = (SKF_LL_OFF + k) & 0xFFFFFFFF
            if cls == 0x06:                                   # BPF_RET
                if code == 0x06 and k == 0:
                    # rejected: on to the next expression (BPF_JMP|BPF_JA, forward)
                    code, jt, jf, k = 0x05, 0, 0, end - (len(out) + 1)
                elif code == 0x06:
                    k = i
                else:
                    # BPF_RET|BPF_A: libpcap never returns A from a filter
                    raise ConfigError(f"fanout split {expr!r}: unexpected program shape")
            out.append((code, jt, jf, k))
    out.append((0x06, 0, 0, workers - 1))               # matched none: the last worker
    return out


def run_program(insns, frame):
    """Which index ``insns`` (as given to the kernel) gives ``frame``, by
    libpcap's interpreter on the frame with its offsets made frame-relative
    again: for tests and ``--fanout-split`` previews."""
    from pyxring._libpcap import offline_filter
    plain = []
    for code, jt, jf, k in insns:
        cls, mode = code & 0x07, code & 0xE0
        if cls in (0x00, 0x01) and mode in (0x20, 0x40, 0xA0) and SKF_LL_OFF <= k < SKF_AD_OFF:
            k -= SKF_LL_OFF
        plain.append((code, jt, jf, k))
    return offline_filter(plain, frame)


# --- ebpf: pairs of hosts ---

def host_pair_index(src, dst):
    """The value ``host_pair_program`` returns for a packet between the
    addresses ``src`` and ``dst`` (4 or 16 bytes each, either order); the
    kernel takes it modulo the number of workers."""
    words = struct.unpack(f"!{len(src) // 4}I", src) + struct.unpack(f"!{len(dst) // 4}I", dst)
    h = 0
    for w in words:
        h ^= w
    return _mix(h)


def _mix(h):
    h = (h * 0x9E3779B1) & 0xFFFFFFFF
    return (h ^ (h >> 16)) & 0x7FFFFFFF


def host_pair_program():
    """Load the built-in ``ebpf`` fanout program: a packet's index is a
    hash of its IP addresses, the same for both directions (XOR), and with
    no ports, so every fragment, every flow and every tunnel between two
    hosts reaches one worker (what Suricata's IP-pair balancing does).  Not
    IP: index 0.  Returns the program's fd (SOCKET_FILTER, the kernel keeps
    it while a group uses it)."""
    from pyxring.bpf import ebpf as E
    from pyxring.bpf import syscall
    a = E.Asm()
    # R6 = ctx (legacy packet loads use it); R7 = XOR of the address words
    a.mov64_reg(E.R6, E.R1)
    a.ldx(4, E.R2, E.R6, 16)                   # __sk_buff.protocol (network order, u16)
    v4, v6, other = E.Label("v4"), E.Label("v6"), E.Label("other")
    a.jmp32(E.JEQ, E.R2, socket.htons(0x0800), v4)
    a.jmp32(E.JEQ, E.R2, socket.htons(0x86DD), v6)
    a.ja(other)
    a.place(v4)
    _ld_net(a, 12)
    a.mov32_reg(E.R7, E.R0)
    _ld_net(a, 16)
    a.alu32_reg(E.XOR, E.R7, E.R0)
    done = E.Label("done")
    a.ja(done)
    a.place(v6)
    a.mov32(E.R7, 0)
    for off in range(8, 40, 4):
        _ld_net(a, off)
        a.alu32_reg(E.XOR, E.R7, E.R0)
    a.place(done)
    a.alu32(E.MUL, E.R7, 0x9E3779B1)
    a.mov32_reg(E.R0, E.R7)
    a.alu32(E.RSH, E.R0, 16)
    a.alu32_reg(E.XOR, E.R0, E.R7)
    a.alu32(E.AND, E.R0, 0x7FFFFFFF)
    a.exit()
    a.place(other)
    a.mov32(E.R0, 0)
    a.exit()
    return syscall.prog_load(a.assemble(), name="pyxring_hostpair",
                             prog_type=_BPF_PROG_TYPE_SOCKET_FILTER, attach_type=0,
                             what="the host-pair fanout program")


_BPF_PROG_TYPE_SOCKET_FILTER = 1


def _ld_net(a, off):
    """R0 = the 32-bit word at ``off`` from the network header, host order
    (BPF_LD|BPF_ABS|BPF_W with SKF_NET_OFF: a short packet ends the program
    with 0, i.e. index 0)."""
    from pyxring.bpf import ebpf as E
    a.raw(E.LD | E.W | 0x20, 0, 0, 0, -0x100000 + off)
