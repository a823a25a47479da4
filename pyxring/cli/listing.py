"""``-D``, ``-L`` and ``-J``: tcpdump's listings, line for line, with what
pyxring can do added where it differs."""
import sys

from pyxring.errors import ConfigError, InterfaceError


def show_devices(out=None):
    """tcpdump -D's lines (on standard output), each followed by the
    backends pyxring can use there and what the driver offers AF_XDP."""
    from pyxring import interfaces
    out = out or sys.stdout
    for dev in interfaces.devices():
        out.write(interfaces.device_line(dev) + "\n")
    out.flush()
    return 0


def capturable_linktypes(iface):
    """The link types pyxring can capture ``iface`` with."""
    from pyxring import tpacket
    if iface == "any":
        return set(tpacket.COOKED)
    default = tpacket.default_linktype(iface)
    if default in tpacket.ETHERNET_LABELS:
        return set(tpacket.ETHERNET_LABELS)
    return {default}


def datalinks(iface):
    """(libpcap's DLT list for ``iface``, as LINKTYPE values)."""
    from pyxring import _pcapdev
    _, dlts = _pcapdev.list_datalinks(iface)
    return dlts


def show_datalinks(iface, err=None):
    """tcpdump -L (on standard error, as tcpdump): libpcap's list for the
    interface; a link type pyxring can't capture with says so."""
    from pyxring._libpcap import datalink_name
    err = err or sys.stderr
    ours = capturable_linktypes(iface)
    err.write(f"Data link types for {iface} (use option -y to set):\n")
    for dlt in datalinks(iface):
        lt = 101 if dlt == 12 else dlt
        name, desc = datalink_name(lt)
        line = f"  DLT {dlt}" if name is None else f"  {name} ({desc})"
        if lt not in PRINTABLE:
            line += " (printing not supported)"
        if lt not in ours:
            line += " (pyxring can't capture with it)"
        err.write(line + "\n")
    err.flush()
    return 0


# link types the printer decodes; tcpdump says "(printing not supported)" of DOCSIS
PRINTABLE = {1, 101, 113, 276, 228, 229, 0}


def check_linktype(iface, linktype, name):
    """-y: libpcap must offer it on ``iface`` (tcpdump's rule) and pyxring
    must be able to capture with it."""
    try:
        offered = {101 if d == 12 else d for d in datalinks(iface)}
    except InterfaceError:
        raise
    except Exception:
        offered = capturable_linktypes(iface)      # libpcap couldn't open it; capture will say why
    if linktype not in offered:
        raise ConfigError(f"{name} is not one of the DLTs supported by this device ({iface})")
    if linktype not in capturable_linktypes(iface):
        raise ConfigError(f"-y {name}: pyxring can't capture {iface} with that link type")


def show_tstamp_types(iface, err=None):
    """tcpdump -J (on standard error, as tcpdump)."""
    from pyxring import _pcapdev
    err = err or sys.stderr
    types = _pcapdev.list_tstamp_types(iface)
    if not types:
        err.write(f"Time stamp type cannot be set for {iface}\n")
    else:
        err.write(f"Time stamp types for {iface} (use option -j to set):\n")
        for t in types:
            err.write(f"  {_pcapdev.tstamp_type_name(t)} ({_pcapdev.tstamp_type_description(t)})\n")
    err.flush()
    return 0


def check_tstamp_type(iface, name):
    """-j: the type to use, or "host" with tcpdump's warning when the
    device doesn't offer it."""
    from pyxring import _pcapdev
    want = _pcapdev.tstamp_type_name_to_val(name)
    offered = _pcapdev.list_tstamp_types(iface)
    if want in offered:
        return name
    print(f"pyxring: WARNING: When trying to set timestamp type '{name}' on {iface}: "
          f"That type of time stamp is not supported by that device", file=sys.stderr)
    return "host"
