"""Batches as Arrow record batches: every value and null against the numpy
columns, frames and nanosecond timestamps exact, the schema's metadata, an
Arrow IPC file and Parquet that read back the same, and one clear error
when pyarrow is missing."""
import json
import subprocess
import sys

import numpy as np
import pytest

import pyxring
import pyxring.columns as columns
import pyxring.memory
from conftest import ROOT
from test_columns import corpus

pa = pytest.importorskip("pyarrow")


def corpus_batch(n=4000):
    frames = corpus("ether")[:n]
    src = pyxring.memory.open([d for _, d, _ in frames], wirelen=[w for _, _, w in frames],
                              ts_ns=[1_700_000_000_123_456_789 + 7 * i for i in range(len(frames))],
                              ifindex=3, batch_size=len(frames), name="veth-test")
    return frames, src.batch()


def test_values_nulls_and_frames_match_the_columns():
    frames, b = corpus_batch()
    with b:
        cols = b.columns()
        rb = b.to_arrow()
    assert rb.num_rows == len(frames)
    assert rb.schema.names == ["ts_ns", "ifindex", "caplen", "wirelen", "queue", "linktype",
                               "epb_flags"] + \
        [f for f in columns.FIELDS if f not in columns.DESCRIPTOR_FIELDS] + ["frame"]
    for name in columns.FIELDS:
        arr = rb.column(name)
        if name in columns.DESCRIPTOR_FIELDS:
            assert arr.null_count == 0
            want = cols[name].view(np.int64) if name == "ts_ns" else cols[name]
            assert np.array_equal(arr.cast(pa.int64()).to_numpy() if name == "ts_ns"
                                  else arr.to_numpy(), want)
            continue
        present = columns.mask(cols, name)
        assert np.array_equal(~np.asarray(arr.is_null()), present), name
        values = arr.to_pylist()
        for i in np.flatnonzero(present)[:2000]:
            v = cols[name][i]
            assert values[i] == (bytes(v) if v.ndim else int(v)), (name, i)
    assert rb.column("frame").to_pylist() == [d for _, d, _ in frames]
    ts = rb.column("ts_ns")
    assert ts.type == pa.timestamp("ns", tz="UTC")
    assert ts.cast(pa.int64()).to_pylist()[:3] == [1_700_000_000_123_456_789 + 7 * i
                                                   for i in range(3)]


def test_schema_metadata_names_interface_and_link_type():
    _, b = corpus_batch(10)
    with b:
        rb = b.to_arrow(["src4", "dport"])
    meta = {k.decode(): v.decode() for k, v in rb.schema.metadata.items()}
    assert meta["pyxring.schema"] == "pyxring.columns/1"
    assert meta["pyxring.interface"] == "veth-test" and meta["pyxring.linktype"] == "1"
    (iface,) = json.loads(meta["pyxring.interfaces"])
    assert iface["linktype_name"] == "EN10MB" and iface["name"] == "veth-test"
    assert rb.schema.names == ["ts_ns", "ifindex", "caplen", "wirelen", "queue", "linktype",
                               "epb_flags", "src4", "dport", "frame"]
    assert rb.schema.field("src4").nullable and not rb.schema.field("frame").nullable


def test_ipc_file_and_parquet_read_back_the_same(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    _, b = corpus_batch()
    with b:
        rb = b.to_arrow()
    path = tmp_path / "cap.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, rb.schema) as w:
        w.write_batch(rb)
    with pa.memory_map(str(path)) as f:
        back = pa.ipc.open_file(f).read_all()
    assert back.equals(pa.Table.from_batches([rb]), check_metadata=True)
    pq.write_table(pa.Table.from_batches([rb]), tmp_path / "cap.parquet", compression="zstd")
    table = pq.read_table(tmp_path / "cap.parquet")
    assert table.column("frame").to_pylist() == rb.column("frame").to_pylist()
    assert table.column("ts_ns").cast(pa.int64()).to_pylist() == \
        rb.column("ts_ns").cast(pa.int64()).to_pylist()
    assert table.column("src6").to_pylist() == rb.column("src6").to_pylist()


def test_empty_batch():
    src = pyxring.memory.open([b"\0" * 60])
    with src.batch() as b:
        b.truncate(0)
        rb = b.to_arrow()
        cols = b.columns()
    assert rb.num_rows == 0 and len(rb.schema.names) == len(columns.FIELDS) + 1
    assert all(len(v) == 0 for v in cols.values())


def test_missing_pyarrow_is_one_clear_error():
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "import pyxring.memory\n"
            "from pyxring.errors import PyxringError\n"
            "b = pyxring.memory.open([bytes(60)]).batch()\n"
            "b.columns()\n"
            "try:\n    b.to_arrow()\nexcept PyxringError as e:\n    print('ERR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("ERR Arrow output needs pyarrow, which is not installed "
                                "(pip install pyarrow)")


def test_a_pcapng_of_two_link_types_with_flags(tmp_path):
    """A file whose interfaces differ (Ethernet and raw IP) and whose
    records carry epb_flags: one batch, each packet decoded by its own link
    type, the flags and the interface table in the columns and the schema."""
    import capfiles as cf
    frame = cf.udp_frame(1)
    raw_ip = frame[14:]
    data = (cf.shb() + cf.idb(linktype=1, name=b"eth0") + cf.idb(linktype=101, name=b"tun0")
            + cf.epb("<", 0, 1_000_000, frame, flags=1) + cf.epb("<", 1, 2_000_000, raw_ip, flags=2))
    path = tmp_path / "two.pcapng"
    path.write_bytes(data)
    (rb,) = list(pyxring.read_columns(str(path), ["src4", "dport"], arrow=True))
    assert rb.column("linktype").to_pylist() == [1, 101]
    assert rb.column("epb_flags").to_pylist() == [1, 2]
    assert rb.column("ifindex").to_pylist() == [0, 1]
    assert rb.column("src4").to_pylist() == [0x0A090901] * 2
    assert rb.column("dport").to_pylist() == [2000, 2000]
    assert rb.column("frame").to_pylist() == [frame, raw_ip]
    ifaces = json.loads(rb.schema.metadata[b"pyxring.interfaces"])
    assert [(i["name"], i["linktype_name"]) for i in ifaces] == [("eth0", "EN10MB"), ("tun0", "RAW")]
