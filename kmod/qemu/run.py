#!/usr/bin/env python3
"""Boot Debian's 6.1 kernel under QEMU (TCG) with the myring module and its
tests in an initramfs, and collect what the guest prints.

The host kernel cannot load modules, so the module runs in a guest:

    initramfs = busybox + kmod/myring.ko + kmod/myring_test (static)
              [+ the host's python3.11, its stdlib and the built pyxring
                package, with every shared library they need]

The guest's /init (init.sh) loads the module, runs the C checks and the
Python backend checks, and powers off.  Results are MYRING-* lines on the
serial console; a pcapng comes back gzip+base64 between MYRING-BLOB-BEGIN
and MYRING-BLOB-END.  PASS is decided from those lines only (qemu exits 0
after `poweroff -f` whatever happened), and the run is bounded by a timeout.

    python3 kmod/qemu/run.py [--no-python] [--timeout S] [--out DIR]
"""
import argparse
import base64
import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KMOD = os.path.dirname(HERE)
ROOT = os.path.dirname(KMOD)
DEFAULT_OUT = os.path.join(ROOT, "build", "kmod-qemu")
PYVER = "python3.11"
# stdlib parts the guest never needs (keeps the initramfs small)
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
               "distutils", "unittest", "site-packages", "dist-packages", "venv", "config-3.11-x86_64-linux-gnu"}


class GuestError(Exception):
    pass


# --- locating the pieces ---

def module_release(ko):
    """The kernel release the module was built for (from its vermagic)."""
    out = subprocess.run(["modinfo", "-F", "vermagic", ko], capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.split()[0]
    with open(ko, "rb") as f:
        m = re.search(rb"vermagic=(\S+)", f.read())
    if not m:
        raise GuestError(f"cannot read the vermagic of {ko}")
    return m.group(1).decode()


def find_kernel(release):
    path = f"/boot/vmlinuz-{release}"
    if os.path.exists(path):
        return path
    found = sorted(glob.glob("/boot/vmlinuz-*-amd64"))
    raise GuestError(f"{path} not found (module built for {release}; installed: {found}); "
                     "install the linux-image-amd64 matching linux-headers-amd64")


# --- the initramfs, written as a newc cpio archive ---

class Cpio:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.f.write(hdr.encode() + name_b)
        self.f.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        self.f.write(data)
        self.f.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        name = name.strip("/")
        if not name or name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, 0o040755, nlink=2)

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        if name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        if name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, 0o120777, target.encode())

    def copy(self, src, dst=None, mode=None):
        """Copy a host file (following symlinks in its directories, keeping
        the last component's symlink so the loader finds sonames)."""
        dst = dst or src
        if os.path.islink(src):
            target = os.readlink(src)
            self.symlink(dst, target)
            real = os.path.join(os.path.dirname(src), target)
            self.copy(real, os.path.join(os.path.dirname(dst), target) if not target.startswith("/") else target)
            return
        st = os.stat(src)
        with open(src, "rb") as f:
            self.file(dst, f.read(), mode if mode is not None else st.st_mode & 0o777)

    def close(self):
        self._entry("TRAILER!!!", 0, nlink=1)
        self.f.close()


