"""IEEE 802.2 LLC and SNAP (tcpdump's print-llc.c), and the spanning tree
BPDUs they carry: STP, RSTP, MSTP, SPB (print-stp.c), also Cisco's PVST+
over SNAP.  IPX, OSI (IS-IS, ES-IS...), NetBEUI, CDP/VTP/DTP/UDLD and the
other SNAP protocols are not decoded: they print the LLC/SNAP header and
a hex dump."""
from pyxring.printer import dump, link
from pyxring.printer._nd import be16, be32, bittok, etheraddr, fn_char, le16, need
from pyxring.printer.names import ETHERTYPE_NAMES

SAP_NAMES = {0x00: "Null", 0xFF: "Global", 0x02: "802.1B I", 0x03: "802.1B G", 0x06: "IP",
             0x04: "SNA", 0x0E: "ProWay NM", 0x42: "STP", 0x4E: "RS511", 0x7E: "ISO8208",
             0x8E: "ProWay", 0xAA: "SNAP", 0xE0: "IPX", 0xF0: "NetBeui", 0xFE: "OSI"}
_U_COMMANDS = {0x03: "ui", 0xE3: "test", 0xAF: "xid", 0x63: "ua", 0x43: "disc", 0x0F: "dm",
               0x6F: "sabme", 0x87: "frmr"}
_FLAGS = {0: "Command", 1: "Response", 0x10: "Poll", 0x11: "Final", 0x100: "Poll",
          0x101: "Final"}
_SUPERVISORY = {0: "Receiver Ready", 1: "Receiver not Ready", 2: "Reject"}

OUI_NAMES = {
    0x000000: "Ethernet", 0x00000C: "Cisco", 0x00005E: "IANA", 0x000081: "Nortel Networks SONMP",
    0x0000F8: "Cisco bridged", 0x0080C2: "Ethernet bridged", 0x00A03E: "ATM Forum",
    0x00E02F: "DOCSIS Spanning Tree", 0x080007: "Appletalk", 0x009069: "Juniper",
    0x080009: "Hewlett-Packard", 0x00120F: "IEEE 802.3 Private", 0x0012BB: "ANSI/TIA",
    0x001B21: "DCBX", 0x002320: "Nicira Networks", 0x5C16C7: "Big Switch Networks",
    0xB0D2F5: "Vello Systems", 0x002481: "HP", 0x0004EA: "HP-Labs", 0x748771: "Infoblox Inc",
    0xA42305: "Open Networking Lab", 0x00049F: "Freescale", 0x0015AD: "Netronome",
    0x001018: "Broadcom", 0x00E004: "PMC-Sierra", 0xD0F0DB: "Ericsson",
}
_CISCO_PIDS = {0x2000: "CDP", 0x2003: "VTP", 0x2004: "DTP", 0x0111: "UDLD", 0x010B: "PVST",
               0x010C: "VLAN Bridge"}
_BRIDGED_PIDS = {0x01: "Ethernet + FCS", 0x07: "Ethernet w/o FCS", 0x02: "802.4 + FCS",
                 0x08: "802.4 w/o FCS", 0x03: "Token Ring + FCS", 0x09: "Token Ring w/o FCS",
                 0x04: "FDDI + FCS", 0x0A: "FDDI w/o FCS", 0x05: "802.6 + FCS",
                 0x0B: "802.6 w/o FCS", 0x0E: "BPDU"}
_PID_TABLES = {0x000000: ETHERTYPE_NAMES, 0x0000F8: ETHERTYPE_NAMES, 0x080007: ETHERTYPE_NAMES,
               0x00000C: _CISCO_PIDS, 0x0080C2: _BRIDGED_PIDS}


def _llc_trunc(nd, b, p, caplen, ret):
    nd.out.append(" [|llc]")
    dump.default_print(nd, b, p, caplen)
    return ret


