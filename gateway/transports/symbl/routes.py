"""Symbl's WebSocket endpoints on the gateway, and the transport's place in the app.

* ``GET /v1/streaming/{connectionId}`` and its older name
  ``GET /v1/realtime/insights/{connectionId}``: the real-time API (a :class:`StreamingSocket`
  driving the connection's :class:`SymblSession`).
* ``GET /v1/subscribe/{connectionId}``: the listen-only socket.

The token may come in the query (``access_token``), ``X-API-KEY``, ``Authorization: Bearer``
or as the WebSocket subprotocol (Symbl's JS SDK in a browser); a subprotocol the client
offers is always echoed, since a browser drops the connection otherwise. Every entrance
authenticates through :func:`authenticate_ws`, the one call site that decides who may
connect. Refusals are told on the socket (Symbl's error shape) and closed cleanly, because
browsers hide HTTP handshake errors from scripts and Symbl's SDKs retry unclean closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.auth import ACCESS_KEY, Action, AuthError, Principal, refuse_websocket
from gateway.auth import websocket_response as auth_websocket_response
from gateway.auth.entrances import bind_to_handler
from gateway.auth.quotas import SessionLease
from gateway.config import SessionSettings
from gateway.conversation.insights import InsightsProvider
from gateway.http.keys import (
    ADMISSION_KEY,
    BUS_KEY,
    DIRECTORY_KEY,
    RECOGNIZER_KEY,
    SUBSCRIPTIONS_KEY,
    SYMBL_KEY,
)
from gateway.observability.live import LIVE_KEY
from gateway.protocols.symbl.endpoint import offered_subprotocol, parse_connection_id
from gateway.protocols.symbl.errors import RealtimeError, error_body
from gateway.protocols.symbl.realtime import MAX_TEXT_FRAME_BYTES
from gateway.protocols.symbl.streaming import encode
from gateway.relays.manager import RELAYS_KEY

from .endpoint import StreamingSocket
from .session import SymblServices
from .subscribe import serve_subscriber
from .transport import SymblTransport

__all__ = ["STREAMING_PATHS", "SUBSCRIBE_PATH", "authenticate_ws", "setup_symbl"]

STREAMING_PATHS = ("/v1/streaming/{connectionId}", "/v1/realtime/insights/{connectionId}")
SUBSCRIBE_PATH = "/v1/subscribe/{connectionId}"
HEARTBEAT = 20.0  # seconds between server pings; a vanished client is noticed within ~30 s
POLICY_VIOLATION = 1008


async def authenticate_ws(request: web.Request) -> Principal | AuthError:
    """Who is connecting: the one place the Symbl endpoints authenticate (origin, token,
    app, request rate; in open mode everyone is the anonymous service principal)."""
    return await request.app[ACCESS_KEY].authenticate_ws(request)


def _websocket(request: web.Request, max_msg_size: int) -> web.WebSocketResponse:
    offered = offered_subprotocol(request.headers)
    return auth_websocket_response(request, protocols=(offered,) if offered else (),
                                   heartbeat=HEARTBEAT, max_msg_size=max_msg_size)


async def _refuse(request: web.Request, error: RealtimeError | AuthError) -> web.StreamResponse:
    """Tell a refused client why on the socket, in Symbl's error shape, and close cleanly."""
    if isinstance(error, AuthError):
        return await refuse_websocket(request, error,
                                      message=error_body(error.code, error.message))
    ws = _websocket(request, 4096)
    await ws.prepare(request)
    try:
        await ws.send_str(encode(error.body()))
    except (ConnectionError, RuntimeError):
        pass
    await ws.close(code=error.close_code, message=error.code.encode())
    return ws


def _connection_id(request: web.Request) -> str | None:
    return parse_connection_id(request.match_info["connectionId"])


def _bad_connection_id() -> RealtimeError:
    return RealtimeError(
        "invalid_connection_id", "the connectionId in the path is not valid",
        details="use 1-128 letters, digits or . _ ~ : @ = + - (a UUID, or base64)",
        fatal=True, close_code=POLICY_VIOLATION)


Admitted = tuple[str, Principal, SessionLease]


async def _admit(request: web.Request, action: Action) -> Admitted | web.StreamResponse:
    """The connectionId, who connects and a slot of its token's sessions, once it may
    ``action`` the connection; or the socket that already told it why not."""
    connection_id = _connection_id(request)
    if connection_id is None:
        return await _refuse(request, _bad_connection_id())
    principal = await authenticate_ws(request)
    if isinstance(principal, AuthError):
        return await _refuse(request, principal)
    access = request.app[ACCESS_KEY]
    try:
        access.authorize(principal, action, connection_id)
        lease = access.open_session(principal)
    except AuthError as exc:
        return await _refuse(request, exc)
    return connection_id, principal, lease


async def streaming_handler(request: web.Request) -> web.StreamResponse:
    admitted = await _admit(request, Action.JOIN)
    if isinstance(admitted, web.StreamResponse):
        return admitted
    connection_id, principal, lease = admitted
    transport = request.app[SYMBL_KEY]
    owner = object()  # this socket, as the session's owner
    try:
        session = await transport.claim(connection_id, owner, lease, principal)
    except RealtimeError as exc:
        return await _refuse(request, exc)
    ws = _websocket(request, MAX_TEXT_FRAME_BYTES)
    socket = StreamingSocket(ws, session, owner=owner,
                             start_timeout=transport.services.settings.offer_timeout,
                             silence_limit=transport.silence_limit)
    try:
        await ws.prepare(request)
    except BaseException:
        await asyncio.shield(socket.closed())
        raise
    await socket.run()
    return ws


async def subscribe_handler(request: web.Request) -> web.StreamResponse:
    admitted = await _admit(request, Action.WATCH)
    if isinstance(admitted, web.StreamResponse):
        return admitted
    connection_id, principal, lease = admitted
    bind_to_handler(lease)  # released when this handler ends; its app revoked: it ends
    ws = _websocket(request, 4096)
    await ws.prepare(request)
    await serve_subscriber(ws, request.app[SYMBL_KEY], request.app[SUBSCRIPTIONS_KEY],
                           connection_id, principal)
    return ws


def setup_symbl(app: web.Application, *, insights: InsightsProvider | None,
                settings: SessionSettings) -> None:
    """Add the transport (a cleanup context: after the conversations, before the store
    closes) and its routes. Shutdown flushes it through ``SymblTransport.close_all``."""

    async def symbl_ctx(app: web.Application) -> AsyncIterator[None]:
        services = SymblServices(
            recognizer=app[RECOGNIZER_KEY], directory=app[DIRECTORY_KEY], bus=app[BUS_KEY],
            admission=app[ADMISSION_KEY], insights=insights, settings=settings,
            relays=app.get(RELAYS_KEY))
        transport = SymblTransport(
            services, max_subscribers=app[SUBSCRIPTIONS_KEY].max_per_conversation)
        app[SYMBL_KEY] = transport
        if LIVE_KEY in app:  # metrics and the drain count Symbl connections too
            app[LIVE_KEY].add("symbl", lambda: transport.sessions.values())
        yield
        await transport.close_all()

    app.cleanup_ctx.append(symbl_ctx)
    for path in STREAMING_PATHS:
        app.router.add_get(path, streaming_handler)
    app.router.add_get(SUBSCRIBE_PATH, subscribe_handler)
