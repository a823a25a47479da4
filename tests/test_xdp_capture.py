"""AF_XDP capture on real veth pairs in throwaway namespaces: every frame
sent from the peer arrives byte for byte, in native and generic mode, with
matching counters; VLAN and jumbo frames; SIGKILL leaves no program; a
second capture gets a clear error."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import require_root

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DPORT = 9999


@pytest.fixture(autouse=True)
def _privileged():
    require_root()


@pytest.fixture
def lab(request):
    from pyxring import netlab
    params = getattr(request, "param", {}) or {}
    with netlab.VethPair(prefix="pxx", ipv6=False, **params) as lab:
        yield lab


def ours(frame):
    """Our test UDP frames (the kernel may add MLD/IGMP of its own)."""
    off = 12
    if frame[12:14] in (b"\x81\x00", b"\x88\xa8"):
        off = 16
    return frame[off:off + 2] == b"\x08\x00" and frame[off + 2 + 9] == 17 and \
        int.from_bytes(frame[off + 2 + 22:off + 2 + 24], "big") == DPORT


def collect(src, want, seconds=5.0):
    """Copies of every packet until ``want`` of ours arrived (or time's up)."""
    got = []
    deadline = time.monotonic() + seconds
    while sum(1 for g in got if ours(g)) < want and time.monotonic() < deadline:
        with src.batch(100) as b:
            got += [p.copy() for p in b]
    # a little longer: anything extra would be a bug (duplicates)
    with src.batch(50) as b:
        got += [p.copy() for p in b]
    return got


def open_xdp(lab, **kw):
    import pyxring.xdp as X
    with lab.enter_b():
        return X.open(lab.if_b, **kw)


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_every_frame_arrives_byte_for_byte(lab, mode):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_xdp(lab, xdp_mode=mode)
    try:
        info = src.info()
        assert info["xdp_mode"] == mode and info["link"]
        assert info["bind_mode"] == "copy"       # veth has no zero-copy
        frames = []
        for size in (60, 64, 128, 512, 1000, 1514):
            frames += lab.udp_frames(40, size=size, dport=DPORT)
        lab.send_frames(frames)
        got = collect(src, len(frames))
        mine = [g for g in got if ours(g)]
        assert mine == frames
        st = src.stats()
        assert st["received"] == len(got)
        assert st["xdp_seen"] == st["xdp_redirected"] == len(got)
        assert st["dropped"] == 0 and st["xdp_passed"] == 0
    finally:
        src.close()


@pytest.mark.parametrize("wait", ["adaptive", "poll"])
def test_both_wait_strategies_deliver_everything_in_bursts(lab, wait):
    """Bursts separated by idle gaps: the adaptive wait (sleeps that grow and
    shrink with the traffic, then poll() when idle) and the plain poll() wait
    both hand over every frame, in order."""
    src = open_xdp(lab, xdp_mode="native", wait=wait)
    try:
        assert src.poll_wait == (wait == "poll")
        import threading
        bursts = [lab.udp_frames(300 * (i + 1), size=64 + i, dport=DPORT) for i in range(4)]
        sent = [f for b in bursts for f in b]

        def sender():
            # gaps long enough for the consumer to go idle in between
            for i, frames in enumerate(bursts):
                time.sleep(0.3 if i % 2 else 0.05)
                lab.send_frames(frames)
        t = threading.Thread(target=sender)
        t.start()
        try:
            got = [g for g in collect(src, len(sent), seconds=10) if ours(g)]
        finally:
            t.join(10)
        assert got == sent
        assert src.timestamp_source == "system clock, read once per batch"
    finally:
        src.close()


def test_packet_metadata_and_zero_copy_views(lab):
    src = open_xdp(lab, xdp_mode="native", snaplen=100)
    try:
        frames = lab.udp_frames(3, size=300, dport=DPORT) + lab.udp_frames(2, size=200, dport=DPORT, vlan=7)
        lab.send_frames(frames)
        pkts = []
        deadline = time.monotonic() + 5
        while len(pkts) < 5 and time.monotonic() < deadline:
            b = src.batch(100)
            pkts += [(p.caplen, p.wirelen, p.vlan, p.ifindex, p.queue, bytes(p.data), p.ts_ns)
                     for p in b if ours(p.copy())]
            b.release()
        assert [p[:5] for p in pkts] == [(100, 300, None, lab.ifindex_b, 0)] * 3 + \
                                        [(100, 200, 7, lab.ifindex_b, 0)] * 2
        assert [p[5] for p in pkts] == [f[:100] for f in frames]
        assert all(abs(p[6] / 1e9 - time.time()) < 60 for p in pkts)
    finally:
        src.close()


@pytest.mark.parametrize("lab", [{"mtu": 9000}], indirect=True)
@pytest.mark.parametrize("mode", ["native", "generic"])
def test_jumbo_frames_are_joined_whole(lab, mode):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_xdp(lab, xdp_mode=mode)
    try:
        assert src.multi_buffer and src.info()["xdp_prog"].endswith("frags")
        frames = (lab.udp_frames(10, size=9014, dport=DPORT) + lab.udp_frames(10, size=5000, dport=DPORT)
                  + lab.udp_frames(10, size=100, dport=DPORT))
        lab.send_frames(frames)
        got = collect(src, len(frames))
        assert [g for g in got if ours(g)] == frames
        st = src.stats()
        assert st["received"] == len(got) and st["dropped"] == 0
    finally:
        src.close()


VLAN_PUSH_C = r"""
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
SEC("tc")
int vlan_push(struct __sk_buff *skb)
{
	bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 100);
	return TC_ACT_OK;
}
char _license[] SEC("license") = "GPL";
"""


def offload_vlan_on_peer(lab, tmp_path):
    """The peer's egress pushes tag 100 as metadata (not into the frame)."""
    src = tmp_path / "vlan_push.c"
    obj = tmp_path / "vlan_push.o"
    src.write_text(VLAN_PUSH_C)
    arch = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{arch}", "-c", str(src),
                    "-o", str(obj)], check=True, capture_output=True, timeout=60)
    lab.run_a(["tc", "qdisc", "add", "dev", lab.if_a, "clsact"])
    lab.run_a(["tc", "filter", "add", "dev", lab.if_a, "egress", "bpf", "da", "obj", str(obj), "sec", "tc"])


