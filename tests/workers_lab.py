"""Helpers for the worker tests: numbered frames, senders pinned to a TX
queue, and handlers importable by any start method."""
import contextlib
import os
import socket
import struct

from pyxring.netlab import ipv4_udp_frame

SEQ_MAGIC = b"PXWK"


def numbered_frames(lab, first, n, *, sport=40000, dport=9999, src_ip=None, dst_ip=None,
                    src="a"):
    """UDP frames whose payload is SEQ_MAGIC + a 64-bit sequence number
    (first .. first+n-1)."""
    if src == "a":
        smac, dmac, sip, dip = lab.mac_a, lab.mac_b, lab.ip_a, lab.ip_b
    else:
        smac, dmac, sip, dip = lab.mac_b, lab.mac_a, lab.ip_b, lab.ip_a
    sip, dip = src_ip or sip, dst_ip or dip
    return [ipv4_udp_frame(smac, dmac, sip, dip, sport, dport,
                           SEQ_MAGIC + struct.pack("!Q", first + i) + bytes(10), ident=first + i)
            for i in range(n)]


def seq_of(data):
    """The sequence number of a numbered frame, else None."""
    if len(data) < 54 or data[12:14] != b"\x08\x00" or data[23] != 17:
        return None
    ihl = (data[14] & 0x0F) * 4
    off = 14 + ihl + 8
    if bytes(data[off:off + 4]) != SEQ_MAGIC:
        return None
    return struct.unpack_from("!Q", data, off + 4)[0]


def collect_seqs(batch, seen):
    """A handler (with init=list): the sequence numbers of the batch."""
    for pkt in batch:
        s = seq_of(pkt.data)
        if s is not None:
            seen.append(s)


def collect_flows(batch, seen):
    """A handler (with init=list): (addresses, ports, protocol, queue) of IPv4 TCP/UDP."""
    for pkt in batch:
        d = bytes(pkt.data)
        if len(d) < 38 or d[12:14] != b"\x08\x00" or d[23] not in (6, 17):
            continue
        ihl = (d[14] & 0x0F) * 4
        sp, dp = struct.unpack_from("!HH", d, 14 + ihl)
        seen.append((d[26:30], d[30:34], sp, dp, d[23], pkt.queue, seq_of(d)))


def count_packets(pkt, n):
    """A per-packet handler (with init=int)."""
    return n + 1


def set_xps(lab, side="a"):
    """TX queue q of the side's veth end for CPU q (the queue a pinned
    sender's frames take, and on veth the peer's RX queue)."""
    ifname = lab.if_a if side == "a" else lab.if_b
    for q in (0, 1):
        lab.run(side, ["sh", "-c", f"echo {1 << q:x} > /sys/class/net/{ifname}/queues/tx-{q}/xps_cpus"])


def send_on_cpu(lab, frames, cpu, side="a"):
    """Send ``frames`` from this thread pinned to ``cpu`` (so XPS picks TX queue ``cpu``)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return lab.send_frames(frames, side=side)
    finally:
        os.sched_setaffinity(0, old)


def fanout_socket(lab, group, mode):
    """A plain AF_PACKET socket in fanout group ``group`` of side b (someone else's group)."""
    with lab.enter_b():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((lab.if_b, 3))
    s.setsockopt(263, 18, group | (mode << 16))
    return s


@contextlib.contextmanager
def two_queue_lab(prefix):
    """A veth pair with two RX/TX queues a side, XPS mapping CPU q to a's TX queue q."""
    from conftest import require_root
    from pyxring.netlab import VethPair
    require_root()
    with VethPair(prefix=prefix, queues=2) as pair:
        set_xps(pair, "a")
        yield pair


def send_per_queue(lab, per_queue):
    """``per_queue`` numbered frames on each of a's TX queues (b's RX queues):
    queue q carries numbers q*per_queue .. (q+1)*per_queue-1."""
    for q in (0, 1):
        send_on_cpu(lab, numbered_frames(lab, q * per_queue, per_queue, sport=1 + q), q)


def collect_lengths(batch, seen):
    """A handler (with init=list): the frames' lengths on the wire."""
    seen.extend(pkt.wirelen for pkt in batch)