def shared_libs(paths):
    """Every shared library (and the loader) the given ELF files need."""
    libs = set()
    for p in paths:
        out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s*\(", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def kernel_modules(release, names):
    """Paths of the Debian kernel's modules ``names`` and of what they need,
    dependencies first (the order insmod wants them in)."""
    order = []

    def visit(name):
        if any(os.path.basename(p) == f"{name}.ko" for p in order):
            return
        out = subprocess.run(["modinfo", "-k", release, "-n", name], capture_output=True, text=True)
        if out.returncode:
            raise GuestError(f"module {name} of {release} not found (linux-image-amd64)")
        deps = subprocess.run(["modinfo", "-k", release, "-F", "depends", name],
                              capture_output=True, text=True).stdout.strip()
        for dep in filter(None, deps.split(",")):
            visit(dep)
        order.append(out.stdout.strip())
    for n in names:
        visit(n)
    return order


def build_initramfs(path, ko, test_bin, with_python, modules=()):
    cpio = Cpio(path)
    for d in ("bin", "dev", "proc", "sys", "tmp", "usr/bin", "lib64"):
        cpio.dir(d)
    cpio.copy("/bin/busybox", "bin/busybox")
    cpio.copy(os.path.join(HERE, "init.sh"), "init", mode=0o755)
    cpio.copy(ko, "myring.ko")
    cpio.copy(test_bin, "myring_test")
    for i, mod in enumerate(modules):     # loaded by /init in this order
        cpio.copy(mod, f"modules/{i:02d}-{os.path.basename(mod)}")
    elves = ["/bin/busybox"]    # static as packaged (busybox-static); ldd finds nothing then
    if with_python:
        elves.append(f"/usr/bin/{PYVER}")
        stdlib = f"/usr/lib/{PYVER}"
        for dirpath, dirnames, filenames in os.walk(stdlib):
            rel = os.path.relpath(dirpath, stdlib)
            dirnames[:] = [d for d in dirnames if d not in STDLIB_SKIP and d != "__pycache__"]
            for fn in filenames:
                src = os.path.join(dirpath, fn)
                if fn.endswith(".py") or (rel == "lib-dynload" and fn.endswith(".so")):
                    cpio.copy(src)
                    if fn.endswith(".so"):
                        elves.append(src)
        # the built package, as the host's tests use it
        pkg = os.path.join(ROOT, "pyxring")
        for dirpath, dirnames, filenames in os.walk(pkg):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for fn in filenames:
                if fn.endswith((".py", ".so")):
                    src = os.path.join(dirpath, fn)
                    cpio.copy(src, os.path.join("pyxring-root", os.path.relpath(src, ROOT)))
                    if fn.endswith(".so"):
                        elves.append(src)
        cpio.copy(f"/usr/bin/{PYVER}")
        cpio.symlink("usr/bin/python3", PYVER)
        cpio.copy(os.path.join(HERE, "guest_py.py"), "guest_py.py")
        cpio.copy(os.path.join(HERE, "guest_soak.py"), "guest_soak.py")
    for lib in shared_libs(elves):
        cpio.copy(lib)
    cpio.close()


# --- running the guest ---

# slub_debug: every slab object is red-zoned and poisoned and checked on
# free (the kernel has no KASAN or kmemleak), so a corrupting or
# use-after-free path in the module's neighbourhood prints a "BUG <cache>"
# report that the dmesg scan catches.
KERNEL_ARGS = "console=ttyS0 quiet panic=-1 rdinit=/init slub_debug=FZP"


def run_qemu(kernel, initrd, timeout, log_path, params=None, disk=None):
    """Boot; ``params`` ({name: value}) reach /init as environment variables;
    ``disk`` (a raw image) is the guest's /dev/vda."""
    append = KERNEL_ARGS + "".join(f" {k}={v}" for k, v in (params or {}).items())
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-smp", "2", "-m", "1024",
           "-kernel", kernel, "-initrd", initrd, "-append", append,
           "-nographic", "-no-reboot", "-nic", "none"]
    if disk:
        cmd += ["-drive", f"file={disk},format=raw,if=virtio,cache=unsafe"]
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            os.kill(proc.pid, signal.SIGKILL)   # only the qemu we started
            proc.wait()
        except BaseException:
            # interrupted (Ctrl-C, SIGTERM as KeyboardInterrupt): the guest is
            # in a session of its own, so nothing else would end it
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    with open(log_path, "rb") as log:
        text = log.read().decode(errors="replace").replace("\r", "")
    return text, timed_out, time.monotonic() - start


