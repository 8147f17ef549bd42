"""``GET /v1/subscribe/{connectionId}``: Symbl's listen-only socket, on the console fan-out.

Symbl's subscribe API took the *connectionId* of a streaming connection ("the same
connectionId that is generated with the Streaming API can be used", docs/subscribe-api.md)
and sent the same messages the connection got. Here a subscriber is exactly a console of
``/subscribe/{conversationId}`` (a :class:`SubscriberSink` admitted by
:class:`Subscriptions`), attached to the conversation that connection joined — at once if
it is live, else the moment it starts. So it sees every result of the conversation, in the
same shapes, and closes (1000) after ``conversation_ended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from gateway.http.subscriptions import Subscriptions
from gateway.outputs.subscriber import SubscriberSink
from gateway.protocols import subscribe

if TYPE_CHECKING:
    from .transport import SymblTransport

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0
TRY_AGAIN_LATER = 1013


class PendingSubscriber:
    """A subscriber socket, attached to its conversation's bus once that is known."""

    def __init__(self, ws: web.WebSocketResponse, subscriptions: Subscriptions) -> None:
        self.ws = ws
        self.subscriptions = subscriptions
        self.sink: SubscriberSink | None = None
        self.refused = False
        self._leaving: asyncio.Future[None] | None = None

    def attach(self, conversation_id: str) -> bool:
        """On the bus now (synchronously: nothing published after this call is missed)."""
        sink = SubscriberSink(self.ws, conversation_id)
        sink.put(subscribe.subscribed(conversation_id))  # first in its queue
        if not self.subscriptions.attach(conversation_id, sink):
            sink.abandon()
            self.refused = True
            self._leaving = asyncio.ensure_future(self.leave(TRY_AGAIN_LATER, subscribe.error(
                "too_many_subscribers", "this conversation has its maximum of subscribers")))
            return False
        self.sink = sink
        log.info("subscriber attached to conversation %s", conversation_id)
        return True

    async def leave(self, code: int, last_words: str | None = None) -> None:
        """Close the socket ourselves (refused, or shutdown before the call started)."""
        with contextlib.suppress(Exception):
            if last_words is not None:
                await self.ws.send_str(last_words)
            await asyncio.wait_for(self.ws.close(code=code), CLOSE_TIMEOUT)

    def detach(self) -> None:
        sink = self.sink
        if sink is None:
            return
        self.subscriptions.bus.detach(sink.conversation_id, sink)
        if not sink.done.is_set():
            sink.abandon()


async def serve_subscriber(ws: web.WebSocketResponse, transport: SymblTransport,
                           subscriptions: Subscriptions, connection_id: str) -> None:
    """Attach (or park) the subscriber, then read until it leaves; it only listens."""
    pending = PendingSubscriber(ws, subscriptions)
    conversation_id = transport.conversation_of(connection_id)
    if conversation_id is not None:
        if not pending.attach(conversation_id):
            return
    elif not subscriptions.admission.accepting or not transport.wait(connection_id, pending):
        await pending.leave(TRY_AGAIN_LATER, subscribe.error(
            "too_many_subscribers", "too many subscribers are waiting for this connection"))
        return
    try:
        async for msg in ws:  # anything a subscriber sends is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        transport.unwait(connection_id, pending)
        pending.detach()
