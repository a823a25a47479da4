"""The capture-file side of a conversion: a pcap/pcapng file read as events
(rows of packets, the blocks between them), and one written back.

Reading keeps every block that is not a packet (``keep_blocks``) and each
record's stored parts (``_extract.extract``), so that the file can be
written again exactly.  Writing is *exact* when the output has the input's
format and the input's header is known: the header and blocks go out as
they came, each record as it was stored wherever its columns still agree.
Otherwise (pcap to pcapng, a table from a live capture, ``--time-precision``)
the file is written as pyxring writes captures: a new section header,
nanosecond interfaces described from the input, every record made from its
columns.
"""
import struct

import numpy as np

from pyxring.convert import _extract, _recwriter
from pyxring.convert.layout import PcapLayout, PcapngLayout, comment_of, rebuild_tail
from pyxring.errors import PyxringError


class Stored:
    """The stored parts of a chunk's rows: ``ts_raw`` (with ``known``: which
    rows have one), the record header and tail (Arrow's binary layout:
    ``(offsets, bytes)``, an empty value is none) and the comments.
    ``trusted``: straight from the file, so they agree with the columns."""

    __slots__ = ("ts_raw", "known", "head", "tail", "comments", "trusted", "swapped")

    def __init__(self, ts_raw=None, known=None, head=None, tail=None, comments=None,
                 trusted=False, swapped=None):
        self.ts_raw, self.known, self.head, self.tail = ts_raw, known, head, tail
        self.comments, self.trusted, self.swapped = comments, trusted, swapped

    def take(self, rows):
        """The parts of ``rows`` (an int64 array of row numbers)."""
        def var(v):
            return None if v is None else _extract.take_var(v[0], v[1], rows)
        comments = self.comments
        if comments is not None:
            comments = [comments[r] for r in rows.tolist()]
        return Stored(None if self.ts_raw is None else self.ts_raw[rows],
                      None if self.known is None else self.known[rows],
                      var(self.head), var(self.tail), comments, self.trusted,
                      None if self.swapped is None else self.swapped[rows])

    def comment_list(self, caplen):
        """Each row's comment: decoded from its stored tail (a file's), or
        the table's column."""
        if self.comments is not None or self.tail is None:
            return self.comments
        off, data = self.tail
        n = len(off) - 1
        out = [None] * n
        if not len(data):
            return out
        sw = self.swapped if self.swapped is not None else np.zeros(n, np.uint8)
        _, _, has_comment, _ = _extract.scan_options(off, data, sw, caplen)
        for i in np.flatnonzero(has_comment).tolist():
            out[i] = comment_of(data[off[i]:off[i + 1]].tobytes(), int(caplen[i]), bool(sw[i]))
        return out


class RowsEvent:
    """A batch of packets and a way to get their stored parts once the
    pipeline has filtered and cut the batch."""

    __slots__ = ("batch", "_stored")

    def __init__(self, batch, stored):
        self.batch = batch
        self._stored = stored

    def stored(self, rows=None):
        """The stored parts of the batch's packets; ``rows``: the row
        numbers they had before a filter (None: unfiltered)."""
        return self._stored(self.batch, rows)


