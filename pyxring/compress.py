"""Compressed capture files: gzip, zstd and lz4.

Writing: the writer compresses when the file name ends in ``.gz``, ``.zst``
or ``.lz4`` (``codec_for_name``).  Reading: ``open_decompressed`` looks at
the first bytes (not the name) and returns a file object that yields the
decompressed capture, or None when the data is not compressed; the readers
call it for every path they open, so ``pyxring read x.pcapng.zst`` works.
The codecs are zlib, libzstd and liblz4, linked into ``pyxring.writer._codec``.
"""
import io
import os

from pyxring.errors import CaptureFileError

__all__ = ["open_decompressed", "codec_for_name", "sniff", "EXTENSIONS"]

EXTENSIONS = {".gz": "gzip", ".zst": "zstd", ".lz4": "lz4"}
MAGICS = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"))
READ_CHUNK = 1 << 18


class CompressedFileError(CaptureFileError):
    """Compressed data that is corrupt or cut short (the message names the file)."""


def codec_for_name(name):
    """The codec a file name asks for by its extension, or None."""
    name = os.fsdecode(name).lower()
    for ext, codec in EXTENSIONS.items():
        if name.endswith(ext):
            return codec
    return None


def sniff(head):
    """The codec whose magic number ``head`` starts with, or None."""
    for magic, codec in MAGICS:
        if head.startswith(magic):
            return codec
    return None


class DecompressedFile(io.RawIOBase):
    """The decompressed bytes of a binary file object, read in order.

    A raw stream: ``readinto`` returns what it has decoded as soon as it has
    some, and raises ``CompressedFileError`` only when it has nothing to
    give, so a reader first gets every byte before a cut.  (Buffered, the
    error of a later raw read would swallow the bytes of an earlier one.)"""

    def __init__(self, raw, codec, name, owns=True):
        from pyxring.writer._codec import Decompressor
        super().__init__()
        self._raw = raw
        self._owns = owns
        self._dec = Decompressor(codec)
        self.codec = codec
        self.name = name

    def readable(self):
        return True

    def readinto(self, b):
        out = memoryview(b).cast("B")
        while True:
            try:
                n = self._dec.read_into(out)
            except ValueError as exc:
                raise CompressedFileError(f"{self.name}: {exc} (after {self._dec.bytes_out} "
                                          f"decompressed bytes)") from None
            if n:
                return n
            if not self._dec.needs_input:
                continue
            chunk = self._raw.read(READ_CHUNK)
            if not chunk:
                if not self._dec.at_boundary:
                    raise CompressedFileError(
                        f"{self.name}: the {self.codec} data is cut short after "
                        f"{self._dec.bytes_out} decompressed bytes")
                return 0
            self._dec.feed(bytes(chunk))

    def close(self):
        if not self.closed and self._owns and self._raw is not None:
            self._raw.close()
        super().close()


def _peek(f, n):
    """The first ``n`` bytes of ``f`` without consuming them, or None when
    ``f`` can't give them back (then the caller reads it as it is)."""
    if hasattr(f, "peek"):
        head = f.peek(n)[:n]
        return head
    if f.seekable():
        pos = f.tell()
        head = f.read(n)
        f.seek(pos)
        return head
    return None


def open_decompressed(source):
    """A decompressing binary file object for ``source`` (a path or a
    readable binary file object) when its bytes are gzip, zstd or lz4;
    None when they are not (a path is then not kept open), and for a path
    that is not a regular file."""
    if isinstance(source, (str, bytes, os.PathLike)):
        name = os.fsdecode(source)
        if not os.path.isfile(source):
            # a FIFO would lose the bytes looked at; a directory or a missing
            # file is the caller's to report
            return None
        f = open(source, "rb")
        try:
            codec = sniff(_peek(f, 4) or b"")
        except BaseException:
            f.close()
            raise
        if codec is None:
            f.close()
            return None
        return DecompressedFile(f, codec, name)
    head = _peek(source, 4)
    codec = sniff(head or b"")
    if codec is None:
        return None
    name = getattr(source, "name", None)
    name = name if isinstance(name, str) else "<file object>"
    return DecompressedFile(source, codec, name, owns=False)
