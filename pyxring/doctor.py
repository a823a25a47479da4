"""What this machine supports for capturing, and why not.

Each check probes (a socket opened, a program loaded, a mapping made, a
syscall made), never guesses from a version number alone, and returns one
``Check``: a verdict (``ok``, ``warn`` for something optional, ``no``), what
was found, and the fix.  ``pyxring doctor [IFACE]`` prints them; with an
interface it also attaches pyxring's XDP program to it for a moment, in each
mode, with a filter matching nothing (every frame goes on to the stack).
"""
import ctypes
import errno as _errno
import os
import resource
import socket
import struct
from dataclasses import dataclass

OK, WARN, NO = "ok", "warn", "no"
UMEM_BYTES = 32768 * 2048            # the xdp backend's default UMEM (64 MiB)

CAPS = {12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 14: "CAP_IPC_LOCK", 21: "CAP_SYS_ADMIN",
        38: "CAP_PERFMON", 39: "CAP_BPF"}
CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK, CAP_SYS_ADMIN, CAP_BPF = 12, 13, 14, 21, 39

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


@dataclass
class Check:
    name: str
    verdict: str
    detail: str
    fix: str = ""

    def line(self):
        text = f"{self.name:<18} {self.verdict:<4} {self.detail}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def effective_caps():
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("CapEff:"):
                return int(ln.split()[1], 16)
    return 0


def has_cap(cap, eff=None):
    return bool((effective_caps() if eff is None else eff) >> cap & 1)


def _errtext(err):
    return f"{_errno.errorcode.get(err, err)} ({os.strerror(err)})"


_PRIVILEGE = "run as root, or grant the capabilities (setcap, systemd AmbientCapabilities)"


def check_kernel():
    release = os.uname().release
    try:
        version = tuple(int(x) for x in release.split("-")[0].split(".")[:2])
    except ValueError:
        return Check("kernel", WARN, f"{release}: version not understood")
    wants = [((4, 18), "AF_XDP"), ((5, 4), "AF_XDP need-wakeup"), ((5, 9), "XDP by BPF link"),
             ((6, 3), "XDP features and RX metadata"), ((6, 6), "AF_XDP multi-buffer")]
    missing = [what for v, what in wants if version < v]
    if not missing:
        return Check("kernel", OK, f"{release}: TPACKET_V3 and every AF_XDP feature pyxring uses")
    verdict = NO if "AF_XDP" in missing else WARN
    return Check("kernel", verdict, f"{release}: no {', '.join(missing)} (TPACKET_V3 works)",
                 "a newer kernel (6.6 or later has all of them)")


def check_af_packet():
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except OSError as e:
        if e.errno in (_errno.EPERM, _errno.EACCES):
            return Check("AF_PACKET", NO, f"socket(AF_PACKET): {_errtext(e.errno)}: the tpacket "
                         f"backend needs CAP_NET_RAW", _PRIVILEGE)
        return Check("AF_PACKET", NO, f"socket(AF_PACKET): {_errtext(e.errno)}",
                     "a kernel with CONFIG_PACKET")
    try:
        s.setsockopt(263, 10, 2)      # SOL_PACKET, PACKET_VERSION, TPACKET_V3
    except OSError as e:
        return Check("AF_PACKET", NO, f"TPACKET_V3: {_errtext(e.errno)}", "a kernel from 3.2 on")
    finally:
        s.close()
    return Check("AF_PACKET", OK, "a TPACKET_V3 socket opens (the tpacket backend works)")


def check_af_xdp():
    try:
        s = socket.socket(44, socket.SOCK_RAW, 0)       # AF_XDP
    except OSError as e:
        if e.errno in (_errno.EPERM, _errno.EACCES):
            return Check("AF_XDP", NO, f"socket(AF_XDP): {_errtext(e.errno)}: needs CAP_NET_RAW",
                         _PRIVILEGE)
        return Check("AF_XDP", NO, f"socket(AF_XDP): {_errtext(e.errno)}",
                     "a kernel with CONFIG_XDP_SOCKETS")
    s.close()
    return Check("AF_XDP", OK, "an AF_XDP socket opens")


def check_bpf():
    from pyxring.bpf import syscall
    # r0 = XDP_PASS; exit
    prog = struct.pack("<BBhi", 0xB7, 0, 0, 2) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    try:
        fd = syscall.prog_load(prog, name="pyxring_doctor", what="a test XDP program")
    except Exception as e:
        text = str(e).splitlines()[0]
        if "not permitted" in text or "Permission denied" in text:
            return Check("BPF", NO, f"{text}: loading XDP programs needs CAP_BPF and "
                         f"CAP_NET_ADMIN", _PRIVILEGE)
        return Check("BPF", NO, text, "a kernel with CONFIG_BPF_SYSCALL")
    os.close(fd)
    return Check("BPF", OK, "an XDP program loads (bpf(BPF_PROG_LOAD))")


