"""The raw dumps: hex (-x), hex and ASCII (-X, and the default dump tcpdump
prints below frames it can't decode), ASCII (-A).  Byte for byte the
layout of tcpdump's print-ascii.c: 16 bytes a line, ``0xOFFS:`` then
groups of two bytes, the ASCII column after a 40-column hex field.  The
text comes from C (``_fast.hex_dump``, ``_fast.ascii_dump``) when it is
built, from the Python loops here otherwise; the tests hold them equal."""

# ASCII column: graphic characters as themselves, everything else '.'
_GRAPH = "".join(chr(c) if 0x21 <= c <= 0x7E else "." for c in range(256))
_GRAPH_TABLE = str.maketrans({chr(c): _GRAPH[c] for c in range(256)})
# -A: also keep tab, space and newline
_ASCII = "".join(chr(c) if 0x21 <= c <= 0x7E or c in (9, 10, 32) else "." for c in range(256))


def py_hex_dump(b, off, length, with_ascii, indent):
    """The hex (and ASCII) lines for ``length`` bytes at ``off`` (all there)."""
    data = bytes(b[off:off + length])
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        hexpart = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        if with_ascii:
            lines.append(f"{indent}0x{start:04x}:  "
                         f"{hexpart:<39}  {chunk.decode('latin-1').translate(_GRAPH_TABLE)}")
        else:
            lines.append(f"{indent}0x{start:04x}:  {hexpart}")
    return "".join(lines)


def py_ascii_dump(b, off, length):
    """-A's text for ``length`` bytes at ``off`` (all there)."""
    data = bytes(b[off:off + length])
    text = ["\n"]
    n = len(data)
    i = 0
    while i < n:
        c = data[i]
        i += 1
        if c == 13:
            # A CR before a newline (or among the last two bytes) is left
            # out; elsewhere it shows as '.'.
            if n - i > 1 and data[i] != 10:
                text.append(".")
        else:
            text.append(_ASCII[c])
    return "".join(text)


try:
    from pyxring.printer._fast import ascii_dump as _ascii_dump, hex_dump as _c_hex_dump

    def _hex_dump(b, off, length, with_ascii, indent):
        return _c_hex_dump(b, off, length, with_ascii, indent.encode())
except ImportError:             # not built
    _hex_dump, _ascii_dump = py_hex_dump, py_ascii_dump


def _available(b, off, length):
    """How many of ``length`` bytes from ``off`` there are, and whether the
    view ended first (tcpdump prints what it has, then reports the
    truncation)."""
    have = max(len(b) - off, 0)
    return (have, True) if length > have else (max(length, 0), False)


def hex_and_ascii(out, indent, b, off, length):
    n, cut = _available(b, off, length)
    out.append(_hex_dump(b, off, n, True, indent))
    if cut:
        raise IndexError(off + length)


def hex_only(out, indent, b, off, length):
    n, cut = _available(b, off, length)
    out.append(_hex_dump(b, off, n, False, indent))
    if cut:
        raise IndexError(off + length)


def ascii_only(out, b, off, length):
    n, cut = _available(b, off, length)
    out.append(_ascii_dump(b, off, n))
    if cut:
        raise IndexError(off + length)


def unknown_data(out, indent, b, off, length):
    """tcpdump's print_unknown_data: a hex dump of what is there of it."""
    if off > len(b):
        out.append("%sDissector error: print_unknown_data called with pointer past end of "
                   "packet" % indent)
        return
    hex_only(out, indent, b, off, min(length, len(b) - off))


def default_print(nd, b, off, length):
    """tcpdump's ND_DEFAULTPRINT: a hex and ASCII dump of what can't be
    decoded.  Most callers skip it when -q/-x/-X/-A is given
    (``nd.suppress_default_print``), as tcpdump's do; a few don't."""
    hex_and_ascii(nd.out, "\n\t", b, off, length)


def default_print_unless_suppressed(nd, b, off, length):
    if not nd.suppress_default_print:
        hex_and_ascii(nd.out, "\n\t", b, off, length)
