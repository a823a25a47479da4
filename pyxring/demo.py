"""``pyxring demo``: a capture of a known traffic mix, end to end.

Two throwaway network namespaces joined by a veth link; from one side we
send UDP datagrams, a TCP conversation, pings and a VLAN-tagged UDP stream;
on the other side pyxring captures everything into a pcapng file, prints a
line per packet and the statistics, then reads the file back to check it.
The namespaces are removed at the end, also on error or Ctrl-C.
"""
import os
import socket
import sys
import threading
import time

from pyxring.errors import PermissionDenied

UDP_PORT = 40001
TCP_PORT = 8080
N_UDP = 10
N_VLAN = 5
N_PING = 3
VLAN_ID = 100


def run_demo(args):
    from pyxring import capture, open_writer
    from pyxring.netlab import VethPair
    from pyxring.printer import Printer

    if os.geteuid() != 0:
        raise PermissionDenied("the demo creates network namespaces: run it as root")
    out = sys.stdout
    with VethPair(prefix="pxdemo") as lab:
        out.write(f"demo: namespaces {lab.ns_a} ({lab.if_a} {lab.ip_a}) <-> "
                  f"{lab.ns_b} ({lab.if_b} {lab.ip_b})\n")
        with lab.enter_b():
            cap = capture(lab.if_b, backend=args.backend, direction="inout")
        with cap:
            out.write(f"demo: capturing on {lab.if_b} with the {args.backend} backend\n")
            sent = _send_traffic(lab)
            out.write(f"demo: sent {sent['udp']} UDP datagrams, a TCP conversation "
                      f"({sent['tcp_bytes']} bytes), {sent['ping']} pings, {sent['vlan']} frames "
                      f"on VLAN {VLAN_ID}\n\n")
            printer = Printer(out)
            with open_writer(args.write, "pcapng", ifname=lab.if_b, snaplen=cap.snaplen,
                             ifdescription="pyxring demo") as w:
                idle_since = time.monotonic()
                deadline = idle_since + 5.0
                while time.monotonic() < deadline and time.monotonic() - idle_since < 0.5:
                    with cap.batch(100) as batch:
                        if len(batch):
                            idle_since = time.monotonic()
                        w.write_batch(batch)
                        printer.print_batch(batch)
                st = cap.stats()
                w.write_stats(received=st["received"], dropped=st["dropped"],
                              delivered=cap.delivered)
            captured = cap.delivered
        out.write(f"\n{captured} packets captured\n{st['received']} packets received by filter\n"
                  f"{st['dropped']} packets dropped by kernel\n")
        in_file, vlan_udp = _count_file(args.write)
        out.write(f"\ndemo: {args.write} holds {in_file} packets "
                  f"({vlan_udp} tagged VLAN {VLAN_ID}); open it with "
                  f"`tshark -r {args.write}` or Wireshark\n")
        ok = in_file == captured and vlan_udp == N_VLAN and captured >= N_UDP + N_VLAN + 2 * N_PING
        out.write("demo: OK\n" if ok else "demo: MISMATCH (see the counts above)\n")
        return 0 if ok else 1


def _count_file(path):
    """Packets in the file, and how many of them carry the demo's VLAN tag."""
    from pyxring import open_reader
    total = tagged = 0
    with open_reader(path) as r:
        for rec in r:
            d = rec.data
            total += 1
            if len(d) >= 16 and d[12:14] == b"\x81\x00" and (d[14] << 8 | d[15]) & 0xFFF == VLAN_ID:
                tagged += 1
    return total, tagged


def _send_traffic(lab):
    sent = {}
    # UDP: a listener on side b, datagrams from side a
    with lab.enter_b():
        udp_rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp_srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with lab.enter_a():
        udp_tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp_cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp_rx.bind((lab.ip_b, UDP_PORT))
        for i in range(N_UDP):
            udp_tx.sendto(f"pyxring demo datagram {i}".encode(), (lab.ip_b, UDP_PORT))
        sent["udp"] = N_UDP

        # TCP: a tiny echo server on side b
        tcp_srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp_srv.bind((lab.ip_b, TCP_PORT))
        tcp_srv.listen(1)
        tcp_srv.settimeout(5)

        def serve():
            try:
                conn, _ = tcp_srv.accept()
                with conn:
                    conn.settimeout(5)
                    while True:
                        data = conn.recv(4096)
                        if not data:
                            break
                        conn.sendall(data)
            except OSError:
                pass
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        tcp_cli.settimeout(5)
        tcp_cli.connect((lab.ip_b, TCP_PORT))
        total = 0
        for i in range(3):
            msg = f"hello pyxring {i}\n".encode()
            tcp_cli.sendall(msg)
            total += len(tcp_cli.recv(4096))
        tcp_cli.shutdown(socket.SHUT_WR)
        tcp_cli.recv(4096)
        t.join(5)
        sent["tcp_bytes"] = total
    finally:
        for s in (udp_rx, udp_tx, tcp_srv, tcp_cli):
            s.close()
    # ICMP echo
    lab.run_a(["ping", "-c", str(N_PING), "-i", "0.2", "-W", "2", lab.ip_b], timeout=10)
    sent["ping"] = N_PING
    # a VLAN-tagged stream (the kernel strips the tag; pyxring puts it back)
    lab.send_frames(lab.udp_frames(N_VLAN, size=80, dport=UDP_PORT, vlan=VLAN_ID))
    sent["vlan"] = N_VLAN
    return sent