def parse(text):
    """Checks ({name: (ok, why)}), blobs ({name: bytes}) and marker lines."""
    checks, blobs, markers = {}, {}, {}
    blob_name, blob_lines = None, []
    for line in text.splitlines():
        # the firmware's terminal resets precede the first guest line
        line = re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|c)", "", line).strip()
        if blob_name is not None:
            if line == "MYRING-BLOB-END":
                blobs[blob_name] = gzip.decompress(base64.b64decode("".join(blob_lines)))
                blob_name = None
            else:
                blob_lines.append(line)
            continue
        m = re.match(r"MYRING-(CHECK|PY) (\S+) (ok|FAIL)\s*(.*)", line)
        if m:
            checks[m.group(2)] = (m.group(3) == "ok", m.group(4))
            continue
        m = re.match(r"MYRING-BLOB-BEGIN (\S+)", line)
        if m:
            blob_name, blob_lines = m.group(1), []
            continue
        m = re.match(r"(MYRING-[A-Z-]+)\s*(.*)", line)
        if m:
            markers.setdefault(m.group(1), []).append(m.group(2))
    return checks, blobs, markers


# what a kernel says when something went wrong (slub_debug reports start with BUG)
KERNEL_TROUBLE = re.compile(r"\b(BUG|WARNING|Oops|RIP)\b|refcount|list_(add|del) corruption"
                            r"|general protection|Call Trace|soft lockup|blocked for more than"
                            r"|stall|Poison|Redzone|use-after-free")
TAINT_MODULE = 4096 | 8192     # O (out-of-tree) and E (unsigned): what loading myring.ko sets


def kernel_trouble(markers):
    """The guest kernel's complaints: dmesg lines that report trouble, and
    any taint other than the module's own (W warning, D oops, B bad page,
    L lockup, ...).  An empty list when it stayed healthy."""
    bad = [line for line in markers.get("MYRING-DMESG", []) if KERNEL_TROUBLE.search(line)]
    taint = markers.get("MYRING-TAINT")
    if not taint:
        bad.append("no MYRING-TAINT line")
    elif int(taint[0]) & ~TAINT_MODULE:
        bad.append(f"kernel tainted {int(taint[0]):#x}")
    return bad


def run(out_dir=DEFAULT_OUT, with_python=True, timeout=240, params=None, disk=None):
    """Build, boot, and return (checks, blobs, markers, log text, seconds).
    ``params`` choose what the guest runs (see init.sh); with ``disk`` (a
    raw image file) the guest gets it as /dev/vda, a channel for files too
    big for the serial console."""
    ko = os.path.join(KMOD, "myring.ko")
    test_bin = os.path.join(KMOD, "myring_test")
    for p in (ko, test_bin):
        if not os.path.exists(p):
            raise GuestError(f"{p} missing: run `make -C kmod` first")
    release = module_release(ko)
    kernel = find_kernel(release)
    os.makedirs(out_dir, exist_ok=True)
    initrd = os.path.join(out_dir, "initramfs.cpio")
    build_initramfs(initrd, ko, test_bin, with_python,
                    kernel_modules(release, ["virtio_pci", "virtio_blk"]) if disk else ())
    text, timed_out, secs = run_qemu(kernel, initrd, timeout, os.path.join(out_dir, "console.log"),
                                     params, disk)
    checks, blobs, markers = parse(text)
    if timed_out:
        markers.setdefault("MYRING-TIMEOUT", []).append(f"{timeout}s")
    for name, data in blobs.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
    return checks, blobs, markers, text, secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-python", action="store_true", help="only the static C checks")
    ap.add_argument("--timeout", type=int, default=240)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--overflow-seconds", type=int, default=None,
                    help="length of the overflow abuse in the guest (default 10)")
    args = ap.parse_args(argv)
    if not shutil.which("qemu-system-x86_64"):
        print("qemu-system-x86_64 not installed (apt install qemu-system-x86)", file=sys.stderr)
        return 2
    params = {} if args.overflow_seconds is None else {"myring_overflow_s": args.overflow_seconds}
    checks, blobs, markers, text, secs = run(args.out, not args.no_python, args.timeout, params)
    for name, (ok, why) in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name} {why}")
    done = markers.get("MYRING-C-DONE", []) + markers.get("MYRING-PY-DONE", [])
    print(f"guest ran {secs:.1f} s; done markers: {done}; blobs: {sorted(blobs)}; "
          f"console log: {os.path.join(args.out, 'console.log')}")
    passed = (checks and all(ok for ok, _ in checks.values()) and "MYRING-GUEST-END" in markers
              and "MYRING-TIMEOUT" not in markers)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
