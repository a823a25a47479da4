"""pyxring's batch API with every batch decoded into columns (what a numpy
analysis of live traffic does at the least): ``pyx_batch`` plus
``batch.columns(FIELDS)``.

    python -m bench.consumers.pyx_columns IFACE BACKEND [all|talkers]
"""
import sys

from bench.consumers import ready, result, stop_on_term

FIELD_SETS = {"all": None, "talkers": ["src4", "dst4", "proto", "sport", "dport", "wirelen"]}


def main(iface, backend, which="all"):
    import numpy as np
    import pyxring.columns       # numpy and the decoder loaded before the traffic
    from pyxring import backends
    fields = FIELD_SETS[which]
    assert fields is None or set(fields) <= set(pyxring.columns.FIELDS)
    stop_on_term()
    src = backends.open_capture(iface, backend=backend)
    captured = nbytes = valid = 0
    try:
        ready()
        for batch in src.batches():
            cols = batch.columns(fields)
            captured += len(batch)
            nbytes += batch.bytes
            valid += int(np.count_nonzero(cols["valid"]))
    except KeyboardInterrupt:
        pass
    st = src.stats()
    src.close()
    result(captured=captured, received=st.get("received", ""), dropped=st.get("dropped", ""),
           bytes=nbytes, decoded=valid)


if __name__ == "__main__":
    main(*sys.argv[1:4])
