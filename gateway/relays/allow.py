"""Which downstream URLs a client may name: the deployment's allow-list.

A client's start config may ask the gateway to stream audio to a URL of its own; without a
check, any client could aim the gateway at any host it can reach (an internal service, a
metadata endpoint, another tenant's analytics). ``--downstream-allow`` patterns say which
URLs are acceptable, and nothing else is. A pattern is a URL prefix with two wildcards:

* ``wss://asr.example.org/`` - that host on the scheme's default port, any path;
* ``wss://*.example.org`` - any subdomain (not ``example.org`` itself);
* ``ws://127.0.0.1:*/vosk`` - any port; paths ``/vosk`` and ``/vosk/...`` (not ``/voskx``);
* ``wss://*`` - any host (only for closed networks).

URLs are compared after normalisation by yarl (lower-case host, IDNA, default ports,
``..`` segments resolved), so ``wss://ASR.example.org:443/a/../b`` is ``wss://asr.example.org/b``.
URLs with credentials (``user:pass@``) are refused: they hide the host from readers and
would carry secrets into logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

DEFAULT_PORTS = {"ws": 80, "wss": 443}


class UrlRefused(ValueError):
    """A URL that is malformed or not allowed; the message says why."""


def parse_ws_url(text: str) -> URL:
    """``text`` as a ws:// or wss:// URL with a host and no credentials, else UrlRefused."""
    if not isinstance(text, str) or not text.strip():
        raise UrlRefused("must be a ws:// or wss:// URL")
    try:
        url = URL(text.strip())
        url.port  # noqa: B018 -- raises ValueError on a malformed port
    except (ValueError, TypeError):
        raise UrlRefused(f"is not a valid URL: {text!r}") from None
    if url.scheme not in DEFAULT_PORTS:
        raise UrlRefused(f"must be a ws:// or wss:// URL, got {text!r}")
    if not url.host:
        raise UrlRefused(f"has no host: {text!r}")
    if url.user is not None or url.password is not None:
        raise UrlRefused("must not carry credentials (user:password@)")
    if url.fragment:
        raise UrlRefused("must not have a #fragment")
    return url


def _host(url: URL) -> str:
    return (url.host or "").rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class UrlPattern:
    """One allow-list entry (see the module docstring for the forms)."""

    text: str
    scheme: str
    host: str              # exact host, "*.suffix", or "*"
    port: int | None       # None: any port
    path: str              # "/" for any path, else a prefix without a trailing slash

    @classmethod
    def parse(cls, text: str) -> UrlPattern:
        raw = text.strip()
        scheme, sep, rest = raw.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in DEFAULT_PORTS:
            raise UrlRefused(f"allow pattern {text!r} must start with ws:// or wss://")
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            raise UrlRefused(f"allow pattern {text!r} must not carry credentials")
        host, port = authority, str(DEFAULT_PORTS[scheme])
        if authority.endswith(":*"):
            host, port = authority[:-2], "*"
        elif not authority.endswith("]") and ":" in authority:
            host, port = authority.rsplit(":", 1)
        wildcard = host.startswith("*.")
        if host != "*":
            probe = "x" + host[1:] if wildcard else host
            try:
                parsed = URL.build(scheme=scheme, host=probe.strip("[]"))
            except ValueError:
                raise UrlRefused(f"allow pattern {text!r} has an invalid host") from None
            host = ("*" + _host(parsed)[1:]) if wildcard else _host(parsed)
        if "*" in host.lstrip("*") or (host.startswith("*") and host != "*" and not wildcard):
            raise UrlRefused(f"allow pattern {text!r}: '*' only as '*.domain' or alone")
        if port != "*" and not (port.isdigit() and 0 < int(port) < 65536):
            raise UrlRefused(f"allow pattern {text!r} has an invalid port")
        normalized = URL.build(path="/" + path) if slash else URL("/")
        prefix = normalized.path.rstrip("/") or "/"
        return cls(raw, scheme, host, None if port == "*" else int(port), prefix)

    def matches(self, url: URL) -> bool:
        if url.scheme != self.scheme:
            return False
        host = _host(url)
        if self.host.startswith("*."):
            if not host.endswith(self.host[1:]) or host == self.host[2:]:
                return False
        elif self.host != "*" and host != self.host:
            return False
        if self.port is not None and url.port != self.port:
            return False
        if self.path == "/":
            return True
        path = url.path
        return path == self.path or path.startswith(self.path + "/")


class AllowList:
    """The deployment's patterns; empty means clients may name no URL at all."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = tuple(UrlPattern.parse(p) for p in patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def check(self, text: str) -> URL:
        """The normalised URL if a pattern allows it, else UrlRefused saying why."""
        url = parse_ws_url(text)
        if not self.patterns:
            raise UrlRefused("this gateway accepts no downstream URLs from clients; "
                             "name a configured downstream instead")
        if not any(p.matches(url) for p in self.patterns):
            raise UrlRefused(f"{redact(url)} is not allowed by this gateway's downstream "
                             "allow-list")
        return url


def redact(url: URL | str) -> str:
    """The URL without query and fragment (which may hold credentials), for logs and errors."""
    parsed = url if isinstance(url, URL) else URL(url)
    return str(parsed.with_query(None).with_fragment(None))
