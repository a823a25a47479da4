"""``nats://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...][/PREFIX]``: where a
stream lives.

The servers are one or more of a cluster (the client learns the others from
the one it reaches); the path is the subject prefix, ``pkts`` when absent.
A producer publishes on ``PREFIX.<host>.<interface>``; a collector reads
``PREFIX.>`` unless told another subject.  Credentials are a user and
password, or a token alone (``nats://TOKEN@HOST``).
"""
import re
import urllib.parse
from dataclasses import dataclass, field

from pyxring.errors import ConfigError

DEFAULT_PORT = 4222
DEFAULT_PREFIX = "pkts"
# NATS subject tokens: no spaces, dots or wildcards; pyxring keeps them plain
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class StreamURL:
    servers: tuple               # ("nats://host:port", ...) without credentials
    prefix: str = DEFAULT_PREFIX
    user: str = None
    password: str = None
    token: str = None
    text: str = field(default="", compare=False)   # as the user wrote it, password hidden

    def __str__(self):
        return self.text

    def connect_options(self):
        """Keyword arguments for ``nats.connect``."""
        opts = {"servers": list(self.servers)}
        if self.user is not None:
            opts["user"], opts["password"] = self.user, self.password or ""
        elif self.token is not None:
            opts["token"] = self.token
        return opts


def subject_token(name):
    """``name`` (a host or interface name) as one subject token: characters
    NATS would read as separators or wildcards become ``_``
    (``eth0.100`` -> ``eth0_100``); the real name travels in the headers."""
    token = _UNSAFE.sub("_", name or "")
    return token or "_"


def check_subject(subject, *, wildcards=False, what="subject"):
    """A NATS subject of plain tokens (``*`` and a final ``>`` when
    ``wildcards``), or a ConfigError naming it."""
    tokens = subject.split(".") if subject else []
    ok = bool(tokens)
    for i, tok in enumerate(tokens):
        if wildcards and (tok == "*" or (tok == ">" and i == len(tokens) - 1)):
            continue
        if not _TOKEN.match(tok):
            ok = False
    if not ok:
        allowed = "tokens of letters, digits, '_' and '-' joined by dots"
        if wildcards:
            allowed += ", '*' for one token or a final '>'"
        raise ConfigError(f"invalid {what} {subject!r}: {allowed}")
    return subject


def parse_url(text):
    """A ``StreamURL`` from ``text``; a ConfigError naming what is wrong."""
    def bad(why):
        return ConfigError(f"bad stream URL {_hide_password(text)!r}: {why}")
    if not isinstance(text, str) or "://" not in text:
        raise bad("expected nats://HOST[:PORT][/PREFIX]")
    scheme, rest = text.split("://", 1)
    if scheme.lower() != "nats":
        raise bad(f"the scheme must be nats://, not {scheme}://")
    netloc, _, path = rest.partition("/")
    if "?" in path or "#" in path:
        raise bad("no query or fragment is allowed")
    user = password = token = None
    if "@" in netloc:
        creds, netloc = netloc.rsplit("@", 1)
        creds = urllib.parse.unquote(creds)
        if ":" in creds:
            user, password = creds.split(":", 1)
            if not user:
                raise bad("empty user name")
        elif creds:
            token = creds
        else:
            raise bad("empty credentials before '@'")
    if not netloc:
        raise bad("no server")
    servers = []
    for hostport in netloc.split(","):
        host, port = _host_port(hostport, bad)
        servers.append(f"nats://{host}:{port}")
    prefix = path.strip("/") or DEFAULT_PREFIX
    try:
        check_subject(prefix, what="subject prefix")
    except ConfigError as exc:
        raise bad(str(exc)) from None
    return StreamURL(servers=tuple(servers), prefix=prefix, user=user, password=password,
                     token=token, text=_hide_password(text))


def _host_port(hostport, bad):
    if not hostport:
        raise bad("an empty server in the list")
    if hostport.startswith("["):                     # [IPv6]:port
        inside, sep, rest = hostport[1:].partition("]")
        if not sep or not inside:
            raise bad(f"bad IPv6 address in {hostport!r}")
        if rest and not rest.startswith(":"):
            raise bad(f"bad port in {hostport!r}")
        host, port = f"[{inside}]", rest[1:] if rest else None
    elif hostport.count(":") > 1:
        raise bad(f"an IPv6 address goes in brackets: [{hostport}]")
    else:
        host, sep, port = hostport.partition(":")
        port = port if sep else None
        if not host:
            raise bad(f"no host in {hostport!r}")
    if port is None:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise bad(f"port {port!r} is not a number between 1 and 65535")
    return host, int(port)


def _hide_password(text):
    if not isinstance(text, str):
        return repr(text)
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", text)
