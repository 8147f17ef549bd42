"""Who may open a signaling connection: a check the application installs (access control).

Signaling itself knows nothing of tokens or apps. Before a connection exists, each carrier
asks the entrance at ``ENTRANCE_KEY`` (if the application installed one) who the client is;
the answer, a principal, is handed to ``SessionFactory.open``/``resume`` unexamined, and the
session decides what it may join. A refusal never reaches the protocol: the WebSocket
carrier returns the response the entrance already sent; the HTTP carrier lets the
entrance's HTTP error through.
"""

from __future__ import annotations

from collections.abc import Callable
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


ENTRANCE_KEY: web.AppKey[Entrance] = web.AppKey("signaling_entrance", Entrance)


async def admit_websocket(request: web.Request) -> Any:
    """The entrance's verdict for a WebSocket (None when no entrance is installed)."""
    entrance = request.app.get(ENTRANCE_KEY)
    return None if entrance is None else await entrance.websocket(request)


async def admit_http(request: web.Request) -> tuple[Any, Release | None]:
    """The entrance's verdict for an HTTP connection (None, None when none is installed)."""
    entrance = request.app.get(ENTRANCE_KEY)
    if entrance is None:
        return None, None
    return await entrance.http(request)
