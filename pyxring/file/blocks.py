"""The rare parts of a capture file, parsed in Python: pcap file headers,
pcapng section headers, interface descriptions and statistics blocks, and
the messages of the errors the C walk finds.

The C walk (``_filesrc.pyx``) stops at these blocks and hands their bytes
here; packets never come this way.
"""
import struct

from pyxring.errors import CaptureFileError

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_MAGIC_KUZNETSOV = 0xA1B2CD34      # Alexey Kuznetsov's patched libpcap (24-byte records)
PCAP_MAGICS = (PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETSOV)
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

BT_IDB, BT_PB, BT_SPB, BT_ISB, BT_EPB = 1, 2, 3, 5, 6

# libpcap's largest sane capture length per link type (max_snaplen_for_dlt)
MAXIMUM_SNAPLEN = 262144
_MAX_SNAPLEN = {231: 128 * 1024 * 1024,     # DBUS
                279: 8 * 1024 * 1024,       # EBHSCR
                249: 1024 * 1024}           # USBPCAP

# pcapng blocks longer than this are refused, as libpcap does: 16 MiB, or an
# enhanced packet block of the interface's largest packet and 128 KiB of options
INITIAL_MAX_BLOCK = 16 * 1024 * 1024

ISB_OPTIONS = {2: "starttime", 3: "endtime", 4: "ifrecv", 5: "ifdrop",
               6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}


def max_snaplen(linktype):
    return _MAX_SNAPLEN.get(linktype, MAXIMUM_SNAPLEN)


def adjusted_snaplen(linktype, snaplen):
    """The snapshot length libpcap (and so tcpdump) reports for a file:
    0 and values above the link type's maximum become that maximum."""
    top = max_snaplen(linktype)
    return top if snaplen == 0 or snaplen > top else snaplen


def max_block_for(linktype):
    return max(INITIAL_MAX_BLOCK, 8 + 20 + max_snaplen(linktype) + 131072 + 4)


class Interface:
    """One interface of a capture file (a pcap file has exactly one).

    ``tsresol`` is the pcapng ``if_tsresol`` byte (6: microseconds, 9:
    nanoseconds, 0x80 | n: 2**-n seconds); ``tsoffset`` the ``if_tsoffset``
    seconds; ``fcslen`` the FCS bytes each frame ends with, when the file says
    (pcap: the link-type field's upper bits; pcapng: ``if_fcslen``)."""
    __slots__ = ("linktype", "snaplen", "name", "description", "tsresol", "tsoffset", "fcslen",
                 "section", "options")

    def __init__(self, linktype, snaplen, tsresol=6, section=0):
        self.linktype = linktype
        self.snaplen = snaplen
        self.name = None
        self.description = None
        self.tsresol = tsresol
        self.tsoffset = 0
        self.fcslen = None
        self.section = section
        self.options = {}            # every option: code -> list of raw values

    @property
    def units_per_second(self):
        e = self.tsresol & 0x7F
        return 2 ** e if self.tsresol & 0x80 else 10 ** e

    def parts(self, units):
        """``(sec, frac_ns)`` of a timestamp of ``units`` on this interface."""
        per = self.units_per_second
        return units // per + self.tsoffset, (units % per) * 1_000_000_000 // per

    def __repr__(self):
        return (f"<Interface {self.name or '?'} linktype={self.linktype} snaplen={self.snaplen}"
                f" tsresol={self.tsresol:#x}>")


def fail(name, offset, what):
    """The one shape of every reader error: the file, the offset, the reason."""
    return CaptureFileError(f"{name}: {what} (at byte offset {offset})")


def parse_pcap_header(head, name):
    """The 24-byte pcap file header: (swapped, magic, version, thiszone,
    sigfigs, snaplen, linktype field)."""
    magic = struct.unpack("<I", head[:4])[0]
    if magic in PCAP_MAGICS:
        e, swapped = "<", False
    else:
        e, swapped = ">", True
        magic = struct.unpack(">I", head[:4])[0]
    major, minor, thiszone, sigfigs, snaplen, network = struct.unpack(e + "HHiIII", head[4:24])
    if major < 2:
        raise fail(name, 4, "archaic pcap savefile format "
                   f"(version {major}.{minor})")
    if not ((major == 2 and minor <= 4) or (major == 543 and minor == 0)):
        raise fail(name, 4, f"unsupported pcap savefile version {major}.{minor}")
    return swapped, magic, major, minor, thiszone, sigfigs, snaplen, network


