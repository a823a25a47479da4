"""How a capture ends: a stop (signal, --duration) keeps every packet the
kernel counted, so "received by filter" == captured + dropped == the file's
records; several -i are one capture with per-interface counts."""
import signal
import subprocess
import time

import pytest

from conftest import require_tool
from test_capture_tcpdump import (_end_what_the_test_started, closing_counts, finish,  # noqa: F401
                                  pyxring, start, steady_traffic)


def records(path):
    r = subprocess.run([require_tool("capinfos"), "-c", "-M", str(path)], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.decode().split()[-1])


def counts(err):
    """(captured, received by filter, dropped by kernel) of the closing lines."""
    return tuple(int(ln.split()[0]) for ln in closing_counts(err) if ln.split()[0].isdigit())


def test_stop_drains_the_partly_filled_block(lab, tmp_path):
    # The kernel retires a partly filled block only after the block timeout
    # (2 s here): stopped at once after a burst, the capture must wait for it.
    out = tmp_path / "s.pcapng"
    p = start(lab, pyxring("-i", lab.if_b, "--block-timeout", "2000", "-w", str(out), "udp"))
    lab.send_frames(lab.udp_frames(50))
    time.sleep(0.3)
    pc, _, err = finish(p, sig=signal.SIGINT)
    assert pc == 0, err
    assert counts(err) == (50, 50, 0)
    assert records(out) == 50


@pytest.mark.parametrize("how", ["sigint", "sigterm", "duration"])
def test_counts_agree_with_the_file_when_stopped_mid_traffic(lab, tmp_path, how):
    out = tmp_path / "m.pcapng"
    extra = ["--duration", "1"] if how == "duration" else []
    p = start(lab, pyxring("-i", lab.if_b, "-w", str(out), *extra, "udp"))
    with steady_traffic(lab, lab.udp_frames(20), 500, 0.002):     # 10000 frames at most
        if how == "duration":
            pc, _, err = finish(p)
        else:
            time.sleep(0.5)
            pc, _, err = finish(p, sig=signal.SIGINT if how == "sigint" else signal.SIGTERM)
    assert pc == 0, err
    captured, received, dropped = counts(err)
    assert captured > 0
    assert received == captured + dropped, err
    assert records(out) == captured


def two_interface_traffic(lab):
    lab.run_a(["ping", "-c", "2", "-i", "0.2", lab.ip_b])          # 4 packets on the veth
    lab.run_b(["ping", "-c", "1", "127.0.0.1"])                    # 2 on lo (once each)


def test_several_interfaces_in_one_capture(lab):
    p = start(lab, pyxring("-i", lab.if_b, "-i", "lo", "-c", "6", "-v", "icmp"))
    p.head += p.stderr.readline()       # every source is open before the first line
    assert p.head.decode().count("listening on") == 2, p.head
    two_interface_traffic(lab)
    pc, out, err = finish(p)
    assert pc == 0, err
    lines = out.splitlines()
    # -v prints tcpdump's verbose lines: a packet's further lines are indented
    assert len([ln for ln in lines if not ln[:1].isspace()]) == 6
    assert sum("127.0.0.1 > 127.0.0.1" in ln for ln in lines) == 2
    assert counts(err)[0] == 6
    assert f"{lab.if_b}: 4 packets captured, 4 received by filter, 0 dropped by kernel" in err
    assert "lo: 2 packets captured, 4 received by filter, 0 dropped by kernel" in err


def test_several_interfaces_into_one_pcapng(lab, tmp_path):
    out = tmp_path / "multi.pcapng"
    p = start(lab, pyxring("-i", lab.if_b, "-i", "lo", "-c", "6", "-w", str(out), "icmp"))
    two_interface_traffic(lab)
    pc, _, err = finish(p)
    assert pc == 0, err
    r = subprocess.run([require_tool("tshark"), "-r", str(out), "-T", "fields",
                        "-e", "frame.interface_name", "-e", "ip.src"], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    names = [ln.split("\t")[0] for ln in r.stdout.decode().splitlines()]
    assert sorted(names) == sorted([lab.if_b] * 4 + ["lo"] * 2)
    info = subprocess.run([require_tool("capinfos"), str(out)], capture_output=True,
                          timeout=60).stdout.decode()
    assert "Number of interfaces in file: 2" in info


def test_several_interfaces_need_pcapng(lab, tmp_path):
    r = lab.run_b(pyxring("-i", lab.if_b, "-i", "lo", "--format", "pcap", "-w",
                          str(tmp_path / "x.pcap")), check=False)
    assert r.returncode == 2
    assert "--format pcap can't tell interfaces apart" in r.stderr.decode()


@pytest.mark.parametrize("backend", ["tpacket", "xdp"])
def test_an_interface_lost_among_several_ends_the_capture(lab, tmp_path, backend):
    from test_cli import frame_lengths
    out = tmp_path / "lost.pcapng"
    args = ["-i", lab.if_b, "-i", "lo", "--backend", backend, "-w", str(out), "udp"]
    p = start(lab, pyxring(*args))
    lab.send_frames(lab.udp_frames(30))
    time.sleep(0.5)
    lab.run_b(["ip", "link", "del", lab.if_b])
    pc, pout, err = finish(p, timeout=20)
    assert pc == 1, err
    assert err.splitlines()[-1] == f"pyxring: capture on {lab.if_b}: the interface disappeared"
    assert counts(err)[0] == 30
    assert frame_lengths(out) == ["64"] * 30


def test_stop_after_the_ring_filled_up_reads_nothing_twice(lab, tmp_path):
    # Stopped while the ring is full (the capture held back with SIGSTOP), the
    # drain reads every block once: a block given back but not reopened by
    # the kernel still has its old header, and must not be read again.
    out = tmp_path / "full.pcapng"
    p = start(lab, pyxring("-i", lab.if_b, "--block-size", "4096", "--block-count", "2",
                           "--block-timeout", "5000", "-w", str(out), "udp"))
    p.send_signal(signal.SIGSTOP)
    try:
        lab.send_frames(lab.udp_frames(400))
    finally:
        p.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    stopped = time.monotonic()
    pc, _, err = finish(p, sig=signal.SIGINT)
    # nothing to wait for: the stop is not held up by the 5 s block timeout
    # (twice it would be 10 s; measured before tshark's run below)
    stop_took = time.monotonic() - stopped
    assert pc == 0, err
    captured, received, dropped = counts(err)
    assert dropped > 0 and received == captured + dropped == 400, err
    seqs = sequence_numbers(out)
    assert len(seqs) == captured == len(set(seqs))
    assert stop_took < 8, stop_took


def sequence_numbers(path):
    """The sequence numbers netlab's UDP frames carry, as tshark reads them."""
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-T", "fields", "-e", "data.data"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [int(h[:16], 16) for h in r.stdout.decode().split()]
