"""What every protocol printer shares: the per-packet state, the bounded
readers, and the small formatting helpers.

The printers follow tcpdump's model.  Each one appends text to ``nd.out``
and names itself in ``nd.proto``; a field read past the captured bytes (or
past a length an outer header imposed, tcpdump's "snapend") raises, and the
top level then appends `` [|proto]`` for the innermost protocol that was
being printed -- exactly where tcpdump's longjmp lands.  A printer limits
what inner printers may read by handing them a shorter memoryview
(``limit``), which is tcpdump's ``nd_push_snaplen``.

Offsets are absolute positions in the frame; views are always cut at the
end, never at the start, so one offset means the same byte at every level.
"""
import socket
import struct

# A read past the end of the view: struct.error from unpack_from, IndexError
# from indexing.  Both mean "truncated" to the top level.
TRUNCATED = (struct.error, IndexError)


class Invalid(Exception):
    """A printer found the packet unprintable and already said so."""


u8 = struct.Struct("!B").unpack_from
u16 = struct.Struct("!H").unpack_from
u32 = struct.Struct("!I").unpack_from
u64 = struct.Struct("!Q").unpack_from
le16 = struct.Struct("<H").unpack_from
le32 = struct.Struct("<I").unpack_from
_ip4 = struct.Struct("!4B").unpack_from
_b6 = struct.Struct("6s").unpack_from
_b16 = struct.Struct("16s").unpack_from


def be16(b, off):
    return u16(b, off)[0]


def be32(b, off):
    return u32(b, off)[0]


def be64(b, off):
    return u64(b, off)[0]


def ipaddr(b, off):
    """Dotted quad of the 4 bytes at ``off`` (raises when they aren't there)."""
    return "%d.%d.%d.%d" % _ip4(b, off)


def ip6addr(b, off):
    return socket.inet_ntop(socket.AF_INET6, _b16(b, off)[0])


def etheraddr(b, off):
    return _b6(b, off)[0].hex(":")


def need(b, off, n):
    """Raise unless ``n`` bytes from ``off`` are in the view (ND_TCHECK_LEN)."""
    if off + n > len(b) or off < 0:
        raise IndexError(off + n)


def have(b, off, n):
    """ND_TTEST_LEN: are ``n`` bytes from ``off`` in the view?"""
    return 0 <= off and off + n <= len(b)


def limit(b, end):
    """The view cut at ``end`` if that is shorter (tcpdump's nd_push_snaplen)."""
    return b[:end] if end < len(b) else b


def tok(table, value, fmt):
    """tcpdump's tok2str: the name of ``value``, or ``fmt % value``."""
    name = table.get(value)
    return name if name is not None else fmt % value


def bittok(table, value, default, sep=", "):
    """tcpdump's bittok2str: the names of the bit groups set in ``value``, in
    the table's order, or ``default`` when none is."""
    names = [name for bits, name in table if bits and value & bits == bits]
    return sep.join(names) if names else default


def in_cksum(data):
    """The Internet checksum over ``data`` (bytes-like); 0 means correct
    when the data includes its checksum field."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def cksum_shouldbe(sum_in_packet, computed):
    """tcpdump's in_cksum_shouldbe: the checksum the packet should carry,
    given its field and the (non-zero) checksum computed over it."""
    shouldbe = sum_in_packet + computed
    shouldbe = (shouldbe & 0xFFFF) + (shouldbe >> 16)
    shouldbe = (shouldbe & 0xFFFF) + (shouldbe >> 16)
    return shouldbe


def fn_char(c):
    """tcpdump's fn_print_char: a byte as printable text (M- and ^ escapes)."""
    s = ""
    if c >= 0x80:
        c &= 0x7F
        s = "M-"
    if not 0x20 <= c < 0x7F:
        c ^= 0x40
        s += "^"
    return s + chr(c)


class Nd:
    """Printing options and the state kept across packets (tcpdump's
    netdissect_options).  ``out`` and ``proto`` are per packet."""

    __slots__ = ("out", "proto", "ll_hdr_len", "eflag", "qflag", "vflag", "Sflag",
                 "suppress_default_print", "tcp_seq", "tcp_seq_limit")

    def __init__(self, eflag=0, qflag=0, vflag=0, Sflag=0, suppress_default_print=False):
        self.out = []
        self.proto = ""
        self.ll_hdr_len = 0
        self.eflag = eflag
        self.qflag = qflag
        self.vflag = vflag
        self.Sflag = Sflag
        self.suppress_default_print = suppress_default_print
        # TCP conversations seen, for relative sequence numbers: tcpdump
        # never forgets one; a very long capture with millions of
        # conversations is bounded here instead (the oldest half goes).
        self.tcp_seq = {}
        self.tcp_seq_limit = 1 << 20
