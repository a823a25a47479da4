from typing import Iterator, Tuple

from pyxring.file._filesrc import FileSource

class Record:
    data: bytes
    ts_ns: int
    ts_parts: Tuple[int, int]
    caplen: int
    wirelen: int
    interface_id: int
    ifindex: int
    linktype: int
    flags: int                       # pcapng epb_flags
    timestamp: float
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...

class RecordIter(Iterator[Record]):
    def __init__(self, source: FileSource) -> None: ...
    def __next__(self) -> Record: ...
    def close(self) -> None: ...
