"""Optional loader for a user's XDP program in C, compiled at run time by
bcc (Debian's python3-bpfcc; the PyPI package called ``bcc`` is unrelated).

The program must define ``BPF_XSKMAP(xsks_map, N)`` and redirect into it by
``ctx->rx_queue_index``; a ``counters`` per-CPU array with pyxring's counter
layout and a ``filter_jmp`` program array are used when present.

Header workaround: bcc wants the headers of the running kernel under
/lib/modules/$(uname -r)/build.  Where they don't exist (here: a 6.18 kernel
with only Debian's 6.1 linux-headers packages installed), bcc is pointed at a
merged tree — the ``-common`` package's files with the arch package's
generated headers and .config on top, built once as symlinks under
``~/.cache/pyxring/`` — through BCC_KERNEL_SOURCE.  An explicitly set
BCC_KERNEL_SOURCE is left alone.  Only uapi definitions are stable across
those versions, so keep such programs to <uapi/linux/bpf.h> and friends.
"""
import glob
import os
import re
import shutil
import subprocess

from pyxring.errors import BackendUnavailable, ConfigError

_FUNC_RE = re.compile(r"\bint\s+(\w+)\s*\(\s*struct\s+xdp_md\s*\*")


def kernel_source_dir():
    """The directory bcc should use as kernel source, or None if bcc finds
    the running kernel's own headers."""
    env = os.environ.get("BCC_KERNEL_SOURCE")
    if env:
        return env
    if os.path.isdir(f"/lib/modules/{os.uname().release}/build/include"):
        return None
    commons = sorted(glob.glob("/usr/src/linux-headers-*-common"))
    for common in reversed(commons):
        base = common[:-len("-common")]
        arch = [d for d in glob.glob(base + "-*") if d != common and os.path.isdir(d + "/include")]
        if not arch:
            continue
        merged = os.path.join(os.path.expanduser("~/.cache/pyxring"),
                              "bcc-kernel-" + os.path.basename(arch[0]).replace("linux-headers-", ""))
        if not os.path.exists(os.path.join(merged, ".complete")):
            tmp = merged + f".tmp{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            # symlinks, not copies: the tree costs a few MB of directories
            subprocess.run(["cp", "-rs", common + "/.", tmp], check=True, capture_output=True)
            subprocess.run(["cp", "-rsf", arch[0] + "/.", tmp], check=True, capture_output=True)
            open(os.path.join(tmp, ".complete"), "w").close()
            shutil.rmtree(merged, ignore_errors=True)
            os.rename(tmp, merged)
        return merged
    raise BackendUnavailable("bcc needs kernel headers: install linux-headers-amd64 "
                             "(or set BCC_KERNEL_SOURCE)")


def load(path, ifname, ifindex, func=None):
    """Compile ``path`` with bcc and return an adopted ``XdpProgram``."""
    from pyxring.xdp import _bpf
    try:
        import bcc
    except ImportError:
        raise BackendUnavailable("--xdp-prog FILE.c needs bcc (apt install python3-bpfcc)") from None
    with open(path) as f:
        text = f.read()
    if func is None:
        m = _FUNC_RE.search(text)
        if not m:
            raise ConfigError(f"{path}: no function taking struct xdp_md * (the XDP entry point)")
        func = m.group(1)
    ksrc = kernel_source_dir()
    if ksrc:
        os.environ["BCC_KERNEL_SOURCE"] = ksrc
    try:
        b = bcc.BPF(src_file=path.encode())
    except Exception as e:
        raise ConfigError(f"{path}: bcc could not compile it ({e}); see the compiler output above") from None
    try:
        fn = b.load_func(func.encode(), bcc.BPF.XDP)
    except Exception as e:
        b.cleanup()
        raise ConfigError(f"{path}: loading {func}() failed: {e}") from None

    def fd_of(name):
        try:
            return b.get_table(name.encode()).map_fd
        except Exception:
            return -1
    xsks = fd_of("xsks_map")
    if xsks < 0:
        b.cleanup()
        raise ConfigError(f"{path}: no BPF_XSKMAP named xsks_map")
    return _bpf.adopt(b, fn.fd, xsks, fd_of("counters"), fd_of("filter_jmp"),
                      ifname, ifindex, func, path)
