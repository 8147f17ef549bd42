"""``GET /subscribe/{conversationId}``: watch a conversation over a WebSocket.

For support-agent consoles and dashboards, as Symbl's subscribe API was: a subscriber gets
every message of the conversation (each participant's live transcript and the shared
finals, insights and analytics), in the same shapes as the data channel. It attaches to the
bus by conversation id, so it may subscribe before the call starts; the socket closes (1000)
after ``conversation_ended``.

Consoles may ask for more (``?presence=1``: who joins, leaves, mutes; ``?snapshot=1``: the
conversation so far). The snapshot is built and the subscriber attached in one step with no
await between them, so nothing published is missed or sent twice.

Access (docs/access-control.md): the token must allow *watch* on the conversation (agents of
its tenant, services, and callers whose token names it), and holds one of its sessions while
the socket is open. A subscriber that arrives before its conversation exists cannot be
checked against a tenant yet: it is checked again when the conversation starts, and until
then it is sent nothing of the conversation. Refusals are an error frame and close 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from gateway.auth import ACCESS_KEY, ANONYMOUS, Principal, Role, websocket_response
from gateway.auth import errors as auth_errors
from gateway.auth.conversations import ConversationAccess
from gateway.auth.entrances import admit_socket
from gateway.conversation.admission import Admission
from gateway.conversation.start_config import CONVERSATION_ID
from gateway.outputs.board import ConversationBoard
from gateway.outputs.buffer import Item, StopWriting
from gateway.outputs.bus import ResultBus
from gateway.outputs.result import Result
from gateway.outputs.subscriber import CLOSE_TIMEOUT, SubscriberSink
from gateway.protocols import subscribe

log = logging.getLogger(__name__)

MAX_SUBSCRIBERS = 16
_TRUE, _FALSE = ("1", "true", "yes"), ("", "0", "false", "no")


@dataclass
class Subscriptions:
    """Who may watch which conversation (``access``), and how many watch at once."""

    bus: ResultBus
    admission: Admission
    max_per_conversation: int = MAX_SUBSCRIBERS
    board: ConversationBoard | None = None
    access: ConversationAccess | None = None  # None: no checks (a bare test application)

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


class WatcherSink(SubscriberSink):
    """A subscriber that holds its principal, to be checked again when the conversation it
    waited for starts: an agent of tenant X waiting on an id must not watch the call tenant
    Y then starts under it. Until the check passed, nothing of the conversation is sent."""

    def __init__(self, ws: web.WebSocketResponse, conversation_id: str, *,
                 principal: Principal, access: ConversationAccess | None,
                 tenant_known: bool, presence: bool = False) -> None:
        super().__init__(ws, conversation_id, presence=presence)
        self.principal = principal
        self.access = access
        self.checked = tenant_known or access is None or principal.role is Role.SERVICE
        self.withheld = 0  # results before the check, never sent
        self.refused: str | None = None  # the refusal frame, once refused
        self._closer: asyncio.Task[None] | None = None

    def serialize(self, result: Result) -> Item | None:
        if self.refused is not None:
            return None
        if result.type == "conversation_started" and result.kind == "lifecycle" \
                and self.access is not None:
            tenant = result.body.get("tenantId")
            if not self.access.may_watch(self.principal, self.conversation_id,
                                         tenant if isinstance(tenant, str) else None):
                log.info("subscriber of %s dropped: %s may not watch it", self.conversation_id,
                         self.principal.describe())
                self.refused = subscribe.error(
                    auth_errors.OTHER_TENANT,
                    f"conversation {self.conversation_id} belongs to another tenant")
                return self.refused
            self.checked = True
        elif not self.checked:
            self.withheld += 1
            return None
        return super().serialize(result)

    async def _write(self, item: Item) -> None:
        await super()._write(item)
        if self.refused is not None and item is self.refused:
            # Closed from a task of its own: the handler abandons this sink (cancelling
            # its writer) as soon as the socket starts closing, which would cut the close
            # handshake short.
            self._closer = asyncio.ensure_future(self._close_refused())
            raise StopWriting("refused when the conversation started")

    async def _close_refused(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=auth_errors.WS_POLICY_VIOLATION,
                                                 message=auth_errors.OTHER_TENANT.encode()),
                                   CLOSE_TIMEOUT)
        self.done.set()


def _still_may_watch(subscriptions: Subscriptions, sink: WatcherSink) -> bool:
    """Right before attaching (no await after it): a conversation that started while the
    socket opened will not say ``conversation_started`` to this sink, so decide now."""
    assert subscriptions.access is not None  # an unchecked sink has an access check
    live, tenant = subscriptions.access.live_tenant(sink.conversation_id)
    if not live:
        return True  # still waiting: checked when it starts
    sink.checked = subscriptions.access.may_watch(sink.principal, sink.conversation_id, tenant)
    return sink.checked


async def subscribe_handler(request: web.Request) -> web.StreamResponse:
    from .keys import SUBSCRIPTIONS_KEY

    conversation_id = request.match_info["conversation_id"]
    if not CONVERSATION_ID.match(conversation_id):
        raise web.HTTPBadRequest(text="invalid conversation id")
    presence, snapshot = flag(request, "presence"), flag(request, "snapshot")
    subscriptions = request.app[SUBSCRIPTIONS_KEY]
    known: list[str | None] = []

    async def may_watch(principal: Principal) -> None:
        if subscriptions.access is not None:
            known.append(await subscriptions.access.watch(principal, conversation_id))

    admitted = await admit_socket(request, may_watch) if ACCESS_KEY in request.app \
        else None
    if isinstance(admitted, web.StreamResponse):
        return admitted
    principal = admitted or ANONYMOUS
    ws = websocket_response(request, heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    sink = WatcherSink(ws, conversation_id, principal=principal, access=subscriptions.access,
                       tenant_known=bool(known and known[0] is not None), presence=presence)
    if not sink.checked and not _still_may_watch(subscriptions, sink):
        await ws.send_str(subscribe.error(auth_errors.OTHER_TENANT, f"conversation "
                                          f"{conversation_id} belongs to another tenant"))
        await ws.close(code=auth_errors.WS_POLICY_VIOLATION,
                       message=auth_errors.OTHER_TENANT.encode())
        return ws
    # First in the queue, so it precedes anything the conversation sends once attached.
    sink.put(subscribe.subscribed(conversation_id))
    if not subscriptions.attach(conversation_id, sink, snapshot=snapshot):
        sink.abandon()
        await ws.send_str(subscribe.error(
            "too_many_subscribers", "this conversation has its maximum of subscribers"))
        await ws.close()
        return ws
    log.info("subscriber attached to conversation %s (%s)", conversation_id,
             principal.describe())
    try:
        async for msg in ws:  # subscribers only listen; anything they send is ignored
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        subscriptions.bus.detach(conversation_id, sink)
        if not sink.done.is_set():
            sink.abandon()
    return ws
