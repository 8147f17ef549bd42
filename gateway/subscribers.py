"""``GET /subscribe/{conversationId}``: watch a live conversation over a WebSocket.

For support-agent consoles and dashboards, as Symbl's subscribe API was: a subscriber gets
every message of the conversation (each participant's live transcript and the shared
finals, insights and analytics), in the same shapes as the data channel. A console may
subscribe before the call starts; it is attached when the conversation begins, and the
socket closes (1000) after ``conversation_ended``.

A subscriber is a conversation sink with a bounded backlog: a slow console loses its own
oldest messages (counted) and never slows the call or other subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections import deque
from typing import Literal, Protocol

from aiohttp import WSMsgType, web

from .sinks import Message

log = logging.getLogger(__name__)

BACKLOG = 1000
CLOSE_TIMEOUT = 2.0


class SubscriberSink:
    """Writes a conversation's messages to one subscriber's WebSocket, in order."""

    name = "subscriber"

    def __init__(self, ws: web.WebSocketResponse, conversation_id: str,
                 *, backlog: int = BACKLOG) -> None:
        self.ws = ws
        self.conversation_id = conversation_id
        self._queue: deque[str] = deque()
        self._backlog = backlog
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is queued
        self._idle.set()
        self._closing = False
        self.done = asyncio.Event()  # set once the socket is closed by us
        self.sent = 0
        self.dropped = 0
        self._writer = asyncio.ensure_future(self._write())

    def send(self, message: Message) -> None:
        if self._closing:
            return
        try:
            text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            log.exception("subscriber: message not serialisable")
            return
        if len(self._queue) >= self._backlog:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("subscriber of %s is slow: dropped %d messages",
                            self.conversation_id, self.dropped)
        self._queue.append(text)
        self._idle.clear()
        self._wake.set()

    async def drain(self, timeout: float) -> None:
        if self._writer.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def close(self) -> None:
        """The conversation ended: say so, then close the socket normally."""
        self.send({"type": "conversation_ended", "conversationId": self.conversation_id})
        await self.drain(CLOSE_TIMEOUT)
        self._closing = True
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), CLOSE_TIMEOUT)
        self.done.set()

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                await self.ws.send_str(self._queue[0])
                self._queue.popleft()
                self.sent += 1
        except (ConnectionError, RuntimeError) as exc:
            log.info("subscriber of %s went away: %s", self.conversation_id, exc)
            self._queue.clear()
            self._closing = True
            self._idle.set()

    def abandon(self) -> None:
        """The subscriber left on its own: stop writing, drop what is queued."""
        self._closing = True
        self._queue.clear()
        self._writer.cancel()


class SubscriptionDirectory(Protocol):
    """Where subscribers register (``SessionManager``)."""

    def subscribe(
        self, conversation_id: str, sink: SubscriberSink
    ) -> Literal["live", "waiting"] | None:
        """Attach now ("live") or when the conversation starts ("waiting"); None when full."""

    def unsubscribe(self, conversation_id: str, sink: SubscriberSink) -> None: ...


DIRECTORY_KEY = web.AppKey("subscriptions", SubscriptionDirectory)
TOKEN_KEY = web.AppKey("subscribe_token", str)


def authorized(request: web.Request, token: str | None) -> bool:
    """Bearer header or ``access_token`` query parameter (as Symbl's subscribe API took)."""
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.query.get(
        "access_token", "")
    return hmac.compare_digest(given.encode(), token.encode())


async def subscribe_handler(request: web.Request) -> web.StreamResponse:
    from .start_config import CONVERSATION_ID

    conversation_id = request.match_info["conversation_id"]
    if not CONVERSATION_ID.match(conversation_id):
        raise web.HTTPBadRequest(text="invalid conversation id")
    if not authorized(request, request.app.get(TOKEN_KEY)):
        raise web.HTTPUnauthorized(text="a valid subscribe token is required",
                                   headers={"WWW-Authenticate": "Bearer"})
    directory = request.app[DIRECTORY_KEY]
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    sink = SubscriberSink(ws, conversation_id)
    # First in the queue, so it precedes anything the conversation sends once attached.
    sink.send({"type": "subscribed", "conversationId": conversation_id})
    state = directory.subscribe(conversation_id, sink)
    if state is None:
        sink.abandon()
        await ws.send_json({"type": "error", "code": "too_many_subscribers",
                            "message": "this conversation has its maximum of subscribers"})
        await ws.close()
        return ws
    log.info("subscriber attached to conversation %s (%s)", conversation_id, state)
    try:
        async for msg in ws:  # subscribers only listen; anything they send is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        directory.unsubscribe(conversation_id, sink)
        if not sink.done.is_set():
            sink.abandon()
    return ws

