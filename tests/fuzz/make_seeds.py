"""Write the hand-built seeds of the reader fuzzer (tests/fuzz/seeds/):
corner cases real tools rarely write (big-endian sections, extreme
if_tsresol/if_tsoffset, simple and obsolete packet blocks, statistics,
decryption-secrets, custom and unknown blocks, old pcap versions, the FCS
bits, out-of-range pcap times) and a few malformed files.

    .venv/bin/python tests/fuzz/make_seeds.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import capfiles as cf  # noqa: E402


def seeds():
    f = [cf.udp_frame(i) for i in range(4)]
    out = {}
    for e, tag in (("<", "le"), (">", "be")):
        out[f"ng_blocks_{tag}.pcapng"] = (
            cf.shb(e) + cf.idb(e, tsresol=9) + cf.idb(e, linktype=101, tsresol=0x80 | 30,
                                                     tsoffset=-5) +
            cf.epb(e, 0, 1_700_000_000_123_456_789, f[0], flags=3) +
            cf.epb(e, 1, 1 << 40, f[1][14:]) +
            cf.block(e, 3, struct.pack(e + "I", len(f[2]) + 9) + f[2]) +
            cf.block(e, 2, struct.pack(e + "HHIIII", 1, 2, 0, 77, len(f[3]) - 14, len(f[3])) +
                     f[3][14:]) +
            cf.block(e, 5, struct.pack(e + "III", 0, 0, 5) + cf.opt(e, 4, struct.pack(e + "Q", 9)) +
                     cf.opt(e, 0, b"")) +
            cf.block(e, 0x0A, struct.pack(e + "II", 0x544C534B, 3) + b"abc") +
            cf.block(e, 0x40000BAD, b"\0\0\0\1custom") + cf.block(e, 0x77, b""))
    out["ng_sections_mixed.pcapng"] = out["ng_blocks_le.pcapng"] + out["ng_blocks_be.pcapng"]
    for res, off in ((0, 2**62), (1, -2**62), (0x80, None), (0x80 | 63, None), (19, 7), (127, 1),
                     (0xFF, -1)):
        out[f"ng_ts_{res:02x}.pcapng"] = (cf.shb() + cf.idb(tsresol=res, tsoffset=off) +
                                          cf.epb("<", 0, 2**64 - 1, f[0]) +
                                          cf.epb("<", 0, 12345, f[1]))
    for v in ((2, 2), (2, 3), (543, 0)):
        out[f"pcap_v{v[0]}_{v[1]}.pcap"] = cf.pcap_header(version=v) + \
            struct.pack("<IIII", 1, 2, len(f[0]) + 3, len(f[0])) + f[0]
    out["pcap_fcs_times.pcap"] = (cf.pcap_header(snaplen=40, linktype=1 | 0x04000000 | 2 << 28) +
                                  cf.pcap_record("<", 0xFFFFFFFF, 1_500_000, f[0]) +
                                  cf.pcap_record("<", 5, 0xFFFFFFFF, f[1]))
    out["pcap_kuznetsov_be.pcap"] = (cf.pcap_header(">", magic=0xA1B2CD34) +
                                     struct.pack(">IIIIiHBB", 1, 2, len(f[0]), len(f[0]), 3, 8, 0, 0)
                                     + f[0])
    out["bad_truncated.pcapng"] = out["ng_blocks_le.pcapng"][:150]
    out["bad_trailer.pcap"] = (cf.pcap_header() + cf.pcap_record("<", 1, 2, f[0]))[:-3]
    out["bad_shb_only.pcapng"] = cf.shb()
    return out


def main():
    d = os.path.join(HERE, "seeds")
    os.makedirs(d, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