def llc_print(nd, b, p, length, caplen, src_dst):
    """An LLC header at ``p``: returns its length (with SNAP's), negative
    when the payload wasn't decoded (the caller dumps it)."""
    nd.proto = "llc"
    out = nd.out
    if caplen < 3:
        return _llc_trunc(nd, b, p, caplen, caplen)
    if length < 3:
        return _llc_trunc(nd, b, p, caplen, length)
    dsap_field = b[p]
    ssap_field = b[p + 1]
    control = b[p + 2]
    if control & 3 == 3:
        is_u = True
        hdrlen = 3
    else:
        if caplen < 4:
            return _llc_trunc(nd, b, p, caplen, caplen)
        if length < 4:
            return _llc_trunc(nd, b, p, caplen, length)
        control = le16(b, p + 2)[0]
        is_u = False
        hdrlen = 4
    if ssap_field == 0xFF and dsap_field == 0xFF:
        # Novell's raw 802.3 IPX: no LLC header at all
        if nd.eflag:
            out.append("IPX 802.3: ")
        dump.default_print(nd, b, p, caplen)
        return 0
    dsap = dsap_field & 0xFE
    ssap = ssap_field & 0xFE
    if nd.eflag:
        out.append("LLC, dsap %s (0x%02x) %s, ssap %s (0x%02x) %s" % (
            SAP_NAMES.get(dsap, "Unknown"), dsap, "Group" if dsap_field & 1 else "Individual",
            SAP_NAMES.get(ssap, "Unknown"), ssap, _FLAGS.get(ssap_field & 1, "Unknown")))
        out.append(", ctrl 0x%02x: " % control if is_u else ", ctrl 0x%04x: " % control)
    p += hdrlen
    length -= hdrlen
    caplen -= hdrlen
    if ssap == 0xAA and dsap == 0xAA and control == 0x03:
        if not snap_print(nd, b, p, length, caplen, src_dst, 2):
            return -(hdrlen + 5)
        return hdrlen + 5
    if ssap == 0x42 and dsap == 0x42 and control == 0x03:
        stp_print(nd, b, p, length)
        return hdrlen
    if ssap == 0x06 and dsap == 0x06 and control == 0x03:
        from pyxring.printer import ip
        ip.ip_print(nd, b, p, length)
        return hdrlen
    if not nd.eflag:
        src, dst = (etheraddr(b, src_dst[0]), etheraddr(b, src_dst[1])) if src_dst else (None,
                                                                                         None)
        if ssap == dsap:
            name = SAP_NAMES.get(dsap) or "Unknown DSAP 0x%02x" % dsap
            out.append("%s > %s %s " % (src, dst, name) if src else "%s " % name)
        else:
            sname = SAP_NAMES.get(ssap) or "Unknown SSAP 0x%02x" % ssap
            dname = SAP_NAMES.get(dsap) or "Unknown DSAP 0x%02x" % dsap
            out.append("%s %s > %s %s " % (src, sname, dst, dname) if src else
                       "%s > %s " % (sname, dname))
    if is_u:
        out.append("Unnumbered, %s, Flags [%s], length %u" % (
            _U_COMMANDS.get(control & 0xEF) or "%02x" % (control & 0xEF),
            _FLAGS.get((ssap_field & 1) | (control & 0x10), "?"), length + hdrlen))
        if control & 0xEF == 0xAF:
            if length == 0:
                return hdrlen
            if caplen < 1:
                out.append(" [|llc]")
                return hdrlen
            if b[p] == 0x81:
                if caplen < 3 or length < 3:
                    out.append(" [|llc]")
                    dump.default_print(nd, b, p, caplen)
                else:
                    out.append(": %02x %02x" % (b[p + 1], b[p + 2]))
                return hdrlen
    elif control & 1:
        out.append("Supervisory, %s, rcv seq %u, Flags [%s], length %u" % (
            _SUPERVISORY.get((control >> 2) & 3, "?"), (control >> 9) & 0x7F,
            _FLAGS.get((ssap_field & 1) | (control & 0x100), "?"), length + hdrlen))
        return hdrlen
    else:
        out.append("Information, send seq %u, rcv seq %u, Flags [%s], length %u" % (
            (control >> 1) & 0x7F, (control >> 9) & 0x7F,
            _FLAGS.get((ssap_field & 1) | (control & 0x100), "?"), length + hdrlen))
    return -hdrlen


