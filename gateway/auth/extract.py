"""Where clients put their token, as Symbl's clients and docs do it.

- ``Authorization: Bearer <token>``: Symbl's REST docs (Conversation API) and Go SDK.
- ``x-api-key: <token>``: Symbl's "deprecated" header, still what its Python SDK sends on
  the streaming WebSocket and its telephony docs show.
- ``?access_token=<token>``: Symbl's WebSocket endpoints in every browser snippet, and
  the subscribe API.
- ``Sec-WebSocket-Protocol: <token>``: Symbl's JS SDK (``@symblai/symbl-js``, used by the
  Web SDK) opens ``new W3CWebSocket(url, accessToken, ...)``: in a browser, where no
  header can be set, the token travels as the requested subprotocol. Only a value with
  a JWT's shape counts, so real subprotocols are never taken for tokens, and the
  WebSocket answer must echo it (:func:`token_subprotocols`) or the browser drops the
  connection.

Two different tokens in one request are refused (``conflicting_tokens``) rather than
picking one: a proxy that checked one and a gateway that used the other would disagree.
"""

from __future__ import annotations

import re

from aiohttp import hdrs, web

from .errors import CONFLICTING_TOKENS, bad_request

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.strip().partition(" ")
    # Other schemes (Basic for a proxy in front) are not ours to judge: ignored.
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_subprotocols(request: web.Request) -> tuple[str, ...]:
    """The requested WebSocket subprotocols that are tokens (to echo in the answer)."""
    header = request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "")
    return tuple(p for p in (v.strip() for v in header.split(",")) if _JWT_SHAPE.match(p))


def find_token(request: web.Request) -> str | None:
    """The token the request carries, None if none; 400 when two differ."""
    candidates = [
        _bearer(request),
        (request.headers.get("x-api-key") or "").strip() or None,
        request.query.get("access_token") or None,
        *token_subprotocols(request),
    ]
    found = {c for c in candidates if c}
    if len(found) > 1:
        raise bad_request(CONFLICTING_TOKENS, "the request carries two different tokens")
    return found.pop() if found else None