def test_offloaded_vlan_tag_is_put_back_in_native_mode(lab, tmp_path):
    offload_vlan_on_peer(lab, tmp_path)
    src = open_xdp(lab, xdp_mode="native")
    try:
        frames = lab.udp_frames(20, size=200, dport=DPORT)
        lab.send_frames(frames)
        got = collect(src, len(frames))
        tagged = [f[:12] + b"\x81\x00\x00\x64" + f[12:] for f in frames]
        assert [g for g in got if ours(g)] == tagged
        st = src.stats()
        assert st["xdp_vlan_restored"] >= len(frames) and st["xdp_vlan_lost"] == 0
    finally:
        src.close()


def test_generic_mode_warns_about_offloaded_tags(lab):
    import pyxring.xdp as X
    X._warned.clear()
    with pytest.warns(X.XdpWarning, match="VLAN"):
        src = open_xdp(lab, xdp_mode="generic")
    src.close()


def test_second_capture_gets_a_clear_error(lab):
    from pyxring.errors import ResourceBusy
    from pyxring.xdp._xsk import XskSource
    src = open_xdp(lab, xdp_mode="native")
    try:
        with pytest.raises(ResourceBusy, match=r"already has XDP program id \d+"):
            open_xdp(lab, xdp_mode="native")
        with pytest.raises(ResourceBusy, match="BPF link"):
            open_xdp(lab, xdp_mode="native", xdp_replace=True)
        # the same queue at socket level: EBUSY, not a hang
        with lab.enter_b():
            with pytest.raises(ResourceBusy, match="queue 0"):
                XskSource(lab.if_b, lab.ifindex_b, [0], frame_count=64, rx_ring_size=64, batch_size=32)
        # the first capture is untouched
        lab.send_frames(lab.udp_frames(5, dport=DPORT))
        assert len([g for g in collect(src, 5) if ours(g)]) == 5
    finally:
        src.close()


def test_replace_puts_the_old_program_back(lab):
    from pyxring.errors import ResourceBusy
    from pyxring.xdp import _bpf, default_object
    old = _bpf.XdpProgram(default_object(), lab.if_b, lab.ifindex_b, _bpf.PROG_PLAIN)
    try:
        with lab.enter_b():
            _bpf.netlink_attach(lab.ifindex_b, old.prog_fd, "generic", lab.if_b)
            old_id = _bpf.query(lab.ifindex_b)["prog_id"]
        with pytest.raises(ResourceBusy, match=f"id {old_id}"):
            open_xdp(lab, xdp_mode="native")
        src = open_xdp(lab, xdp_mode="native", xdp_replace=True)
        assert _bpf.query(lab.ifindex_b)["prog_id"] != old_id
        lab.send_frames(lab.udp_frames(5, dport=DPORT))
        assert len([g for g in collect(src, 5) if ours(g)]) == 5
        src.close()
        cur = _bpf.query(lab.ifindex_b)
        assert cur["prog_id"] == old_id and cur["mode"] == "generic"
    finally:
        try:
            _bpf.netlink_detach(lab.ifindex_b, "generic", -1, lab.if_b)
        except Exception:
            pass
        old.close()


CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
import pyxring.xdp as X
src = X.open({iface!r}, xdp_mode={mode!r})
print("ready", src.program.link_fd, flush=True)
while True:
    src.batch(100).release()
"""


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_sigkill_leaves_no_program(lab, mode):
    from pyxring.xdp import _bpf
    code = CHILD.format(root=ROOT, iface=lab.if_b, mode=mode)
    proc = lab.popen("b", [sys.executable, "-W", "ignore", "-c", code], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), proc.stderr.read() if proc.poll() is not None else line
        with lab.enter_b():
            assert _bpf.query(lab.ifindex_b)["prog_id"] != 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        with lab.enter_b():
            while _bpf.query(lab.ifindex_b)["prog_id"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _bpf.query(lab.ifindex_b)["prog_id"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_bad_parameters_name_themselves(lab):
    from pyxring.errors import ConfigError, InterfaceError
    with pytest.raises(ConfigError, match="frame size 1000"):
        open_xdp(lab, frame_size=1000)
    with pytest.raises(ConfigError, match="frame count 1000"):
        open_xdp(lab, frame_count=1000)
    with pytest.raises(ConfigError, match="--queue 3"):
        open_xdp(lab, queue=3)
    with pytest.raises(InterfaceError, match="nosuchif0"):
        import pyxring.xdp as X
        X.open("nosuchif0")
    from pyxring.xdp import _bpf
    with lab.enter_b():
        assert _bpf.query(lab.ifindex_b)["prog_id"] == 0


@pytest.mark.parametrize("lab", [{"queues": 2}], indirect=True)
def test_multi_queue_shared_umem(lab):
    """Both queues of a 2-queue veth (steered by XPS on the sender's CPU)."""
    src = open_xdp(lab, xdp_mode="native")
    one = None
    try:
        assert src.info()["queues"] == [0, 1]
        lab.run_a(["sh", "-c", f"echo 1 > /sys/class/net/{lab.if_a}/queues/tx-0/xps_cpus; "
                               f"echo 2 > /sys/class/net/{lab.if_a}/queues/tx-1/xps_cpus"])
        code = (f"import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0); "
                f"s.bind(({lab.if_a!r}, 0))\n"
                f"for f in {lab.udp_frames(10, dport=DPORT)!r}: s.send(f)")
        for cpu in (0, 1):
            lab.run_a(["taskset", "-c", str(cpu), sys.executable, "-c", code])
        queues = []
        deadline = time.monotonic() + 5
        while len(queues) < 20 and time.monotonic() < deadline:
            with src.batch(100) as b:
                queues += [p.queue for p in b if ours(p.copy())]
        assert sorted(queues) == [0] * 10 + [1] * 10
        src.close()
        # one queue only: the other queue's frames go up the stack
        one = open_xdp(lab, xdp_mode="native", queue=1)
        lab.run_a(["taskset", "-c", "0", sys.executable, "-c", code])
        lab.run_a(["taskset", "-c", "1", sys.executable, "-c", code])
        got = [g for g in collect(one, 10) if ours(g)]
        assert len(got) == 10
        st = one.stats()
        assert st["xdp_passed"] >= 10 and st["received"] == st["xdp_redirected"]
    finally:
        src.close()
        if one is not None:
            one.close()


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_filter_runs_in_the_xdp_program(lab, mode):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_xdp(lab, xdp_mode=mode, filter=f"udp dst port {DPORT}")
    try:
        frames = lab.udp_frames(30, dport=DPORT)
        lab.send_frames(lab.udp_frames(20, dport=1234) + frames)
        got = collect(src, len(frames))
        assert got == frames            # nothing else reached the socket
        st = src.stats()
        assert st["received"] == 30 and st["xdp_filtered"] >= 20
    finally:
        src.close()


def test_promisc_lasts_as_long_as_the_capture(lab):
    def promiscuity():
        out = lab.run_b(["ip", "-d", "link", "show", lab.if_b]).stdout.decode()
        return int(out.split("promiscuity ")[1].split()[0])
    src = open_xdp(lab, xdp_mode="native")
    assert promiscuity() == 1
    src.close()
    assert promiscuity() == 0
    src = open_xdp(lab, xdp_mode="native", promisc=False)
    assert promiscuity() == 0
    src.close()


def test_locked_memory_limit_names_ulimit(lab):
    code = f"import sys; sys.path.insert(0, {ROOT!r}); import pyxring.xdp as X; X.open({lab.if_b!r})"
    r = lab.run_b(["prlimit", "--memlock=65536", "setpriv", "--inh-caps=-ipc_lock",
                   "--bounding-set=-ipc_lock", sys.executable, "-c", code], check=False)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "ulimit -l" in err and "CAP_IPC_LOCK" in err
    from pyxring.xdp import _bpf
    with lab.enter_b():
        assert _bpf.query(lab.ifindex_b)["prog_id"] == 0


def test_cli_capture_with_xdp_backend(lab, tmp_path):
    from pyxring.reader import open_reader
    out = tmp_path / "f.pcapng"
    proc = lab.popen("b", [sys.executable, "-m", "pyxring", "capture", lab.if_b, "--backend", "xdp",
                           "-w", str(out), "-c", "25", "-q", "udp", "dst", "port", str(DPORT)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        frames = lab.udp_frames(25, size=300, dport=DPORT)
        # the capture is ready once the program is on the interface
        from pyxring.xdp import _bpf
        deadline = time.monotonic() + 10
        with lab.enter_b():
            while not _bpf.query(lab.ifindex_b)["prog_id"] and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.2)
        lab.send_frames(lab.udp_frames(5, dport=1234) + frames)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "25 packets captured" in err
        with open_reader(str(out)) as rd:
            assert [bytes(r.data) for r in rd] == frames
        with lab.enter_b():
            assert _bpf.query(lab.ifindex_b)["prog_id"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_cli_usage_errors(lab):
    r = lab.run_b([sys.executable, "-m", "pyxring", "capture", lab.if_b, "--backend", "xdp",
                   "--xdp-frames", "1000", "-c", "1"], check=False, cwd=ROOT)
    assert r.returncode == 2 and b"frame count 1000" in r.stderr


USER_PROG_C = r"""
#include <uapi/linux/bpf.h>
BPF_XSKMAP(xsks_map, 64);
int user_xdp(struct xdp_md *ctx)
{
    return xsks_map.redirect_map(ctx->rx_queue_index, XDP_PASS);
}
"""


def test_user_program_in_c_through_bcc(lab, tmp_path, monkeypatch):
    """bcc with the header workaround: a merged Debian header tree made
    under $HOME/.cache/pyxring and passed as BCC_KERNEL_SOURCE."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    src_c = tmp_path / "user.c"
    src_c.write_text(USER_PROG_C)
    from pyxring.xdp import _bcc, _bpf
    ksrc = _bcc.kernel_source_dir()
    if ksrc is not None:
        assert os.path.isfile(os.path.join(ksrc, "include", "generated", "autoconf.h"))
        assert ksrc.startswith(str(tmp_path))
    src = open_xdp(lab, xdp_mode="native", xdp_prog=str(src_c))
    try:
        assert src.info()["xdp_prog"] == "user_xdp" and src.info()["link"]
        frames = lab.udp_frames(20, dport=DPORT)
        lab.send_frames(frames)
        got = [g for g in collect(src, 20) if ours(g)]
        assert got == frames
        st = src.stats()
        assert st["received"] == st["rx_packets"] >= 20 and "xdp_seen" not in st
    finally:
        src.close()
        monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    with lab.enter_b():
        assert _bpf.query(lab.ifindex_b)["prog_id"] == 0


def test_user_object_through_libbpf(lab):
    from pyxring.xdp import default_object
    src = open_xdp(lab, xdp_mode="generic", xdp_prog=default_object())
    try:
        assert src.info()["xdp_prog"] == "pyxring_xdp"     # the object's first program
        frames = lab.udp_frames(10, dport=DPORT)
        lab.send_frames(frames)
        assert [g for g in collect(src, 10) if ours(g)] == frames
    finally:
        src.close()


def test_signals_interrupt_a_silent_wait(lab):
    """Ctrl-C must work while batch(-1) waits on an idle interface."""
    src = open_xdp(lab, xdp_mode="native", filter="udp port 1")    # matches nothing
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for delay in (0.0005, 0.003, 0.3):
            signal.setitimer(signal.ITIMER_REAL, delay)
            got = 0
            with pytest.raises(KeyboardInterrupt):
                start = time.monotonic()
                while time.monotonic() - start < 10:     # bounded: a hang fails, not blocks
                    with src.batch(-1) as b:
                        got += len(b)
            assert got == 0
        b = src.batch(0)
        assert len(b) == 0
        b.release()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        src.close()
