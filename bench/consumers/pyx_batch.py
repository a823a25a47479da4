"""pyxring's batch API: whole batches, no per-packet Python objects (the
per-batch work is counting packets and captured bytes).

    python -m bench.consumers.pyx_batch IFACE BACKEND
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
        for batch in src.batches():
            captured += len(batch)
            nbytes += batch.bytes
    except KeyboardInterrupt:
        pass
    st = src.stats()
    src.close()
    result(captured=captured, received=st.get("received", ""), dropped=st.get("dropped", ""),
           bytes=nbytes)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
