"""pyxring doctor: each line's verdict against an independent look at the
same thing (the kernel's files, another tool, or the same probe made
without privilege)."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, pyxring_cmd, require_root, require_tool
from unprivileged import as_nobody, readable_copy  # noqa: F401 (a fixture)


def parse(out):
    """{check name: (verdict, rest of the line)}."""
    lines = {}
    for ln in out.splitlines():
        m = re.match(r"(.+?)\s+(ok|warn|no)\s{1,4}(\S.*)$", ln)
        assert m, f"not a doctor line: {ln!r}"
        lines[m.group(1).strip()] = (m.group(2), m.group(3))
    return lines


def doctor_in(lab, *args, cmd=None, **kw):
    r = lab.run_b(cmd or pyxring_cmd("doctor", *args), cwd=ROOT, check=False, **kw)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"", r.stderr
    return parse(r.stdout.decode())


def meminfo(key):
    with open("/proc/meminfo") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith(key + ":")))


def test_machine_checks_as_root(lab):
    got = doctor_in(lab)
    release = os.uname().release
    assert got["kernel"][0] in ("ok", "warn") and release in got["kernel"][1]
    for name in ("AF_PACKET", "AF_XDP", "BPF", "capabilities"):
        assert got[name][0] == "ok", got[name]
    # root holds CAP_IPC_LOCK: the memlock limit doesn't apply to a UMEM
    assert got["locked memory"] == ("ok", "not limited (CAP_IPC_LOCK): any UMEM size")
    assert (got["BTF"][0] == "ok") == os.path.exists("/sys/kernel/btf/vmlinux")
    # `ip netns exec` mounts its own /sys: findmnt there sees what doctor saw
    bpffs = lab.run_b([require_tool("findmnt"), "-t", "bpf", "/sys/fs/bpf"], check=False)
    assert (got["bpffs"][0] == "ok") == (bpffs.returncode == 0)
    assert (got["huge pages"][0] == "ok") == (meminfo("HugePages_Free") > 0)
    with open("/proc/sys/kernel/io_uring_disabled") as f:
        io_uring_disabled = f.read().strip()
    assert (got["io_uring"][0] == "ok") == (io_uring_disabled != "2")
    if os.path.exists("/dev/myring"):
        assert got["myring"][0] == "ok"
    elif not os.path.exists("/proc/modules"):
        assert got["myring"] == ("no", "no /dev/myring, and this kernel can't load modules "
                                       "(CONFIG_MODULES unset); fix: run it in the QEMU guest: "
                                       "make kmod-test")
    else:
        assert got["myring"][0] == "no" and "insmod" in got["myring"][1]


def test_machine_checks_as_nobody(lab, readable_copy):
    prlimit = require_tool("prlimit")
    got = doctor_in(lab, cmd=[prlimit, "--memlock=1048576:1048576",
                              *as_nobody(readable_copy, "doctor")])
    for name, need in (("AF_PACKET", "CAP_NET_RAW"), ("AF_XDP", "CAP_NET_RAW"), ("BPF", "CAP_BPF")):
        verdict, text = got[name]
        assert verdict == "no" and "EPERM" in text or "not permitted" in text, got[name]
        assert need in text and "fix: run as root" in text
    assert got["capabilities"][0] == "no" and "effective: none" in got["capabilities"][1]
    assert got["locked memory"] == ("no", "ulimit -l 1024 KiB: the default 64 MiB UMEM doesn't "
                                          "fit (ENOBUFS); fix: ulimit -l unlimited, CAP_IPC_LOCK, "
                                          "or a smaller UMEM (-B 1024)")
    # at the hard limit (this machine's: raising it needs CAP_SYS_RESOURCE)
    import resource
    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    limit = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    got = doctor_in(lab, cmd=[prlimit, f"--memlock={limit}:{limit}",
                              *as_nobody(readable_copy, "doctor")])
    fits = hard == resource.RLIM_INFINITY or hard >= 64 << 20
    assert got["locked memory"][0] == ("ok" if fits else "no"), got["locked memory"]


def test_interface_checks_attach_for_real(lab):
    from pyxring.interfaces import XdpFeatures
    got = doctor_in(lab, lab.if_b)
    with lab.enter_b():
        feats = XdpFeatures()
        declared = feats.get(lab.ifindex_b)
        feats.close()
    assert declared is not None
    verdict, text = got[f"{lab.if_b} (declared)"]
    assert f"xdp_features {declared:#x}" in text
    # veth: native and generic XDP attach; AF_XDP zero-copy is refused (copy mode only)
    assert got[f"{lab.if_b} XDP native"] == ("ok", "attached in native mode")
    assert got[f"{lab.if_b} XDP generic"] == ("ok", "attached in generic mode")
    verdict, text = got[f"{lab.if_b} AF_XDP zero-copy"]
    assert verdict == "warn" and "Operation not supported" in text
    # what the driver declares agrees with what attaching found
    assert bool(declared & 0x1) and not declared & 0x8
    # nothing left behind on the interface
    show = lab.run_b(["ip", "link", "show", lab.if_b]).stdout.decode()
    assert "xdp" not in show.split("\n")[0]


def test_loopback_has_generic_xdp_only(lab):
    got = doctor_in(lab, "lo")
    assert got["lo XDP native"][0] == "warn" and "Operation not supported" in got["lo XDP native"][1]
    assert got["lo XDP generic"] == ("ok", "attached in generic mode")


def test_interface_checks_without_privilege(lab, readable_copy):
    got = doctor_in(lab, cmd=as_nobody(readable_copy, "doctor", lab.if_b))
    for what in ("XDP native", "XDP generic", "AF_XDP zero-copy"):
        verdict, text = got[f"{lab.if_b} {what}"]
        assert verdict == "no" and "not permitted" in text and "fix: run as root" in text


def test_without_an_interface_every_interface_says_what_it_declares(lab):
    got = doctor_in(lab)
    assert got[f"{lab.if_b} (declared)"][0] == "ok"          # veth: native XDP
    assert got["lo (declared)"][0] == "warn"                  # lo: generic only
    assert not any(" XDP native" in name for name in got)     # nothing attached
