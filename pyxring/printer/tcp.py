"""TCP (tcpdump's print-tcp.c): flags, tcpdump's relative sequence numbers
(per conversation, unless -S), the options, -v checksums."""
import struct

from pyxring.printer import mptcp
from pyxring.printer.cksum import transport_cksum
from pyxring.printer._nd import be16, be32, cksum_shouldbe, fn_char, have, ip6addr, ipaddr, limit

_hdr = struct.Struct("!HHIIBBHHH").unpack_from
_FLAGS = tuple("%s" % "".join(c for bit, c in ((0x01, "F"), (0x02, "S"), (0x04, "R"),
                                                (0x08, "P"), (0x10, "."), (0x20, "U"),
                                                (0x40, "E"), (0x80, "W")) if f & bit) or "none"
               for f in range(256))
TH_FIN, TH_SYN, TH_RST, TH_ACK, TH_URG = 0x01, 0x02, 0x04, 0x10, 0x20
M32 = 0xFFFFFFFF

OPTION_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo",
                7: "echoreply", 8: "TS", 11: "cc", 12: "ccnew", 13: "", 19: "md5", 20: "scps",
                28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp"}


class _BadOption(Exception):
    """An option whose length doesn't fit (tcpdump's "[bad opt]")."""


class _CutOption(Exception):
    """An option that runs past the captured bytes (tcpdump's local trunc)."""


def _addresses(b, iph, ver):
    if ver == 6:
        return ip6addr(b, iph + 8), ip6addr(b, iph + 24)
    return ipaddr(b, iph + 12), ipaddr(b, iph + 16)