def check_btf():
    path = "/sys/kernel/btf/vmlinux"
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        size = os.path.getsize(path)
    except OSError as e:
        return Check("BTF", NO, f"{path}: {e.strerror}: the VLAN-restoring XDP program "
                     f"(bpf_xdp_metadata_rx_vlan_tag) can't load; the plain one is used",
                     "a kernel with CONFIG_DEBUG_INFO_BTF")
    if magic != b"\x9f\xeb":
        return Check("BTF", NO, f"{path} is not BTF (magic {magic.hex()})")
    return Check("BTF", OK, f"{path} ({size / 1e6:.1f} MB): kfuncs and CO-RE programs load")


def check_bpffs():
    path = "/sys/fs/bpf"
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = [ln.split() for ln in f]
    except OSError as e:
        return Check("bpffs", WARN, f"/proc/self/mountinfo: {e.strerror}")
    for m in mounts:
        sep = m.index("-")
        if m[4] == path and m[sep + 1] == "bpf":
            return Check("bpffs", OK, f"bpf filesystem mounted at {path}")
    return Check("bpffs", WARN, f"no bpf filesystem at {path}: pyxring doesn't need one (its "
                 f"programs are held by BPF links), bpftool and pinning tools do",
                 f"mount -t bpf bpf {path}")


def check_memlock():
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if has_cap(CAP_IPC_LOCK):
        return Check("locked memory", OK, "not limited (CAP_IPC_LOCK): any UMEM size")
    if soft == resource.RLIM_INFINITY:
        return Check("locked memory", OK, "ulimit -l unlimited: any UMEM size")
    if soft >= UMEM_BYTES:
        return Check("locked memory", OK, f"ulimit -l {soft // 1024} KiB: the default "
                     f"{UMEM_BYTES >> 20} MiB UMEM fits")
    return Check("locked memory", NO, f"ulimit -l {soft // 1024} KiB: the default "
                 f"{UMEM_BYTES >> 20} MiB UMEM doesn't fit (ENOBUFS)",
                 f"ulimit -l unlimited, CAP_IPC_LOCK, or a smaller UMEM (-B {soft // 1024})")


def check_capabilities():
    eff = effective_caps()
    held = [n for c, n in sorted(CAPS.items()) if eff >> c & 1]
    need = {"tpacket": [CAP_NET_RAW], "xdp": [CAP_NET_RAW, CAP_NET_ADMIN]}
    bpf_ok = eff >> CAP_BPF & 1 or eff >> CAP_SYS_ADMIN & 1
    can = [b for b, caps in need.items() if all(eff >> c & 1 for c in caps)
           and (b != "xdp" or bpf_ok)]
    text = f"effective: {', '.join(held) or 'none'}"
    if len(can) == 2:
        return Check("capabilities", OK, f"{text}: tpacket and xdp captures")
    missing = sorted({CAPS[c] for caps in need.values() for c in caps if not eff >> c & 1} |
                     (set() if bpf_ok else {"CAP_BPF"}))
    return Check("capabilities", NO, f"{text}: {'only tpacket captures' if can else 'no capture'}; "
                 f"missing {', '.join(missing)}", _PRIVILEGE)


MAP_PRIVATE, MAP_ANONYMOUS, MAP_HUGETLB = 0x02, 0x20, 0x40000


def check_huge_pages():
    info = {}
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                k, v = ln.split(":", 1)
                info[k] = v.split()[0]
    except OSError:
        pass
    size = int(info.get("Hugepagesize", "2048")) * 1024
    addr = _libc.mmap(None, size, 0x3, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0)
    if addr not in (None, ctypes.c_void_p(-1).value):
        _libc.munmap(addr, size)
        return Check("huge pages", OK, f"a {size >> 20} MiB huge page maps ({info.get('HugePages_Free', '?')}"
                     f" free): UMEMs use huge pages")
    err = ctypes.get_errno()
    return Check("huge pages", WARN, f"mmap(MAP_HUGETLB): {_errtext(err)} "
                 f"(HugePages_Free {info.get('HugePages_Free', '?')}): UMEMs use ordinary pages",
                 f"sysctl vm.nr_hugepages={UMEM_BYTES // size}")


