"""Talking to NATS (nats-py, asyncio): connecting with one-line errors,
finding or creating the stream.  Used by the producer and the collector.

A first connection that can't be made is an error at once (a wrong
password, no server, no JetStream); after that the client reconnects for
as long as it runs, to any server of the cluster it has learnt of.
"""
import asyncio

from pyxring.errors import PyxringError

CONNECT_TIMEOUT = 5.0        # seconds for the first connection, every server tried
# a cluster just (re)started answers JetStream requests only once it has
# elected its meta leader: the first requests (JetStream, the stream, the
# consumer) are asked again this long
JETSTREAM_READY_WAIT = 20.0
JETSTREAM_RETRY_PAUSE = 0.25
JS_TEMPORARILY_UNAVAILABLE = 10008     # nats-server's JSClusterNotAvailErr
RECONNECT_WAIT = 0.25        # between reconnection attempts (nats-py's default: 2 s)


class StreamError(PyxringError):
    """The stream can't be used: unreachable, refused, misconfigured."""


class StreamAuthError(StreamError):
    """The server refused the credentials."""


def nats_module():
    try:
        import nats
    except ImportError:
        raise StreamError("streaming needs nats-py, which is not installed "
                          "(pip install nats-py)") from None
    return nats


async def connect(url, *, name="pyxring", timeout=CONNECT_TIMEOUT, **callbacks):
    """A connected ``nats.aio.client.Client`` for ``url`` (a StreamURL),
    reconnecting forever once connected; StreamError (or StreamAuthError)
    with one line saying why not."""
    nats = nats_module()
    from nats.errors import AuthorizationError
    errors = []
    refused = asyncio.get_running_loop().create_future()
    user_error_cb = callbacks.pop("error_cb", None)

    async def error_cb(exc):
        errors.append(exc)
        if _is_auth_error(exc, AuthorizationError) and not refused.done():
            refused.set_result(exc)
        if user_error_cb is not None:
            await user_error_cb(exc)
    task = asyncio.ensure_future(nats.connect(
        **url.connect_options(), name=name, connect_timeout=min(2, timeout),
        reconnect_time_wait=RECONNECT_WAIT, max_reconnect_attempts=-1, error_cb=error_cb,
        ping_interval=5, max_outstanding_pings=2, **callbacks))
    done, _ = await asyncio.wait({task, refused}, timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done and task.exception() is None:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    if refused.done():
        raise StreamAuthError(f"{url}: the server refused the credentials "
                              f"({'none given' if not _has_credentials(url) else 'authorization violation'})")
    if task in done:
        errors.append(task.exception())
    raise StreamError(f"cannot reach the NATS server at {url}: {_why(errors)}")


def _is_auth_error(exc, cls):
    return isinstance(exc, cls) or "authorization violation" in str(exc).lower()


def _has_credentials(url):
    return url.user is not None or url.token is not None


def _why(errors):
    for exc in reversed(errors):
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror if not str(exc.strerror).startswith("Connect call failed") \
                else "connection refused"
        if isinstance(exc, OSError) and exc.args and isinstance(exc.args[-1], str):
            return exc.args[-1]
        text = str(exc).strip()
        if text:
            return text.splitlines()[0]
    return f"no answer within {CONNECT_TIMEOUT:g} s"


def stream_name_for(prefix):
    """The stream a subject prefix gets when pyxring creates it: ``pkts``
    -> ``PKTS``, ``dc1.sensors`` -> ``DC1_SENSORS``."""
    return prefix.replace(".", "_").replace("-", "_").upper()


async def jetstream(nc, url):
    """The JetStream context, checked: a server without JetStream is a
    StreamError naming it.  One that says it has JetStream but doesn't
    answer yet (a cluster just restarted, still electing its meta leader or
    bringing its JetStream up) is asked again for JETSTREAM_READY_WAIT
    seconds."""
    from nats.js.errors import APIError, ServiceUnavailableError
    js = nc.jetstream()

    def no_jetstream(exc):
        # nats-py's 503 is both "no responders" (no err_code) and the
        # server's "temporarily unavailable"; the first is final only when
        # the server says it runs no JetStream
        return (isinstance(exc, ServiceUnavailableError) and exc.err_code is None
                and not _server_has_jetstream(nc))
    try:
        await patiently(js.account_info, lambda exc: _transient(exc) and not no_jetstream(exc))
    except Exception as exc:
        if no_jetstream(exc):
            raise StreamError(f"the NATS server at {url} has no JetStream (start it with "
                              f"-js, or 'jetstream {{}}' in its configuration)") from None
        if _transient(exc):
            why = ("no answer to a JetStream request" if isinstance(exc, asyncio.TimeoutError)
                   else exc.description or "its JetStream API has no responders")
            raise StreamError(f"the NATS server at {url} is not ready for JetStream after "
                              f"{JETSTREAM_READY_WAIT:g} s: {why}") from None
        if isinstance(exc, APIError):
            raise StreamError(f"the NATS server at {url} refused JetStream: "
                              f"{exc.description or exc}") from None
        raise
    return js


async def patiently(call, transient=None):
    """``await call()``, asked again while it fails the way a cluster
    recovering does (no answer, 503, "temporarily unavailable"; or as
    ``transient`` judges) for JETSTREAM_READY_WAIT seconds; then, or on any
    other failure, the failure as it came, for the caller's one-line error."""
    transient = transient or _transient
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JETSTREAM_READY_WAIT
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(JETSTREAM_RETRY_PAUSE)


def _transient(exc):
    from nats.js.errors import APIError, ServiceUnavailableError
    return (isinstance(exc, (asyncio.TimeoutError, ServiceUnavailableError))
            or isinstance(exc, APIError) and exc.err_code == JS_TEMPORARILY_UNAVAILABLE)


def _server_has_jetstream(nc):
    """What the connected server's INFO says (nats-server sends
    ``"jetstream": true`` when it runs JetStream and leaves it out when not)."""
    return bool(getattr(nc, "_server_info", {}).get("jetstream"))


async def ensure_stream(js, url, subject, *, name=None, max_bytes=None, replicas=1,
                        duplicate_window=None, max_age=None, notice=None):
    """The name of the stream that stores ``subject``, created when there
    is none (name ``name`` or from the prefix, subjects ``PREFIX.>``, the
    retention given); an existing stream is left as it is, with a notice
    when what was asked differs."""
    from nats.js import api
    from nats.js.errors import APIError, NotFoundError
    try:
        found = await patiently(lambda: js.find_stream_name_by_subject(subject))
    except NotFoundError:
        found = None
    except asyncio.TimeoutError:
        raise StreamError(f"the NATS server at {url} did not answer (looking up the stream "
                          f"for {subject})") from None
    except APIError as exc:             # still unavailable after the wait
        raise StreamError(f"the NATS server at {url} (looking up the stream for {subject}): "
                          f"{exc.description or exc}") from None
    if found is not None:
        if notice is not None:
            info = await patiently(lambda: js.stream_info(found))
            _notice_differences(info.config, max_bytes, replicas, notice)
        return found
    name = name or stream_name_for(url.prefix)
    config = api.StreamConfig(
        name=name, subjects=[f"{url.prefix}.>"], retention=api.RetentionPolicy.LIMITS,
        discard=api.DiscardPolicy.OLD, storage=api.StorageType.FILE, num_replicas=replicas,
        max_bytes=max_bytes if max_bytes else -1, max_age=max_age or 0,
        duplicate_window=duplicate_window or 0)
    try:
        await patiently(lambda: js.add_stream(config))
    except APIError as exc:
        if exc.err_code == 10058:       # a stream of that name exists with other subjects
            raise StreamError(f"stream {name} exists but does not take {subject}; "
                              f"name another with --stream-name") from None
        raise StreamError(f"creating stream {name} on {url}: {exc.description or exc}") from None
    except asyncio.TimeoutError:
        raise StreamError(f"creating stream {name} on {url}: no answer") from None
    return name


def _notice_differences(config, max_bytes, replicas, notice):
    said = []
    if replicas and config.num_replicas != replicas:
        said.append(f"{config.num_replicas} replicas, not {replicas}")
    if max_bytes and config.max_bytes != max_bytes:
        said.append(f"max bytes {config.max_bytes}, not {max_bytes}")
    if said:
        notice(f"pyxring: stream {config.name} exists with {', '.join(said)}; it is used as it is")
