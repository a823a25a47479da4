"""Opening capture files for writing: ``open_writer`` (kept for existing
callers; the writer lives in ``pyxring.writer``)."""
from pyxring.writer import FORMATS, Writer, open_writer

__all__ = ["open_writer", "Writer", "FORMATS"]