def check_io_uring():
    params = ctypes.create_string_buffer(120)            # struct io_uring_params, zeroed
    fd = _libc.syscall(ctypes.c_long(425), ctypes.c_uint(1), params)   # io_uring_setup
    if fd >= 0:
        os.close(fd)
        return Check("io_uring", OK, "io_uring_setup works: the writer can use it")
    err = ctypes.get_errno()
    disabled = _read("/proc/sys/kernel/io_uring_disabled")
    if err == _errno.ENOSYS:
        return Check("io_uring", WARN, "io_uring_setup: ENOSYS: a kernel without io_uring; "
                     "files are written with write(2)", "a kernel with CONFIG_IO_URING")
    return Check("io_uring", WARN, f"io_uring_setup: {_errtext(err)} (kernel.io_uring_disabled "
                 f"{disabled}); files are written with write(2)",
                 "sysctl kernel.io_uring_disabled=0" if disabled not in (None, "0") else "")


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def check_myring():
    path = "/dev/myring"
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as e:
        if e.errno == _errno.ENOENT:
            if not os.path.exists("/proc/modules"):
                return Check("myring", NO, f"no {path}, and this kernel can't load modules "
                             f"(CONFIG_MODULES unset)", "run it in the QEMU guest: make kmod-test")
            return Check("myring", NO, f"no {path}: the module is not loaded",
                         "make kmod && insmod kmod/myring.ko")
        if e.errno == _errno.EBUSY:
            return Check("myring", OK, f"{path} is there, held by another process (one opener)")
        return Check("myring", NO, f"{path}: {_errtext(e.errno)}",
                     _PRIVILEGE if e.errno in (_errno.EACCES, _errno.EPERM) else "")
    os.close(fd)
    return Check("myring", OK, f"{path} opens: the myring backend works")


def machine_checks():
    return [check_kernel(), check_af_packet(), check_af_xdp(), check_bpf(), check_btf(),
            check_bpffs(), check_memlock(), check_capabilities(), check_huge_pages(),
            check_io_uring(), check_myring()]


def declared_xdp(devices=None):
    """One line per network interface: what its driver declares for XDP
    (the kernel's xdp_features; nothing attached)."""
    from pyxring import interfaces
    out = []
    for dev in devices if devices is not None else interfaces.devices():
        if not dev.ifindex:
            continue
        if dev.xdp_features is None:
            out.append(Check(f"{dev.name} (declared)", WARN, "the kernel doesn't say (no netdev "
                             "xdp_features: before 6.3); `pyxring doctor IFACE` tries it"))
            continue
        native = "native XDP" if dev.xdp_native else "no native XDP (generic only)"
        zc = "AF_XDP zero-copy" if dev.xdp_zerocopy else "no AF_XDP zero-copy (copy mode)"
        out.append(Check(f"{dev.name} (declared)", OK if dev.xdp_native else WARN,
                         f"{native}, {zc} (xdp_features {dev.xdp_features:#x})"))
    return out


def interface_checks(iface):
    """Attach pyxring's XDP program to ``iface`` in native and in generic
    mode, and bind AF_XDP with zero-copy, each for a moment; the filter
    matches nothing, so every frame goes on to the stack meanwhile."""
    import warnings
    from pyxring import interfaces, xdp
    from pyxring.errors import PyxringError
    out = []
    try:
        ifindex = socket.if_nametoindex(iface)
    except OSError:
        return [Check(iface, NO, f"no such interface: {iface}")]
    feats = interfaces.XdpFeatures()
    try:
        dev = interfaces.Device(0, iface, ifindex=ifindex, xdp_features=feats.get(ifindex))
    finally:
        feats.close()
    out += declared_xdp([dev])
    small = dict(frame_count=256, rx_ring_size=64, promisc=False, filter="less 0")
    trials = [("XDP native", dict(xdp_mode="native", bind_mode="copy")),
              ("XDP generic", dict(xdp_mode="generic", bind_mode="copy")),
              ("AF_XDP zero-copy", dict(xdp_mode="auto", bind_mode="zerocopy"))]
    for what, opts in trials:
        name = f"{iface} {what}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # generic mode's VLAN warning: not news here
                src = xdp.open(iface, **small, **opts)
        except (PyxringError, OSError) as e:
            text = _without_hint(str(e).splitlines()[0])
            if "not permitted" in text:
                out.append(Check(name, NO, text, _PRIVILEGE))
            elif what == "AF_XDP zero-copy":
                out.append(Check(name, WARN, f"{text}: the driver has no AF_XDP zero-copy; "
                                 f"copy mode is used"))
            elif what == "XDP native":
                out.append(Check(name, WARN, f"{text}: the driver has no XDP; generic mode is used"))
            else:
                out.append(Check(name, NO, text))
            continue
        mode = src.program.attached_mode
        src.close()
        out.append(Check(name, OK, f"attached in {mode} mode" if what.startswith("XDP") else
                         f"bound zero-copy (program in {mode} mode)"))
    return out


def _without_hint(text):
    """An error line without its trailing "(try ...)" hint: doctor gives its own."""
    k = text.rfind(" (")
    if text.endswith(")") and k > text.rfind(":"):
        return text[:k]
    return text
