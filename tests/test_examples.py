"""The examples in examples/ run as documented and print what an
independent count (dpkt, packet by packet) of the same traffic gives."""
import collections
import ipaddress
import subprocess
import sys
import time

from conftest import ROOT, wait_capturing


def run_example(lab, argv, frames_a, frames_b=(), sockets=1, settle=0.0):
    """Run an example in namespace b; once its ``sockets`` capture sockets
    receive (and ``settle`` seconds), send the frames from a (and b); its
    output and error text, after checking it ended well."""
    proc = lab.popen("b", [sys.executable, *argv], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_capturing(lab, proc, sockets=sockets)
        time.sleep(settle)
        lab.send_frames(frames_a)
        if frames_b:
            lab.send_frames(frames_b, side="b")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out, err


def run_top_talkers(lab, frames_a, frames_b=(), *args):
    n = len(frames_a) + len(frames_b)
    out, err = run_example(lab, [f"{ROOT}/examples/top_talkers.py", lab.if_b, "-c", str(n),
                                 "--backend", "tpacket", *args], frames_a, frames_b)
    assert err.decode().strip().startswith(f"{n} packets, {n} received by filter, 0 dropped")
    return [line.split() for line in out.decode().splitlines()[1:]]


def test_top_talkers_counts_conversations(lab):
    rows = run_top_talkers(lab, lab.udp_frames(40, size=100), lab.udp_frames(20, size=200, src="b"),
                           "udp")
    assert rows[0] == [lab.ip_a, lab.ip_b, "udp", "40", "4000"]
    assert rows[1] == [lab.ip_b, lab.ip_a, "udp", "20", "4000"]


def expected_talkers(frames, top=10):
    """Top talkers of ``frames`` counted one by one with dpkt."""
    import dpkt
    names = {1: "icmp", 6: "tcp", 17: "udp"}
    packets, nbytes = collections.Counter(), collections.Counter()
    for f in frames:
        ip = dpkt.ethernet.Ethernet(f).data
        if isinstance(ip, dpkt.ip.IP):
            key = (str(ipaddress.IPv4Address(ip.src)), str(ipaddress.IPv4Address(ip.dst)),
                   names.get(ip.p, str(ip.p)))
            packets[key] += 1
            nbytes[key] += len(f)
    return [[*k, str(n), str(nbytes[k])] for k, n in packets.most_common(top)]


def test_top_talkers_on_a_mix_matches_dpkt(lab):
    """Several conversations (ties among them), VLAN and QinQ tags, IPv6
    and ARP between them: the same table as dpkt's count."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    talks = [(IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=1000, dport=80), 15),
             (IP(src="10.9.0.3", dst="10.9.0.4") / UDP(sport=53, dport=5353) / b"q", 15),
             (IP(src="192.0.2.7", dst="10.9.0.1") / ICMP() / (b"p" * 56), 9),
             (IP(src="10.9.0.2", dst="10.9.0.1") / TCP(sport=80, dport=1000) / (b"r" * 300), 12),
             (IP(src="172.16.0.9", dst="172.16.0.10", proto=47) / (b"\0" * 20), 3)]
    frames = []
    for i in range(20):
        for j, (pkt, n) in enumerate(talks):
            if i < n:
                head = e / Dot1Q(vlan=7) if j == 1 else e / Dot1AD(vlan=8) / Dot1Q(vlan=9) \
                    if j == 2 and i % 2 else e
                frames.append(bytes(head / pkt))
        frames.append(bytes(e / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP()))
        frames.append(bytes(Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
                            / ARP(psrc="10.9.0.1", pdst="10.9.0.2")))
    rows = run_top_talkers(lab, frames, (), "ether", "src", "02:00:00:00:00:01")
    assert rows == expected_talkers(frames)
    assert len(rows) == 5 and rows[0][3] == rows[1][3] == "15"


def test_flows_per_worker_counts_each_flow_on_one_worker():
    """Both directions of 12 UDP flows on a two-queue veth: the merged table
    is the count of the frames sent (by dpkt), and each flow has one worker."""
    import dpkt
    from conftest import require_root
    from pyxring.netlab import VethPair
    require_root()
    with VethPair(prefix="pxe", queues=2) as lab:
        frames_a, frames_b = [], []
        for f in range(12):
            frames_a += lab.udp_frames(10 + f, sport=7000 + f, dport=9000)
            frames_b += lab.udp_frames(5, sport=9000, dport=7000 + f, src="b")
        n = len(frames_a) + len(frames_b)
        # settle: both sockets have joined the group and have their filter
        out, err = run_example(lab, [f"{ROOT}/examples/flows_per_worker.py", lab.if_b,
                                     "--workers", "2", "-c", str(n), "udp"],
                               frames_a, frames_b, sockets=2, settle=0.2)
    err = err.decode()
    assert err.startswith(f"{n} packets, {n} received by filter, 0 dropped by kernel; 12 flows, "
                          f"0 seen by two workers"), err
    expect = collections.Counter()
    for fr in frames_a + frames_b:
        udp = dpkt.ethernet.Ethernet(fr).data.data
        expect[tuple(sorted((udp.sport, udp.dport)))] += 1
    rows = [line.split() for line in out.decode().splitlines()[1:]]
    got = {}
    for a, arrow, b, packets, worker in rows:
        assert arrow == "<->" and worker in ("0", "1")
        ports = tuple(sorted((int(a.rsplit(":", 1)[1]), int(b.split("/")[0].rsplit(":", 1)[1]))))
        got[ports] = int(packets)
    assert got == dict(expect.most_common(10))
# --- examples/rates.py ---------------------------------------------------------------

TSHARK_CLASSES = {"tcp": "tcp && !icmp && !icmpv6", "udp": "udp && !icmp && !icmpv6",
                  "icmp": "icmp || icmpv6", "other": "!(tcp || udp || icmp || icmpv6)"}


def tshark_io_stat(path, interval, classes):
    """Frames and bytes per interval and filter, as ``tshark -z io,stat``
    counts them: {class: ([frames...], [bytes...])}."""
    import re
    from conftest import require_tool
    filters = [TSHARK_CLASSES[c] for c in classes]
    out = subprocess.run([require_tool("tshark"), "-q", "-r", str(path), "-z",
                          f"io,stat,{interval}," + ",".join(filters)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\|\s*[\d.]+\s*<>\s*(?:[\d.]+|Dur)\s*\|(.*)\|\s*$", line)
        if m:
            rows.append([int(v) for v in m.group(1).split("|")])
    return {c: ([r[2 * i] for r in rows], [r[2 * i + 1] for r in rows])
            for i, c in enumerate(classes)}


def rates_file(path):
    """Eight seconds of the benchmark's traffic mix (TCP, UDP, IPv6, ICMP,
    ARP, VLAN tags), a different rate each second, one second silent."""
    import random
    import pyxring
    import pyxring.memory
    from bench.columns import frame_mix
    per_second = [500, 50, 1200, 0, 300, 800, 20, 600]
    rng = random.Random(5)
    frames = frame_mix(sum(per_second), seed=9)
    t0 = 1_700_000_000_123_456_789
    ts = sorted(t0 + s * 10**9 + rng.randrange(10**9) for s, n in enumerate(per_second)
                for _ in range(n))
    ts[0] = t0                        # the intervals count from the first packet
    src = pyxring.memory.open(frames, ts_ns=ts, batch_size=1000)
    with pyxring.open_writer(path) as w:
        for b in src.batches():
            w.write_batch(b)
    return per_second


def load_rates_example():
    import importlib.util
    spec = importlib.util.spec_from_file_location("rates", f"{ROOT}/examples/rates.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rates_figure_shows_what_tshark_counts(tmp_path):
    rates = load_rates_example()
    path = tmp_path / "mix.pcapng"
    per_second = rates_file(path)
    for interval in (1, 0.5):
        packets, nbytes = rates.rates(path, interval)
        fig = rates.plot(packets, nbytes, interval)
        ax_p, ax_b = fig.axes
        want = tshark_io_stat(path, interval, rates.CLASSES)
        for i, name in enumerate(rates.CLASSES):
            frames, nb = want[name]
            # the plotted steps are rates: per interval / interval seconds
            plotted_p = ax_p.patches[i].get_data().values * interval
            plotted_b = ax_b.patches[i].get_data().values * interval
            assert ax_p.patches[i].get_label() == name
            assert len(ax_p.patches[i].get_data().edges) == len(frames) + 1
            assert plotted_p.round().astype(int).tolist() == frames, (name, interval)
            assert plotted_b.round().astype(int).tolist() == nb, (name, interval)
        assert packets.sum() == sum(per_second)
    packets, _ = rates.rates(path, 1)
    assert packets.sum(axis=0).tolist() == per_second      # every second, the silent one too


def test_rates_script_writes_the_png_and_the_table(tmp_path):
    path = tmp_path / "mix.pcapng"
    rates_file(path)
    png = tmp_path / "rates.png"
    r = subprocess.run([sys.executable, f"{ROOT}/examples/rates.py", str(path), "-o", str(png),
                        "--csv", "udp or icmp"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = r.stdout.splitlines()
    assert lines[0].startswith("start_s,tcp_packets,tcp_bytes,udp_packets")
    # the filter is tcpdump's (VLAN-tagged UDP doesn't match "udp"): tcpdump
    # applies it, tshark counts what it kept
    from conftest import require_tool
    kept = tmp_path / "kept.pcap"
    subprocess.run([require_tool("tcpdump"), "-r", str(path), "-w", str(kept), "udp or icmp"],
                   capture_output=True, check=True, timeout=60)
    want = tshark_io_stat(kept, 1, ["udp", "icmp"])
    table = [list(map(int, line.split(",")[1:])) for line in lines[1:]]
    assert [row[2] for row in table] == want["udp"][0]
    assert [row[5] for row in table] == want["icmp"][1]
    assert all(row[0] == 0 for row in table)              # the filter left no TCP
    r = subprocess.run([sys.executable, f"{ROOT}/examples/rates.py", str(tmp_path / "no.pcap")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1 and r.stderr.strip().startswith("rates: ")
