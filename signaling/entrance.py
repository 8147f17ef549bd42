"""Who may open a signaling connection: a check the application installs (access control).

Signaling itself knows nothing of tokens or apps. Before a connection exists, each carrier
asks the entrance at ``ENTRANCE_KEY`` (if the application installed one) who the client is;
the answer, a principal, is handed to ``SessionFactory.open``/``resume`` unexamined, and the
session decides what it may join. A refusal never reaches the protocol: the WebSocket
carrier returns the response the entrance already sent; the HTTP carrier lets the
entrance's HTTP error through. The entrance also says which other origins' pages may use
the HTTP carrier (``cors``): a page redirected to a node on another host name reaches it
with ``fetch``, which the browser allows only with CORS answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

Release = Callable[[], None]


class Entrance(Protocol):
    async def websocket(self, request: web.Request) -> Any:
        """The principal, or a ``web.StreamResponse`` that already refused the client.

        Whatever the entrance holds for the client (a slot of its token's sessions) lasts as
        long as the handler's task."""
        ...

    async def http(self, request: web.Request) -> tuple[Any, Release]:
        """The principal and what to call when its connection ends (the HTTP carrier's
        connection outlives the request that opened it); raises ``web.HTTPException`` or
        the application's own refusal to refuse."""
        ...

    def cors(self, request: web.Request) -> Mapping[str, str]:
        """CORS answer headers for a page of another origin allowed to signal here
        (``Access-Control-Allow-Origin`` and its companions); empty when it is not."""
        ...


ENTRANCE_KEY: web.AppKey[Entrance] = web.AppKey("signaling_entrance", Entrance)


async def admit_websocket(request: web.Request) -> Any:
    """The entrance's verdict for a WebSocket (None when no entrance is installed)."""
    entrance = request.app.get(ENTRANCE_KEY)
    return None if entrance is None else await entrance.websocket(request)


def cors_for(request: web.Request) -> Mapping[str, str]:
    """The entrance's CORS headers for ``request`` (none without an entrance: same origin
    only)."""
    entrance = request.app.get(ENTRANCE_KEY)
    return {} if entrance is None else entrance.cors(request)


async def admit_http(request: web.Request) -> tuple[Any, Release | None]:
    """The entrance's verdict for an HTTP connection (None, None when none is installed)."""
    entrance = request.app.get(ENTRANCE_KEY)
    if entrance is None:
        return None, None
    return await entrance.http(request)
