"""The bpf(2) calls the filter path needs, through ctypes.

No compiler and no libbpf at run time: programs arrive as bytes from the
assembler, maps are referred to by fd.  ``union bpf_attr`` is built as a
zeroed buffer with only the fields used packed at their uapi offsets
(include/uapi/linux/bpf.h); the kernel reads the fields it knows and
requires the rest to be zero.
"""
import ctypes
import errno
import os
import struct

from pyxring.errors import raise_errno

from .errors import FilterLoadError

SYS_bpf = 321   # x86_64

BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM = 0, 1, 2, 3
BPF_PROG_LOAD, BPF_PROG_TEST_RUN = 5, 10

BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_XSKMAP = 17

BPF_PROG_TYPE_XDP = 6
BPF_XDP = 37                  # expected_attach_type, as libbpf sets for SEC("xdp")
BPF_F_XDP_HAS_FRAGS = 1 << 5

ATTR_SIZE = 160

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd, attr):
    """Run bpf(cmd) on ``attr`` (a ctypes buffer); returns the result or
    (-errno) so the caller can say what was being done."""
    r = _libc.syscall(ctypes.c_long(SYS_bpf), ctypes.c_int(cmd), attr,
                      ctypes.c_uint(len(attr)))
    if r < 0:
        return -ctypes.get_errno()
    return r


def _attr(fmt, *fields):
    buf = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *fields)
    return buf


def _addr(buf):
    return ctypes.addressof(buf) if buf is not None else 0


def possible_cpus():
    """Number of possible CPUs: per-CPU map values come as that many copies."""
    with open("/sys/devices/system/cpu/possible") as f:
        n = 0
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n = max(n, int(hi or lo) + 1)
        return n


def map_create(map_type, key_size, value_size, max_entries, name=""):
    attr = _attr("=IIIIIII16s", map_type, key_size, value_size, max_entries, 0, 0, 0,
                 name.encode()[:15])
    fd = _bpf(BPF_MAP_CREATE, attr)
    if fd < 0:
        raise_errno(-fd, f"creating BPF map {name or map_type!r}")
    return fd


def map_update(fd, key, value, flags=0):
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    attr = _attr("=IIQQQ", fd, 0, _addr(k), _addr(v), flags)
    r = _bpf(BPF_MAP_UPDATE_ELEM, attr)
    if r < 0:
        raise_errno(-r, f"updating BPF map fd {fd}")


def map_delete(fd, key):
    """Remove ``key`` (bytes) from the map; a missing key is not an error."""
    k = ctypes.create_string_buffer(key, len(key))
    r = _bpf(BPF_MAP_DELETE_ELEM, _attr("=IIQ", fd, 0, _addr(k)))
    if r < 0 and -r != errno.ENOENT:
        raise_errno(-r, f"deleting from BPF map fd {fd}")


def map_lookup(fd, key, value_size):
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value_size)
    attr = _attr("=IIQQQ", fd, 0, _addr(k), _addr(v), 0)
    r = _bpf(BPF_MAP_LOOKUP_ELEM, attr)
    if r < 0:
        raise_errno(-r, f"looking up BPF map fd {fd}")
    return v.raw


def prog_load(insns, *, name="pyxring_filter", flags=0, license="GPL",
              prog_type=BPF_PROG_TYPE_XDP, attach_type=BPF_XDP, what="the filter"):
    """Load an eBPF program (bytes of struct bpf_insn); returns its fd.  On a
    rejection the program is loaded again with the verifier's log on, and
    FilterLoadError carries it."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(log_level, log):
        attr = _attr("=IIQQIIQII16sII", prog_type, len(insns) // 8, _addr(code), _addr(lic),
                     log_level, len(log) if log is not None else 0, _addr(log),
                     0, flags, name.encode()[:15], 0, attach_type)
        return _bpf(BPF_PROG_LOAD, attr)

    fd = attempt(0, None)
    if fd >= 0:
        return fd
    err = -fd
    # the verifier says no with EACCES or EINVAL; E2BIG: too many instructions
    if err in (errno.EACCES, errno.EINVAL, errno.E2BIG):
        log = ctypes.create_string_buffer(1 << 22)
        fd = attempt(1, log)
        if fd >= 0:      # loaded with the log on: keep it, nothing to report
            return fd
        text = log.value.decode(errors="replace").strip()
        lines = text.splitlines()
        tail = "\n".join(lines[-40:])
        raise FilterLoadError(
            f"the kernel refused {what}: {os.strerror(err)}; verifier log"
            f"{' (last 40 lines)' if len(lines) > 40 else ''}:\n{tail}", log=text)
    raise_errno(err, f"loading {what} into the kernel")


def prog_test_run(fd, data, *, repeat=1, ctx=None):
    """BPF_PROG_TEST_RUN on one frame; returns the program's return value."""
    d = ctypes.create_string_buffer(bytes(data), len(data))
    c = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    attr = _attr("=IIIIQQIIIIQQ", fd, 0, len(data), 0, _addr(d), 0, repeat, 0,
                 len(ctx) if ctx else 0, 0, _addr(c), 0)
    r = _bpf(BPF_PROG_TEST_RUN, attr)
    if r < 0:
        raise_errno(-r, f"test-running BPF program fd {fd} on a {len(data)}-byte frame")
    return struct.unpack_from("=I", attr, 4)[0]
