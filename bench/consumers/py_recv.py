"""The plain-Python baseline: an AF_PACKET socket and a recv_into() loop.

    python -m bench.consumers.py_recv IFACE
"""
import socket
import struct
import sys

from bench.consumers import ready, result, stop_on_term

ETH_P_ALL = 3
SOL_PACKET = 263
PACKET_STATISTICS = 6


def main(iface):
    stop_on_term()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((iface, 0))
    s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)   # reading resets: start at zero
    buf = bytearray(65536)
    recv_into = s.recv_into
    captured = nbytes = 0
    try:
        ready()
        while True:
            nbytes += recv_into(buf)
            captured += 1
    except KeyboardInterrupt:
        pass
    received, dropped = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    s.close()
    result(captured=captured, received=received, dropped=dropped, bytes=nbytes)


if __name__ == "__main__":
    main(sys.argv[1])
