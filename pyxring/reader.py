"""Reading pcap and pcapng files back.

    with pyxring.open_reader("cap.pcapng") as rd:
        for rec in rd:
            rec.data, rec.ts_ns, rec.caplen, rec.wirelen, rec.interface_id

Both formats are detected from the first four bytes, in either byte order:
classic pcap with the microsecond (a1b2c3d4) or nanosecond (a1b23c4d) magic,
and pcapng with any number of sections, interface descriptions carrying
``if_tsresol`` (a power of 10 or of 2) and ``if_tsoffset``, enhanced, simple
and obsolete packet blocks.  Unknown blocks are skipped as the format asks.
Interface statistics blocks end up in ``reader.interface_stats``.

Interface numbers: pcapng numbers interfaces per section (and so does
tshark's ``frame.interface_id``); a reader numbers them across the whole
file, in the order their descriptions appear (as capinfos does), so
``rec.interface_id`` is unique and agrees with the keys of
``reader.interface_stats`` and the index into ``reader.interfaces`` even in
multi-section files.  For a single-section file the numberings are the same.

A damaged file raises a ``CaptureFileError`` whose message names the file
and the byte offset; records before the damage have been delivered by then,
and a truncated last record is an error, not a silent end of file.
"""
import os
import struct
import sys

from pyxring.compress import open_decompressed
from pyxring.errors import PyxringError

__all__ = ["open_reader", "Record", "Interface", "CaptureFileError", "PcapReader", "PcapngReader"]

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

BT_IDB, BT_OPB, BT_SPB, BT_ISB, BT_EPB = 1, 2, 3, 5, 6

# block header, one 32-bit word, enhanced packet block fixed part; per byte order
_STRUCTS = {e: (struct.Struct(e + "II"), struct.Struct(e + "I"), struct.Struct(e + "IIIII"))
            for e in "<>"}

# A record can't sensibly be bigger than this; a larger length in a header
# means the file is corrupt, and we'd rather say so than try to allocate it.
MAX_RECORD = 256 * 1024 * 1024

ISB_OPTIONS = {2: "starttime", 3: "endtime", 4: "ifrecv", 5: "ifdrop",
               6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}


class CaptureFileError(PyxringError):
    """The file is missing, unreadable, not a capture file, truncated or corrupt."""


class Record:
    """One packet read from a file."""
    __slots__ = ("data", "ts_ns", "caplen", "wirelen", "interface_id", "linktype", "flags")

    def __init__(self, data, ts_ns, caplen, wirelen, interface_id, linktype, flags=0):
        self.data = data
        self.ts_ns = ts_ns
        self.caplen = caplen
        self.wirelen = wirelen
        self.interface_id = interface_id
        self.linktype = linktype
        self.flags = flags            # pcapng epb_flags (direction, ...), 0 if absent

    @property
    def ifindex(self):
        """Alias of ``interface_id`` (files don't record the OS ifindex)."""
        return self.interface_id

    @property
    def timestamp(self):
        return self.ts_ns / 1e9

    def __len__(self):
        return self.caplen

    def __bytes__(self):
        return self.data

    def __repr__(self):
        return (f"<Record ts_ns={self.ts_ns} caplen={self.caplen} wirelen={self.wirelen} "
                f"if={self.interface_id} linktype={self.linktype}>")


class Interface:
    """One interface description (pcap files have exactly one)."""
    __slots__ = ("linktype", "snaplen", "name", "description", "tsresol_units", "tsresol_pow2",
                 "tsoffset_s", "section")

    def __init__(self, linktype, snaplen, section=0):
        self.linktype = linktype
        self.snaplen = snaplen
        self.name = None
        self.description = None
        self.tsresol_units = 6        # exponent: 10**-6 s per unit unless tsresol_pow2
        self.tsresol_pow2 = False
        self.tsoffset_s = 0
        self.section = section

    def to_ns(self, units):
        if self.tsresol_pow2 or self.tsresol_units > 9:
            return self._to_ns_slow(units)
        return units * 10 ** (9 - self.tsresol_units) + self.tsoffset_s * 1_000_000_000

    def _to_ns_slow(self, units):
        if self.tsresol_pow2:
            ns = (units * 1_000_000_000) >> self.tsresol_units
        elif self.tsresol_units <= 9:
            ns = units * 10 ** (9 - self.tsresol_units)
        else:
            ns = units // 10 ** (self.tsresol_units - 9)
        return ns + self.tsoffset_s * 1_000_000_000

    def __repr__(self):
        return f"<Interface {self.name or '?'} linktype={self.linktype} snaplen={self.snaplen}>"


