"""``-Z USER``: give up root once the capture sockets are open, as
Debian's tcpdump does.  The process becomes USER (its groups included) and
keeps CAP_DAC_OVERRIDE only until the -w file is open, so the file can be
created where root can write and belongs to USER; then it keeps nothing."""
import ctypes
import os
import pwd

from pyxring.errors import PyxringError

PR_SET_KEEPCAPS = 8
CAP_DAC_OVERRIDE = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _fail(what):
    err = ctypes.get_errno()
    raise PyxringError(f"-Z: {what}: {os.strerror(err)}")


def set_capabilities(*caps):
    """Make ``caps`` the process's effective and permitted set (nothing
    else, nothing inheritable)."""
    mask = 0
    for c in caps:
        mask |= 1 << c
    head = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = mask & 0xFFFFFFFF
    data[1].effective = data[1].permitted = mask >> 32
    if _libc.capset(ctypes.byref(head), data) != 0:
        _fail("capset")


def drop_to(user, keep_dac_override):
    """Become ``user``; with ``keep_dac_override`` keep only
    CAP_DAC_OVERRIDE (call ``done()`` once the files are open)."""
    pw = pwd.getpwnam(user)
    if os.geteuid() != 0:
        return False                     # nothing to give up (tcpdump does the same)
    if keep_dac_override and _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_KEEPCAPS)")
    try:
        os.initgroups(pw.pw_name, pw.pw_gid)
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError as exc:
        raise PyxringError(f"-Z {user}: {exc.strerror}") from None
    if keep_dac_override:
        set_capabilities(CAP_DAC_OVERRIDE)
        _libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
    return True


def done():
    """The files are open: keep no capability."""
    set_capabilities()
