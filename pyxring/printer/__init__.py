"""tcpdump's packet lines: one printer for ``pyxring read`` and ``capture``.

    printer = Printer(sys.stdout, verbose=1)          # like tcpdump -nn -v
    printer.print_batch(batch)                          # live or file batches
    printer.print_packet(data, linktype=1, wirelen=60, ts=(sec, frac_ns))
    text = printer.format_packet(data, 1, 60, (sec, frac_ns))   # one packet's text

Each packet's text is what ``tcpdump -nn`` prints for it with the same
options (``-e -q -v -vv -S -x -xx -X -XX -A -t.. -ttttt --nano -#``), the
hex dumps included, for the link layers and protocols this package decodes
(see the README's "Reading capture files" for the list and for what is not
decoded).  The protocol printers live one module per protocol family and
follow tcpdump's own printers; ``pyxring.printer.options`` registers the
command-line options and builds a Printer from them.
"""
import sys

from pyxring.printer import dump, link, ip, ip6
from pyxring.printer._nd import TRUNCATED, Nd
from pyxring.printer.timestamps import Timestamps, format_ts

try:
    from pyxring.printer._fast import FastPath
except ImportError:          # not built: the Python printers do it all
    FastPath = None

__all__ = ["Printer", "format_ts", "LINKTYPE_NAMES"]

MAXIMUM_SNAPLEN = 262144

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_LOOP = 108
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# tcpdump's "link-type NAME (description)" for the header line
LINKTYPE_NAMES = {
    0: "NULL (BSD loopback)", 1: "EN10MB (Ethernet)", 101: "RAW (Raw IP)", 12: "RAW (Raw IP)",
    108: "LOOP (OpenBSD loopback)",
    113: "LINUX_SLL (Linux cooked v1)", 276: "LINUX_SLL2 (Linux cooked v2)",
    228: "IPV4 (Raw IPv4)", 229: "IPV6 (Raw IPv6)",
}


def _raw_if_print(nd, b, length):
    if nd.eflag:
        nd.out.append("ip: ")
    if length < 1:
        nd.out.append("truncated-ip %u" % length)
        return 0
    version = b[0] >> 4
    if version == 4:
        ip.ip_print(nd, b, 0, length)
    elif version == 6:
        ip6.ip6_print(nd, b, 0, length)
    else:
        nd.out.append("unknown ip %u" % version)
    return 0


def _ether_if_print(nd, b, length):
    link.ether_if_print(nd, b, length)
    return nd.ll_hdr_len


_LINK_PRINTERS = {
    LINKTYPE_ETHERNET: _ether_if_print,
    LINKTYPE_RAW: _raw_if_print, 12: _raw_if_print,
    LINKTYPE_IPV4: _raw_if_print, LINKTYPE_IPV6: _raw_if_print,
    LINKTYPE_LINUX_SLL: link.sll_if_print, LINKTYPE_LINUX_SLL2: link.sll2_if_print,
    LINKTYPE_NULL: link.null_if_print, LINKTYPE_LOOP: link.loop_if_print,
}


def _unsupported_if_print(nd, b, length):
    """Link types tcpdump has no printer for: it says so and dumps them."""
    nd.out.append("UNSUPPORTED")
    dump.hex_and_ascii(nd.out, "\n\t", b, 0, len(b))
    return 0


