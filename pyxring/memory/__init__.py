"""Frames already in memory as a packet source.

    src = pyxring.memory.open(frames, linktype=1)
    for batch in src.batches():
        cols = batch.columns()

Everything a live batch can do (iterate, write, decode into columns), a batch
of these frames can do; useful for frames made or reassembled in Python, and
for measuring the batch consumers without a network.
"""
from pyxring.memory._frames import FrameSource

__all__ = ["open", "from_arrow", "FrameSource"]


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


def from_arrow(record_batches, *, order=None, interface_ids=None, interfaces=None,
               batch_size=8192, split_by_interface=False, name="arrow", linktype=1,
               validated=False):
    """A source over the frames of Arrow record batches in the
    ``pyxring.columns/1`` schema (``batch.to_arrow()``, a stream message,
    a Parquet file read back), without copying them: each descriptor points
    into a record batch's ``frame`` column.  ``order``: ``(parts, rows)``
    arrays choosing the packets and their order (default: every row of
    every record batch in turn); ``interface_ids``: one interface number
    per record batch for the packets' ``ifindex`` (default: the ``ifindex``
    column); ``split_by_interface``: no batch mixes two interfaces;
    ``interfaces``: the interface table (``pyxring.file.blocks.Interface``
    objects) a batch's ``to_arrow()`` names in its metadata; ``validated``:
    the caller has checked the record batches (``validate(full=True)``),
    which is otherwise done here.  Its batches write, filter, print and
    decode like a ring's."""
    from pyxring.memory._arrow import ArrowFrames
    if hasattr(record_batches, "num_rows"):
        record_batches = [record_batches]
    return ArrowFrames(record_batches, order=order, interface_ids=interface_ids,
                       interfaces=interfaces, batch_size=batch_size,
                       split_by_interface=split_by_interface, name=name, linktype=linktype,
                       validated=validated)
