"""Errors of the in-kernel filter path."""
from pyxring.errors import PyxringError


class FilterUnsupported(PyxringError):
    """A valid tcpdump expression the XDP translator can't evaluate; the
    message names the construct.  ``--backend auto`` falls back to
    TPACKET_V3 on it rather than capturing unfiltered traffic."""


class FilterLoadError(PyxringError):
    """The kernel refused the generated program; ``log`` is the verifier's log."""

    def __init__(self, msg, log=""):
        super().__init__(msg)
        self.log = log
