"""Helpers for the file-source tests: the committed corpus, hand-built
pcap/pcapng pieces, byte-order swapping, and what tshark and tcpdump read."""
import os
import struct
import subprocess

from conftest import require_tool

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# read whole by libpcap (tcpdump) and tshark
LIBPCAP_FILES = ["tcpdump_us.pcap", "tcpdump_ns.pcap", "tcpdump_snap96.pcap", "rawip.pcap",
                 "editcap_modpcap.pcap", "editcap_nsecpcap.pcap", "editcap_pcapng.pcapng",
                 "editcap_secrets.pcapng"]
# pcapng files with interfaces of several link types (tcpdump stops at the second type)
MULTI_LINK_FILES = ["dumpcap_two_links.pcapng", "mergecap_three_links.pcapng"]
# pcap variants whose record headers libpcap does not know (tcpdump fails on them)
FOREIGN_PCAP_FILES = ["editcap_nokiapcap.pcap", "editcap_rh6_1pcap.pcap",
                      "editcap_suse6_3pcap.pcap"]
ALL_READABLE = LIBPCAP_FILES + MULTI_LINK_FILES


def corpus(name):
    return os.path.join(CORPUS, name)


# --- pcapng pieces -----------------------------------------------------------

def block(e, btype, body):
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def opt(e, code, value):
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def shb(e="<"):
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(e="<", linktype=1, tsresol=None, tsoffset=None, name=b"eth9", snaplen=0):
    opts = opt(e, 2, name)
    if tsresol is not None:
        opts += opt(e, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += opt(e, 14, struct.pack(e + "q", tsoffset))
    return block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts + opt(e, 0, b""))


def epb(e, ifid, units, data, wirelen=None, flags=None):
    body = struct.pack(e + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data),
                       len(data) if wirelen is None else wirelen) + data
    body += b"\0" * (-len(body) % 4)
    if flags is not None:
        body += opt(e, 2, struct.pack(e + "I", flags)) + opt(e, 0, b"")
    return block(e, 6, body)


def pcap_header(e="<", magic=0xA1B2C3D4, snaplen=65535, linktype=1, version=(2, 4)):
    return struct.pack(e + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen, linktype)


def pcap_record(e, sec, frac, data, wirelen=None):
    return struct.pack(e + "IIII", sec, frac, len(data),
                       len(data) if wirelen is None else wirelen) + data


def udp_frame(i, size=None):
    from pyxring import netlab
    return netlab.ipv4_udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "10.9.9.1",
                                 "10.9.9.2", 1000 + i, 2000, bytes([i & 0xFF]) * (size or 10 + i))


# --- swapping a file's byte order ---------------------------------------------

def swap_pcap(raw):
    """The same pcap file written in the other byte order."""
    magic = struct.unpack("<I", raw[:4])[0]
    src = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34) else ">"
    dst = ">" if src == "<" else "<"
    hdr_len = 24 if struct.unpack(src + "I", raw[:4])[0] == 0xA1B2CD34 else 16
    out = [struct.pack(dst + "IHHiIII", *struct.unpack(src + "IHHiIII", raw[:24]))]
    off = 24
    while off < len(raw):
        sec, frac, caplen, wirelen = struct.unpack_from(src + "IIII", raw, off)
        rest = raw[off + 16:off + hdr_len]
        if hdr_len == 24:
            ifindex, proto, ptype = struct.unpack(src + "iHB", rest[:7])
            rest = struct.pack(dst + "iHB", ifindex, proto, ptype) + rest[7:]
        out.append(struct.pack(dst + "IIII", sec, frac, caplen, wirelen) + rest)
        out.append(raw[off + hdr_len:off + hdr_len + caplen])
        off += hdr_len + caplen
    return b"".join(out)


def _swap_options(body, off, end, src, dst, sizes):
    out = bytearray(body[:off])
    while off + 4 <= end:
        code, length = struct.unpack_from(src + "HH", body, off)
        val = body[off + 4:off + 4 + length]
        fmt = sizes.get(code)
        if fmt and struct.calcsize(fmt) == length:
            val = struct.pack(dst + fmt, *struct.unpack(src + fmt, val))
        out += struct.pack(dst + "HH", code, length) + val + b"\0" * (-length % 4)
        off += 4 + length + (-length % 4)
        if code == 0:
            break
    out += body[off:end]
    return bytes(out)


