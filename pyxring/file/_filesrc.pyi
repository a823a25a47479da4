from typing import Any, BinaryIO, Dict, List, Optional, Tuple, Union
import os

from pyxring._core import Source
from pyxring.file.blocks import Interface

DEFAULT_BATCH_PACKETS: int
DEFAULT_BATCH_BYTES: int
DEFAULT_BUFFER_SIZE: int

class FileSource(Source):
    format: str                                  # "pcap" or "pcapng"
    interfaces: List[Interface]
    interface_stats: Dict[int, Dict[str, int]]
    shb_options: Dict[int, bytes]
    pcap_header: Optional[Tuple[int, int, int, int]]
    nanosecond: bool
    sections: int
    bytes_read: int
    records: int
    keep_blocks: bool
    def __init__(self, source: Union[str, bytes, os.PathLike, BinaryIO], *,
                 batch_packets: int = ..., batch_bytes: int = ..., buffer_size: int = ...,
                 keep_blocks: bool = ...) -> None: ...
    def take_blocks(self) -> List[Tuple[int, bytes]]: ...
    def stats(self) -> Dict[str, Any]: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
