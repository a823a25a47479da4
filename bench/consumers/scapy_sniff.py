"""scapy's sniff(), the way its documentation shows it, counting packets.

    python -m bench.consumers.scapy_sniff IFACE
"""
import sys

from bench.consumers import ready, result, stop_on_term


def main(iface):
    stop_on_term()
    from scapy.all import conf, sniff
    conf.verb = 0
    count = [0]

    def on_packet(pkt):
        count[0] += 1

    try:
        sniff(iface=iface, prn=on_packet, store=False, started_callback=ready)
    except KeyboardInterrupt:
        pass
    result(captured=count[0])


if __name__ == "__main__":
    main(sys.argv[1])