def swap_pcapng(raw):
    """The same pcapng file, every section written in the other byte order
    (the blocks a reader interprets: SHB, IDB, EPB, SPB, PB, ISB)."""
    out = []
    off = 0
    src = "<"
    while off < len(raw):
        btype = struct.unpack_from("<I", raw, off)[0]
        if btype == 0x0A0D0D0A:
            src = "<" if struct.unpack_from("<I", raw, off + 8)[0] == 0x1A2B3C4D else ">"
        dst = ">" if src == "<" else "<"
        total = struct.unpack_from(src + "I", raw, off + 4)[0]
        body = raw[off + 8:off + total - 4]
        btype = struct.unpack_from(src + "I", raw, off)[0]
        if btype == 0x0A0D0D0A:
            fixed = struct.pack(dst + "IHHq", *struct.unpack_from(src + "IHHq", body))
            body = fixed + _swap_options(body, 16, len(body), src, dst, {})[16:]
        elif btype == 1:
            fixed = struct.pack(dst + "HHI", *struct.unpack_from(src + "HHI", body))
            body = fixed + _swap_options(body, 8, len(body), src, dst, {14: "q", 8: "Q"})[8:]
        elif btype in (6, 2):
            fmt = "IIIII" if btype == 6 else "HHIIII"
            fields = struct.unpack_from(src + fmt, body)
            caplen = fields[-2]
            data_end = 20 + caplen + (-caplen % 4)
            fixed = struct.pack(dst + fmt, *fields) + body[20:data_end]
            body = fixed + _swap_options(body, data_end, len(body), src, dst,
                                         {2: "I", 4: "Q"})[data_end:]
        elif btype == 3:
            body = struct.pack(dst + "I", *struct.unpack_from(src + "I", body)) + body[4:]
        elif btype == 0x0A:
            stype, slen = struct.unpack_from(src + "II", body)
            body = struct.pack(dst + "II", stype, slen) + body[8:]
        elif btype == 5:
            fixed = struct.pack(dst + "III", *struct.unpack_from(src + "III", body))
            body = fixed + _swap_options(body, 12, len(body), src, dst,
                                         {2: "II", 3: "II", 4: "Q", 5: "Q", 6: "Q", 7: "Q",
                                          8: "Q"})[12:]
        else:
            pass     # unknown blocks: only the header and trailer are ours to swap
        out.append(struct.pack(dst + "II", btype, total) + body + struct.pack(dst + "I", total))
        off += total
    return b"".join(out)


# --- what the real tools read ---------------------------------------------------

def tshark_rows(path):
    """(epoch sec, frac ns, frame length, captured length, interface id,
    encapsulation) per frame, as tshark reads them."""
    tshark = require_tool("tshark")
    out = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.interface_id",
                          "-e", "frame.encap_type"],
                         capture_output=True, timeout=60, check=True).stdout.decode()
    rows = []
    for line in out.splitlines():
        ep, ln, cl, ifid, encap = line.split("\t")
        sec, _, frac = ep.partition(".")
        rows.append((int(sec or 0), int((frac + "000000000")[:9]), int(ln or 0), int(cl or 0),
                     int(ifid or 0), int(encap or -1)))
    return rows


# Wireshark's encapsulation numbers for the link types of the corpus
WTAP_ENCAP = {1: 1, 101: 7, 113: 25, 276: 210}


def tcpdump_run(path, *args):
    """tcpdump -r PATH ARGS: (exit status, stdout lines, stderr lines)."""
    tcpdump = require_tool("tcpdump")
    r = subprocess.run([tcpdump, "-r", str(path), *args], capture_output=True, timeout=60,
                       env={**os.environ, "TZ": "UTC"})
    return r.returncode, r.stdout.decode().splitlines(), r.stderr.decode().splitlines()
