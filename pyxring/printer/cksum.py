"""Transport checksums as tcpdump -v verifies them: the pseudo-header
names the final destination when a source route (IPv4 LSRR/SSRR) or a
routing header (IPv6) says the packet is bound elsewhere."""
import struct

from pyxring.printer._nd import TRUNCATED, in_cksum


def _final_destination4(b, iph):
    dst = bytes(b[iph + 16:iph + 20])
    p = iph + 20
    left = (b[iph] & 15) * 4 - 20
    try:
        while left > 0:
            kind = b[p]
            if kind == 0:
                break
            if kind == 1:
                n = 1
            else:
                n = b[p + 1]
                if n < 2:
                    break
            if left < n or p + n > len(b):
                break
            if kind in (131, 137) and n >= 7:
                return bytes(b[p + n - 4:p + n])
            p += n
            left -= n
    except TRUNCATED:
        pass
    return dst


def _final_destination6(b, iph):
    dst = bytes(b[iph + 24:iph + 40])
    nh = b[iph + 6]
    cp = iph
    advance = 40
    try:
        while cp < len(b):
            cp += advance
            if nh in (0, 60, 62, 135):
                advance = (b[cp + 1] + 1) << 3
                nh = b[cp]
            elif nh == 44:
                advance = 8
                nh = b[cp]
            elif nh == 43:
                if cp + 8 > len(b):
                    break
                n = b[cp + 1]
                kind = b[cp + 2]
                if kind in (0, 2):
                    if n % 2 == 1:
                        break
                    for i in range(n >> 1):
                        a = cp + 8 + 16 * i
                        if a + 16 > len(b):
                            break
                        dst = bytes(b[a:a + 16])
                elif kind == 4:
                    if n % 2 == 1:
                        break
                    if cp + 24 <= len(b):
                        dst = bytes(b[cp + 8:cp + 24])
                break
            else:
                break
    except TRUNCATED:
        pass
    return dst


def transport_cksum(b, iph, ver, off, length, proto):
    """The checksum over the pseudo-header and ``length`` bytes at ``off``;
    0 when the packet's checksum is right."""
    if ver == 6:
        ph = bytes(b[iph + 8:iph + 24]) + _final_destination6(b, iph) + \
            struct.pack("!IxxxB", length, proto)
    else:
        ph = bytes(b[iph + 12:iph + 16]) + _final_destination4(b, iph) + \
            struct.pack("!xBH", proto, length & 0xFFFF)
    return in_cksum(ph + bytes(b[off:off + length]))
