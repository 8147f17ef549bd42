"""What the WebSocket handshake of Symbl's streaming endpoint carries: the id and the token.

``/v1/streaming/{connectionId}`` (and its old name ``/v1/realtime/insights/{connectionId}``)
takes any id the client invents. Symbl's own tutorials build it with
``btoa("user@example.com")`` — base64, so ``=`` and ``+`` must pass — the Python SDK with
base64 too, the JS SDKs with UUIDs.

The access token arrives four ways (NOTES-symbl.md §1): ``?access_token=`` (every raw
WebSocket example), ``X-API-KEY`` (Python and Go SDKs), ``Authorization: Bearer`` (REST
habit), and as the WebSocket *subprotocol* (the JS SDK:
``new W3CWebSocket(url, accessToken, …)``). A browser that offers a subprotocol fails the
handshake unless the server selects one, so :func:`offered_subprotocol` tells the transport
what to echo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Credential", "offered_subprotocol", "parse_connection_id", "token_from_request"]

# Letters, digits and the characters of base64 and UUIDs, plus a few more that ids made
# from e-mail addresses and meeting names carry; never '/', '?', '#', '%' or spaces.
_CONNECTION_ID = re.compile(r"^[A-Za-z0-9._~:@=+-]{1,128}$")
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class Credential:
    """A token and where it came from (``query``, ``x-api-key``, ``bearer``, ``subprotocol``)."""

    token: str
    source: str


def parse_connection_id(raw: str) -> str | None:
    """The id if it is one we accept, else None (answer the handshake with 400)."""
    return raw if _CONNECTION_ID.match(raw) else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def offered_subprotocol(headers: Mapping[str, str]) -> str | None:
    """The first protocol in ``Sec-WebSocket-Protocol``: the one to echo back, if any."""
    value = _header(headers, "Sec-WebSocket-Protocol")
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def token_from_request(query: Mapping[str, str], headers: Mapping[str, str]) -> Credential | None:
    """The client's token, or None when it sent none.

    Order: the query (what the URL says wins), ``X-API-KEY``, ``Authorization: Bearer``,
    then the subprotocol. Empty values count as absent.
    """
    candidates: list[tuple[str | None, str]] = [
        (query.get("access_token"), "query"),
        (_header(headers, "X-API-KEY"), "x-api-key"),
    ]
    authorization = _header(headers, "Authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        candidates.append((value.strip(), "bearer"))
    candidates.append((offered_subprotocol(headers), "subprotocol"))
    for token, source in candidates:
        if token and len(token) <= MAX_TOKEN_LENGTH:
            return Credential(token.strip(), source)
    return None
