"""``GET /subscribe/{conversationId}``: watch a conversation over a WebSocket.

For support-agent consoles and dashboards, as Symbl's subscribe API was: a subscriber gets
every message of the conversation (each participant's live transcript and the shared
finals, insights and analytics), in the same shapes as the data channel. It attaches to the
bus by conversation id, so it may subscribe before the call starts; the socket closes (1000)
after ``conversation_ended``.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from gateway.conversation.admission import Admission
from gateway.conversation.start_config import CONVERSATION_ID
from gateway.outputs.bus import ResultBus
from gateway.outputs.subscriber import SubscriberSink
from gateway.protocols import subscribe

log = logging.getLogger(__name__)

MAX_SUBSCRIBERS = 16


@dataclass
class Subscriptions:
    """The subscribe endpoint's policy: who may watch, and how many at once."""

    bus: ResultBus
    admission: Admission
    token: str | None = None
    max_per_conversation: int = MAX_SUBSCRIBERS

    def authorized(self, request: web.Request) -> bool:
        """Bearer header or ``access_token`` query parameter (as Symbl's subscribe API took)."""
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.query.get(
            "access_token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def attach(self, conversation_id: str, sink: SubscriberSink) -> bool:
        if not self.admission.accepting:
            return False
        if self.bus.count(conversation_id, SubscriberSink.name) >= self.max_per_conversation:
            return False
        self.bus.attach(conversation_id, sink)
        return True


async def subscribe_handler(request: web.Request) -> web.StreamResponse:
    from .keys import SUBSCRIPTIONS_KEY

    conversation_id = request.match_info["conversation_id"]
    if not CONVERSATION_ID.match(conversation_id):
        raise web.HTTPBadRequest(text="invalid conversation id")
    subscriptions = request.app[SUBSCRIPTIONS_KEY]
    if not subscriptions.authorized(request):
        raise web.HTTPUnauthorized(text="a valid subscribe token is required",
                                   headers={"WWW-Authenticate": "Bearer"})
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    sink = SubscriberSink(ws, conversation_id)
    # First in the queue, so it precedes anything the conversation sends once attached.
    sink.put(subscribe.subscribed(conversation_id))
    if not subscriptions.attach(conversation_id, sink):
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
