"""One signaling connection, whatever carries it: the protocol's rules in one place.

A connection is a client talking to one session through a *carrier*: a WebSocket (``/ws``)
or, where a proxy blocks WebSockets, HTTP requests (``/signal``). The carrier only moves
JSON messages; everything the protocol promises lives here, once: ``hello`` first, message
order (one offer or resume per connection, candidates after it), an ``error`` reply for
every bad message with the connection kept open, the offer timeout, the rate limit of
relayed messages, and closing the carrier when the session ends by itself.

A session whose client asked for ``resume`` outlives its connection: a new connection may
continue it (``resume``) within its grace period. The registry knows which connection each
session is bound to, so a resume can take a session over from a connection that has not
noticed yet that its client is gone (a half-open TCP connection); the connection taken over
then closes without ending the session.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from . import protocol
from .interface import SessionError, SessionFactory, SignalingSession
from .protocol import Bye, Candidate, Mute, Offer, Peer, Ping, ProtocolError, Resume
from .rate import TokenBucket

log = logging.getLogger("signaling.server")

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
# Connections that came to resume hold no admission slot until they resume or offer; this
# many at once at most (more are admitted like any other connection).
MAX_PENDING_RESUMES = 256

# WebSocket close codes, used by both carriers (HTTP reports them in its close event).
CLOSE_OK = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_RESUMED_ELSEWHERE = 4001  # another connection resumed this connection's session


class Carrier(Protocol):
    """What moves a connection's messages: ``send`` never raises (a gone client is skipped)."""

    kind: str  # "websocket" or "http"

    @property
    def closed(self) -> bool: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Registry:
    """The open connections of one application, and the connection each session is bound to."""

    def __init__(self) -> None:
        self.connections: set[SignalingConnection] = set()
        self._bound: dict[str, SignalingConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, session_id: str, connection: SignalingConnection) -> SignalingConnection | None:
        """``connection`` now carries ``session_id``; returns the one it took it from."""
        previous = self._bound.get(session_id)
        self._bound[session_id] = connection
        return previous if previous is not connection else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, holding a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending_resumes(self) -> int:
        return sum(1 for c in self.connections if c.resuming and c.session is None)

    def unbind(self, session_id: str, connection: SignalingConnection) -> None:
        if self._bound.get(session_id) is connection:
            del self._bound[session_id]

    async def close_all(self, code: int = CLOSE_GOING_AWAY,
                        reason: str = "server shutting down") -> None:
        for connection in tuple(self.connections):
            await connection.carrier.close(code, reason)


