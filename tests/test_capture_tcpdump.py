"""tcpdump's command line, judged by tcpdump: the same traffic captured by
both in a test namespace must give the same listing, lines, counts or file
(read back by tshark)."""
import contextlib
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import ROOT, pyxring_cmd, require_root, require_tool


@pytest.fixture
def quiet_lab():
    """A lab without IPv6: nothing but the test's own traffic crosses it,
    so two captures started one after the other see the same packets."""
    require_root()
    from pyxring.netlab import VethPair
    with VethPair(prefix="pxq", ipv6=False) as pair:
        for side, ifname in (("a", pair.if_a), ("b", pair.if_b)):
            # no link-local IPv6 either: no neighbour or multicast listener chatter
            pair.run(side, ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.disable_ipv6=1"])
        yield pair


_running = []


@pytest.fixture(autouse=True)
def _end_what_the_test_started():
    """A test that fails half-way leaves no capture running (by PID)."""
    yield
    while _running:
        proc = _running.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def start(lab, cmd):
    """Start ``cmd`` in namespace b; return once it says it is listening
    (tcpdump and pyxring both print 'listening on' once armed)."""
    proc = lab.popen("b", cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _running.append(proc)
    head = b""
    deadline = time.monotonic() + 20
    while b"listening on" not in head and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        head += line
    if b"listening on" not in head:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd[0]} did not start: {(head + err).decode()}")
    proc.head = head
    return proc


def finish(proc, timeout=30, sig=None):
    """(status, stdout, all of stderr) once ``proc`` ends (after ``sig``)."""
    from test_cli import finish as communicate
    if sig is not None:
        proc.send_signal(sig)
    code, out, err = communicate(proc, timeout=timeout)
    return code, out.decode(), proc.head.decode() + err


@contextlib.contextmanager
def steady_traffic(lab, frames, rounds, gap):
    """Send ``frames`` every ``gap`` seconds (``rounds`` times at most) from
    a thread while the body runs; yields the thread (alive = still sending)."""
    stop = threading.Event()

    def traffic():
        for _ in range(rounds):
            if stop.is_set():
                return
            lab.send_frames(frames)
            time.sleep(gap)
    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        yield sender
    finally:
        stop.set()
        sender.join()


def tcpdump(*args):
    return [require_tool("tcpdump"), *args]


def pyxring(*args):
    return pyxring_cmd(*args)


def closing_counts(err):
    """tcpdump's three closing lines, as they read."""
    return [ln for ln in err.splitlines()
            if ln.endswith(("captured", "received by filter", "dropped by kernel"))]


def hex_frames(path):
    """Every frame's bytes as tshark dumps them (no timestamps)."""
    r = subprocess.run([require_tool("tshark"), "-r", str(path), "-x"], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def file_info(path):
    r = subprocess.run([require_tool("capinfos"), "-E", "-l", "-c", str(path)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [ln.split(":", 1)[1].strip() for ln in r.stdout.decode().splitlines()[1:]]


def pings(lab):
    lab.run_a(["ping", "-c", "2", "-i", "0.2", lab.ip_b])
    lab.run_b(["ping", "-c", "2", "-i", "0.2", "127.0.0.1"])


def test_any_writes_what_tcpdump_writes(lab, tmp_path):
    ours, theirs = tmp_path / "p.pcap", tmp_path / "t.pcap"
    t = start(lab, tcpdump("-i", "any", "-c", "8", "-w", str(theirs), "icmp"))
    p = start(lab, pyxring("-i", "any", "-c", "8", "--format", "pcap", "--time-precision", "us",
                           "-w", str(ours), "icmp"))
    pings(lab)
    tc, _, terr = finish(t)
    pc, _, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    assert closing_counts(perr) == closing_counts(terr), (perr, terr)
    assert "link-type LINUX_SLL2 (Linux cooked v2)" in perr
    # same link type and snapshot length; every frame the same, byte for byte
    assert file_info(ours) == file_info(theirs)
    assert "Linux cooked-mode capture v2" in file_info(ours)[0]
    dump, theirs_dump = hex_frames(ours), hex_frames(theirs)
    assert dump == theirs_dump, f"ours:\n{dump}\ntcpdump's:\n{theirs_dump}"
    assert dump.count("\n\n") >= 7


def test_any_with_linux_sll_and_a_filter_on_direction(lab, tmp_path):
    ours, theirs = tmp_path / "p.pcap", tmp_path / "t.pcap"
    args = ["-i", "any", "-y", "LINUX_SLL", "-c", "4", "icmp and inbound"]
    t = start(lab, tcpdump(*args, "-w", str(theirs)))
    p = start(lab, pyxring(*args, "--format", "pcap", "--time-precision", "us", "-w", str(ours)))
    lab.run_a(["ping", "-c", "4", "-i", "0.2", lab.ip_b])
    tc, _, terr = finish(t)
    pc, _, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    assert file_info(ours) == file_info(theirs)
    assert hex_frames(ours) == hex_frames(theirs)


def test_any_filter_on_header_fields_the_kernel_cannot_read(lab):
    # link[8:2] is the LINUX_SLL2 hatype: libpcap filters these in user space
    expr = "icmp and link[8:2] == 772"          # ARPHRD_LOOPBACK: only what crosses lo
    t = start(lab, tcpdump("-i", "any", "-n", "-c", "4", expr))
    p = start(lab, pyxring("-i", "any", "-c", "4", expr))
    pings(lab)
    tc, tout, terr = finish(t)
    pc, pout, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    assert len(pout.splitlines()) == len(tout.splitlines()) == 4
    assert all("127.0.0.1 > 127.0.0.1" in ln for ln in pout.splitlines())
    assert closing_counts(perr)[0] == closing_counts(terr)[0] == "4 packets captured"


def test_loopback_packets_appear_once(lab):
    t = start(lab, tcpdump("-i", "lo", "-n", "-c", "4", "icmp"))
    p = start(lab, pyxring("capture", "lo", "-c", "4", "icmp"))
    lab.run_b(["ping", "-c", "2", "-i", "0.2", "127.0.0.1"])
    tc, tout, terr = finish(t)
    pc, pout, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    lines = [ln.split(" ", 1)[1] for ln in pout.splitlines()]
    assert lines == [ln.split(" ", 1)[1] for ln in tout.splitlines()]
    assert [ln.split(",")[0] for ln in lines] == ["IP 127.0.0.1 > 127.0.0.1: ICMP echo request",
                                                  "IP 127.0.0.1 > 127.0.0.1: ICMP echo reply"] * 2
    # the kernel counts both copies; tcpdump says so too
    assert closing_counts(perr) == closing_counts(terr)
    assert closing_counts(perr)[:2] == ["4 packets captured", "8 packets received by filter"]


def test_list_interfaces_numbers_them_as_tcpdump(lab):
    theirs = lab.run_b(tcpdump("-D")).stdout.decode().splitlines()
    ours = lab.run_b(pyxring("-D"), cwd=ROOT).stdout.decode().splitlines()
    assert [ln.split(" - pyxring: ")[0] for ln in ours[:len(theirs)]] == theirs
    by_name = {ln.split(" ")[0].split(".", 1)[1]: ln.split(" - pyxring: ")[1] for ln in ours}
    # a veth: both backends, native XDP, no zero-copy (veth has none); any: tpacket only
    assert by_name[lab.if_b] == "tpacket, xdp (native, generic; copy mode)"
    assert by_name["any"] == "tpacket"
    assert by_name["nflog"] == "not supported"
    # -i N is -D's number N, as for tcpdump
    number = next(ln.split(".")[0] for ln in ours if ln.split(" ")[0].endswith(f".{lab.if_b}"))
    r = lab.run_b(pyxring("-i", number, "-c", "1", "-w", "/dev/null", "--duration", "1"),
                  cwd=ROOT, check=False)
    assert f"listening on {lab.if_b} " in r.stderr.decode(), r.stderr


@pytest.mark.parametrize("iface", ["b", "lo", "any"])
def test_link_type_and_time_stamp_type_lists_are_tcpdumps(lab, iface):
    name = lab.if_b if iface == "b" else iface
    for option in ("-L", "-J"):
        theirs = lab.run_b(tcpdump(option, "-i", name), check=False)
        ours = lab.run_b(pyxring(option, "-i", name), cwd=ROOT, check=False)
        assert (ours.returncode, ours.stderr.decode()) == (0, theirs.stderr.decode())


def test_docsis_link_type_labels_the_ethernet_frames(quiet_lab, tmp_path):
    # libpcap can't filter DOCSIS: no expression, hence the quiet lab
    lab = quiet_lab
    ours, theirs = tmp_path / "p.pcap", tmp_path / "t.pcap"
    t = start(lab, tcpdump("-i", lab.if_b, "-y", "DOCSIS", "-c", "5", "-w", str(theirs)))
    p = start(lab, pyxring("-i", lab.if_b, "-y", "DOCSIS", "-c", "5", "--format", "pcap",
                           "--time-precision", "us", "-w", str(ours)))
    lab.send_frames(lab.udp_frames(5))
    assert finish(t)[0] == 0 and finish(p)[0] == 0
    assert file_info(ours) == file_info(theirs)
    assert "Data Over Cable" in file_info(ours)[0]
    assert hex_frames(ours) == hex_frames(theirs)


def test_filter_from_a_file_with_comments(lab, tmp_path):
    f = tmp_path / "filter.txt"
    f.write_text(f"udp   # only UDP\n and dst port 9999 # to the test port\n")
    t = start(lab, tcpdump("-i", lab.if_b, "-n", "-c", "6", "-F", str(f)))
    p = start(lab, pyxring("-i", lab.if_b, "-c", "6", "-F", str(f)))
    for port in (9999, 7777):
        lab.send_frames(lab.udp_frames(6, dport=port))
    tc, tout, terr = finish(t)
    pc, pout, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    strip = lambda out: [ln.split(" ", 1)[1] for ln in out.splitlines()]   # noqa: E731
    assert strip(pout) == strip(tout) and len(strip(pout)) == 6
    assert all(".9999: UDP" in ln for ln in strip(pout))


def test_count_prints_no_packets(lab):
    t = start(lab, tcpdump("--count", "-i", lab.if_b, "-c", "5", "udp"))
    p = start(lab, pyxring("--count", "-i", lab.if_b, "-c", "5", "udp"))
    lab.send_frames(lab.udp_frames(5))
    tc, tout, terr = finish(t)
    pc, pout, perr = finish(p)
    assert tc == 0 and pc == 0, (terr, perr)
    assert pout == tout == ""
    assert closing_counts(perr) == closing_counts(terr)


def process_ids(pid):
    """(uid, gid, effective capabilities) of a running process."""
    with open(f"/proc/{pid}/status") as f:
        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    return st["Uid"].split()[0], st["Gid"].split()[0], int(st["CapEff"].strip(), 16)


def test_relinquish_privileges_as_tcpdump(lab, tmp_path):
    # a directory only root may write: the file is still created, owned by nobody
    root_only = tmp_path / "root-only"
    root_only.mkdir(mode=0o700)
    ours, theirs = root_only / "p.pcapng", root_only / "t.pcap"
    t = start(lab, tcpdump("-Z", "nobody", "-i", lab.if_b, "-c", "5", "-w", str(theirs), "udp"))
    p = start(lab, pyxring("-Z", "nobody", "-i", lab.if_b, "-c", "5", "-w", str(ours), "udp"))
    # `ip netns exec` execs the command: the pids are the captures'
    assert process_ids(p.pid) == process_ids(t.pid) == ("65534", "65534", 0)
    lab.send_frames(lab.udp_frames(5))
    assert finish(t)[0] == 0
    pc, _, perr = finish(p)
    assert pc == 0, perr
    st_ours, st_theirs = os.stat(ours), os.stat(theirs)
    assert (st_ours.st_uid, st_ours.st_gid) == (st_theirs.st_uid, st_theirs.st_gid) == (65534, 65534)
    assert subprocess.run([require_tool("capinfos"), "-c", str(ours)], capture_output=True,
                          timeout=60).stdout.decode().split()[-1] == "5"


def test_relinquish_privileges_with_xdp(lab, tmp_path):
    out = tmp_path / "x.pcapng"
    os.chmod(tmp_path, 0o755)
    p = start(lab, pyxring("-Z", "nobody", "-i", lab.if_b, "--backend", "xdp", "-c", "5",
                           "-w", str(out), "udp"))
    assert process_ids(p.pid)[:2] == ("65534", "65534")
    lab.send_frames(lab.udp_frames(5))
    pc, _, perr = finish(p)
    assert pc == 0, perr
    assert "5 packets captured" in perr and "5 packets received by filter" in perr


def test_duration_ends_the_capture(lab, tmp_path):
    out = tmp_path / "d.pcapng"
    start_at = time.monotonic()
    p = start(lab, pyxring("-i", lab.if_b, "--duration", "1.5", "-w", str(out), "udp"))
    lab.send_frames(lab.udp_frames(7))
    pc, _, perr = finish(p, timeout=20)
    took = time.monotonic() - start_at
    assert pc == 0, perr
    assert took >= 1.5
    assert closing_counts(perr)[0] == "7 packets captured"
    assert subprocess.run([require_tool("capinfos"), "-c", str(out)], capture_output=True,
                          timeout=60).stdout.decode().split()[-1] == "7"


def test_time_stamp_type_not_offered_warns_and_captures(lab):
    t = start(lab, tcpdump("-j", "adapter", "-i", lab.if_b, "-c", "2", "-w", "/dev/null", "udp"))
    p = start(lab, pyxring("-j", "adapter", "-i", lab.if_b, "-c", "2", "-w", "/dev/null", "udp"))
    lab.send_frames(lab.udp_frames(2))
    tc, _, terr = finish(t)
    pc, _, perr = finish(p)
    assert tc == pc == 0
    warning = [ln for ln in terr.splitlines() if "WARNING" in ln][0]
    assert warning.replace("tcpdump:", "pyxring:") in perr.splitlines()


def test_tcpdump_command_lines_work_with_the_name_changed(lab, tmp_path):
    # no -i: the first device -D lists, for both
    t = start(lab, tcpdump("-n", "-c", "3", "udp"))
    p = start(lab, pyxring("-n", "-c", "3", "udp"))
    assert f"listening on {lab.if_b}," in t.head.decode()
    assert f"listening on {lab.if_b} (" in p.head.decode()
    lab.send_frames(lab.udp_frames(3))
    tc, tout, _ = finish(t)
    pc, pout, perr = finish(p)
    assert pc == 0, perr
    assert [ln.split(" ", 1)[1] for ln in pout.splitlines()] == \
           [ln.split(" ", 1)[1] for ln in tout.splitlines()]
    # -w, then -r
    f = tmp_path / "x.pcap"
    p = start(lab, pyxring("-i", lab.if_b, "-c", "4", "-w", str(f), "udp"))
    lab.send_frames(lab.udp_frames(4))
    assert finish(p)[0] == 0
    ours = lab.run_b(pyxring("-r", str(f), "-n", "-c", "3"), cwd=ROOT)
    theirs = lab.run_b(tcpdump("-r", str(f), "-n", "-c", "3"))
    assert ours.stdout.decode().splitlines() == theirs.stdout.decode().splitlines()


def test_print_while_writing(lab, tmp_path):
    out = tmp_path / "w.pcapng"
    p = start(lab, pyxring("-i", lab.if_b, "-c", "4", "-w", str(out), "--print", "udp"))
    lab.send_frames(lab.udp_frames(4))
    pc, pout, perr = finish(p)
    assert pc == 0, perr
    assert len(pout.splitlines()) == 4 and all(": UDP, length" in ln for ln in pout.splitlines())
    assert subprocess.run([require_tool("capinfos"), "-c", str(out)], capture_output=True,
                          timeout=60).stdout.decode().split()[-1] == "4"


def test_line_buffered_lines_arrive_while_capturing(lab):
    # as tcpdump -l: each line can be read while the capture goes on
    p = start(lab, pyxring("-l", "-i", lab.if_b, "udp"))
    try:
        lab.send_frames(lab.udp_frames(2))
        got = [p.stdout.readline(), p.stdout.readline()]
        assert all(b": UDP, length" in ln for ln in got), got
    finally:
        pc, _, perr = finish(p, sig=signal.SIGINT)
    assert pc == 0 and "2 packets captured" in perr


def test_packet_buffered_file_grows_during_the_capture(lab, tmp_path):
    # -U: while traffic keeps coming (no idle time to flush in), the file
    # holds the packets already captured
    out = tmp_path / "u.pcapng"
    p = start(lab, pyxring("-U", "-i", lab.if_b, "--block-timeout", "1", "-w", str(out), "udp"))
    try:
        with steady_traffic(lab, lab.udp_frames(1), 3000, 0.005) as sender:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and out.stat().st_size < 64 * 100:
                time.sleep(0.1)
            assert sender.is_alive(), "the traffic ended before the file grew"
            assert out.stat().st_size >= 64 * 100
    finally:
        finish(p, sig=signal.SIGINT)


@pytest.mark.parametrize("precision,words", [("micro", "microseconds (6)"),
                                             ("nano", "nanoseconds (9)")])
def test_time_stamp_precision_of_the_file(lab, tmp_path, precision, words):
    ours, theirs = tmp_path / "p.pcap", tmp_path / "t.pcap"
    t = start(lab, tcpdump("-i", lab.if_b, "--time-stamp-precision", precision, "-c", "3",
                           "-w", str(theirs), "udp"))
    p = start(lab, pyxring("-i", lab.if_b, "--time-stamp-precision", precision, "-c", "3",
                           "--format", "pcap", "-w", str(ours), "udp"))
    lab.send_frames(lab.udp_frames(3))
    assert finish(t)[0] == 0 and finish(p)[0] == 0

    def precision_line(path):
        info = subprocess.run([require_tool("capinfos"), str(path)], capture_output=True,
                              timeout=60).stdout.decode()
        return next(ln for ln in info.splitlines() if ln.startswith("File timestamp precision"))
    assert precision_line(ours) == precision_line(theirs)
    assert precision_line(ours).endswith(words)
