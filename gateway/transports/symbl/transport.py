"""The Symbl transport's front door: sessions by ``connectionId``, admission, shutdown.

A socket claims the session its ``connectionId`` names: a new one (admitted: it counts
against ``--max-sessions`` from its first byte, like a WebRTC connection), or one whose
socket dropped and that is waiting for a reconnect (no new ticket: it still holds its own).
A session with a live socket is refused to a second one, unless it asked to outlive its
socket: then the newcomer is its reconnect and takes over. Only its own principal takes a
session over (:func:`.resume.check_resume`): a connectionId is a name, not a credential, and
whoever learnt one must not be able to hijack the stream or hear its results.

Listen-only subscribers (``/v1/subscribe/{connectionId}``) may come before the connection
does; they wait here and are attached to the conversation the moment the connection joins
one, before any result is published.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.auth import AuthError, Principal
from gateway.conversation.admission import Refused
from gateway.protocols.symbl.errors import RealtimeError

from .endpoint import SILENT_MEETING_LIMIT
from .resume import check_resume
from .session import Releasable, State, SymblServices, SymblSession
from .subscribe import PendingSubscriber

log = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001
MAX_WAITING = 1000  # subscribers waiting for connections that have not started, in all


class SymblTransport:
    def __init__(self, services: SymblServices, *, max_subscribers: int = 16,
                 silence_limit: float = SILENT_MEETING_LIMIT) -> None:
        self.services = services
        self.max_subscribers = max_subscribers
        self.silence_limit = silence_limit  # a streaming socket silent this long is ended
        self.sessions: dict[str, SymblSession] = {}
        self._waiting: dict[str, list[PendingSubscriber]] = {}

    # -- streaming sockets -------------------------------------------------------------------

    async def claim(self, connection_id: str, owner: object,
                    lease: Releasable | None = None,
                    principal: Principal | None = None) -> SymblSession:
        """The session a new socket (``owner``) for ``connection_id`` drives; RealtimeError
        (fatal) when the id is in use or the gateway is full or shutting down.

        A session that asked to outlive its socket (``noConnectionTimeout``) is taken over
        even while its old socket looks alive: a reconnecting client is usually faster than
        the heartbeat that would notice the old socket died. Without it, a second socket is
        refused. ``lease`` (an access-control session slot) is kept by a new session and
        released at once when the socket resumes one that already holds a slot.
        ``principal`` (who connects) owns a new session, which creates its conversation in
        the principal's tenant; resuming one is for the same principal only (checked before
        anything of the session is touched, so a refused intruder never displaces it).
        """
        session = self.sessions.get(connection_id)
        if session is not None and session.state is not State.ENDED:
            try:
                check_resume(session, principal)
            except AuthError as exc:
                if lease is not None:
                    lease.release()
                raise RealtimeError(exc.code, exc.message, details=(
                    "this connectionId belongs to another client's connection; use a "
                    "connectionId of your own"), fatal=True) from None
            if session.owner is not None and session.resumable:
                await session.displace()
            elif session.owner is not None or session.state is not State.DETACHED:
                if lease is not None:
                    lease.release()
                raise RealtimeError(
                    "connection_in_use", f"connection {connection_id!r} already has a socket",
                    details="use another connectionId, or close the other socket first",
                    fatal=True)
            session.owner = owner
            if lease is not None:
                lease.release()
            return session
        try:
            ticket = self.services.admission.admit("symbl")
        except Refused as exc:
            if lease is not None:
                lease.release()
            raise RealtimeError(exc.code, exc.message, details="try again later", fatal=True,
                                close_code=TRY_AGAIN_LATER) from None
        session = SymblSession(connection_id, self.services, ticket=ticket, lease=lease,
                               principal=principal, on_joined=self._joined,
                               on_closed=self._closed)
        session.owner = owner
        self.sessions[connection_id] = session
        return session

    def _closed(self, session: SymblSession) -> None:
        if self.sessions.get(session.connection_id) is session:
            del self.sessions[session.connection_id]

    # -- listen-only subscribers -----------------------------------------------------------------

    def conversation_of(self, connection_id: str) -> str | None:
        """The live conversation a subscriber of ``connection_id`` watches, if any yet:
        the Symbl connection's, or a conversation of that id (a WebRTC call's)."""
        session = self.sessions.get(connection_id)
        if session is not None and session.joined:
            return session.conversation_id
        conversation = self.services.directory.get(connection_id)
        if conversation is not None and not conversation.ended:
            return conversation.id
        return None

    def wait(self, connection_id: str, pending: PendingSubscriber) -> bool:
        """Park a subscriber until ``connection_id`` joins a conversation; False if full."""
        waiting = self._waiting.setdefault(connection_id, [])
        total = sum(len(w) for w in self._waiting.values())
        if len(waiting) >= self.max_subscribers or total >= MAX_WAITING:
            if not waiting:
                del self._waiting[connection_id]
            return False
        waiting.append(pending)
        return True

    def unwait(self, connection_id: str, pending: PendingSubscriber) -> None:
        waiting = self._waiting.get(connection_id)
        if waiting is not None and pending in waiting:
            waiting.remove(pending)
            if not waiting:
                del self._waiting[connection_id]

    def tenant_of(self, conversation_id: str) -> str | None:
        """The tenant of a live conversation (None: unknown, or made without one)."""
        conversation = self.services.directory.get(conversation_id)
        return conversation.tenant if conversation is not None else None

    def _joined(self, session: SymblSession) -> None:
        tenant = self.tenant_of(session.conversation_id)
        for pending in self._waiting.pop(session.connection_id, []):
            pending.attach(session.conversation_id, tenant)

    # -- shutdown --------------------------------------------------------------------------------

    async def close_all(self) -> None:
        """Stop admitting; flush every session (its last results reach its socket and the
        conversation's outputs), close its socket with 1001; let waiting subscribers go."""
        self.services.admission.drain()
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d Symbl connections", len(sessions))
            await asyncio.gather(*(s.finish(code=GOING_AWAY) for s in sessions),
                                 return_exceptions=True)
        waiting = [p for w in self._waiting.values() for p in w]
        self._waiting.clear()
        await asyncio.gather(*(p.leave(GOING_AWAY) for p in waiting),
                             return_exceptions=True)