class BlocksEvent:
    """Blocks that are not packets (pcapng), raw, between two rows."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class InputInfo:
    """What an input says about itself before its first packet."""

    def __init__(self, name, origin, head, interfaces, linktype=1, snaplen=262144):
        self.name = name
        self.origin = origin          # "pcap", "pcapng", or None (a table from elsewhere)
        self.head = head              # the blocks before the first packet (pcap: the header)
        self.interfaces = interfaces  # pyxring.columns.arrow interface entries
        self.linktype = linktype
        self.snaplen = snaplen


class CaptureInput:
    """A pcap or pcapng file (a path, "-", or a binary file object) as events."""

    def __init__(self, source, batch_packets=65536, batch_bytes=64 << 20):
        from pyxring.file import open_file
        self.src = open_file(source, batch_packets=batch_packets, batch_bytes=batch_bytes,
                             keep_blocks=True)
        try:
            self.format = self.src.format
            self.ng = PcapngLayout(self.src.name) if self.format == "pcapng" else None
            head = [b for _, b in self.src.take_blocks()]
            if self.ng is not None:
                for b in head:
                    self.ng.feed(b)
                self._swapped = self.ng.swapped_table()
            else:
                self.pcap = PcapLayout(head[0], self.src.name)
            from pyxring.columns.arrow import interfaces_of
            self.info = InputInfo(self.src.name, self.format, head, interfaces_of(self.src),
                                  self.src.linktype, self.src.snaplen)
        except BaseException:
            self.src.close()
            raise
        self.packets = 0

    @property
    def linktype(self):
        return self.src.linktype

    def _stored(self, batch, rows):
        if self.ng is not None:
            ts_raw, ho, hd, to, td = _extract.extract(batch, "pcapng", self._swapped)
            swapped = self._swapped[batch.columns(["ifindex"])["ifindex"]]
        else:
            p = self.pcap
            ts_raw, ho, hd, to, td = _extract.extract(batch, "pcap", None, p.swapped,
                                                       p.hdr_len, p.lengths)
            swapped = None
        return Stored(ts_raw, None, (ho, hd) if len(hd) else None,
                      (to, td) if len(td) else None, None, True, swapped)

    def events(self):
        """Rows and blocks in file order; each batch is released when the
        next event is asked for."""
        src = self.src
        first = 0
        while True:
            batch = src.batch(-1)
            try:
                blocks = src.take_blocks()
                if self.ng is not None and blocks:
                    for _, b in blocks:
                        self.ng.feed(b)
                    self._swapped = self.ng.swapped_table()
                n = len(batch)
                # blocks read before this batch's first packet come first,
                # then runs of its packets split at each later block
                done = 0
                for pos, b in blocks:
                    at = min(max(pos - first, 0), n)
                    if at > done:
                        yield from self._rows(batch, done, at)
                        done = at
                    yield BlocksEvent(b)
                if n == 0:
                    if src.at_end:
                        return
                    continue
                if done < n:
                    yield from self._rows(batch, done, n)
                first += n
                self.packets += n
            finally:
                batch.release()

    def _rows(self, batch, start, stop):
        if start == 0 and stop == len(batch):
            yield RowsEvent(batch, self._stored)
            return
        # a block sits inside the batch: hand over the packets on each side
        # of it as their own batches (copies of the descriptors)
        from pyxring.convert._extract import sub_batch
        part = sub_batch(batch, start, stop)
        try:
            yield RowsEvent(part, self._stored)
        finally:
            part.release()

    def close(self):
        self.src.close()


# --- writing a capture file --------------------------------------------------------------

class CaptureOutput:
    """A pcap or pcapng file written from events (see the module's doc)."""

    def __init__(self, path, format, *, compression="auto", level=None, precision=None,
                 notice=None):
        self.path = path
        self.format = format
        self.precision = precision
        self.compression = compression
        self.level = level
        self.notice = notice
        self.w = None
        self.exact = False
        self.ng = None
        self.ifaces = {}            # row ifindex -> swapped (synthesised: False)
        self.next_local = 0
        self.linktype = None

    # -- the start -----------------------------------------------------------------
    def begin(self, info):
        from pyxring.writer import open_output
        self.info = info
        self.exact = (info.origin == self.format and bool(info.head)
                      and (self.format == "pcapng" or self.precision is None))
        pcap = self._pcap_header(info) if self.format == "pcap" else None
        out, _ = open_output(self.path, compression=self.compression, level=self.level,
                             engine="write", notice=self.notice)
        self.w = _recwriter.RecordWriter(out, self.format)
        if pcap is not None:
            header, swapped, hdr_len, lengths, ns = pcap
            self.w.write_raw(header)
            self.w.set_pcap(swapped, hdr_len, lengths, ns, self.linktype)
        elif self.exact:
            self.ng = PcapngLayout(str(self.path))
            for b in info.head:
                self._put_block(b)
        else:
            from pyxring.writer._format import section_header
            self.w.write_raw(section_header())
            for entry in info.interfaces:
                if entry.get("linktype") is not None:
                    self._add_interface(entry.get("ifindex") or 0, entry)

    def _pcap_header(self, info):
        """The pcap file header and its record layout: the input's (exact),
        or pyxring's for the input's one link type."""
        if self.exact:
            layout = PcapLayout(info.head[0], info.name)
            self.linktype = layout.interface.linktype
            return (layout.header, layout.swapped, layout.hdr_len, layout.lengths,
                    layout.nanosecond)
        types = sorted({e["linktype"] for e in info.interfaces if e.get("linktype") is not None})
        if len(types) > 1:
            raise PyxringError(f"{info.name} has packets of {len(types)} link types "
                               f"({' '.join(_lt_name(t) for t in types)}); a pcap file holds "
                               "one: write pcapng")
        self.linktype = types[0] if types else info.linktype
        snaplens = [e.get("snaplen") or 0 for e in info.interfaces] or [info.snaplen]
        snaplen = min(max(snaplens) or 262144, 262144)
        ns = self.precision != "us"
        return (struct.pack("=IHHiIII", 0xA1B23C4D if ns else 0xA1B2C3D4, 2, 4, 0, 0, snaplen,
                            self.linktype), False, 16, 0, ns)

    def _add_interface(self, ifindex, entry):
        """Describe an interface (synthesised pcapng): its next local number."""
        from pyxring.writer._format import interface_block
        iface = {k: entry[k] for k in ("name", "description", "filter", "os", "hardware")
                 if entry.get(k)}
        iface["linktype"] = entry["linktype"]
        iface["snaplen"] = min(entry.get("snaplen") or 262144, 262144) or 262144
        self.w.write_raw(interface_block(iface))
        self.w.define_interface(ifindex, self.next_local, False, 9, 0)
        self.ifaces[ifindex] = False
        self.next_local += 1

    def _put_block(self, data):
        """A raw block (exact pcapng): written, then followed for numbering."""
        self.w.write_raw(data)
        for kind, i in self.ng.feed(data):
            if kind == "section":
                self.w.undefine_interfaces()
                self.ifaces = {}
            else:
                itf, sw = self.ng.interfaces[i], self.ng.iface_swapped[i]
                self.w.define_interface(i, self.ng.iface_local[i], sw, itf.tsresol, itf.tsoffset)
                self.ifaces[i] = sw

    # -- events ---------------------------------------------------------------------
    def blocks(self, data):
        if self.exact and self.format == "pcapng":
            self._put_block(data)
        # a pcap file has no place for them, and a new pcapng section
        # describes its own interfaces

    def rows(self, batch, stored):
        if not self.exact:
            stored = Stored()
        elif self.format == "pcapng" and not stored.trusted:
            stored = self._reconcile(batch, stored)
        head = stored.head or (None, None)
        tail = stored.tail or (None, None)
        i = 0
        while True:
            i, why = self.w.write_batch(batch, i, stored.ts_raw, stored.known, head[0], head[1],
                                        tail[0], tail[1])
            if why == _recwriter.ROW_OK:
                return
            pkt = batch[i]
            if why == _recwriter.ROW_NO_INTERFACE:
                if self.exact:
                    raise PyxringError(f"packet {self.w.packets + 1} is on interface "
                                       f"{pkt.ifindex}, which no interface description block "
                                       "of its section describes")
                self._add_interface(pkt.ifindex, {"linktype": pkt.linktype})
            elif why == _recwriter.ROW_LINKTYPE:
                raise PyxringError(f"packet {self.w.packets + 1} has link type "
                                   f"{_lt_name(pkt.linktype)}, the pcap file's is "
                                   f"{_lt_name(self.linktype)}: a pcap file holds one link type "
                                   "(write pcapng)")
            else:
                raise PyxringError(f"packet {self.w.packets + 1}: its time ({pkt.ts_ns} ns) "
                                   f"can't be written in a {self.format} record")

    def _reconcile(self, batch, stored):
        """A table's stored tails against its columns: where the epb_flags
        or comment column says otherwise (a user changed it), the tail is
        made again with the column's values and its other options."""
        cols = batch.columns(["caplen", "ifindex", "epb_flags"])
        n = len(batch)
        caplen, flags = cols["caplen"], cols["epb_flags"]
        swapped = np.array([1 if self.ifaces.get(int(x)) else 0 for x in cols["ifindex"]],
                           np.uint8) if n else np.zeros(0, np.uint8)
        comments = stored.comments or [None] * n
        if stored.tail is not None:
            off, data = stored.tail
            t_flags, has_flags, has_comment, aligned = _extract.scan_options(off, data, swapped,
                                                                              caplen)
            has_tail = np.diff(off) > 0
        else:
            off = data = None
            has_tail = has_flags = has_comment = np.zeros(n, np.bool_)
            t_flags = np.zeros(n, np.uint32)
            aligned = np.ones(n, np.bool_)
        with_comment = np.array([c is not None for c in comments], np.bool_) if n else has_tail
        bad = np.where(has_flags, t_flags != flags, flags != 0) | (has_comment != with_comment)
        bad = (has_tail & (bad | ~aligned)) | (~has_tail & with_comment)
        for i in np.flatnonzero(has_tail & has_comment & ~bad).tolist():
            if comment_of(data[off[i]:off[i + 1]].tobytes(), int(caplen[i]),
                          bool(swapped[i])) != comments[i]:
                bad[i] = True
        if not bad.any():
            return stored
        tails = []
        for i in range(n):
            old = data[off[i]:off[i + 1]].tobytes() if off is not None else b""
            if bad[i]:
                old = rebuild_tail(old if aligned[i] else b"", int(caplen[i]), bool(swapped[i]),
                                   int(flags[i]), comments[i])
                if old == b"\0" * len(old):
                    old = b""           # plain padding: the writer's own
            tails.append(old)
        lengths = np.fromiter((len(t) for t in tails), np.int64, n)
        new_off = np.zeros(n + 1, np.int32)
        np.cumsum(lengths, out=new_off[1:])
        new = Stored(stored.ts_raw, stored.known, stored.head,
                     (new_off, np.frombuffer(b"".join(tails), np.uint8)), comments, False)
        return new

    def close(self):
        if self.w is not None:
            self.w.close()

    @property
    def packets(self):
        return self.w.packets if self.w is not None else 0


def _lt_name(linktype):
    from pyxring._libpcap import datalink_name
    return datalink_name(linktype)[0] or str(linktype)