def snap_print(nd, b, p, length, caplen, src_dst, bridge_pad):
    """A SNAP header; False when its protocol wasn't decoded."""
    nd.proto = "snap"
    out = nd.out
    if caplen < 5 or length < 5:
        out.append(" [|snap]")
        return True
    need(b, p, 5)
    oui = b[p] << 16 | b[p + 1] << 8 | b[p + 2]
    et = be16(b, p + 3)
    pids = _PID_TABLES.get(oui, {})
    if nd.eflag:
        out.append("oui %s (0x%06x), %s %s (0x%04x), length %u: " % (
            OUI_NAMES.get(oui, "Unknown"), oui, "ethertype" if oui == 0 else "pid",
            pids.get(et, "Unknown"), et, length - 5))
    p += 5
    length -= 5
    caplen -= 5
    if oui in (0x000000, 0x0000F8):
        if link.ethertype_print(nd, et, b, p, length, caplen, src_dst):
            return True
    elif oui == 0x00000C and et in (0x010B, 0x010C):
        stp_print(nd, b, p, length)
        return True
    elif oui == 0x0080C2:
        if et in (0x01, 0x07):
            need(b, p, bridge_pad)
            link.ether_print(nd, b, p + bridge_pad, length - bridge_pad, caplen - bridge_pad)
            return True
        if et == 0x0E:
            stp_print(nd, b, p, length)
            return True
    if not nd.eflag:
        if src_dst:
            out.append("%s > %s " % (etheraddr(b, src_dst[0]), etheraddr(b, src_dst[1])))
        if oui == 0:
            out.append("SNAP, ethertype %s (0x%04x), length %u: " % (
                ETHERTYPE_NAMES.get(et, "Unknown"), et, length))
        else:
            out.append("SNAP, oui %s (0x%06x), pid %s (0x%04x), length %u: " % (
                OUI_NAMES.get(oui, "Unknown"), oui, pids.get(et, "Unknown"), et, length))
    return False


_STP_VERSIONS = {0: "802.1d", 2: "802.1w", 3: "802.1s", 4: "802.1aq"}
_BPDU_TYPES = {0x00: "Config", 0x02: "Rapid STP", 0x80: "Topology Change"}
_BPDU_FLAGS = ((0x01, "Topology change"), (0x02, "Proposal"), (0x10, "Learn"),
               (0x20, "Forward"), (0x40, "Agreement"), (0x80, "Topology change ACK"))
_PORT_ROLES = {0: "Unknown", 1: "Alternate", 2: "Root", 3: "Designated"}
STP_BPDU_LEN = 36
MSTP_MIN_LEN = 102


def _bridge_id(b, p):
    need(b, p, 8)
    return "%02x%02x.%s" % (b[p], b[p + 1], etheraddr(b, p + 2))


def _times(b, p):
    return ("\n\tmessage-age %.2fs, max-age %.2fs, hello-time %.2fs, forwarding-delay %.2fs" %
            (be16(b, p + 27) / 256, be16(b, p + 29) / 256, be16(b, p + 31) / 256,
             be16(b, p + 33) / 256))


def stp_print(nd, b, p, length):
    """A spanning tree BPDU at ``p``."""
    nd.proto = "stp"
    out = nd.out
    if length < 4:
        out.append(" (invalid)")
        return
    if be16(b, p):
        out.append("unknown STP version, length %u" % length)
        return
    version = b[p + 2]
    out.append("STP " + (_STP_VERSIONS.get(version) or
                         "Unknown STP protocol (0x%02x)" % version))
    if version not in _STP_VERSIONS:
        return
    bpdu_type = b[p + 3]
    out.append(", " + (_BPDU_TYPES.get(bpdu_type) or "Unknown BPDU Type (0x%02x)" % bpdu_type))
    if bpdu_type == 0x00:
        if length < STP_BPDU_LEN - 1:
            out.append(" (invalid)")
            return
        _config_bpdu(nd, b, p, length)
    elif bpdu_type == 0x02:
        if version == 2:
            if length < STP_BPDU_LEN:
                out.append(" (invalid)")
                return
            _config_bpdu(nd, b, p, length)
        elif version in (3, 4):
            if length < MSTP_MIN_LEN or b[p + 35] != 0:
                out.append(" (invalid)")
                return
            mstp_len = be16(b, p + 36) + 2
            if length < STP_BPDU_LEN + mstp_len:
                out.append(" (invalid)")
                return
            _mstp_bpdu(nd, b, p, length)
            if version == 4:
                spb_len = be16(b, p + 36 + mstp_len) + 2
                if length < STP_BPDU_LEN + mstp_len + spb_len or spb_len < 87:
                    out.append(" (invalid)")
                    return
                _spb_bpdu(nd, b, p, STP_BPDU_LEN + mstp_len)


