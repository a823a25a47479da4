"""pyxring's Python API, one packet at a time, copying each packet's bytes
(what a per-packet analysis loop in Python does at the least).

    python -m bench.consumers.pyx_loop IFACE BACKEND
"""
import sys

from bench.consumers import ready, result, stop_on_term


def main(iface, backend):
    from pyxring import backends
    stop_on_term()
    src = backends.open_capture(iface, backend=backend)
    captured = nbytes = 0
    try:
        ready()
        for pkt in src:
            nbytes += len(pkt.copy())
            captured += 1
    except KeyboardInterrupt:
        pass
    st = src.stats()
    src.close()
    result(captured=captured, received=st.get("received", ""), dropped=st.get("dropped", ""),
           bytes=nbytes)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
