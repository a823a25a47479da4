"""Batches as Arrow record batches (pyarrow is optional: imported here only).

The schema (``pyxring.schema`` = ``pyxring.columns/1`` in its metadata) is
meant to carry a capture losslessly, so that a file can go pcapng -> Arrow
-> pcapng and come back the same:

- ``ts_ns``: timestamp[ns, UTC] (the descriptor's nanoseconds; Arrow's int64
  reaches the year 2262);
- ``ifindex`` uint32, ``caplen`` uint32, ``wirelen`` uint32 (the original
  length: a snapshot length shows as caplen < wirelen), ``queue`` uint16,
  ``linktype`` uint16 (the packet's), ``epb_flags`` uint32 (a pcapng
  record's flags word, 0 where there is none);
- the decoded header fields of :mod:`pyxring.columns` with Arrow types
  (``src6``/``dst6``: fixed_size_binary(16)), null where the packet lacks
  the field (the ``valid`` bits become Arrow's validity bitmaps);
- ``frame``: binary, the captured bytes of the frame.

The schema's metadata names the interfaces the ``ifindex`` column refers
to: ``pyxring.interfaces`` is a JSON list of ``{"ifindex", "name",
"linktype", "linktype_name", "snaplen", "timestamp_source"}``;
``pyxring.interface`` and ``pyxring.linktype`` repeat them for the usual
single-interface case.

A file's interfaces also carry their section, ``fcslen`` and the text
options of their description block (``filter``, ``os``, ``hardware``).
``pyxring convert`` adds what makes a table of a capture file exact (the
stored times, record headers and tails, the blocks between packets, the
file's head): see :mod:`pyxring.convert.table`.
"""
import json

import numpy as np

from pyxring.columns import VALID, _BY_NAME, decode
from pyxring.columns import _decode
from pyxring.errors import PyxringError

SCHEMA_ID = "pyxring.columns/1"

LINKTYPE_NAMES = {0: "NULL", 1: "EN10MB", 12: "RAW", 14: "RAW", 101: "RAW", 108: "LOOP",
                  113: "LINUX_SLL", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2"}

# descriptor fields first, then the decoded ones, then the frame
_FRONT = ("ts_ns", "ifindex", "caplen", "wirelen", "queue", "linktype", "epb_flags")


def pyarrow():
    """The pyarrow module, or one clear error saying how to get it."""
    try:
        import pyarrow as pa
    except ImportError:
        raise PyxringError("Arrow output needs pyarrow, which is not installed "
                           "(pip install pyarrow)") from None
    return pa


def _arrow_type(pa, name):
    if name == "ts_ns":
        return pa.timestamp("ns", tz="UTC")
    code = _BY_NAME[name][2]
    if code == "16u1":
        return pa.binary(16)
    return pa.from_numpy_dtype(np.dtype(code))


# interface description block options given by name in the metadata
_IDB_TEXT_OPTIONS = {11: "filter", 12: "os", 15: "hardware"}


def interface_entry(i, itf):
    """The metadata entry of a capture file's interface ``itf``
    (``pyxring.file.Interface``) numbered ``i``."""
    entry = {"ifindex": i, "name": itf.name, "description": itf.description,
             "linktype": itf.linktype, "linktype_name": LINKTYPE_NAMES.get(itf.linktype),
             "snaplen": itf.snaplen, "tsresol": itf.tsresol, "tsoffset": itf.tsoffset,
             "section": itf.section}
    if itf.fcslen is not None:
        entry["fcslen"] = itf.fcslen
    for code, key in _IDB_TEXT_OPTIONS.items():
        values = itf.options.get(code)
        if values:
            raw = values[0][1:] if code == 11 else values[0]     # if_filter: a type byte first
            entry[key] = raw.rstrip(b"\0").decode("utf-8", "replace")
    return entry


def interfaces_of(source):
    """The interface table written to the schema's metadata: a file's
    interfaces (numbered as the packets' ``ifindex``), or the live one."""
    if getattr(source, "interfaces", None) and not isinstance(source.interfaces[0], dict):
        return [interface_entry(i, itf) for i, itf in enumerate(source.interfaces)]
    if getattr(source, "interfaces", None):
        return list(source.interfaces)
    linktype = getattr(source, "linktype", 1)
    return [{"ifindex": getattr(source, "ifindex", None), "name": getattr(source, "name", None),
             "linktype": linktype, "linktype_name": LINKTYPE_NAMES.get(linktype),
             "snaplen": getattr(source, "snaplen", None),
             "timestamp_source": getattr(source, "timestamp_source", None)}]


def schema_metadata(source):
    interfaces = interfaces_of(source)
    meta = {"pyxring.schema": SCHEMA_ID, "pyxring.interfaces": json.dumps(interfaces)}
    if len(interfaces) == 1:
        meta["pyxring.interface"] = str(interfaces[0].get("name") or "")
        meta["pyxring.linktype"] = str(interfaces[0]["linktype"])
    return meta


def arrow_field_names(fields=None):
    """The columns of a record batch for ``fields``: the descriptor fields
    always, then the decoded ones asked for (all by default)."""
    from pyxring.columns import _fields_key, _plan
    decoded = [n for n in _plan(_fields_key(fields)).names if n not in _FRONT and n != "valid"]
    return list(_FRONT) + decoded


def batch_to_arrow(batch, fields=None):
    """``batch`` as a ``pyarrow.RecordBatch``: ``fields`` (default all) as
    columns with nulls where a packet lacks the field, then ``frame``.  The
    descriptor fields (``ts_ns ifindex caplen wirelen queue linktype
    epb_flags``) are always included, so the record batch alone can be
    written back as a capture."""
    pa = pyarrow()
    names = arrow_field_names(fields)
    cols = decode(batch, names)
    n = len(batch)
    valid = cols["valid"]
    arrays, schema_fields = [], []
    for name in names:
        typ = _arrow_type(pa, name)
        values = cols[name]
        if name == "ts_ns":
            values = values.view(np.int64)
        bit = VALID.get(name)
        validity, nulls = None, 0
        if bit is not None:
            present = (valid & np.uint32(bit)) != 0
            nulls = n - int(np.count_nonzero(present))
            if nulls:
                validity = pa.py_buffer(np.packbits(present, bitorder="little"))
        arrays.append(pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(values)],
                                            null_count=nulls))
        schema_fields.append(pa.field(name, typ, nullable=bit is not None))
    arrays.append(_frames(pa, batch))
    schema_fields.append(pa.field("frame", pa.binary(), nullable=False))
    schema = pa.schema(schema_fields, metadata=schema_metadata(batch.source))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _frames(pa, batch):
    n = len(batch)
    offsets = np.empty(n + 1, dtype=np.int32)
    data = np.empty(batch.bytes, dtype=np.uint8)
    _decode.frames_into(batch, offsets, data)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
