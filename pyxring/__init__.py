"""pyxring: fast packet capture for Python.

    with pyxring.capture("veth0", filter="udp") as cap:
        for pkt in cap:
            ...

Backends (AF_PACKET TPACKET_V3, AF_XDP, the myring device) are loaded only
when used, so ``import pyxring`` stays cheap.
"""
__version__ = "0.1.0"

__all__ = ["capture", "open_writer", "open_reader", "PyxringError", "Capture"]


def __getattr__(name):
    if name in ("capture", "Capture"):
        from pyxring import capture as _capture_mod
        return getattr(_capture_mod, {"capture": "open_capture"}.get(name, name))
    if name == "open_writer":
        from pyxring.writers import open_writer
        return open_writer
    if name == "open_reader":
        from pyxring.reader import open_reader
        return open_reader
    if name == "PyxringError":
        from pyxring.errors import PyxringError
        return PyxringError
    raise AttributeError(f"module 'pyxring' has no attribute {name!r}")
