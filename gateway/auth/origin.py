"""The Origin allow-list for browser entrances.

Browsers send ``Origin`` on every WebSocket handshake and on cross-origin ``fetch``; the
same-origin policy does not protect WebSockets, so without this check any page a user
visits could open ``ws://gateway/subscribe/<id>`` from inside the user's network and read
live transcripts (cross-site WebSocket hijacking), which matters most in open mode, where
nothing else is checked. Allowed:

- requests without ``Origin``: non-browser clients (bots, SDKs, curl) do not send one,
  and anything that is not a browser can forge the header anyway, so for them the token
  is the control, not this check;
- the gateway's own origin (the ``Origin`` authority equals the ``Host`` header), so
  the pages it serves work without configuration;
- in a cluster, the origin of every live node's ``--node-url`` (a page redirected from
  node a to node b connects to b from a's origin);
- the origins listed with ``--allowed-origin`` (``scheme://host[:port]``), ``null`` only
  if listed, or every origin with ``*``.

Authorities are compared host-and-port with default ports dropped and without the scheme,
because behind a TLS-terminating proxy the gateway sees ``http`` for an ``https`` page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from .errors import ORIGIN_NOT_ALLOWED, AuthError, forbidden

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` lower-cased, default port dropped; ValueError if not one."""
    value = value.strip()
    if value in ("*", "null"):
        return value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"not an origin: {value!r}") from None
    scheme = parts.scheme.lower()
    if (scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password):
        raise ValueError(f"an origin is scheme://host[:port], got {value!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origin_of(url: str) -> str:
    """The origin of an http(s) URL (path, query and fragment dropped); ValueError if none."""
    parts = urlsplit(url.strip())
    return normalize_origin(f"{parts.scheme}://{parts.netloc}")


def _authority(origin: str) -> str:
    """``host[:port]`` of a normalized origin (default port already dropped)."""
    return origin.split("://", 1)[1]


def _host_authority(host_header: str) -> str:
    host = host_header.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


class OriginPolicy:
    """Decides whether a request's ``Origin`` may use a browser entrance."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        normalized = {normalize_origin(o) for o in allowed}
        self.any = "*" in normalized
        self.allowed = frozenset(normalized - {"*"})
        self._trusted: Callable[[], Iterable[str]] = tuple

    def trust(self, provider: Callable[[], Iterable[str]]) -> None:
        """Also allow the origins ``provider`` returns at the time of each request.

        For a cluster: a page served by node a that is redirected to node b's URL opens
        b's entrances from a's origin, so every live node's ``--node-url`` origin is one of
        the gateway's own. The provider is read per request (nodes come and go)."""
        self._trusted = provider

    def describe(self) -> str:
        if self.any:
            return "any origin"
        extra = ", ".join(sorted(self.allowed))
        return f"same origin + {extra}" if extra else "same origin only"

    def is_allowed(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        if self.any:
            return True
        if origin.strip() == "null":
            return "null" in self.allowed
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            return False
        if normalized in self.allowed or normalized in self.trusted_origins():
            return True
        return host is not None and _authority(normalized) == _host_authority(host)

    def trusted_origins(self) -> set[str]:
        """The origins ``trust`` provides now (the cluster's live nodes)."""
        trusted = set()
        for value in self._trusted():
            try:
                trusted.add(origin_of(value))
            except ValueError:
                continue  # a malformed record from another writer trusts nothing
        return trusted

    def check(self, request: web.Request) -> None:
        """Raise a 403 :class:`AuthError` when the request's Origin is not allowed."""
        origin = request.headers.get(hdrs.ORIGIN)
        if not self.is_allowed(origin, request.headers.get(hdrs.HOST)):
            raise forbidden(ORIGIN_NOT_ALLOWED,
                            "this page's origin may not use the gateway; add it with "
                            "--allowed-origin", bearer=False)

    def refusal(self, request: web.Request) -> AuthError | None:
        try:
            self.check(request)
        except AuthError as exc:
            return exc
        return None
