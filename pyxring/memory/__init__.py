"""Frames already in memory as a packet source.

    src = pyxring.memory.open(frames, linktype=1)
    for batch in src.batches():
        cols = batch.columns()

Everything a live batch can do (iterate, write, decode into columns), a batch
of these frames can do; useful for frames made or reassembled in Python, and
for measuring the batch consumers without a network.
"""
from pyxring.memory._frames import FrameSource

__all__ = ["open", "FrameSource"]


def open(frames, *, linktype=1, ts_ns=None, wirelen=None, ifindex=0, queue=0,
         batch_size=4096, interface_linktypes=None, name="memory", guard_pages=False):
    """A source yielding ``frames`` (bytes-like, copied once) in batches of
    ``batch_size``.  ``ts_ns``, ``wirelen``, ``ifindex``, ``queue``: one value
    for all frames or one per frame (``wirelen`` defaults to each frame's
    length, ``ts_ns`` to 0, 1000, 2000, ... ns).  ``interface_linktypes``
    gives a link type per interface number for frames of several link types
    (then ``ifindex`` says which applies).  ``guard_pages``: each frame
    ends at a page followed by a no-access page, so reading past it
    crashes (for testing code that walks frames)."""
    return FrameSource(frames, linktype=linktype, ts_ns=ts_ns, wirelen=wirelen,
                       ifindex=ifindex, queue=queue, batch_size=batch_size,
                       interface_linktypes=interface_linktypes, name=name,
                       guard_pages=guard_pages)
