"""tcpdump expressions evaluated in the kernel for the AF_XDP backend.

``cbpf``       classic BPF: disassembler and a reference interpreter (libpcap's rules)
``ebpf``       a small eBPF assembler
``translate``  classic BPF (what pcap_compile emits) to an XDP eBPF program
``syscall``    bpf(2) through ctypes: load, maps, BPF_PROG_TEST_RUN
``xdp_filter`` ``load_filter(expression, xsks_map_fd=..., counters_fd=...)``
"""
from .errors import FilterLoadError, FilterUnsupported

__all__ = ["FilterUnsupported", "FilterLoadError"]