class SignalingConnection:
    """The protocol's state for one connection; carriers feed it text and report its end."""

    def __init__(self, factory: SessionFactory, carrier: Carrier, registry: Registry, *,
                 offer_timeout: float = OFFER_TIMEOUT, remote: str | None = None,
                 resuming: bool = False, principal: Any = None,
                 release: Callable[[], None] | None = None) -> None:
        self.factory = factory
        self.principal = principal  # who the entrance found the client to be
        self._release = release  # what the entrance holds for this connection
        self.carrier = carrier
        self.registry = registry
        self.offer_timeout = offer_timeout
        self.remote = remote
        # The client says it comes to resume: no session (and no admission slot) is opened
        # for it unless it offers after all, so a full server still takes resumes.
        self.resuming = resuming
        self.session_id = str(uuid.uuid4())
        self.session: SignalingSession | None = None
        self.started = False  # an offer or resume is being (or was) handled
        self.answered = asyncio.Event()  # a session is bound: answered, or resumed
        self.ending = False  # the connection itself is closing (bye): no second goodbye
        self.superseded = False  # a resume took the session to another connection
        self.candidates = 0
        self.relayed = TokenBucket(RELAY_BURST, RELAY_PER_SECOND)
        self._watcher: asyncio.Task[None] | None = None

    # -- the carrier's side -------------------------------------------------------------

    async def open(self) -> bool:
        """Greet the client (after opening its session); False when it was refused."""
        if self.resuming and self.registry.pending_resumes() >= MAX_PENDING_RESUMES:
            self.resuming = False
        self.registry.connections.add(self)
        if not self.resuming:
            try:
                self.session = self.factory.open(self.session_id, self.send, self.principal)
            except SessionError as exc:
                await self.send_error(exc.code, exc.message, exc.details)
                await self.carrier.close(CLOSE_OK, exc.code)
                self.registry.connections.discard(self)
                self._released()
                return False
        log.info("session %s: signaling connected over %s from %s%s", self.session_id,
                 self.carrier.kind, self.remote, " to resume" if self.resuming else "")
        self._watcher = asyncio.ensure_future(self._watch())
        await self.send(protocol.hello(self.session_id, self.factory.ice_servers(self.session_id)))
        return True

    async def receive(self, text: str) -> bool:
        """Handle one message; False when the connection should end."""
        try:
            message = protocol.parse(text)
            return await self._handle(message)
        except ProtocolError as exc:
            await self.send_error(exc.code, exc.message)
        except SessionError as exc:
            await self.send_error(exc.code, exc.message, exc.details)
            if exc.fatal:
                return False
            if exc.retryable:
                self.started = False  # nothing was set up; let the client try again
        except Exception:
            log.exception("session %s: unexpected failure", self.session_id)
            await self.send_error("internal_error", "the server failed to handle that message")
            return False
        return True

    async def lost(self) -> None:
        """The carrier is gone (however it went). The session hears of it, unless a resume
        took it to another connection; shielded, so a cancelled handler still finishes."""
        if self._watcher is not None:
            self._watcher.cancel()
        self.registry.connections.discard(self)
        self._released()
        session = self.session
        if session is None or self.superseded:
            return
        self.registry.unbind(self.session_id, self)
        await asyncio.shield(session.close())
        log.info("session %s: signaling closed", self.session_id)

    async def send(self, message: dict[str, Any]) -> None:
        await self.carrier.send(message)

    async def send_error(self, code: str, message: str,
                         details: Mapping[str, Any] | None = None) -> None:
        log.info("session %s: error %s: %s", self.session_id, code, message)
        await self.send(protocol.error(code, message, details))

    # -- the protocol -------------------------------------------------------------------

    async def _handle(self, message: protocol.ClientMessage) -> bool:
        if isinstance(message, Offer):
            if self.started:
                raise ProtocolError(
                    "already_started", "this connection already has a session; open a new one")
            self.started = True
            session = self._session()
            reply = await session.start(message.sdp, message.config, message.features)
            await self.send(protocol.answer(reply))
            self._bound()
            for code, text in reply.warnings:
                await self.send_error(code, text)
            session.answered()
        elif isinstance(message, Resume):
            if self.started:
                raise ProtocolError("already_started", "resume must be the first request of a "
                                    "connection; open a new one")
            self.started = True
            await self._resume(message)
        elif isinstance(message, Candidate):
            if not self.started:
                raise ProtocolError("no_session", "send an offer before candidates")
            self.candidates += 1
            if self.candidates > MAX_CANDIDATES:
                raise ProtocolError("too_many_candidates", f"at most {MAX_CANDIDATES} candidates")
            await self._session().add_candidate(message.candidate)
        elif isinstance(message, Bye):
            self.ending = True
            if self.started and self.session is not None:
                await self.session.stop()
            await self.send({"type": "bye"})
            return False
        elif isinstance(message, Ping):
            await self.send({"type": "pong"})
        elif isinstance(message, Peer | Mute):
            if not self.answered.is_set():
                raise ProtocolError("no_session", f"send an offer (and wait for the answer) "
                                    f"before '{type(message).__name__.lower()}' messages")
            if not self.relayed.take():
                raise ProtocolError(
                    "rate_limited", f"too many peer and mute messages (at most {RELAY_BURST} "
                    f"at once, {RELAY_PER_SECOND:.0f} per second); this one was dropped")
            if isinstance(message, Peer):
                await self._session().peer(message.to, message.data)
            else:
                await self._session().mute(message.muted)
        return True

    async def _resume(self, message: Resume) -> None:
        session, reply = await self.factory.resume(
            message.session_id, message.token, self.send, last_seq=message.last_seq,
            offer_sdp=message.sdp, principal=self.principal)
        provisional, self.session = self.session, session
        self.session_id = message.session_id
        self._bound()
        await self.send(protocol.resumed(reply))
        session.answered()
        log.info("session %s: resumed over %s (replayed %d, missed %s)", self.session_id,
                 self.carrier.kind, reply.replayed, reply.missed)
        if provisional is not None:  # opened for this connection, never used: free its slot
            await provisional.close()

    def _session(self) -> SignalingSession:
        """This connection's session, opened now if the client came to resume but offers."""
        if self.session is None:
            self.session = self.factory.open(self.session_id, self.send, self.principal)
        return self.session

    def _released(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def _bound(self) -> None:
        """The session now belongs to this connection (and to no other)."""
        self.answered.set()
        previous = self.registry.bind(self.session_id, self)
        if previous is not None:
            previous.superseded = True
            log.info("session %s: taken over from an older %s connection", self.session_id,
                     previous.carrier.kind)
            self.registry.spawn(previous.carrier.close(
                CLOSE_RESUMED_ELSEWHERE, "session resumed on another connection"))

    async def _watch(self) -> None:
        """Close the carrier when nobody offers in time, or when the session ends by itself.

        A session can end without the client asking (its peer connection failed, no media
        in time, its grace period passed, shutdown): the reason was already sent as an
        error; the carrier is then closed with 1000 so the client does not wait on a dead
        session.
        """
        try:
            await asyncio.wait_for(self.answered.wait(), self.offer_timeout)
        except TimeoutError:
            await self.send_error("offer_timeout", f"no offer within {self.offer_timeout:.0f} s")
            await self.carrier.close(CLOSE_POLICY, "offer timeout")
            return
        session = self.session
        assert session is not None
        await session.wait_closed()
        if not self.ending and not self.superseded and not self.carrier.closed:
            await self.carrier.close(CLOSE_OK, "session ended")
