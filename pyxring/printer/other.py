"""The rarer IP payloads pyxring decodes: IPsec AH and ESP headers (never
decrypted), IPComp, IGMP (print-ah.c, print-esp.c, print-ipcomp.c,
print-igmp.c)."""
from pyxring.printer._nd import be16, be32, have, in_cksum, ipaddr, need


def ah_print(nd, b, p):
    """An AH header; returns its length (the payload follows), or -1."""
    nd.proto = "ah"
    out = nd.out
    ah_len = b[p + 1]
    hdr_len = (ah_len + 2) * 4
    sumlen = hdr_len - 12
    out.append("AH(")
    if nd.vflag:
        out.append("length=%u(%u-bytes)," % (ah_len, hdr_len))
    out.append("spi=0x%08x," % be32(b, p + 4))
    out.append("seq=0x%x," % be32(b, p + 8))
    out.append("icv=0x")
    for i in range(sumlen):
        out.append("%02x" % b[p + 12 + i])
    out.append("): ")
    return hdr_len


def esp_print(nd, b, p, length):
    nd.proto = "esp"
    out = nd.out
    if p + 8 >= len(b):
        out.append(" [|esp]")
        return
    out.append("ESP(spi=0x%08x,seq=0x%x), length %u" % (be32(b, p), be32(b, p + 4), length))


def ipcomp_print(nd, b, p):
    nd.proto = "ipcomp"
    need(b, p, 4)
    nd.out.append("IPComp(cpi=0x%04x)" % be16(b, p + 2))


_GROUP_RECORD_TYPES = {1: "is_in", 2: "is_ex", 3: "to_in", 4: "to_ex", 5: "allow", 6: "block"}


def _relts(secs):
    """tcpdump's unsigned_relts_print: 1h2m3s."""
    if secs == 0:
        return "0s"
    parts = []
    for unit, size in (("y", 31536000), ("w", 604800), ("d", 86400), ("h", 3600), ("m", 60),
                       ("s", 1)):
        if secs >= size:
            parts.append("%u%s" % (secs // size, unit))
            secs %= size
    return "".join(parts)


def igmp_print(nd, b, p, length):
    nd.proto = "igmp"
    out = nd.out
    if nd.qflag:
        out.append("igmp")
        return
    kind = b[p]
    if kind == 0x11:
        out.append("igmp query")
        if length >= 12:
            _igmpv3_query(nd, b, p, length)
        else:
            if b[p + 1]:
                out.append(" v2")
                if b[p + 1] != 100:
                    out.append(" [max resp time %u]" % b[p + 1])
            else:
                out.append(" v1")
            if be32(b, p + 4):
                out.append(" [gaddr %s]" % ipaddr(b, p + 4))
            if length != 8:
                out.append(" [len %u]" % length)
    elif kind == 0x12:
        out.append("igmp v1 report " + ipaddr(b, p + 4))
        if length != 8:
            out.append(" [len %u]" % length)
    elif kind == 0x16:
        out.append("igmp v2 report " + ipaddr(b, p + 4))
    elif kind == 0x22:
        out.append("igmp v3 report")
        _igmpv3_report(nd, b, p, length)
    elif kind == 0x17:
        out.append("igmp leave " + ipaddr(b, p + 4))
    else:
        out.append("igmp-%u" % kind)
    if nd.vflag and have(b, p, length) and in_cksum(b[p:p + length]):
        out.append(" bad igmp cksum %x!" % be16(b, p + 2))


def _igmpv3_report(nd, b, p, length):
    if length < 16 or length & 3:
        nd.out.append(" [invalid len %u]" % length)
        return
    group_records(nd, b, p, length, 4, ipaddr, " [v3-report-#%u]")


def group_records(nd, b, p, length, addr_len, addr, unknown):
    """The group records of an IGMPv3 or MLDv2 report (``addr_len`` 4 or
    16, ``addr`` formats one address): their count, and with -v each
    record's group, type and sources (-vv lists them)."""
    out = nd.out
    ngroups = be16(b, p + 6)
    out.append(", %u group record(s)" % ngroups)
    if not nd.vflag:
        return
    group = 8
    for _ in range(ngroups):
        if length < group + 4 + addr_len:
            out.append(" [invalid number of groups]")
            return
        out.append(" [gaddr " + addr(b, p + group + 4))
        rtype = b[p + group]
        out.append(" " + (_GROUP_RECORD_TYPES.get(rtype) or unknown % rtype))
        nsrcs = be16(b, p + group + 2)
        if length < group + 4 + addr_len + nsrcs * addr_len:
            out.append(" [invalid number of sources %u]" % nsrcs)
            return
        if nd.vflag == 1:
            out.append(", %u source(s)" % nsrcs)
        else:
            first = p + group + 4 + addr_len
            out.append(" {" + "".join(" " + addr(b, first + j * addr_len)
                                      for j in range(nsrcs)) + " }")
        group += 4 + addr_len + nsrcs * addr_len
        out.append("]")


def _igmpv3_query(nd, b, p, length):
    out = nd.out
    out.append(" v3")
    if length < 12 or length & 3:
        out.append(" [invalid len %u]" % length)
        return
    mrc = b[p + 1]
    mrt = mrc if mrc < 128 else ((mrc & 0x0F) | 0x10) << (((mrc & 0x70) >> 4) + 3)
    if mrc != 100:
        out.append(" [max resp time ")
        out.append("%.1fs" % (mrt * 0.1) if mrt < 600 else _relts(mrt // 10))
        out.append("]")
    if be32(b, p + 4) == 0:
        return
    out.append(" [gaddr " + ipaddr(b, p + 4))
    nsrcs = be16(b, p + 10)
    if nsrcs > 0:
        if length < 12 + (nsrcs << 2):
            out.append(" [invalid number of sources]")
        elif nd.vflag > 1:
            out.append(" {" + "".join(" " + ipaddr(b, p + 12 + (i << 2)) for i in range(nsrcs)) +
                       " }")
        else:
            out.append(", %u source(s)" % nsrcs)
    out.append("]")

