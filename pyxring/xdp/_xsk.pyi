from typing import Any, Callable, Iterable, Optional

from pyxring._core import Source

class XskSource(Source):
    """AF_XDP sockets over one UMEM (see pyxring.xdp.open)."""
    nqueues: int
    ifindex: int
    umem_size: int
    frame_size: int
    frame_count: int
    headroom: int
    rx_frames: int
    tx_frames: int
    rx_ring_size: int
    fill_ring_size: int
    tx_ring_size: int
    batch_size: int
    hugepages: bool
    bind_mode: str
    need_wakeup: bool
    multi_buffer: bool
    queue_ids: list[int]
    program: Any
    restore: Optional[Callable[[], None]]
    promisc_sock: Any
    def __init__(self, ifname: str, ifindex: int, queues: Iterable[int], *, snaplen: int = ...,
                 frame_size: int = ..., frame_count: int = ..., headroom: int = ...,
                 rx_ring_size: int = ..., tx_ring_size: int = ..., tx_frames: int = ...,
                 bind_mode: str = ..., need_wakeup: bool = ..., multi_buffer: bool = ...,
                 rx: bool = ..., batch_size: int = ...) -> None: ...
    def xsk_fds(self) -> list[tuple[int, int]]: ...
    def send(self, frames: Iterable[bytes], timeout_ms: int = ...) -> int: ...
    def flush(self, timeout_ms: int = ...) -> int: ...
    def xdp_statistics(self) -> dict[str, int]: ...
    def stats(self) -> dict[str, int]: ...
    def info(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
