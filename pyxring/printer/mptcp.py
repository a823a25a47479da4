"""The MPTCP option (TCP option 30, RFC 8684 and RFC 6824) as tcpdump's
print-mptcp.c prints it: the length, the subtype, then its fields.  Each
subtype printer returns False when the option's length doesn't fit its
subtype, which TCP prints as "[bad opt]"."""
from pyxring.printer._nd import be16, be32, be64, ip6addr, ipaddr

TH_SYN, TH_ACK = 0x02, 0x10


def _capable(nd, b, p, n, flags):
    if not ((n in (12, 4) and flags & TH_SYN) or
            (n in (20, 22) and flags & (TH_SYN | TH_ACK) == TH_ACK)):
        return False
    out = nd.out
    version = b[p + 2] & 0xF
    if version > 1:
        out.append(" Unknown Version (%u)" % version)
        return True
    out.append(" v%u" % version)
    if b[p + 3] & 0x80:
        out.append(" csum")
    if n == 12 or n >= 20:
        out.append(" {0x%x" % be64(b, p + 4))
        if n >= 20:
            out.append(",0x%x" % be64(b, p + 12))
        out.append("}")
    return True


def _join(nd, b, p, n, flags):
    if not ((n == 12 and flags & TH_SYN) or
            (n == 16 and flags & (TH_SYN | TH_ACK) == TH_SYN | TH_ACK) or
            (n == 24 and flags & TH_ACK)):
        return False
    out = nd.out
    if n != 24:
        if b[p + 2] & 1:
            out.append(" backup")
        out.append(" id %u" % b[p + 3])
    if n == 12:
        out.append(" token 0x%x nonce 0x%x" % (be32(b, p + 4), be32(b, p + 8)))
    elif n == 16:
        out.append(" hmac 0x%x nonce 0x%x" % (be64(b, p + 4), be32(b, p + 12)))
    else:
        out.append(" hmac 0x" + bytes(b[p + 4:p + 24]).hex())
    return True


def _number(out, b, p, n, wide):
    """A 4- or 8-byte number of a DSS option: (p, n) after it, or None
    when the option is too short for it."""
    size = 8 if wide else 4
    if n < size:
        return None
    out.append("%u" % (be64(b, p) if wide else be32(b, p)))
    return p + size, n - size


def _dss(nd, b, p, n, flags):
    if n < 4 or flags & TH_SYN:
        return False
    out = nd.out
    dflags = b[p + 3]
    if dflags & 0x10:
        out.append(" fin")
    p += 4
    n -= 4
    if dflags & 0x01:
        out.append(" ack ")
        at = _number(out, b, p, n, dflags & 0x02)
        if at is None:
            return False
        p, n = at
    if dflags & 0x04:
        out.append(" seq ")
        at = _number(out, b, p, n, dflags & 0x08)
        if at is None:
            return False
        p, n = at
        if n < 4:
            return False
        out.append(" subseq %u" % be32(b, p))
        p += 4
        n -= 4
        if n < 2:
            return False
        out.append(" len %u" % be16(b, p))
        p += 2
        n -= 2
        if n >= 2:
            out.append(" csum 0x%x" % be16(b, p))
            n -= 2
    return n == 0


_ADD_ADDR_KINDS = {0x6: "v0-ip6", 0x4: "v0-ip4", 0x1: "v1-echo", 0x0: "v1"}


def _add_addr(nd, b, p, n, flags):
    """ADD_ADDR: an IPv4 (8..18 bytes) or IPv6 (20..30) address, then
    maybe a port, then maybe a truncated HMAC."""
    if n not in (8, 10, 16, 18, 20, 22, 28, 30):
        return False
    out = nd.out
    out.append(" " + _ADD_ADDR_KINDS.get(b[p + 2] & 0xF, "[bad version/echo]"))
    out.append(" id %u" % b[p + 3])
    v4 = n <= 18
    q = p + (8 if v4 else 20)
    rest = n - (8 if v4 else 20)            # 0, 2 (port), 8 (hmac) or 10 (both)
    out.append(" " + (ipaddr(b, p + 4) if v4 else ip6addr(b, p + 4)))
    if rest in (2, 10):
        out.append(":%u" % be16(b, q))
        q += 2
    if rest >= 8:
        out.append(" hmac 0x%x" % be64(b, q))
    return True


def _remove_addr(nd, b, p, n, flags):
    if n < 4:
        return False
    nd.out.append(" id" + "".join(" %u" % b[p + 3 + i] for i in range(n - 3)))
    return True


def _prio(nd, b, p, n, flags):
    if n not in (3, 4):
        return False
    nd.out.append(" backup" if b[p + 2] & 1 else " non-backup")
    if n == 4:
        nd.out.append(" id %u" % b[p + 3])
    return True


def _fail(nd, b, p, n, flags):
    if n != 12:
        return False
    nd.out.append(" seq %u" % be64(b, p + 4))
    return True


def _fast_close(nd, b, p, n, flags):
    if n != 12:
        return False
    nd.out.append(" key 0x%x" % be64(b, p + 4))
    return True


def _unknown(nd, b, p, n, flags):
    return True


_SUBTYPES = (("capable", _capable), ("join", _join), ("dss", _dss), ("add-addr", _add_addr),
             ("rem-addr", _remove_addr), ("prio", _prio), ("fail", _fail),
             ("fast-close", _fast_close), ("unknown", _unknown))


def mptcp_print(nd, b, p, n, flags):
    """The option of ``n`` bytes at ``p`` (kind and length included)."""
    nd.proto = "mptcp"
    if n < 3:
        return False
    subtype = min(b[p + 2] >> 4, 8)
    name, printer = _SUBTYPES[subtype]
    nd.out.append(" %u %s" % (n, name))
    return printer(nd, b, p, n, flags)