class _Reader:
    """Shared plumbing: the file, its name for messages, and exact reads."""

    format = None

    def __init__(self, fileobj, name, owns, head):
        self._f = fileobj
        self.name = name
        self._owns = owns
        self._pos = len(head)         # offset of the next unread byte, for messages
        self._head = head
        self.interfaces = []
        self.interface_stats = {}

    def _read(self, n, what):
        """Exactly ``n`` bytes, or a CaptureFileError naming ``what``."""
        b = self._f.read(n)
        if len(b) != n:
            b = b + self._read_more(n - len(b))
            if len(b) != n:
                self._fail(f"truncated {what}: needed {n} bytes, file ends after {len(b)}")
        self._pos += n
        return b

    def _read_more(self, n):
        # Pipes may return short reads before EOF; keep going until EOF.
        parts = []
        while n > 0:
            b = self._f.read(n)
            if not b:
                break
            parts.append(b)
            n -= len(b)
        return b"".join(parts)

    def _fail(self, msg, offset=None):
        off = self._pos if offset is None else offset
        raise CaptureFileError(f"{self.name}: {msg} (at byte offset {off})")

    @property
    def linktype(self):
        return self.interfaces[0].linktype if self.interfaces else None

    @property
    def snaplen(self):
        return self.interfaces[0].snaplen if self.interfaces else None

    def close(self):
        if self._owns and self._f is not None:
            self._f.close()
        self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self._records()

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} linktype={self.linktype}>"


class PcapReader(_Reader):
    """Classic libpcap format."""

    format = "pcap"

    def __init__(self, fileobj, name, owns, head):
        super().__init__(fileobj, name, owns, head)
        magic_le = struct.unpack("<I", head)[0]
        if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            self._e = "<"
        else:
            self._e = ">"
        magic = struct.unpack(self._e + "I", head)[0]
        self.nanosecond = magic == PCAP_MAGIC_NS
        rest = self._read(20, "pcap file header")
        (self.version_major, self.version_minor, self.thiszone, _sigfigs, snaplen,
         network) = struct.unpack(self._e + "HHiIII", rest)
        if self.version_major != 2:
            self._fail(f"unsupported pcap version {self.version_major}.{self.version_minor}", 4)
        # The top bits of the link-type field carry FCS information.
        iface = Interface(network & 0xFFFF, snaplen)
        iface.tsresol_units = 9 if self.nanosecond else 6
        self.interfaces.append(iface)

    def _records(self):
        hdr = struct.Struct(self._e + "IIII")
        read = self._f.read
        mult = 1 if self.nanosecond else 1000
        linktype = self.interfaces[0].linktype
        n = 0
        while True:
            h = read(16)
            if len(h) != 16:
                if not h:
                    return
                h += self._read_more(16 - len(h))
                if len(h) != 16:
                    self._fail(f"truncated record header of packet {n + 1}: "
                               f"{len(h)} of 16 bytes")
            sec, frac, caplen, wirelen = hdr.unpack(h)
            if caplen > MAX_RECORD:
                self._fail(f"corrupt record header of packet {n + 1}: caplen {caplen}")
            start = self._pos
            self._pos += 16
            data = read(caplen)
            if len(data) != caplen:
                data += self._read_more(caplen - len(data))
                if len(data) != caplen:
                    self._fail(f"truncated packet {n + 1}: record says {caplen} bytes, "
                               f"file ends after {len(data)}", start)
            self._pos += caplen
            n += 1
            yield Record(data, sec * 1_000_000_000 + frac * mult, caplen, wirelen, 0, linktype)


