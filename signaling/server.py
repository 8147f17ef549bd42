"""The ``/ws`` signaling endpoint: one WebSocket, one session, JSON text messages.

The handler enforces message order (offer before candidates, one offer per connection),
turns every bad message into an ``error`` reply while keeping the connection open, and
always releases the session when the socket goes away, however it goes away.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from . import protocol
from .interface import SessionError, SessionFactory, SignalingSession
from .protocol import Bye, Candidate, Mute, Offer, Peer, Ping, ProtocolError
from .rate import TokenBucket

log = logging.getLogger(__name__)

# aiohttp closes the socket (1009) above this; below it we answer with an error instead.
HARD_FRAME_LIMIT = 4 * protocol.MAX_MESSAGE_BYTES
MAX_CANDIDATES = 200
# Messages that reach other participants (peer, mute): a browser's negotiation with each
# other participant is ~20 (description and trickled candidates), more under glare or an ICE
# restart. The burst allows a whole mesh to negotiate at once; the rate stops a client that
# would flood the others.
RELAY_BURST = 100
RELAY_PER_SECOND = 20.0
# A connection counts against --max-sessions from its first byte: one that never offers
# must not hold its slot for ever.
OFFER_TIMEOUT = 30.0

FACTORY_KEY: web.AppKey[SessionFactory] = web.AppKey("session_factory", SessionFactory)
Entrance = Callable[[web.Request], Awaitable[Any]]
"""Checks a connecting client before anything else (the gateway's access control): returns
who it is (handed to ``SessionFactory.open`` unexamined), or the response that already
refused it, which the handler returns as is."""
ENTRANCE_KEY: web.AppKey[Entrance] = web.AppKey("signaling_entrance")
SOCKETS_KEY = web.AppKey("signaling_sockets", set[web.WebSocketResponse])
OFFER_TIMEOUT_KEY = web.AppKey("offer_timeout", float)


def setup_signaling(app: web.Application, factory: SessionFactory | None = None,
                    *, offer_timeout: float = OFFER_TIMEOUT) -> None:
    """Mount ``/ws`` and track its sockets so shutdown can say goodbye to each."""
    if factory is not None:
        app[FACTORY_KEY] = factory
    app[SOCKETS_KEY] = set()
    app[OFFER_TIMEOUT_KEY] = offer_timeout
    app.router.add_get("/ws", websocket_handler)


async def close_all_sockets(app: web.Application) -> None:
    """Close every signaling socket with 1001 (going away); sessions must be flushed first."""
    open_sockets = app[SOCKETS_KEY]
    for ws in tuple(open_sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


class _Connection:
    """State of one signaling connection."""

    def __init__(self, ws: web.WebSocketResponse, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.session: SignalingSession | None = None
        self.started = False
        self.answered = asyncio.Event()
        self.ending = False  # the handler itself is closing (bye): no second goodbye
        self.candidates = 0
        self.relayed = TokenBucket(RELAY_BURST, RELAY_PER_SECOND)
        self.send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        async with self.send_lock:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("session %s: send failed: %s", self.session_id, exc)

    async def send_error(self, code: str, message: str,
                         details: Mapping[str, Any] | None = None) -> None:
        log.info("session %s: error %s: %s", self.session_id, code, message)
        await self.send(protocol.error(code, message, details))


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    factory = request.app[FACTORY_KEY]
    principal = await _admit(request)
    if isinstance(principal, web.StreamResponse):
        return principal  # refused, and told why
    ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_LIMIT, heartbeat=20.0)
    await ws.prepare(request)
    sockets = request.app[SOCKETS_KEY]
    sockets.add(ws)
    conn = _Connection(ws, str(uuid.uuid4()))
    try:
        conn.session = factory.open(conn.session_id, conn.send, principal)
    except SessionError as exc:
        await conn.send_error(exc.code, exc.message)
        await ws.close()
        sockets.discard(ws)
        return ws
    log.info("session %s: signaling connected from %s", conn.session_id, request.remote)
    watcher = asyncio.ensure_future(_watch(conn, request.app[OFFER_TIMEOUT_KEY]))
    try:
        await conn.send(protocol.hello(conn.session_id, factory.ice_servers(conn.session_id)))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if not await _handle_text(conn, msg.data):
                    break
            elif msg.type == WSMsgType.BINARY:
                await conn.send_error(
                    "unsupported_binary",
                    "binary frames are not accepted: audio travels over WebRTC, "
                    "signaling is JSON text",
                )
            elif msg.type == WSMsgType.ERROR:
                log.info("session %s: websocket error: %s", conn.session_id, ws.exception())
                break
    finally:
        watcher.cancel()
        sockets.discard(ws)
        # Shielded: if the server cancels this handler, the flush still completes.
        await asyncio.shield(conn.session.close())
        if not ws.closed:
            await ws.close()
        log.info("session %s: signaling closed", conn.session_id)
    return ws


async def _admit(request: web.Request) -> Any:
    """The entrance's verdict (None when the app installed no entrance)."""
    entrance = request.app.get(ENTRANCE_KEY)
    return None if entrance is None else await entrance(request)


async def _watch(conn: _Connection, offer_timeout: float) -> None:
    """Close the socket when nobody offers in time, or when the session ends by itself.

    A session can end without the client asking (its peer connection failed or closed,
    no media in time, shutdown): the reason was already sent as an error; the socket is
    then closed with 1000 so the client does not wait on a dead session.
    """
    assert conn.session is not None
    try:
        await asyncio.wait_for(conn.answered.wait(), offer_timeout)
    except TimeoutError:
        await conn.send_error("offer_timeout", f"no offer within {offer_timeout:.0f} s")
        await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"offer timeout")
        return
    await conn.session.wait_closed()
    if not conn.ending and not conn.ws.closed:
        await conn.ws.close(code=WSCloseCode.OK, message=b"session ended")


