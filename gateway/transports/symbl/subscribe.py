"""``GET /v1/subscribe/{connectionId}``: Symbl's listen-only socket, on the console fan-out.

Symbl's subscribe API took the *connectionId* of a streaming connection ("the same
connectionId that is generated with the Streaming API can be used", docs/subscribe-api.md)
and sent the same messages the connection got. Here a subscriber is exactly a console of
``/subscribe/{conversationId}`` (a :class:`SubscriberSink` admitted by
:class:`Subscriptions`), attached to the conversation that connection joined — at once if
it is live, else the moment it starts. So it sees every result of the conversation, in the
same shapes, and closes (1000) after ``conversation_ended``.

Who may listen is checked twice: the handshake checks the token's scope for the
connectionId (``authorize(WATCH)``), and the moment the conversation is known, before the
subscriber is attached, its tenant (``ConversationAccess.may_watch``): a subscriber of
another tenant is told ``conversation_of_other_tenant`` and closed with 1008, having seen
nothing of the conversation, as on ``/subscribe/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from gateway.auth import Principal
from gateway.auth import errors as auth_errors
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

    def __init__(self, ws: web.WebSocketResponse, subscriptions: Subscriptions, *,
                 connection_id: str, principal: Principal | None = None) -> None:
        self.ws = ws
        self.subscriptions = subscriptions
        self.connection_id = connection_id
        self.principal = principal
        self.sink: SubscriberSink | None = None
        self.refused = False
        self._leaving: asyncio.Future[None] | None = None

    def attach(self, conversation_id: str, tenant: str | None) -> bool:
        """On the bus now (synchronously: nothing published after this call is missed), if
        the principal may watch a conversation of ``tenant``; else refused and closed."""
        if not self._may_watch(tenant):
            log.info("subscriber of connection %s refused: conversation %s is of another "
                     "tenant", self.connection_id, conversation_id)
            self.refused = True
            self._leaving = asyncio.ensure_future(self.leave(
                auth_errors.WS_POLICY_VIOLATION, subscribe.error(
                    auth_errors.OTHER_TENANT,
                    f"connection {self.connection_id} belongs to another tenant")))
            return False
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

    async def left(self) -> None:
        """Wait until a refused subscriber's socket is told and closed."""
        if self._leaving is not None:
            await self._leaving

    def _may_watch(self, tenant: str | None) -> bool:
        access = self.subscriptions.access
        if access is None or self.principal is None:  # no access control here
            return True
        return access.may_watch(self.principal, self.connection_id, tenant)

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
                           subscriptions: Subscriptions, connection_id: str,
                           principal: Principal | None = None) -> None:
    """Attach (or park) the subscriber, then read until it leaves; it only listens."""
    pending = PendingSubscriber(ws, subscriptions, connection_id=connection_id,
                                principal=principal)
    conversation_id = transport.conversation_of(connection_id)
    if conversation_id is not None:
        if not pending.attach(conversation_id, transport.tenant_of(conversation_id)):
            await pending.left()
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
