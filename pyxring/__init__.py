"""pyxring: fast packet capture for Python.

    import pyxring
    with pyxring.capture("veth0", filter="udp") as cap:
        for pkt in cap:
            print(pkt.ts_ns, pkt.wirelen, bytes(pkt.data[:14]).hex())

Batches decode into numpy columns in C (``batch.columns()``, see
``pyxring.columns``), and every source works under asyncio
(``async for batch in cap.abatches()``, see ``pyxring.aio``).

Backends (AF_PACKET TPACKET_V3, AF_XDP, the myring device) are imported only
when used, so ``import pyxring`` stays cheap.
"""
__version__ = "0.1.0"

__all__ = ["capture", "open_writer", "open_reader", "read_columns", "PyxringError"]


def capture(iface, *, filter=None, snaplen=262144, promisc=True, direction="inout",
            backend="auto", **backend_options):
    """Open a capture on ``iface`` and return its source: iterate it per
    packet (``for pkt in cap``) or per batch (``for batch in cap.batches()``),
    read ``cap.stats()``, and close it (it is a context manager).

    ``filter`` is a tcpdump expression that runs in the kernel; ``backend``
    is ``"auto"``, ``"tpacket"``, ``"xdp"`` or ``"myring"``.
    """
    from pyxring.backends import open_capture
    return open_capture(iface, filter=filter, snaplen=snaplen, promisc=promisc,
                        direction=direction, backend=backend, **backend_options)


def open_writer(path, format="pcapng", **kwargs):
    """Open a pcap/pcapng file for writing (see ``pyxring.writers``)."""
    from pyxring.writers import open_writer as _open_writer
    return _open_writer(path, format, **kwargs)


def open_reader(path):
    """Open a pcap/pcapng file for reading (see ``pyxring.reader``)."""
    from pyxring.reader import open_reader as _open_reader
    return _open_reader(path)


def read_columns(path, fields=None, filter=None, arrow=False, rows=1 << 20):
    """A capture file's packets as columns, chunk by chunk (see
    ``pyxring.columns.read_columns``)."""
    from pyxring.columns import read_columns as _read_columns
    return _read_columns(path, fields, filter, arrow, rows)


def __getattr__(name):
    if name == "PyxringError":
        from pyxring.errors import PyxringError
        return PyxringError
    raise AttributeError(f"module 'pyxring' has no attribute {name!r}")