def tcp_print(nd, b, off, length, iph, ver, fragmented):
    nd.proto = "tcp"
    out = nd.out
    if not have(b, off + 2, 2):
        out.append("%s > %s: [|tcp]" % _addresses(b, iph, ver))
        return
    nh = b[iph + 6] if ver == 6 else b[iph + 9]
    if nh == 6:
        src, dst = _addresses(b, iph, ver)
        out.append("%s.%u > %s.%u: " % (src, be16(b, off), dst, be16(b, off + 2)))
    else:
        out.append("%u > %u: " % (be16(b, off), be16(b, off + 2)))
    if off + 20 > len(b):
        out.append(" [|tcp]")
        return
    sport, dport, seq, ack, doff, flags, win, _sum, urp = _hdr(b, off)
    hlen = (doff >> 4) * 4
    if hlen < 20:
        out.append(" tcp %u [bad hdr length %u - too short, < 20]" % ((length - hlen) & M32, hlen))
        return
    if nd.qflag:
        out.append("tcp %u" % ((length - hlen) & M32))
        if hlen > length:
            out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    out.append("Flags [")
    out.append(_FLAGS[flags])
    out.append("]")
    rev = thseq = thack = 0
    if not nd.Sflag and flags & TH_ACK:
        if ver == 6:
            src_raw, dst_raw = bytes(b[iph + 8:iph + 24]), bytes(b[iph + 24:iph + 40])
        else:
            src_raw, dst_raw = bytes(b[iph + 12:iph + 16]), bytes(b[iph + 16:iph + 20])
        if sport > dport or (sport == dport and src_raw > dst_raw):
            rev = 1
            key = (dst_raw, src_raw, dport << 16 | sport)
        else:
            key = (src_raw, dst_raw, sport << 16 | dport)
        table = nd.tcp_seq
        th = table.get(key)
        if th is None or flags & TH_SYN:
            if th is None and len(table) >= nd.tcp_seq_limit:
                for old in list(table)[:len(table) // 2]:
                    del table[old]
            th = (ack - 1) & M32, seq
            if not rev:
                th = seq, (ack - 1) & M32
            table[key] = th
        elif rev:
            seq = (seq - th[1]) & M32
            ack = (ack - th[0]) & M32
        else:
            seq = (seq - th[0]) & M32
            ack = (ack - th[1]) & M32
        thseq, thack = th
    if hlen > length:
        out.append(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    if nd.vflag and not fragmented and have(b, off, length):
        computed = transport_cksum(b, iph, ver, off, length, 6)
        tcp_sum = be16(b, off + 16)
        out.append(", cksum 0x%04x" % tcp_sum)
        if computed != 0:
            out.append(" (incorrect -> 0x%04x)" % cksum_shouldbe(tcp_sum, computed))
        else:
            out.append(" (correct)")
    length -= hlen
    if nd.vflag > 1 or length > 0 or flags & (TH_SYN | TH_FIN | TH_RST):
        out.append(", seq %u" % seq)
        if length > 0:
            out.append(":%u" % ((seq + length) & M32))
    if flags & TH_ACK:
        out.append(", ack %u" % ack)
    out.append(", win %u" % win)
    if flags & TH_URG:
        out.append(", urg %u" % urp)
    if hlen > 20:
        out.append(", options [")
        try:
            _options(nd, b, off, hlen, length, flags, rev, thseq, thack, iph, ver)
        except _BadOption as bad:
            out.append("[bad opt]")
            if bad.args[0]:
                out.append("]")
            return
        except _CutOption as cut:
            out.append(" [|%s]" % nd.proto)
            if cut.args[0]:
                out.append(">")
            return
        out.append("]")
    out.append(", length %u" % length)
    if length == 0:
        return
    if off + hlen > len(b):
        out.append(" [remaining caplen(%u) < header length(%u)]" % (len(b) - off, hlen))
        raise IndexError(off + hlen)
    if flags & TH_RST and nd.vflag:
        _rst_data(nd, b, off + hlen, length)


def _options(nd, b, off, hlen, length, flags, rev, thseq, thack, iph, ver):
    out = nd.out
    left = hlen - 20
    cp = off + 20
    sep = ""
    while left > 0:
        out.append(sep)
        opt = b[cp]
        cp += 1
        if opt <= 1:
            ln = 1
        else:
            ln = b[cp]
            cp += 1
            if ln < 2 or ln > left:
                raise _BadOption(sep)
            left -= 1
        left -= 1
        name = OPTION_NAMES.get(opt)
        out.append("unknown-%u" % opt if name is None else name)

        def lencheck(n):
            if n > left:
                raise _BadOption(sep)
            if cp + n > len(b):
                raise _CutOption(sep)

        datalen = 0
        if opt == 2:
            datalen = 2
            lencheck(2)
            out.append(" %u" % be16(b, cp))
        elif opt == 3:
            datalen = 1
            lencheck(1)
            out.append(" %u" % b[cp])
        elif opt == 5:
            datalen = ln - 2
            if datalen % 8:
                out.append(" invalid sack")
            else:
                out.append(" %u " % (datalen // 8))
                base = thseq if rev else thack
                for i in range(0, datalen, 8):
                    lencheck(i + 4)
                    s = be32(b, cp + i)
                    lencheck(i + 8)
                    e = be32(b, cp + i + 4)
                    out.append("{%u:%u}" % ((s - base) & M32, (e - base) & M32))
        elif opt in (6, 7, 11, 12, 13):
            datalen = 4
            lencheck(4)
            out.append(" %u" % be32(b, cp))
        elif opt == 8:
            datalen = 8
            lencheck(8)
            out.append(" val %u ecr %u" % (be32(b, cp), be32(b, cp + 4)))
        elif opt == 19:
            datalen = 16
            lencheck(16)
            out.append(" ")
            # tcpdump checks the signature only with a secret (-M), which
            # pyxring doesn't take.
            if off + hlen + length > len(b):
                out.append("snaplen too short, ")
            else:
                out.append("shared secret not supplied with -M, ")
            out.append("can't check - " + bytes(b[cp:cp + 16]).hex())
        elif opt == 20:
            datalen = 2
            lencheck(2)
            out.append(" cap %02x id %u" % (b[cp], b[cp + 1]))
        elif opt == 29:
            datalen = ln - 2
            if datalen < 2:
                out.append(" (invalid)")
            else:
                lencheck(1)
                out.append(" keyid %u" % b[cp])
                lencheck(2)
                out.append(" rnextkeyid %u" % b[cp + 1])
                if datalen > 2:
                    out.append(" mac 0x")
                    for i in range(2, datalen):
                        lencheck(i + 1)
                        out.append("%02x" % b[cp + i])
        elif opt == 28:
            datalen = 2
            lencheck(2)
            uto = be16(b, cp)
            out.append(" 0x%x" % uto)
            out.append(" %u" % ((uto >> 1) * 60 if uto & 1 else uto >> 1))
        elif opt == 30:
            datalen = ln - 2
            lencheck(datalen)
            if not mptcp.mptcp_print(nd, limit(b, cp - 2 + ln), cp - 2, ln, flags):
                raise _BadOption(sep)
        elif opt == 34:
            datalen = ln - 2
            lencheck(datalen)
            out.append(" ")
            _fastopen(nd, b, cp, datalen, False)
        elif opt == 254:
            datalen = ln - 2
            lencheck(datalen)
            if datalen < 2:
                raise _BadOption(sep)
            magic = be16(b, cp)
            out.append("-")
            if magic == 0xF989:
                _fastopen(nd, b, cp + 2, datalen - 2, True)
            else:
                out.append("%04x" % magic)
        elif opt > 1 and opt != 4:
            datalen = ln - 2
            if datalen:
                out.append(" 0x")
            for i in range(datalen):
                lencheck(i + 1)
                out.append("%02x" % b[cp + i])
        cp += datalen
        left -= datalen
        datalen += 1 if opt <= 1 else 2
        if datalen != ln:
            out.append("[len %u]" % ln)
        sep = ","
        if opt == 0:
            break


def _fastopen(nd, b, cp, datalen, experimental):
    out = nd.out
    if experimental:
        out.append("tfo")
    if datalen == 0:
        out.append(" cookiereq")
    elif datalen % 2 or datalen < 4 or datalen > 16:
        out.append(" (invalid)")
    else:
        out.append(" cookie " + bytes(b[cp:cp + datalen]).hex())


def _rst_data(nd, b, p, length):
    out = nd.out
    out.append(" [RST" if have(b, p, length) else " [!RST")
    if length > 30:
        length = 30
        out.append("+")
    out.append(" ")
    end = min(p + length, len(b))
    out.append("".join(fn_char(c) for c in bytes(b[p:end])))
    out.append("]")


