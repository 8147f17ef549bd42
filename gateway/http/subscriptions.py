"""``GET /subscribe/{conversationId}``: watch a conversation over a WebSocket.

For support-agent consoles and dashboards, as Symbl's subscribe API was: a subscriber gets
every message of the conversation (each participant's live transcript and the shared
finals, insights and analytics), in the same shapes as the data channel. It attaches to the
bus by conversation id, so it may subscribe before the call starts; the socket closes (1000)
after ``conversation_ended``.

Consoles may ask for more (``?presence=1``: who joins, leaves, mutes; ``?snapshot=1``: the
conversation so far). The snapshot is built and the subscriber attached in one step with no
await between them, so nothing published is missed or sent twice.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Literal

from aiohttp import WSMsgType, web

from gateway.conversation.admission import Admission
from gateway.conversation.start_config import CONVERSATION_ID
from gateway.outputs.board import ConversationBoard
from gateway.outputs.bus import ResultBus
from gateway.outputs.subscriber import SubscriberSink
from gateway.protocols import subscribe

log = logging.getLogger(__name__)

MAX_SUBSCRIBERS = 16
_TRUE, _FALSE = ("1", "true", "yes"), ("", "0", "false", "no")


@dataclass
class Subscriptions:
    """Who may watch conversations (this socket, the conversation list and its feed), and
    how many at once. ``authorized`` is the one check every watching endpoint makes."""

    bus: ResultBus
    admission: Admission
    token: str | None = None
    max_per_conversation: int = MAX_SUBSCRIBERS
    board: ConversationBoard | None = None

    @property
    def access(self) -> Literal["open", "token"]:
        return "token" if self.token else "open"

    def authorized(self, request: web.Request) -> bool:
        """Bearer header or ``access_token`` query parameter (as Symbl's subscribe API took)."""
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.query.get(
            "access_token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def has_room(self, conversation_id: str) -> bool:
        return self.admission.accepting and self.bus.count(
            conversation_id, SubscriberSink.name) < self.max_per_conversation

    def attach(self, conversation_id: str, sink: SubscriberSink, *,
               snapshot: bool = False) -> bool:
        """Attach (after the snapshot, if asked for); False when there is no room."""
        if not self.has_room(conversation_id):
            return False
        if snapshot:
            summary = self.board.get(conversation_id) if self.board is not None else None
            sink.put(subscribe.snapshot(
                conversation_id, summary.to_json() if summary is not None else None,
                summary.replay() if summary is not None else ()))
        self.bus.attach(conversation_id, sink)
        return True


def flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise web.HTTPBadRequest(text=f"{name}: expected 1 or 0, got {value[:20]!r}")


async def subscribe_handler(request: web.Request) -> web.StreamResponse:
    from .keys import SUBSCRIPTIONS_KEY

    conversation_id = request.match_info["conversation_id"]
    if not CONVERSATION_ID.match(conversation_id):
        raise web.HTTPBadRequest(text="invalid conversation id")
    subscriptions = request.app[SUBSCRIPTIONS_KEY]
    if not subscriptions.authorized(request):
        raise web.HTTPUnauthorized(text="a valid subscribe token is required",
                                   headers={"WWW-Authenticate": "Bearer"})
    presence, snapshot = flag(request, "presence"), flag(request, "snapshot")
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    sink = SubscriberSink(ws, conversation_id, presence=presence)
    # First in the queue, so it precedes anything the conversation sends once attached.
    sink.put(subscribe.subscribed(conversation_id))
    if not subscriptions.attach(conversation_id, sink, snapshot=snapshot):
        sink.abandon()
        await ws.send_str(subscribe.error(
            "too_many_subscribers", "this conversation has its maximum of subscribers"))
        await ws.close()
        return ws
    log.info("subscriber attached to conversation %s", conversation_id)
    try:
        async for msg in ws:  # subscribers only listen; anything they send is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        subscriptions.bus.detach(conversation_id, sink)
        if not sink.done.is_set():
            sink.abandon()
    return ws
