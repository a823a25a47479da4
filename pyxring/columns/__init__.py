"""Packets as columns: header fields of a whole batch decoded in C into numpy.

    with pyxring.capture("eth0") as cap:
        for batch in cap.batches():
            cols = batch.columns(["src4", "dst4", "proto", "wirelen"])
            ok = pyxring.columns.mask(cols, "src4", "dst4")
            ...

``decode(batch, fields=None)`` (also ``batch.columns(fields)``) returns a dict
of numpy arrays, one row per packet of the batch, in the batch's order; with
``structured=True`` one numpy structured array instead.  The decoding runs
in C without the GIL, parses each frame only as deep as the requested fields
need, and allocates only the requested columns.  The arrays are copies: they
stay valid after the batch is released.

The ``valid`` column (always returned) has one bit per decoded field
(``VALID[name]``) saying whether the packet really has that field: a field a
packet lacks (truncated, a later fragment, not IP, another protocol) reads 0
and its bit is clear, so a zero is never ambiguous.  The descriptor fields
``ts_ns caplen wirelen ifindex queue linktype epb_flags`` are always there
and have no bit.

Fields (numpy dtype):

==============  ======  ==============================================================
ts_ns           uint64  capture time, ns since the epoch (the descriptor's)
caplen wirelen  uint32  captured and original length
ifindex         uint32  interface (the kernel's ifindex; a file's interface number)
queue           uint16  RX queue (AF_XDP; 0 where the backend doesn't know it)
linktype        uint16  the packet's link type (LINKTYPE_*; a file's interface's)
epb_flags       uint32  a pcapng record's epb_flags (direction, ...), else 0
vlan_tci        uint16  outer 802.1Q/802.1ad tag's TCI (tags in the frame)
vlan_tci_inner  uint16  second (QinQ) tag's TCI
ethertype       uint16  EtherType of the network layer, after the tags (for raw-IP
                        link types, 0x0800 or 0x86DD from the version nibble)
ip_version      uint8   4 or 6
src4 dst4       uint32  IPv4 addresses as integers (10.0.0.1 = 0x0A000001)
src6 dst6       16 x u1 IPv6 addresses, network order (``.view("V16")`` to compare)
proto           uint8   upper-layer protocol: IPv4's protocol, or IPv6's last next
                        header after hop-by-hop, routing, fragment, destination
                        options and AH headers
ttl             uint8   TTL / hop limit
ip_id           uint32  IPv4 identification; IPv6: the fragment header's
frag            uint16  IPv4's flags and offset word (offset in 8-byte units in the
                        low 13 bits, 0x2000 more fragments, 0x4000 don't fragment);
                        IPv6: the fragment header's offset and M flag in the same bits
sport dport     uint16  TCP, UDP and SCTP ports (first fragment or unfragmented)
tcp_flags       uint16  the 9 flag bits (FIN 0x01 ... CWR 0x80, NS/AE 0x100)
tcp_seq tcp_ack uint32
tcp_win         uint16  window as sent (not scaled)
icmp_type       uint8   ICMP (IPv4) and ICMPv6 (IPv6) type and code
icmp_code       uint8
l4_offset       uint32  offset of the transport header in the frame (first fragment
                        or unfragmented, and within the captured bytes)
payload_len     uint32  transport payload length as the IP header counts it: IP
                        payload less the TCP (data offset), UDP (8), SCTP (12) or
                        ICMP (8) header; not for fragments
flow_hash       uint64  symmetric flow hash (below)
valid           uint32  bit mask of the fields present
==============  ======  ==============================================================

Link types: Ethernet, Linux cooked (SLL, SLL2), raw IP (101, 228, 229) and
BSD loopback (NULL, LOOP), each packet by its own (``pkt.linktype``: a
file's interfaces may differ); VLAN tags are walked in Ethernet and SLL.

``flow_hash`` is xxHash's XXH3-64 (seed 0) of the canonical 5-tuple: the two
endpoints (address, port), the lower one first, then the protocol and the IP
version, as bytes in network order:

    lo_addr lo_port hi_addr hi_port proto version   (14 bytes IPv4, 38 IPv6)

so it is the same in both directions and the same on every machine and run;
it is not keyed, so it is no defence against someone who crafts collisions.
Ports are used for TCP, UDP and SCTP when the packet is not a fragment:
every fragment of a datagram (the first too) hashes without ports, so all of
them agree (as Linux's flow hash does).  The hash is valid when the addresses,
the protocol and (where used) both ports were captured.
"""
import functools

import numpy as np

from pyxring.columns import _decode
from pyxring.errors import ConfigError

__all__ = ["decode", "to_arrow", "mask", "chunks", "read_columns", "FIELDS", "VALID",
           "DESCRIPTOR_FIELDS"]

_BY_NAME = {name: (cid, depth, dtype) for name, cid, depth, dtype in _decode.COLUMNS}
_N_COLS = len(_decode.COLUMNS)

