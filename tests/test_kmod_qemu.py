"""The myring kernel module and pyxring's myring backend, in a real kernel.

The host kernel cannot load modules, so kmod/qemu/run.py boots Debian's 6.1
kernel under QEMU (TCG) with the module, a static C test and the built
pyxring package in an initramfs (one boot for the whole file, ~60 s, of
which the module under abuse takes ~25 s; `make soak` runs the overflow for
three minutes).  The
guest prints MYRING-* lines; a pcapng written by the real CLI comes back
over the serial console and tshark judges it here.
"""
import glob
import importlib.util
import os
import re
import shutil
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KMOD = os.path.join(ROOT, "kmod")

def _load_runner():
    spec = importlib.util.spec_from_file_location("myring_qemu_run", os.path.join(KMOD, "qemu", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


qemu_run = _load_runner()

ON_CI = os.environ.get("CI") == "true"

# Every check the guest must report; a missing line fails like a FAIL line.
C_CHECKS = """open mode-0600 second-open-ebusy info mmap-short-einval mmap-long-einval
mmap-offset-einval mmap-private-einval mmap header config-rate-0-einval config-rate-huge-einval
config-size-small-einval config-size-huge-einval config-mode-einval config-flags-einval
config-pad-einval config-snaplen-einval config-wm-high-big-einval config-wm-low-ge-high-einval
eventfd-negative-einval eventfd-not-eventfd-einval start-arg-einval unknown-ioctl-enotty
config-badptr-efault eventfd-register start config-running-ebusy start-running-ebusy
poll-readable select-readable flags-running records-in-sequence flags-stopped final-signal
poll-empty wm-start wm-high-signal wm-no-signal-above-low wm-rearm-after-low
wm-records-in-sequence wm-signal-count overflow-start overflow-happened overflow-exact
overflow-drop-records bad-consumer-ignored producer-restored scribble-indices-sane netfilter-start-stop
reopen-after-close unload-open unload-while-open-refused unload-while-mapped-refused
mapping-still-valid unload-after-munmap device-gone""".split()
# myring_abuse.c: overflow for a long time, consumers killed while mapped,
# unload while another process maps the ring
ABUSE_CHECKS = """soak-open soak-start soak-overflowed-throughout soak-exact soak-drop-records
soak-consumer-index-trusted killed-consumer-device-reusable killed-consumer-no-module-vmalloc
killed-consumer-vmalloc-used-flat killed-consumer-slab-flat unload-foreign-mapped-refused
unload-foreign-device-busy unload-foreign-after-munmap unload-foreign-device-gone""".split()
C_DONE = ["protocol failures=0", "overflow failures=0", "kill failures=0",
          "unload-foreign failures=0", "unload failures=0"]
PY_CHECKS = """cli-exit-0 cli-count py-overflow-dropped py-overflow-exact py-overflow-seq-gaps
py-filter-match py-filter-reject py-netfilter py-second-open-busy py-bad-rate
py-bad-record_size py-bad-mode py-bad-direction py-bad-wm_high py-asyncio-idle
py-asyncio-count py-asyncio-ticker cli-first-listening cli-second-busy-one-line
cli-first-still-running cli-killed cli-after-kill""".split()
CLI_COUNT = 300


def _missing_tools():
    missing = [t for t in ("qemu-system-x86_64", "tshark", "modinfo") if not shutil.which(t)]
    if not glob.glob("/usr/src/linux-headers-*-amd64"):
        missing.append("linux-headers-amd64")
    return missing


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    missing = _missing_tools()
    if missing:
        if ON_CI:
            pytest.fail(f"missing on CI: {', '.join(missing)} (make setup installs them)")
        pytest.skip(f"missing: {', '.join(missing)}")
    build = subprocess.run(["make", "-s", "-C", KMOD], capture_output=True, text=True)
    assert build.returncode == 0, f"make -C kmod failed:\n{build.stdout}\n{build.stderr}"
    out = str(tmp_path_factory.mktemp("kmod-qemu"))
    checks, blobs, markers, text, secs = qemu_run.run(out, with_python=True, timeout=240)
    return {"checks": checks, "blobs": blobs, "markers": markers, "text": text, "out": out}


def _failed(checks, names):
    return {n: checks.get(n, (False, "not reported"))[1] for n in names
            if not checks.get(n, (False, ""))[0]}


def test_guest_ran_to_the_end(guest):
    m = guest["markers"]
    assert "MYRING-TIMEOUT" not in m, "guest timed out; see console.log in " + guest["out"]
    assert m.get("MYRING-GUEST-BOOTED", [""])[0].endswith("-amd64")
    assert m.get("MYRING-INSMOD") == ["ok"], "insmod failed"
    assert "MYRING-GUEST-END" in m


def test_c_protocol_and_error_paths(guest):
    assert _failed(guest["checks"], C_CHECKS) == {}
    assert guest["markers"]["MYRING-C-DONE"] == C_DONE


def test_every_reported_check_passed(guest):
    assert _failed(guest["checks"], guest["checks"]) == {}


def test_module_under_abuse(guest):
    """A consumer slower than the producer for 10 s, 24 consumers SIGKILLed
    while mapped, an unload tried under another process's mapping: exact
    accounting, no stall, the device reusable, nothing left allocated."""
    assert _failed(guest["checks"], ABUSE_CHECKS) == {}
    info = [i for i in guest["markers"].get("MYRING-INFO", []) if i.startswith("overflow-soak ")]
    v = dict(kv.split("=") for kv in info[0].split()[1:])
    produced, read, lost = (int(v[k]) for k in ("produced", "read", "lost"))
    assert produced == read + lost and lost > read // 10
    assert int(v["min_read_per_s"]) > 0 and int(v["min_drops_per_s"]) > 0


def test_module_unload_gives_back_its_memory(guest):
    mem = dict(line.split(" ", 1) for line in guest["markers"].get("MYRING-MEM", []))
    assert set(mem) == {"before-insmod", "after-rmmod"}, mem
    before = int(mem["before-insmod"].split("=")[1])
    after = dict(kv.split("=") for kv in mem["after-rmmod"].split())
    # less than one ring (1 MiB): ring areas, and the module itself, are gone
    assert int(after["vmalloc_kb"]) - before < 512, mem
    assert after["module_vmaps"] == "0"


def test_overflow_accounting_is_exact(guest):
    info = [i for i in guest["markers"].get("MYRING-INFO", []) if i.startswith("overflow ")]
    assert info, "no overflow summary from the guest"
    v = dict(kv.split("=") for kv in info[0].split()[1:])
    produced, read, lost, drops = (int(v[k]) for k in ("produced", "read", "lost", "drops"))
    assert lost > 0 and drops > 0
    assert produced == read + lost


def test_python_backend_in_guest(guest):
    assert _failed(guest["checks"], PY_CHECKS) == {}
    assert guest["markers"]["MYRING-PY-DONE"] == ["failures=0"]


def test_no_kernel_warnings(guest):
    lines = guest["markers"].get("MYRING-DMESG", [])
    assert any("ready: /dev/myring" in line for line in lines)
    assert qemu_run.kernel_trouble(guest["markers"]) == []


def _pcapng_isb(data):
    """(isb_ifrecv, isb_osdrop) from the last Interface Statistics Block."""
    off, found = 0, None
    assert struct.unpack_from("<I", data, 8)[0] == 0x1A2B3C4D, "not little-endian pcapng"
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 5:
            opts, recv, drop = off + 20, None, None
            while opts + 4 <= off + blen - 4:
                code, olen = struct.unpack_from("<HH", data, opts)
                if code == 0:
                    break
                if code == 4:
                    recv = struct.unpack_from("<Q", data, opts + 4)[0]
                elif code == 7:
                    drop = struct.unpack_from("<Q", data, opts + 4)[0]
                opts += 4 + (olen + 3) // 4 * 4
            found = (recv, drop)
        off += blen
    return found


def test_cli_capture_judged_by_tshark(guest):
    data = guest["blobs"].get("cli.pcapng")
    assert data, "the guest sent no pcapng"
    path = os.path.join(guest["out"], "cli.pcapng")
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-E", "separator=,",
                        "-e", "frame.len", "-e", "eth.type", "-e", "ip.src", "-e", "ip.dst",
                        "-e", "udp.dstport", "-e", "ip.checksum.status", "-e", "frame.time_delta",
                        "-e", "data.data",
                        "-o", "ip.check_checksum:TRUE"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.splitlines()]
    assert len(rows) == CLI_COUNT
    seqs = []
    for flen, etype, src, dst, dport, csum, delta, payload in rows:
        assert float(delta) >= 0, "timestamps go backwards"
        assert (flen, etype, src, dst, dport) == ("256", "0x0800", "10.0.0.1", "10.0.0.2", "9999")
        assert csum == "1", "tshark does not find the IPv4 header checksum good"  # 1 = Good
        seqs.append(int(payload[:16], 16))
    # 2000 records/s into a 1 MiB ring: nothing lost, so sequence numbers are consecutive
    assert seqs == list(range(seqs[0], seqs[0] + CLI_COUNT))
    recv, drop = _pcapng_isb(data)
    assert drop == 0 and recv >= CLI_COUNT


# --- host-side checks of the backend's Python layer (no module needed) ---

def test_open_refuses_bad_arguments_without_touching_the_device():
    myring = pytest.importorskip("pyxring.myring")
    from pyxring.errors import ConfigError
    with pytest.raises(ConfigError, match="not 'eth0'"):
        myring.open("eth0")
    with pytest.raises(ConfigError, match="direction"):
        myring.open("myring", direction="out")
    with pytest.raises(ConfigError, match="unknown myring option"):
        myring.open("myring", bogus=1)


def test_missing_device_is_backend_unavailable(tmp_path):
    myring = pytest.importorskip("pyxring.myring")
    from pyxring.errors import BackendUnavailable
    with pytest.raises(BackendUnavailable, match="load the myring module"):
        myring.open(str(tmp_path / "no-such-myring"))


def test_cli_options_map_to_open_keywords():
    import argparse
    myring = pytest.importorskip("pyxring.myring")
    ap = argparse.ArgumentParser()
    myring.add_cli_options(ap.add_argument_group("myring"))
    args = ap.parse_args(["--rate", "5000", "--record-size", "512", "--myring-mode", "netfilter"])
    opts = myring.cli_options(args)
    assert opts["rate"] == 5000 and opts["record_size"] == 512 and opts["mode"] == "netfilter"
    assert set(opts) <= set(myring.DEFAULTS)


def test_consumer_helpers_on_a_fake_ring():
    """kmod/myring_user.h (what the Cython backend walks the ring with)
    against a fake ring in ordinary memory: wrap with PAD, DROP, corruption."""
    build = subprocess.run(["make", "-s", "-C", KMOD, "myring_test"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    r = subprocess.run([os.path.join(KMOD, "myring_test"), "fake"], capture_output=True,
                       text=True, timeout=60)
    checks, _, markers = qemu_run.parse(r.stdout)
    assert set(checks) == {"fake-init", "fake-empty", "fake-sequence", "fake-release",
                           "fake-corrupt-detected"}
    assert _failed(checks, checks) == {}
    assert markers["MYRING-C-DONE"] == ["fake failures=0"] and r.returncode == 0


def test_kernel_trouble_verdict():
    """What counts as a sick guest kernel (the verdict the guest runs and the
    soak share), on made-up console markers."""
    healthy = {"MYRING-DMESG": ["[ 4.5] myring: ready: /dev/myring, ring 1024 KiB"],
               "MYRING-TAINT": [str(qemu_run.TAINT_MODULE)]}
    assert qemu_run.kernel_trouble(healthy) == []
    sick = {"MYRING-DMESG": healthy["MYRING-DMESG"] + [
        "[ 9.1] BUG kmalloc-64 (Tainted: G O E): Redzone overwritten",
        "[ 9.2] refcount_t: underflow; use-after-free."],
        "MYRING-TAINT": [str(qemu_run.TAINT_MODULE | 512)]}      # W: a warning was printed
    assert len(qemu_run.kernel_trouble(sick)) == 3
    assert qemu_run.kernel_trouble({"MYRING-DMESG": []}) == ["no MYRING-TAINT line"]


def test_interrupted_runner_ends_its_guest(tmp_path):
    # a soak stopped with Ctrl-C or SIGTERM while a guest runs must not leave
    # the guest running (it is started in a session of its own)
    if not shutil.which("qemu-system-x86_64") or not glob.glob("/boot/vmlinuz-*-amd64"):
        if ON_CI:
            pytest.fail("missing on CI: qemu-system-x86_64 or a Debian kernel (make setup installs them)")
        pytest.skip("no qemu-system-x86_64 or kernel")
    import sys
    import textwrap
    kernel = sorted(glob.glob("/boot/vmlinuz-*-amd64"))[-1]
    initrd = tmp_path / "empty.cpio"
    initrd.write_bytes(b"")
    log = tmp_path / "guest.log"
    child = textwrap.dedent(f"""
        import importlib.util, signal
        spec = importlib.util.spec_from_file_location("r", {os.path.join(KMOD, "qemu", "run.py")!r})
        r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)
        def stop(*_):
            raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, stop)
        signal.alarm(2)
        try:
            r.run_qemu({kernel!r}, {str(initrd)!r}, 120, {str(log)!r})
        except KeyboardInterrupt:
            raise SystemExit(130)
        raise SystemExit(0)
        """)
    p = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert p.returncode == 130, p.stderr       # still booting when interrupted
    left = [int(pid) for pid in os.listdir("/proc")
            if pid.isdigit() and _cmdline_has(pid, str(initrd))]
    for pid in left:              # this test's own guest (its initrd path), by PID
        os.kill(pid, 9)
    assert not left, f"guest qemu left running: {left}"
    assert log.exists()


def _cmdline_has(pid, text):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False