class Printer:
    """Prints packets as tcpdump -nn does, to ``out`` (a text file).

    Options keep tcpdump's meaning; counts (``verbose``, ``link``, ``hex``,
    ``hex_ascii``, ``ascii``, ``quiet``) are how many times the letter was
    given: ``hex=2`` is ``-xx``, ``hex_ascii=1`` is ``-X``, ``ascii=2`` is
    ``-AA``.  ``timestamps`` is tcpdump's -t count (0 .. 5), ``nano``
    prints nanoseconds, ``number`` prefixes each packet with its number
    (``-#``), ``absolute_seq`` is ``-S``.  ``fast=False`` keeps the C
    fast path out (the tests compare both ways).
    """

    def __init__(self, out=None, *, link=0, quiet=0, verbose=0, absolute_seq=False, hex=0,
                 hex_ascii=0, ascii=0, timestamps=0, nano=False, number=False,
                 linktype=LINKTYPE_ETHERNET, line_buffered=False, fast=True):
        self.out = sys.stdout if out is None else out
        self.nd = Nd(eflag=link, qflag=quiet, vflag=verbose, Sflag=absolute_seq,
                     suppress_default_print=bool(quiet or hex or hex_ascii))
        self.hex = hex
        self.hex_ascii = hex_ascii
        self.ascii = ascii
        self.ts = Timestamps(timestamps, nano)
        self.number = number
        self.count = 0
        self.linktype = linktype
        self.line_buffered = line_buffered
        self._pending = []
        # the common case in C (see _fast.pyx)
        self._dumping = bool(hex or hex_ascii or ascii)
        self._fast = FastPath(self.nd) if fast and FastPath is not None else None

    # -- one packet --------------------------------------------------------
    def format_packet(self, data, linktype=None, wirelen=None, ts=(0, 0)):
        """The text tcpdump prints for one packet (several lines with -v or
        the dumps), without the final newline.  ``ts`` is ``(sec, frac_ns)``."""
        nd = self.nd
        out = nd.out = []
        self.count += 1
        if self.number:
            out.append("%5u  " % self.count)
        b = data if type(data) is memoryview else memoryview(data)
        if b.format != "B" or b.ndim != 1:
            b = b.cast("B")
        caplen = len(b)
        length = caplen if wirelen is None else wirelen
        if caplen == 0 or length == 0 or length < caplen or caplen > MAXIMUM_SNAPLEN or \
                length > MAXIMUM_SNAPLEN:
            out.append(_invalid_header(caplen, length))
            return "".join(out)
        out.append(self.ts.format(ts[0], ts[1]))
        lt = self.linktype if linktype is None else linktype
        if lt == LINKTYPE_ETHERNET and self._fast is not None:
            text = self._fast.line(b, length)
            if text is not None:
                out.append(text)
                if self._dumping:
                    self._dumps(out, b, caplen, self._fast.hdrlen)
                return "".join(out)
        nd.proto = ""
        nd.ll_hdr_len = 0
        printer = _LINK_PRINTERS.get(lt, _unsupported_if_print)
        try:
            hdrlen = printer(nd, b, length)
        except TRUNCATED:
            out.append(" [|%s]" % nd.proto)
            hdrlen = nd.ll_hdr_len
        if self._dumping:
            self._dumps(out, b, caplen, hdrlen)
        return "".join(out)

    def _dumps(self, out, b, caplen, hdrlen):
        start = 0 if (self.hex_ascii or self.hex or self.ascii) > 1 else hdrlen
        if self.hex_ascii:
            if self.hex_ascii > 1 or caplen > hdrlen:
                dump.hex_and_ascii(out, "\n\t", b, start, caplen - start)
        elif self.hex:
            if self.hex > 1 or caplen > hdrlen:
                dump.hex_only(out, "\n\t", b, start, caplen - start)
        elif self.ascii > 1 or caplen > hdrlen:
            dump.ascii_only(out, b, start, caplen - start)

    def print_packet(self, data, linktype=None, wirelen=None, ts=(0, 0)):
        self.out.write(self.format_packet(data, linktype, wirelen, ts) + "\n")
        if self.line_buffered:
            self.out.flush()

    # -- many packets ------------------------------------------------------
    def print_batch(self, batch):
        """Every packet of a batch (a live or a file batch), each by its own
        link type, in one write."""
        if self._fast is not None:
            self._fast_batch(batch)
            return
        fmt = self.format_packet
        lines = [fmt(p, p.linktype, p.wirelen, p.ts_parts) for p in batch]
        if lines:
            lines.append("")
            self.out.write("\n".join(lines))
            if self.line_buffered:
                self.out.flush()

    def _fast_batch(self, batch):
        mode = self.ts.mode
        # the delta modes and the dumps: every packet by format_packet
        ts_kind = 2 if mode in (3, 5) or self._dumping else 0 if mode == 1 else 1
        base = self.count

        def slow(i):
            p = batch[i]
            self.count = base + i
            return self.format_packet(p, p.linktype, p.wirelen, p.ts_parts).encode("latin-1")
        text = self._fast.batch_text(batch, ts_kind, 9 if self.ts.nano else 6,
                                     self.ts.second_text, slow, base if self.number else -1)
        self.count = base + len(batch)
        if text:
            self.out.write(text)
            if self.line_buffered:
                self.out.flush()

    def print_record(self, rec):
        """A record from ``pyxring.open_reader``."""
        self._pending.append(self.format_packet(rec.data, rec.linktype, rec.wirelen,
                                                rec.ts_parts))
        if len(self._pending) >= 256 or self.line_buffered:
            self.flush()

    def flush(self):
        if self._pending:
            self._pending.append("")
            self.out.write("\n".join(self._pending))
            self._pending.clear()
        self.out.flush()


def _invalid_header(caplen, length):
    problems = []
    if caplen == 0:
        problems.append(" caplen==0")
    if length == 0:
        problems.append(" len==0")
    elif length < caplen:
        problems.append(" len(%u) < caplen(%u)" % (length, caplen))
    if caplen > MAXIMUM_SNAPLEN:
        problems.append(" caplen(%u) > %u" % (caplen, MAXIMUM_SNAPLEN))
    if length > MAXIMUM_SNAPLEN:
        problems.append(" len(%u) > %u" % (length, MAXIMUM_SNAPLEN))
    return "[Invalid header:" + ",".join(problems) + "]"
