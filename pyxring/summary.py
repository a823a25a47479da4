"""The older names of :mod:`pyxring.printer`, kept for scripts that use them.

    summarize(frame)          -> 'IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 12'
    Summarizer()(frame)       -> the same with tcpdump's relative TCP numbers
    format_ts(ts_ns)          -> '14:03:07.123456'

The text is what ``tcpdump -nn`` prints after the timestamp (hex dump lines
included, for frames it dumps); new code should use ``pyxring.printer.Printer``.
"""
from pyxring.printer import Printer, format_ts

__all__ = ["summarize", "Summarizer", "format_ts"]

LINKTYPE_ETHERNET = 1


def summarize(data, linktype=LINKTYPE_ETHERNET, wirelen=None, link=False):
    """One frame as tcpdump -nn -S prints it (absolute TCP sequence numbers:
    a lone frame has no conversation to be relative to); ``link`` is -e."""
    return Printer(link=int(link), absolute_seq=True, timestamps=1).format_packet(
        data, linktype, wirelen)


class Summarizer:
    """``summarize`` with tcpdump's per-conversation relative TCP sequence
    numbers; one per stream of packets (a file, a capture)."""

    def __init__(self, link=False):
        self._printer = Printer(link=int(link), timestamps=1)

    def __call__(self, data, linktype=LINKTYPE_ETHERNET, wirelen=None):
        return self._printer.format_packet(data, linktype, wirelen)