class PcapngReader(_Reader):
    """pcapng: sections, interface descriptions, packet and statistics blocks."""

    format = "pcapng"

    def __init__(self, fileobj, name, owns, head):
        super().__init__(fileobj, name, owns, head)
        self._e = "<"
        self._section = -1
        self._section_ifaces = []     # this section's interface id -> Interface index
        self.nanosecond = True        # we convert every resolution to ns
        self.shb_options = {}
        h = head + self._read(4, "section header")
        self._parse_shb(h, 0)

    def _options(self, body, off, end):
        """Yield (code, value bytes) of an option list."""
        e = self._e
        while off + 4 <= end:
            code, length = struct.unpack_from(e + "HH", body, off)
            off += 4
            if code == 0:
                return
            if off + length > end:
                self._fail(f"corrupt option {code} (length {length})")
            yield code, bytes(body[off:off + length])
            off += (length + 3) & ~3

    def _parse_shb(self, h, start):
        """A section header whose first 8 bytes (type, length) are ``h``;
        the byte-order magic that follows decides how to read the length."""
        bom = self._read(4, "section header")
        if struct.unpack("<I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            self._e = "<"
        elif struct.unpack(">I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            self._e = ">"
        else:
            self._fail("bad pcapng byte-order magic in section header", start)
        total = struct.unpack_from(self._e + "I", h, 4)[0]
        if total < 28 or total % 4 or total > MAX_RECORD:
            self._fail(f"corrupt section header length {total}", start)
        body = bom + self._read(total - 12, "section header")
        major, minor = struct.unpack_from(self._e + "HH", body, 4)
        if major != 1:
            self._fail(f"unsupported pcapng version {major}.{minor}", start)
        if struct.unpack_from(self._e + "I", body, total - 12)[0] != total:
            self._fail("section header lengths disagree", start)
        self._section += 1
        self._section_ifaces = []
        opts = dict(self._options(body, 16, total - 12))
        if self._section == 0:
            self.shb_options = opts

    def _iface(self, local_id, block_start):
        if local_id >= len(self._section_ifaces):
            self._fail(f"packet refers to undefined interface {local_id}", block_start)
        gid = self._section_ifaces[local_id]
        return gid, self.interfaces[gid]

    def _records(self):
        e = self._e
        n = 0
        read = self._f.read
        hdr_s, u32_s, epb_s = _STRUCTS[e]
        while True:
            start = self._pos
            h = read(8)
            if len(h) != 8:
                if not h:
                    return
                h += self._read_more(8 - len(h))
                if len(h) != 8:
                    self._fail(f"truncated block header: {len(h)} of 8 bytes", start)
            btype, total = hdr_s.unpack(h)
            if btype == PCAPNG_SHB:
                # A new section may switch byte order.
                self._pos = start + 8
                self._parse_shb(h, start)
                e = self._e
                hdr_s, u32_s, epb_s = _STRUCTS[e]
                continue
            if total < 12 or total % 4 or total > MAX_RECORD:
                self._fail(f"corrupt block length {total} (block type {btype:#x})", start)
            self._pos += 8
            body = read(total - 8)
            if len(body) != total - 8:
                body += self._read_more(total - 8 - len(body))
                if len(body) != total - 8:
                    what = "packet" if btype in (BT_EPB, BT_SPB, BT_OPB) else "block"
                    self._fail(f"truncated {what} (block type {btype:#x}): block says {total} "
                               f"bytes, file ends after {len(body) + 8}", start)
            self._pos += total - 8
            if u32_s.unpack_from(body, total - 12)[0] != total:
                self._fail(f"block lengths disagree (block type {btype:#x})", start)
            blen = total - 12             # body without the trailing length
            if btype == BT_EPB:
                if blen < 20:
                    self._fail("enhanced packet block too short", start)
                lid, hi, lo, caplen, wirelen = epb_s.unpack_from(body, 0)
                if 20 + caplen > blen:
                    self._fail(f"enhanced packet block: caplen {caplen} exceeds the block", start)
                if lid < len(self._section_ifaces):
                    gid = self._section_ifaces[lid]
                    iface = self.interfaces[gid]
                else:
                    gid, iface = self._iface(lid, start)
                flags = 0
                opt_off = 20 + ((caplen + 3) & ~3)
                if opt_off < blen:
                    for code, val in self._options(body, opt_off, blen):
                        if code == 2 and len(val) == 4:
                            flags = struct.unpack(e + "I", val)[0]
                n += 1
                yield Record(body[20:20 + caplen], iface.to_ns((hi << 32) | lo), caplen, wirelen,
                             gid, iface.linktype, flags)
            elif btype == BT_SPB:
                if blen < 4:
                    self._fail("simple packet block too short", start)
                gid, iface = self._iface(0, start)
                wirelen = struct.unpack_from(e + "I", body, 0)[0]
                caplen = min(wirelen, blen - 4)
                if iface.snaplen:
                    caplen = min(caplen, iface.snaplen)
                n += 1
                # Simple packet blocks carry no timestamp.
                yield Record(body[4:4 + caplen], 0, caplen, wirelen, gid, iface.linktype)
            elif btype == BT_OPB:
                if blen < 20:
                    self._fail("packet block too short", start)
                lid, _drops, hi, lo, caplen, wirelen = struct.unpack_from(e + "HHIIII", body, 0)
                if 20 + caplen > blen:
                    self._fail(f"packet block: caplen {caplen} exceeds the block", start)
                gid, iface = self._iface(lid, start)
                n += 1
                yield Record(body[20:20 + caplen], iface.to_ns((hi << 32) | lo), caplen, wirelen,
                             gid, iface.linktype)
            elif btype == BT_IDB:
                self._parse_idb(body, blen, start)
            elif btype == BT_ISB:
                self._parse_isb(body, blen, start)
            # Anything else (name resolution, custom, decryption secrets...) is skipped.

    def _parse_idb(self, body, blen, start):
        if blen < 8:
            self._fail("interface description block too short", start)
        linktype, _res, snaplen = struct.unpack_from(self._e + "HHI", body, 0)
        iface = Interface(linktype, snaplen, self._section)
        for code, val in self._options(body, 8, blen):
            if code == 9 and len(val) >= 1:
                r = val[0]
                iface.tsresol_pow2 = bool(r & 0x80)
                iface.tsresol_units = r & 0x7F
            elif code == 14 and len(val) == 8:
                iface.tsoffset_s = struct.unpack(self._e + "q", val)[0]
            elif code == 2:
                iface.name = val.rstrip(b"\0").decode(errors="replace")
            elif code == 3:
                iface.description = val.rstrip(b"\0").decode(errors="replace")
        self._section_ifaces.append(len(self.interfaces))
        self.interfaces.append(iface)

    def _parse_isb(self, body, blen, start):
        if blen < 12:
            self._fail("interface statistics block too short", start)
        lid, hi, lo = struct.unpack_from(self._e + "III", body, 0)
        gid, iface = self._iface(lid, start)
        stats = {"ts_ns": iface.to_ns((hi << 32) | lo)}
        for code, val in self._options(body, 12, blen):
            name = ISB_OPTIONS.get(code)
            if name is None or len(val) != 8:
                continue
            if code in (2, 3):
                h2, l2 = struct.unpack(self._e + "II", val)
                stats[name + "_ns"] = iface.to_ns((h2 << 32) | l2)
            else:
                stats[name] = struct.unpack(self._e + "Q", val)[0]
        self.interface_stats[gid] = stats


def open_reader(source):
    """Open a pcap or pcapng file: a path, ``"-"`` for standard input, or a
    binary file object.  Returns an iterable context manager of ``Record``."""
    if isinstance(source, (str, bytes, os.PathLike)):
        name = os.fsdecode(source)
        if name == "-":
            f, owns, name = sys.stdin.buffer, False, "<stdin>"
        else:
            try:
                f = open_decompressed(source) or open(source, "rb")
            except OSError as exc:
                raise CaptureFileError(f"{name}: {exc.strerror}") from None
            owns = True
    else:
        f, owns = source, False
        name = getattr(source, "name", None)
        name = name if isinstance(name, str) else "<file object>"
    try:
        head = f.read(4)
        if len(head) < 4 and head:
            more = f.read(4 - len(head))
            head += more
        if len(head) != 4:
            raise CaptureFileError(f"{name}: empty or truncated file (no capture file header)")
        le = struct.unpack("<I", head)[0]
        be = struct.unpack(">I", head)[0]
        if le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            return PcapReader(f, name, owns, head)
        if le == PCAPNG_SHB:
            return PcapngReader(f, name, owns, head)
        raise CaptureFileError(f"{name}: not a pcap or pcapng file (magic {head.hex()})")
    except BaseException:
        if owns:
            f.close()
        raise