def pcap_interface(network, snaplen, magic):
    """The one interface of a pcap file.  The link-type field's low 26 bits
    are the link type; bit 26 says the upper four bits give the FCS length
    in 16-bit words (as libpcap's LT_FCS_LENGTH)."""
    linktype = network & 0x03FFFFFF
    iface = Interface(linktype, snaplen, 9 if magic == PCAP_MAGIC_NS else 6)
    if network & 0x04000000:
        iface.fcslen = ((network >> 28) & 0xF) * 2
    return iface


def options(body, off, end, e, name, block_off, what):
    """(code, value) pairs of an option list in ``body[off:end]``."""
    while off + 4 <= end:
        code, length = struct.unpack_from(e + "HH", body, off)
        off += 4
        if code == 0:
            return
        if off + length > end:
            raise fail(name, block_off, f"{what}: option {code} of {length} bytes runs past "
                       "the end of the block")
        yield code, bytes(body[off:off + length])
        off += (length + 3) & ~3


def parse_shb(block, name, block_off):
    """A section header block: (swapped, options).  The C walk has checked
    the byte-order magic and that the lengths agree."""
    swapped = struct.unpack("<I", block[8:12])[0] != PCAPNG_BYTE_ORDER_MAGIC
    e = ">" if swapped else "<"
    major, minor = struct.unpack_from(e + "HH", block, 12)
    if major != 1:
        raise fail(name, block_off, f"unsupported pcapng version {major}.{minor}")
    return swapped, dict(options(block, 24, len(block) - 4, e, name, block_off,
                                 "section header block"))


def _text(val):
    return val.rstrip(b"\0").decode(errors="replace")


def parse_idb(block, swapped, section, name, block_off):
    e = ">" if swapped else "<"
    if len(block) < 20:
        raise fail(name, block_off, "interface description block too short")
    linktype, _reserved, snaplen = struct.unpack_from(e + "HHI", block, 8)
    iface = Interface(linktype, snaplen, 6, section)
    for code, val in options(block, 16, len(block) - 4, e, name, block_off,
                             "interface description block"):
        iface.options.setdefault(code, []).append(val)
        if code == 9:
            if len(val) != 1:
                raise fail(name, block_off, f"if_tsresol option of {len(val)} bytes (must be 1)")
            iface.tsresol = val[0]
        elif code == 14:
            if len(val) != 8:
                raise fail(name, block_off, f"if_tsoffset option of {len(val)} bytes (must be 8)")
            iface.tsoffset = struct.unpack(e + "q", val)[0]
        elif code == 13 and len(val) >= 1:
            iface.fcslen = val[0]
        elif code == 2:
            iface.name = _text(val)
        elif code == 3:
            iface.description = _text(val)
    return iface


def parse_isb(block, swapped, name, block_off):
    """(section-local interface id, raw timestamp, {name: value}) of an
    interface statistics block; times stay raw units for the caller."""
    e = ">" if swapped else "<"
    if len(block) < 24:
        raise fail(name, block_off, "interface statistics block too short")
    lid, hi, lo = struct.unpack_from(e + "III", block, 8)
    values = {}
    for code, val in options(block, 20, len(block) - 4, e, name, block_off,
                             "interface statistics block"):
        key = ISB_OPTIONS.get(code)
        if key is None or len(val) != 8:
            continue
        if code in (2, 3):
            h2, l2 = struct.unpack(e + "II", val)
            values[key] = (h2 << 32) | l2
        else:
            values[key] = struct.unpack(e + "Q", val)[0]
    return lid, (hi << 32) | lo, values


_BLOCK_NAMES = {BT_EPB: "enhanced packet block", BT_SPB: "simple packet block",
                BT_PB: "packet block", BT_IDB: "interface description block",
                BT_ISB: "interface statistics block", PCAPNG_SHB: "section header block"}


def block_name(btype):
    return _BLOCK_NAMES.get(btype, f"block of type {btype:#x}")
