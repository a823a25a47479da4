"""Fuzz target for the file reader (pcap and pcapng), driven by atheris
(libFuzzer's mutator) from the committed seeds:

    .venv/bin/python tests/fuzz/fuzz_reader.py -seed=1 -max_total_time=60 \\
        WORKDIR tests/corpus tests/fuzz/seeds

Each input is read twice, mapped (a memfd, opened by path) and streamed (a
BytesIO through a small buffer), every packet's fields are touched and a
filter runs over every batch.  Both reads must deliver the same packets;
anything but a ``PyxringError`` (or a ``FilterError`` for a fuzzed link
type) escapes and is a finding, as are crashes, hangs (-timeout) and memory
blow-ups (-rss_limit_mb), which libFuzzer reports itself.
"""
import io
import os
import sys

import atheris

with atheris.instrument_imports():
    from pyxring.errors import PyxringError
    from pyxring.file import open_file
    from pyxring.file import blocks  # noqa: F401  (instrumented: the Python half of the reader)
    from pyxring._libpcap import BatchFilter, FilterError

MEMFD = os.memfd_create("pyxring-fuzz")
FILTER = BatchFilter("udp or len > 100")


def read_all(source, **kw):
    got = []
    stats = None
    try:
        with open_file(source, **kw) as src:
            for batch in src.batches():
                for pkt in batch:
                    pkt.data.tobytes()
                    got.append((pkt.ts_parts, pkt.caplen, pkt.wirelen, pkt.ifindex, pkt.linktype,
                                pkt.copy()))
                try:
                    FILTER.apply(batch)
                except FilterError:
                    pass
            stats = dict(src.interface_stats)
            [(i.linktype, i.units_per_second) for i in src.interfaces]
    except PyxringError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, msg
        return got, "error", stats
    return got, "ok", stats


def TestOneInput(data):
    os.ftruncate(MEMFD, 0)
    os.pwrite(MEMFD, data, 0)
    mapped = read_all(f"/proc/self/fd/{MEMFD}")
    streamed = read_all(io.BytesIO(data), buffer_size=64, batch_packets=5)
    # the same bytes give the same packets whichever way they are read
    assert mapped[0] == streamed[0], (len(mapped[0]), len(streamed[0]))
    assert mapped[1] == streamed[1]


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
