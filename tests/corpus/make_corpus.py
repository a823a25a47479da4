"""Write the committed corpus of real capture files (run as root):

    .venv/bin/python tests/corpus/make_corpus.py

A traffic mix (UDP over IPv4 and IPv6, a TCP conversation, pings, VLAN
frames, frames larger than a short snaplen) crosses a veth between two
throwaway namespaces while tcpdump (pcap, µs and ns), dumpcap (pcapng, on
the veth and on ``any`` at once: two link types) and tcpdump with a short
snaplen capture it.  editcap then converts into every pcap variant it writes
(and adds a decryption-secrets block), mergecap merges link types into one
pcapng.  The files are small on purpose: the tests and the fuzzer's seeds
are these files and mutations of them.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from pyxring import netlab  # noqa: E402

PORT_UDP, PORT_TCP = 40201, 40202


def _started(proc, marker):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if marker in line or not line:
            return marker in line
    return False


def traffic(lab):
    with lab.enter_a():
        u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with lab.enter_b():
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind((lab.ip_b, PORT_TCP))
        srv.listen(1)
    with u4, u6, srv:
        for i in range(3):
            u4.sendto(b"corpus %d" % i * (1 + 40 * i), (lab.ip_b, PORT_UDP))
            u6.sendto(b"v6 corpus %d" % i, (lab.ip6_b, PORT_UDP))
        with lab.enter_a():
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with c:
            c.connect((lab.ip_b, PORT_TCP))
            conn, _ = srv.accept()
            with conn:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                conn.recv(100)
                conn.sendall(b"x" * 3000)
                c.recv(4000)
        lab.run_a(["ping", "-c", "2", "-i", "0.2", "-W", "2", lab.ip_b])
        lab.send_frames(lab.udp_frames(3, size=90, dport=PORT_UDP, vlan=42))
        lab.send_frames(lab.udp_frames(2, size=1400, dport=PORT_UDP))
        time.sleep(0.5)


def main(out=HERE):
    if os.geteuid() != 0:
        sys.exit("make_corpus.py needs root (network namespaces)")
    tmp = tempfile.mkdtemp(prefix="pyxcorpus")
    os.chmod(tmp, 0o777)            # dumpcap drops privileges
    expr = f"udp port {PORT_UDP} or tcp port {PORT_TCP} or icmp or vlan or icmp6"
    try:
        with netlab.VethPair(prefix="pxc") as lab:
            tools = {
                "tcpdump_us.pcap": ["tcpdump", "-i", lab.if_b, "-U", "-w", "{}", expr],
                "tcpdump_ns.pcap": ["tcpdump", "-i", lab.if_b, "-U", "--time-stamp-precision",
                                    "nano", "-w", "{}", expr],
                "tcpdump_snap96.pcap": ["tcpdump", "-i", lab.if_b, "-U", "-s", "96", "-w", "{}",
                                        expr],
                "dumpcap_two_links.pcapng": ["dumpcap", "-i", lab.if_b, "-f", expr, "-i", "any",
                                             "-f", f"udp port {PORT_UDP} or icmp", "-w", "{}"],
            }
            procs = []
            for name, cmd in tools.items():
                cmd = [os.path.join(tmp, name) if c == "{}" else c for c in cmd]
                p = lab.popen("b", cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
                marker = "listening on" if cmd[0] == "tcpdump" else "File:"
                if not _started(p, marker):
                    p.kill()
                    sys.exit(f"{name}: {cmd[0]} did not start")
                procs.append(p)
            time.sleep(0.5)
            traffic(lab)
            for p in procs:
                p.send_signal(2)
            for p in procs:
                p.wait(timeout=20)
        # every pcap variant editcap writes, and pcapng from a pcap
        src = os.path.join(tmp, "tcpdump_us.pcap")
        for fmt in ("modpcap", "nokiapcap", "rh6_1pcap", "suse6_3pcap", "nsecpcap", "pcapng"):
            ext = "pcapng" if fmt == "pcapng" else "pcap"
            subprocess.run(["editcap", "-F", fmt, src, os.path.join(tmp, f"editcap_{fmt}.{ext}")],
                           check=True)
        keys = os.path.join(tmp, "keys.txt")
        with open(keys, "w") as f:
            f.write("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
        subprocess.run(["editcap", "--inject-secrets", f"tls,{keys}",
                        os.path.join(tmp, "editcap_pcapng.pcapng"),
                        os.path.join(tmp, "editcap_secrets.pcapng")], check=True)
        # three link types in one pcapng: Ethernet, raw IP, Linux cooked
        raw = os.path.join(tmp, "rawip.pcap")
        subprocess.run(["editcap", "-r", "-F", "pcap", "-T", "rawip", "-C", "14", src, raw, "1-6"], check=True)
        subprocess.run(["mergecap", "-w", os.path.join(tmp, "mergecap_three_links.pcapng"),
                        src, raw, os.path.join(tmp, "dumpcap_two_links.pcapng")], check=True)
        os.remove(keys)
        for name in sorted(os.listdir(tmp)):
            if name.startswith("editcap_rawip") or name.endswith(".txt"):
                continue
            shutil.copy(os.path.join(tmp, name), os.path.join(out, name))
            print(name, os.path.getsize(os.path.join(out, name)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
