"""Parsing of ``stun:``/``stuns:``/``turn:``/``turns:`` URLs (RFC 7064, RFC 7065).

Browsers and aiortc accept different subsets of these URLs, so the gateway parses them itself:
to reject typos at start-up with a clear message, and to know which URL aiortc can actually use
(aiortc only understands ``stun:``, ``turn:`` over udp/tcp and ``turns:`` over tcp, with a
hostname or IPv4 address; it silently skips anything else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Scheme = Literal["stun", "stuns", "turn", "turns"]

_URL_RE = re.compile(
    r"(?P<scheme>stuns?|turns?):"
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>[A-Za-z]+))?"
)
_DEFAULT_PORTS = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}


@dataclass(frozen=True)
class IceUrl:
    """One parsed ICE server URL. ``transport`` is ``None`` for STUN URLs."""

    url: str
    scheme: Scheme
    host: str
    port: int
    transport: Literal["udp", "tcp"] | None

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def is_ipv6_literal(self) -> bool:
        return ":" in self.host

    @property
    def aiortc_usable(self) -> bool:
        """Whether aiortc's own URL handling would use this URL rather than silently skip it.

        aiortc ignores ``stuns:``, ``turns:`` over UDP (it has no DTLS client for TURN) and
        cannot parse bracketed IPv6 literals at all.
        """
        if self.is_ipv6_literal:
            return False
        if self.scheme == "stun":
            return True
        if self.scheme == "turn":
            return True
        if self.scheme == "turns":
            return self.transport == "tcp"
        return False

    def __str__(self) -> str:
        return self.url


def parse_ice_url(url: str) -> IceUrl:
    """Parse one STUN/TURN URL, raising ``ValueError`` that names the URL and the problem."""
    text = url.strip()
    match = _URL_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"malformed ICE server URL {url!r}: expected e.g. 'stun:host:3478', "
            "'turn:host:3478?transport=udp' or 'turns:host:5349?transport=tcp'"
        )
    scheme: Scheme = match["scheme"]  # type: ignore[assignment]
    host = match["ipv6"] or match["host"]
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ValueError(f"malformed ICE server URL {url!r}: port {port} out of range")
    raw_transport = match["transport"]
    transport: Literal["udp", "tcp"] | None
    if scheme in ("stun", "stuns"):
        if raw_transport is not None:
            raise ValueError(f"malformed ICE server URL {url!r}: STUN URLs take no ?transport=")
        transport = None
    else:
        lowered = (raw_transport or ("tcp" if scheme == "turns" else "udp")).lower()
        if lowered not in ("udp", "tcp"):
            raise ValueError(
                f"malformed ICE server URL {url!r}: transport must be udp or tcp, "
                f"not {raw_transport!r}"
            )
        transport = "udp" if lowered == "udp" else "tcp"
    return IceUrl(url=text, scheme=scheme, host=host, port=port, transport=transport)