#: every field, in the order columns are returned
FIELDS = tuple(name for name, *_ in _decode.COLUMNS if name != "valid")
#: the fields every descriptor carries (no valid bit: always there)
DESCRIPTOR_FIELDS = tuple(n for n in FIELDS if _BY_NAME[n][0] < _decode.FIRST_DECODED)
#: valid bit of each decoded field
VALID = {n: 1 << (_BY_NAME[n][0] - _decode.FIRST_DECODED)
         for n in FIELDS if n not in DESCRIPTOR_FIELDS}


@functools.lru_cache(maxsize=128)
def _plan(fields):
    if fields is None:
        names = FIELDS
    else:
        unknown = [f for f in fields if f not in _BY_NAME]
        if unknown:
            raise ConfigError(f"unknown column {unknown[0]!r} (columns: {' '.join(FIELDS)})")
        names = tuple(dict.fromkeys(f for f in fields if f != "valid"))
    return _decode.ColumnPlan(names + ("valid",))


def _fields_key(fields):
    if fields is None:
        return None
    if isinstance(fields, str):
        return tuple(fields.replace(",", " ").split())
    return tuple(fields)


def decode(batch, fields=None, *, structured=False):
    """Decode ``batch`` into columns: a dict ``{field: numpy array}`` (in
    the order asked for, :data:`FIELDS` order by default, then ``valid``),
    or with ``structured=True`` one numpy structured array of those fields.

    ``fields`` is None (all), a list of names or a string of names
    separated by spaces or commas.  Unknown names raise ConfigError.
    """
    return _decode.decode_new(batch, _plan(_fields_key(fields)), structured)


def chunks(batches, fields=None, rows=1 << 20):
    """Decode an iterable of batches (a file's, a capture's) into dicts of
    columns of ``rows`` rows each (the last one shorter), each batch decoded
    straight into the chunk's arrays and released by the caller's iterator
    as usual; the building block of reading a whole file as columns."""
    if rows < 1:
        raise ConfigError(f"chunk of {rows} rows: must be at least 1")
    plan = _plan(_fields_key(fields))
    chunk, filled, slots = None, 0, None

    def fresh():
        out = {}
        arrays = [None] * _N_COLS
        for name in plan.names:
            cid, _, code = _BY_NAME[name]
            out[name] = arrays[cid] = (np.empty((rows, 16), np.uint8) if code == "16u1"
                                       else np.empty(rows, np.dtype(code)))
        return out, arrays

    for batch in batches:
        n, done = len(batch), 0
        while done < n:
            if chunk is None:
                (chunk, slots), filled = fresh(), 0
            take = min(n - done, rows - filled)
            if done == 0 and take == n:
                _decode.decode_batch(batch, slots, plan.depth, plan.valid_mask, filled)
            else:
                # the batch straddles chunks: decode it whole, copy the part
                part = _decode.decode_new(batch, plan)
                for name in plan.names:
                    chunk[name][filled:filled + take] = part[name][done:done + take]
            filled += take
            done += take
            if filled == rows:
                yield chunk
                chunk = None
    if chunk is not None and filled:
        yield {k: v[:filled] for k, v in chunk.items()}


def read_columns(path, fields=None, filter=None, arrow=False, rows=1 << 20):
    """A whole capture file (pcap or pcapng, a path, ``"-"`` or a binary
    file object) as columns, chunk by chunk: yields dicts of numpy arrays of
    ``rows`` rows (the last one shorter), or with ``arrow=True`` one
    ``pyarrow.RecordBatch`` per batch the file source reads.  ``filter`` is
    a tcpdump expression, run over each batch by libpcap before decoding
    (each packet by its own interface's link type)."""
    from pyxring._libpcap import BatchFilter, compile_filter
    from pyxring.file import open_file
    if isinstance(filter, (list, tuple)):
        filter = " ".join(filter)
    with open_file(path) as src:
        flt = None
        if filter:
            compile_filter(filter, src.linktype)     # a bad expression fails before any read
            flt = BatchFilter(filter)

        def batches():
            for batch in src.batches():
                if flt is None or flt.apply(batch):
                    yield batch

        if arrow:
            for batch in batches():
                yield batch.to_arrow(fields)
        else:
            yield from chunks(batches(), fields, rows)


def mask(columns, *fields):
    """Boolean array: the rows of ``columns`` (a decode result) that have
    every one of ``fields``."""
    bits = 0
    for f in fields:
        if f not in VALID:
            if f in DESCRIPTOR_FIELDS:
                continue
            raise ConfigError(f"unknown decoded field {f!r}")
        bits |= VALID[f]
    valid = columns["valid"]
    return (valid & np.uint32(bits)) == np.uint32(bits)


def to_arrow(batch, fields=None):
    """The batch as a ``pyarrow.RecordBatch``: the decoded columns (a null
    where the packet lacks the field) and the raw frames; see
    :mod:`pyxring.columns.arrow`."""
    from pyxring.columns.arrow import batch_to_arrow
    return batch_to_arrow(batch, fields)