async def _handle_text(conn: _Connection, text: str) -> bool:
    """Handle one message; return False when the connection should end."""
    assert conn.session is not None
    try:
        message = protocol.parse(text)
        if isinstance(message, Offer):
            if conn.started:
                raise ProtocolError(
                    "already_started", "this connection already has a session; open a new one"
                )
            conn.started = True
            reply = await conn.session.start(message.sdp, message.config, message.features)
            await conn.send(protocol.answer(reply))
            conn.answered.set()
            for code, text in reply.warnings:
                await conn.send_error(code, text)
            conn.session.answered()
        elif isinstance(message, Candidate):
            if not conn.started:
                raise ProtocolError("no_session", "send an offer before candidates")
            conn.candidates += 1
            if conn.candidates > MAX_CANDIDATES:
                raise ProtocolError("too_many_candidates", f"at most {MAX_CANDIDATES} candidates")
            await conn.session.add_candidate(message.candidate)
        elif isinstance(message, Bye):
            conn.ending = True
            if conn.started:
                await conn.session.stop()
            await conn.send({"type": "bye"})
            return False
        elif isinstance(message, Ping):
            await conn.send({"type": "pong"})
        elif isinstance(message, Peer | Mute):
            if not conn.answered.is_set():
                raise ProtocolError("no_session", f"send an offer (and wait for the answer) "
                                    f"before '{type(message).__name__.lower()}' messages")
            if not conn.relayed.take():
                raise ProtocolError(
                    "rate_limited", f"too many peer and mute messages (at most {RELAY_BURST} "
                    f"at once, {RELAY_PER_SECOND:.0f} per second); this one was dropped")
            if isinstance(message, Peer):
                await conn.session.peer(message.to, message.data)
            else:
                await conn.session.mute(message.muted)
    except ProtocolError as exc:
        await conn.send_error(exc.code, exc.message)
    except SessionError as exc:
        await conn.send_error(exc.code, exc.message, exc.details)
        if exc.fatal:
            return False
        if exc.retryable:
            conn.started = False  # nothing was set up; let the client offer again
    except Exception:
        log.exception("session %s: unexpected failure", conn.session_id)
        await conn.send_error("internal_error", "the server failed to handle that message")
        return False
    return True

