"""What the non-packet blocks of a capture say about its records: the pcap
file header's layout, pcapng sections (byte order, options) and interfaces
(link type, time resolution), followed block by block as they pass.

Both sides of a conversion need it: reading, to know each interface's byte
order and to describe the interfaces in a table's metadata; writing a file
back, to number the interfaces of the blocks it writes as a reader will.
"""
import struct

from pyxring.file import blocks
from pyxring.file.blocks import PCAP_MAGIC_KUZNETSOV, PCAP_MAGIC_NS, PCAPNG_SHB, BT_IDB


class PcapLayout:
    """A pcap file header: its byte order, record header length, the order
    of the two lengths, the time precision and the one interface."""

    def __init__(self, header, name="<pcap header>"):
        if len(header) != 24:
            raise ValueError(f"{name}: a pcap file header has 24 bytes, not {len(header)}")
        (self.swapped, magic, major, minor, self.thiszone, self.sigfigs, snaplen,
         network) = blocks.parse_pcap_header(header, name)
        self.version = (major, minor)
        self.hdr_len = 24 if magic == PCAP_MAGIC_KUZNETSOV else 16
        self.nanosecond = magic == PCAP_MAGIC_NS
        if major == 543 or (major == 2 and minor < 3):
            self.lengths = 1
        elif (major, minor) == (2, 3):
            self.lengths = 2
        else:
            self.lengths = 0
        self.interface = blocks.pcap_interface(network, snaplen, magic)
        self.header = bytes(header)


class PcapngLayout:
    """Sections and interfaces of a pcapng file, fed its blocks in order.

    Interfaces are numbered across the whole file, as the file source
    numbers them (``pkt.ifindex``); ``local_id`` is the number within the
    interface's section, which its packet blocks use."""

    def __init__(self, name="<pcapng>"):
        self.name = name
        self.sections = []          # (swapped, {option code: value})
        self.interfaces = []        # blocks.Interface
        self.iface_swapped = []     # per interface: its section is in the other byte order
        self.iface_local = []       # per interface: its number in its section
        self._local = 0

    @property
    def swapped(self):
        return self.sections[-1][0] if self.sections else False

    def feed(self, data):
        """Walk the blocks in ``data`` (whole blocks); returns what they
        were: a list of ``("section", None)`` and ``("interface", index)``."""
        out = []
        off = 0
        data = bytes(data)
        while off + 12 <= len(data):
            btype = struct.unpack_from("<I", data, off)[0]
            if btype == PCAPNG_SHB:
                bom = data[off + 8:off + 12]
                sw = bom != struct.pack("<I", blocks.PCAPNG_BYTE_ORDER_MAGIC)
                total = struct.unpack_from(">I" if sw else "<I", data, off + 4)[0]
                swapped, opts = blocks.parse_shb(data[off:off + total], self.name, off)
                self.sections.append((swapped, opts))
                self._local = 0
                out.append(("section", None))
            else:
                e = ">" if self.swapped else "<"
                btype, total = struct.unpack_from(e + "II", data, off)
                if btype == BT_IDB:
                    iface = blocks.parse_idb(data[off:off + total], self.swapped,
                                             len(self.sections) - 1, self.name, off)
                    self.iface_swapped.append(self.swapped)
                    self.iface_local.append(self._local)
                    self._local += 1
                    self.interfaces.append(iface)
                    out.append(("interface", len(self.interfaces) - 1))
            if total < 12:
                raise ValueError(f"{self.name}: block of {total} bytes")
            off += total
        return out

    def swapped_table(self):
        """One byte per interface: 1 where its section is in the other byte order."""
        import numpy as np
        return np.array([1 if s else 0 for s in self.iface_swapped] or [0], np.uint8)


def split_blocks(data, swapped=False):
    """The whole pcapng blocks in ``data`` as a list (the byte order of the
    first one given by ``swapped``, later ones by their section headers)."""
    out = []
    off = 0
    data = bytes(data)
    while off + 12 <= len(data):
        if struct.unpack_from("<I", data, off)[0] == PCAPNG_SHB:
            swapped = data[off + 8:off + 12] != struct.pack("<I", blocks.PCAPNG_BYTE_ORDER_MAGIC)
        total = struct.unpack_from(">I" if swapped else "<I", data, off + 4)[0]
        if total < 12 or off + total > len(data):
            raise ValueError(f"a block of {total} bytes at {off} runs past the {len(data)} given")
        out.append(data[off:off + total])
        off += total
    if off != len(data):
        raise ValueError(f"{len(data) - off} bytes after the last whole block")
    return out


def option(code, value, swapped=False):
    """One pcapng option, padded to 4 bytes, in the given byte order."""
    e = ">" if swapped else "<"
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def options_of(tail, caplen, swapped=False):
    """(code, value) of the options in a pcapng packet block's stored tail
    (its padding first), up to the end of options or a broken one."""
    e = ">" if swapped else "<"
    off = (-caplen) % 4
    while off + 4 <= len(tail):
        code, length = struct.unpack_from(e + "HH", tail, off)
        if code == 0 or off + 4 + length > len(tail):
            return
        yield code, bytes(tail[off + 4:off + 4 + length])
        off += 4 + length + (-length % 4)


def comment_of(tail, caplen, swapped=False):
    """The opt_comment values of a stored tail, joined by new lines (None if none)."""
    texts = [v.decode("utf-8", "replace") for c, v in options_of(tail, caplen, swapped) if c == 1]
    return "\n".join(texts) if texts else None


def rebuild_tail(tail, caplen, swapped, flags, comment):
    """A packet block's tail (padding and options) with ``flags`` and
    ``comment`` as given and the stored tail's other options kept."""
    kept = [(c, v) for c, v in options_of(tail or b"", caplen, swapped) if c not in (1, 2)]
    opts = b""
    if comment is not None:
        opts += option(1, comment.encode("utf-8"), swapped)
    if flags:
        opts += option(2, struct.pack(">I" if swapped else "<I", flags), swapped)
    for c, v in kept:
        opts += option(c, v, swapped)
    pad = b"\0" * ((-caplen) % 4)
    return pad + opts + b"\0\0\0\0" if opts else pad
