"""pyxring's exceptions, and the one place that turns errno into them.

Every message names what was at fault (the interface, the file, the
parameter) so the CLI can print it as one line.
"""
import errno as _errno
import os
import socket


class PyxringError(Exception):
    """Base class; ``str(exc)`` is a complete one-line message."""


class ConfigError(PyxringError, ValueError):
    """A parameter is out of range or inconsistent (a usage error)."""


class InterfaceError(PyxringError):
    """The interface does not exist, is down, or can't be used."""


class PermissionDenied(PyxringError, PermissionError):
    """The operation needs root or a capability."""


class ResourceBusy(PyxringError):
    """Someone else holds the interface, queue or device."""


class BackendUnavailable(PyxringError):
    """The requested backend can't run here (kernel, driver, missing module)."""


class CaptureFileError(PyxringError):
    """A capture file is missing, unreadable, not a capture file, truncated
    or corrupt; the message names the file, the byte offset and the reason."""


def raise_errno(err, what, hint=""):
    """Raise the exception for ``err`` (an errno) while doing ``what``
    (e.g. "binding AF_PACKET socket to veth0")."""
    text = os.strerror(err)
    msg = f"{what}: {text}"
    if hint:
        msg += f" ({hint})"
    if err in (_errno.EPERM, _errno.EACCES):
        raise PermissionDenied(msg + ("" if hint else " (run as root or grant CAP_NET_RAW/CAP_NET_ADMIN)"))
    if err in (_errno.ENODEV, _errno.ENXIO):
        raise InterfaceError(msg)
    if err == _errno.ENETDOWN:
        raise InterfaceError(msg)
    if err == _errno.EBUSY:
        raise ResourceBusy(msg)
    if err == _errno.EINVAL:
        raise ConfigError(msg)
    raise PyxringError(msg)


def link_lost(iface, ifindex, fd=None):
    """Why a capture socket reported ENETDOWN, in libpcap's words.

    The kernel says ENETDOWN when the link goes down, and deleting an
    interface first takes it down: the error can arrive before the
    interface is gone.  Both happen inside one RTNL-locked section of the
    kernel, so an ioctl that takes the RTNL lock (SIOCETHTOOL) returns only
    once a deletion in progress is complete; after it, whether the ifindex
    still exists is the answer, not a race.  ``fd`` is a socket in the
    capture's network namespace (the capture socket itself); without one, a
    socket is made in this thread's namespace.
    """
    if interface_exists(iface, ifindex, fd):
        return f"capture on {iface}: the interface went down"
    return f"capture on {iface}: the interface disappeared"


SIOCGIFNAME = 0x8910
SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x3


def interface_exists(iface, ifindex, fd=None):
    """Whether ``ifindex`` exists, asked after the RTNL lock (see link_lost)."""
    import array
    import fcntl
    import struct
    own = None
    if fd is None:
        own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fd = own.fileno()
    try:
        drvinfo = array.array("B", struct.pack("=I", ETHTOOL_GDRVINFO) + bytes(192))
        addr, _ = drvinfo.buffer_info()
        try:
            fcntl.ioctl(fd, SIOCETHTOOL, struct.pack("16sP16x", iface.encode()[:15], addr))
        except OSError:
            pass        # ENODEV, EOPNOTSUPP...: the lock was taken all the same
        try:
            fcntl.ioctl(fd, SIOCGIFNAME, struct.pack("16si20x", b"", ifindex))
        except OSError as exc:
            if exc.errno in (_errno.ENODEV, _errno.ENXIO):
                return False
            raise
        return True
    finally:
        if own is not None:
            own.close()


class WriteError(PyxringError):
    """Writing a capture file failed (disk full, I/O error, a reader that
    stopped reading).  The file has been cut at the last whole record that
    reached it; ``records_in_file`` is how many packets it holds."""

    def __init__(self, msg, errno=None, path=None, records_in_file=None):
        super().__init__(msg)
        self.errno = errno
        self.path = path
        self.records_in_file = records_in_file


class ReaderGone(WriteError, BrokenPipeError):
    """The reader of a pipe closed it (``| head``); not worth a traceback."""
