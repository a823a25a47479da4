"""Past one machine: capture hosts stream their batches into NATS JetStream,
collectors turn them back into files and tables.

    # a capture host (also: pyxring capture eth0 --stream nats://HOST:4222/pkts)
    with pyxring.capture("eth0") as cap:
        pyxring.stream.publish(cap, "nats://HOST:4222/pkts", duration=60)

    # anywhere (also: pyxring collect nats://HOST:4222 -w merged.pcapng)
    with pyxring.stream.subscribe("nats://HOST:4222", "pkts.>") as sub:
        for rb in sub:                  # pyarrow.RecordBatch, one per message
            ...

Each ring batch becomes one message (``pyxring.stream.wire``) on the subject
``PREFIX.<host>.<interface>`` of a JetStream stream; the producer's
publisher runs on its own thread and spools to disk when the server is away
(``pyxring.stream.producer``, ``.publisher``, ``.spool``); the collector
reads with a durable consumer and acknowledges only what its output holds
durably (``pyxring.stream.collector``).
"""
from pyxring.stream.url import parse_url

__all__ = ["publish", "subscribe", "parse_url", "StreamSink"]


def publish(source, url, subject=None, **options):
    """Publish ``source``'s batches to ``url``: see :func:`pyxring.stream.producer.publish`."""
    from pyxring.stream.producer import publish as _publish
    return _publish(source, url, subject, **options)


def __getattr__(name):
    if name == "StreamSink":
        from pyxring.stream.producer import StreamSink
        return StreamSink
    if name == "subscribe":
        from pyxring.stream.consumer import subscribe
        return subscribe
    raise AttributeError(f"module 'pyxring.stream' has no attribute {name!r}")
