"""Capture files as a packet source: pcap and pcapng, walked in C.

    from pyxring.file import open_file
    with open_file("capture.pcapng") as src:
        for pkt in src:                    # zero-copy views into the file
            pkt.data, pkt.ts_ns, pkt.linktype, pkt.ifindex
        for batch in src.batches():        # or a batch at a time
            writer.write_batch(batch)

A regular file is mapped once and read in place; standard input (``"-"``),
pipes and any readable binary file object are read through a buffer.  The
format is found from the first bytes: classic pcap in either byte order
(microsecond, nanosecond and Kuznetsov magics, versions 2.0-2.4 and 543.0,
FCS bits in the link-type field), or pcapng with any number of sections
(each in its own byte order) and interfaces of different link types,
``if_tsresol`` any power of 10 or 2, ``if_tsoffset``, enhanced, simple and
obsolete packet blocks and statistics blocks; other blocks are skipped.

``src.interfaces`` lists the file's interfaces (numbered across the whole
file, as ``pkt.ifindex`` and ``interface_stats`` number them);
``src.linktype`` and ``src.snaplen`` are the first interface's, as
tcpdump reports them.  A damaged file delivers every good record first,
then raises ``CaptureFileError`` naming the file, the byte offset and what
was wrong.
"""
from pyxring.file._filesrc import (DEFAULT_BATCH_BYTES, DEFAULT_BATCH_PACKETS,
                                   DEFAULT_BUFFER_SIZE, FileSource)
from pyxring.file.blocks import Interface

__all__ = ["open_file", "FileSource", "Interface"]


def open_file(source, *, batch_packets=DEFAULT_BATCH_PACKETS, batch_bytes=DEFAULT_BATCH_BYTES,
              buffer_size=DEFAULT_BUFFER_SIZE, keep_blocks=False):
    """Open a pcap/pcapng file as a packet source: a path, ``"-"`` for
    standard input, or a readable binary file object.  Batches hold up to
    ``batch_packets`` records or about ``batch_bytes`` bytes; streams (not
    regular files) are read ``buffer_size`` bytes at a time.  With
    ``keep_blocks``, every block that is not a packet (and a pcap file's
    header) is kept as it is, for ``src.take_blocks()``."""
    return FileSource(source, batch_packets=batch_packets, batch_bytes=batch_bytes,
                      buffer_size=buffer_size, keep_blocks=keep_blocks)
