"""The signaling endpoints: the same protocol over two carriers.

``GET /ws`` carries it over a WebSocket; where a proxy refuses the WebSocket upgrade, the
``/signal`` endpoints carry the very same messages over plain HTTP (POST for the client's
messages, server-sent events or long polling for the server's). Both feed one
``SignalingConnection`` class (``signaling.connection``), so the rules, errors and limits
are the same whichever carries them.
"""

from __future__ import annotations

from aiohttp import web

from . import http, websocket
from .connection import (
    CLOSE_GOING_AWAY,
    MAX_CANDIDATES,
    OFFER_TIMEOUT,
    RELAY_BURST,
    RELAY_PER_SECOND,
    Registry,
)
from .interface import SessionFactory
from .websocket import HARD_FRAME_LIMIT

__all__ = ["FACTORY_KEY", "HARD_FRAME_LIMIT", "MAX_CANDIDATES", "OFFER_TIMEOUT", "RELAY_BURST",
           "RELAY_PER_SECOND", "REGISTRY_KEY", "close_all_sockets", "setup_signaling"]

FACTORY_KEY: web.AppKey[SessionFactory] = web.AppKey("session_factory", SessionFactory)
REGISTRY_KEY = web.AppKey("signaling_connections", Registry)
OFFER_TIMEOUT_KEY = web.AppKey("offer_timeout", float)


def setup_signaling(app: web.Application, factory: SessionFactory | None = None,
                    *, offer_timeout: float = OFFER_TIMEOUT) -> None:
    """Mount ``/ws`` and ``/signal``; track their connections so shutdown can say goodbye."""
    if factory is not None:
        app[FACTORY_KEY] = factory
    registry = Registry()
    app[REGISTRY_KEY] = registry
    app[OFFER_TIMEOUT_KEY] = offer_timeout

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        return await websocket.serve(request, request.app[FACTORY_KEY], registry,
                                     request.app[OFFER_TIMEOUT_KEY])

    app.router.add_get("/ws", ws_handler)
    http.setup(app, lambda: app[FACTORY_KEY], registry, offer_timeout)


async def close_all_sockets(app: web.Application) -> None:
    """Close every signaling connection with 1001 (going away); sessions must be flushed
    first. HTTP connections get the same code in their close event."""
    await app[REGISTRY_KEY].close_all(CLOSE_GOING_AWAY, "server shutting down")
    await http.close_all(app)
