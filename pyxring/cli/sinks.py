"""Where ``pyxring capture`` delivers each batch: a small list of sinks (the
file writer of ``-w``, the stream producer of ``--stream``, the printer),
each with ``write_batch(batch, interface_id)``, ``flush()``,
``stopping()`` and ``close(stats, delivered, verbose)`` returning
``(captured or None, closing lines, failure or None)``.

The loop doesn't know which sinks there are; the closing lines are each
sink's, in order, after tcpdump's three.
"""
from pyxring.writer import cli as writer_cli


class FileSink:
    """``-w``: the writer (``pyxring.writer``); its count of packets in the
    file is what "captured" says, as tcpdump's."""

    def __init__(self, writer, flush_each=False):
        self.writer = writer
        self.flush_each = flush_each        # -U, or standard output

    def write_batch(self, batch, interface_id=0):
        if interface_id:
            self.writer.write_batch(batch, interface_id=interface_id)
        else:
            self.writer.write_batch(batch)
        if self.flush_each:
            self.writer.flush()

    def flush(self):
        self.writer.flush()

    def stopping(self):
        writer_cli.stopping(self.writer)

    def close(self, stats, delivered, verbose=False):
        return writer_cli.close_for_capture(self.writer, stats, delivered, verbose)

    def abort(self):
        self.writer.close()


class StreamSink:
    """``--stream``: the producer (``pyxring.stream``)."""

    def __init__(self, producer, args):
        self.producer = producer
        self.args = args

    def write_batch(self, batch, interface_id=0):
        self.producer.write_batch(batch, interface_id)

    def flush(self):
        pass

    def stopping(self):
        pass

    def close(self, stats, delivered, verbose=False):
        from pyxring.stream import cli as stream_cli
        _, lines, failure = stream_cli.close_for_capture(self.producer, self.args, verbose)
        return None, lines, failure

    def abort(self):
        self.producer.close(0)


class PrintSink:
    """tcpdump's lines (``show(batch)``)."""

    def __init__(self, show):
        self.show = show

    def write_batch(self, batch, interface_id=0):
        self.show(batch)

    def flush(self):
        pass

    def stopping(self):
        pass

    def close(self, stats, delivered, verbose=False):
        return None, [], None

    def abort(self):
        pass


class Sinks(list):
    """The capture's sinks, used as one."""

    @property
    def stores(self):
        """Whether packets go somewhere other than the terminal."""
        return any(not isinstance(s, PrintSink) for s in self)

    def write_batch(self, batch, interface_id=0):
        for sink in self:
            sink.write_batch(batch, interface_id)

    def flush(self):
        for sink in self:
            sink.flush()

    def stopping(self):
        for sink in self:
            sink.stopping()

    def close(self, stats, delivered, verbose=False):
        """Close each; ``(captured, lines, first failure)``."""
        captured, lines, failure = delivered, [], None
        for sink in self:
            count, more, failed = sink.close(stats, delivered, verbose)
            if count is not None:
                captured = count
            lines += more
            failure = failure or failed
        return captured, lines, failure

    def abort(self):
        for sink in self:
            try:
                sink.abort()
            except Exception:
                pass
