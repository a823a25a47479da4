"""pyxring's batch API under asyncio: ``async for batch in cap.abatches()``
(counting packets and bytes, as pyx_batch does with the blocking API).

    python -m bench.consumers.pyx_async IFACE BACKEND
"""
import asyncio
import sys

from bench.consumers import ready, result, stop_on_term


def main(iface, backend):
    from pyxring import backends
    stop_on_term()
    src = backends.open_capture(iface, backend=backend)
    counts = {"captured": 0, "bytes": 0}

    async def consume():
        ready()
        async for batch in src.abatches():
            counts["captured"] += len(batch)
            counts["bytes"] += batch.bytes

    try:
        asyncio.run(consume())
    except KeyboardInterrupt:
        pass
    st = src.stats()
    src.close()
    result(captured=counts["captured"], received=st.get("received", ""),
           dropped=st.get("dropped", ""), bytes=counts["bytes"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
