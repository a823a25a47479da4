# distutils: libraries = pcap
"""libpcap's own view of the capture devices, link types and time stamp
types, for tcpdump's -D, -L, -J, -y and -j: asking the library tcpdump asks
gives the same devices in the same order, numbered the same way.
"""
from pyxring.includes.pcap cimport (pcap_t, pcap_create, pcap_activate, pcap_close, pcap_geterr,
                                    PCAP_ERRBUF_SIZE)
from pyxring.includes.pcap_live cimport *

from pyxring.errors import InterfaceError, PermissionDenied, PyxringError

LOOPBACK = PCAP_IF_LOOPBACK
UP = PCAP_IF_UP
RUNNING = PCAP_IF_RUNNING
WIRELESS = PCAP_IF_WIRELESS
CONNECTION_STATUS = PCAP_IF_CONNECTION_STATUS
CONNECTED = PCAP_IF_CONNECTION_STATUS_CONNECTED
DISCONNECTED = PCAP_IF_CONNECTION_STATUS_DISCONNECTED
NOT_APPLICABLE = PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE


cdef str _text(const char *s):
    return None if s == NULL else (<bytes>s).decode(errors="replace")


def find_all_devices():
    """[(name, description or None, PCAP_IF_* flags)] in libpcap's order."""
    cdef pcap_if_t *devs = NULL
    cdef pcap_if_t *d
    cdef char errbuf[PCAP_ERRBUF_SIZE]
    errbuf[0] = 0
    if pcap_findalldevs(&devs, errbuf) != 0:
        raise PyxringError(f"listing capture devices: {_text(errbuf)}")
    out = []
    d = devs
    while d != NULL:
        out.append((_text(d.name), _text(d.description), d.flags))
        d = d.next
    pcap_freealldevs(devs)
    return out


cdef pcap_t *_create(str device) except NULL:
    cdef char errbuf[PCAP_ERRBUF_SIZE]
    errbuf[0] = 0
    cdef pcap_t *p = pcap_create(device.encode(), errbuf)
    if p == NULL:
        raise PyxringError(f"{device}: {_text(errbuf)}")
    return p


def list_datalinks(str device):
    """(default DLT, [DLTs]) of ``device``, as libpcap offers them once the
    device is activated (which needs the privilege a capture needs)."""
    cdef pcap_t *p = _create(device)
    cdef int *dlts = NULL
    cdef int n, i, rc
    try:
        rc = pcap_activate(p)
        if rc < 0:
            msg = _text(pcap_geterr(p)) or _text(pcap_statustostr(rc))
            if rc == -8:        # PCAP_ERROR_PERM_DENIED
                raise PermissionDenied(f"{device}: {msg}")
            if rc == -5:        # PCAP_ERROR_NO_SUCH_DEVICE
                raise InterfaceError(f"no such interface: {device}")
            raise PyxringError(f"{device}: {msg}")
        n = pcap_list_datalinks(p, &dlts)
        if n < 0:
            raise PyxringError(f"{device}: {_text(pcap_geterr(p))}")
        out = [dlts[i] for i in range(n)]
        pcap_free_datalinks(dlts)
        return pcap_datalink(p), out
    finally:
        pcap_close(p)


def list_tstamp_types(str device):
    """[PCAP_TSTAMP_* values] ``device`` supports (libpcap asks ethtool;
    no privilege needed)."""
    cdef pcap_t *p = _create(device)
    cdef int *types = NULL
    cdef int n, i
    try:
        n = pcap_list_tstamp_types(p, &types)
        if n < 0:
            raise PyxringError(f"{device}: {_text(pcap_geterr(p))}")
        out = [types[i] for i in range(n)]
        if n:
            pcap_free_tstamp_types(types)
        return out
    finally:
        pcap_close(p)


def datalink_name_to_val(str name):
    """DLT value of a name like EN10MB or LINUX_SLL2 (any case), or -1."""
    return pcap_datalink_name_to_val(name.encode())


def tstamp_type_name_to_val(str name):
    """PCAP_TSTAMP_* value of a name like host or adapter_unsynced, or -1."""
    return pcap_tstamp_type_name_to_val(name.encode())


def tstamp_type_name(int t):
    return _text(pcap_tstamp_type_val_to_name(t))


def tstamp_type_description(int t):
    return _text(pcap_tstamp_type_val_to_description(t))