def _config_bpdu(nd, b, p, length):
    out = nd.out
    flags = b[p + 4]
    out.append(", Flags [%s]" % bittok(_BPDU_FLAGS, flags, "none"))
    out.append(", bridge-id %s.%04x, length %u" % (_bridge_id(b, p + 17), be16(b, p + 25),
                                                  length))
    if not nd.vflag:
        return
    out.append(_times(b, p))
    out.append("\n\troot-id %s, root-pathcost %u" % (_bridge_id(b, p + 5), be32(b, p + 13)))
    if b[p + 2] == 2:
        out.append(", port-role %s" % _PORT_ROLES[(flags & 0x0C) >> 2])


def _name32(out, b, p):
    """A null-padded 32-byte name, printable characters only (nd_printjnp:
    what was captured of it is printed before a truncation shows)."""
    for i in range(32):
        c = b[p + i]
        if c == 0:
            break
        out.append(fn_char(c))


def _mstp_bpdu(nd, b, p, length):
    out = nd.out
    flags = b[p + 4]
    out.append(", CIST Flags [%s], length %u" % (bittok(_BPDU_FLAGS, flags, "none"), length))
    if not nd.vflag:
        return
    out.append("\n\tport-role %s, " % _PORT_ROLES[(flags & 0x0C) >> 2])
    out.append("CIST root-id %s, CIST ext-pathcost %u" % (_bridge_id(b, p + 5),
                                                         be32(b, p + 13)))
    out.append("\n\tCIST regional-root-id %s, " % _bridge_id(b, p + 17))
    out.append("CIST port-id %04x," % be16(b, p + 25))
    out.append(_times(b, p))
    out.append("\n\tv3len %u, " % be16(b, p + 36))
    out.append("MCID Name ")
    _name32(out, b, p + 39)
    out.append(", rev %u,\n\t\tdigest %08x%08x%08x%08x, " % (
        be16(b, p + 71), be32(b, p + 73), be32(b, p + 77), be32(b, p + 81), be32(b, p + 85)))
    out.append("CIST int-root-pathcost %u," % be32(b, p + 89))
    out.append("\n\tCIST bridge-id %s, " % _bridge_id(b, p + 93))
    out.append("CIST remaining-hops %u" % b[p + 101])
    v3len = be16(b, p + 36)
    if v3len > 64:
        left = v3len - 64
        q = p + 102
        while left >= 16:
            msti_flags = b[q]
            out.append("\n\tMSTI %u, Flags [%s], port-role %s" % (
                be16(b, q + 1) & 0x0FFF, bittok(_BPDU_FLAGS, msti_flags, "none"),
                _PORT_ROLES[(msti_flags & 0x0C) >> 2]))
            out.append("\n\t\tMSTI regional-root-id %s, pathcost %u" % (_bridge_id(b, q + 1),
                                                                       be32(b, q + 9)))
            out.append("\n\t\tMSTI bridge-prio %u, port-prio %u, hops %u" % (
                b[q + 13] >> 4, b[q + 14] >> 4, b[q + 15]))
            left -= 16
            q += 16


def _spb_bpdu(nd, b, p, offset):
    if not nd.vflag:
        return
    out = nd.out
    q = p + offset
    out.append("\n\tv4len %u, " % be16(b, q))
    out.append("AUXMCID Name ")
    _name32(out, b, q + 3)
    out.append(", Rev %u,\n\t\tdigest %08x%08x%08x%08x" % (
        be16(b, q + 35), be32(b, q + 37), be32(b, q + 41), be32(b, q + 45), be32(b, q + 49)))
    agreement = b[q + 53]
    out.append("\n\tAgreement num %u, Discarded Agreement num %u, Agreement valid-flag %u,"
               "\n\tRestricted role-flag: %u, Format id %u cap %u, Convention id %u cap %u,"
               "\n\tEdge count %u, Agreement digest %08x%08x%08x%08x%08x" % (
                   agreement >> 6, agreement >> 4 & 3, agreement >> 3 & 1, agreement >> 2 & 1,
                   b[q + 55] >> 4, b[q + 55] & 0xFF, b[q + 56] >> 4, b[q + 56] & 0xFF,
                   be16(b, q + 57), be32(b, q + 67), be32(b, q + 71), be32(b, q + 75),
                   be32(b, q + 79), be32(b, q + 83)))
