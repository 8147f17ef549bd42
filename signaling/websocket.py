"""The WebSocket carrier of signaling: ``GET /ws``, one JSON text frame per message.

``/ws?resume=<sessionId>`` tells the server the client comes to resume that session: no new
session (and no admission slot) is opened for the connection unless it offers after all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from . import protocol
from .connection import Registry, SignalingConnection
from .entrance import admit_websocket
from .interface import SessionFactory

log = logging.getLogger("signaling.server")

# aiohttp closes the socket (1009) above this; below it we answer with an error instead.
HARD_FRAME_LIMIT = 4 * protocol.MAX_MESSAGE_BYTES
HEARTBEAT = 20.0


class WebSocketCarrier:
    """Implements ``signaling.connection.Carrier`` over one aiohttp WebSocket."""

    kind = "websocket"

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._send_lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, message: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("websocket send failed: %s", exc)

    async def close(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])


async def serve(request: web.Request, factory: SessionFactory, registry: Registry,
                offer_timeout: float) -> web.StreamResponse:
    """Run one ``/ws`` connection until its socket closes, however it closes."""
    principal = await admit_websocket(request)
    if isinstance(principal, web.StreamResponse):
        return principal  # refused by the entrance, and told why
    ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_LIMIT, heartbeat=HEARTBEAT)
    await ws.prepare(request)
    conn = SignalingConnection(factory, WebSocketCarrier(ws), registry,
                               offer_timeout=offer_timeout, remote=request.remote,
                               resuming=bool(request.query.get("resume")),
                               principal=principal)
    if not await conn.open():
        return ws
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if not await conn.receive(msg.data):
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
        await conn.lost()
        if not ws.closed:
            await ws.close()
    return ws
