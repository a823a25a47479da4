"""Reading pcap and pcapng files back, a record at a time.

    with pyxring.open_reader("cap.pcapng") as rd:
        for rec in rd:
            rec.data, rec.ts_ns, rec.caplen, rec.wirelen, rec.interface_id, rec.linktype

The records come from the file source (``pyxring.file``), which walks the
file in C; a record owns a copy of its bytes, so it can be kept.  For
zero-copy views, batches, filters and writers use ``pyxring.file.open_file``
directly.  Every variant real files use is read (see ``pyxring.file``).

Interface numbers: pcapng numbers interfaces per section (and so does
tshark's ``frame.interface_id``); a reader numbers them across the whole
file, in the order their descriptions appear (as capinfos does), so
``rec.interface_id`` is unique and agrees with the keys of
``reader.interface_stats`` and the index into ``reader.interfaces`` even in
multi-section files.  For a single-section file the numberings are the same.

A damaged file raises a ``CaptureFileError`` whose message names the file,
the byte offset and the reason; records before the damage have been
delivered by then, and a truncated last record is an error, not a silent
end of file.
"""
from pyxring.errors import CaptureFileError
from pyxring.file import FileSource, Interface
from pyxring.file._records import Record, RecordIter

__all__ = ["open_reader", "FileReader", "Record", "Interface", "CaptureFileError"]


class FileReader:
    """An iterable context manager of ``Record``; see ``open_reader``."""

    def __init__(self, source):
        self.source = source
        self._records = None

    name = property(lambda self: self.source.name)
    format = property(lambda self: self.source.format, doc='"pcap" or "pcapng"')
    interfaces = property(lambda self: self.source.interfaces)
    interface_stats = property(lambda self: self.source.interface_stats,
                               doc="interface number -> statistics block values")
    shb_options = property(lambda self: self.source.shb_options)
    nanosecond = property(lambda self: self.source.nanosecond)

    @property
    def linktype(self):
        """The first interface's link type (None before any is described)."""
        ifs = self.source.interfaces
        return ifs[0].linktype if ifs else None

    @property
    def snaplen(self):
        """The first interface's snapshot length, as recorded."""
        ifs = self.source.interfaces
        return ifs[0].snaplen if ifs else None

    def __iter__(self):
        # one iterator, so a second loop resumes where the first stopped
        if self._records is None:
            self._records = RecordIter(self.source)
        return self._records

    def close(self):
        if self._records is not None:
            self._records.close()
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<FileReader {self.name!r} {self.format} linktype={self.linktype}>"


def open_reader(source):
    """Open a pcap or pcapng file: a path, ``"-"`` for standard input, or a
    binary file object.  Returns an iterable context manager of ``Record``."""
    return FileReader(FileSource(source))
