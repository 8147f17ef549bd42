"""One Symbl connection's participant: its conversation membership, media stream and audio.

A session is what a ``connectionId`` names. Its sockets come and go: the first
``start_request`` joins a new conversation (``directory.join``: a :class:`Member`) and opens
the participant's :class:`MediaStream`; decoded audio becomes PCM chunks whose offsets are
the running sample count; results reach the client through a :class:`SymblSocketSink`
attached to the bus for this participant. Recognition, conversations and insights are not
its business, exactly as for a WebRTC session.

It outlives a socket that drops without ``stop_request`` for ``noConnectionTimeout``
seconds: the pending phrase is finalised at once (consoles, relays and the store get it),
the member and its stream stay, and a socket that reconnects with the same ``connectionId``
and sends a ``start_request`` continues the conversation — same ``conversationId``, same
participant, and the stream's clock jumped to the wall clock, so word times, analytics and
the conversation clock stay one time line. ``stop_request`` with
``disconnectOnStopRequest: false`` pauses the same way on a live socket.

Every state change holds one lock, so the socket's reader, an expiry timer and shutdown
never act on the stream or the decoder at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.asr.base import Recognizer
from gateway.asr.remote import RecognizerUnavailable
from gateway.auth import Principal, creation_tenant
from gateway.auth.errors import APP_REVOKED
from gateway.config import SessionSettings
from gateway.conversation.admission import Admission
from gateway.conversation.conversation import ConversationFull
from gateway.conversation.directory import ConversationDirectory
from gateway.conversation.insights import InsightsProvider
from gateway.conversation.member import Member
from gateway.conversation.start_config import StartConfig, UnsupportedLanguage, check_language
from gateway.outputs.bus import ResultBus
from gateway.pipeline.stream import MediaStream
from gateway.protocols.symbl import lifecycle, streaming
from gateway.protocols.symbl.audio_format import AudioFormat
from gateway.protocols.symbl.errors import RealtimeError
from gateway.protocols.symbl.realtime import StartRequest, insights_body
from gateway.relays.manager import Relays
from gateway.transcript import Speaker

from ..participant import ParticipantMedia
from .intake import AudioIntake
from .sink import SymblSocketSink

log = logging.getLogger(__name__)

NORMAL_CLOSURE = 1000
POLICY_VIOLATION = 1008


@dataclass(frozen=True, slots=True)
class SymblServices:
    """What every Symbl session shares: built once by the app."""

    recognizer: Recognizer
    directory: ConversationDirectory
    bus: ResultBus
    admission: Admission
    insights: InsightsProvider | None
    settings: SessionSettings
    relays: Relays | None = None  # the deployment's downstream audio relays

    @property
    def media(self) -> ParticipantMedia:
        return ParticipantMedia(self.recognizer, self.settings, self.relays)


class Releasable(Protocol):
    """An admission ticket or an access-control session lease (both idempotent)."""

    def release(self) -> None: ...


class State(enum.Enum):
    NEW = "new"  # socket open, no start_request yet
    STREAMING = "streaming"
    PAUSED = "paused"  # stop_request with disconnectOnStopRequest: false
    DETACHED = "detached"  # socket gone, waiting noConnectionTimeout for a reconnect
    ENDED = "ended"


class SymblSession:
    """``principal`` opened the connection: its conversation is created in the principal's
    tenant, and only that principal may resume it (``transport.claim``)."""

    def __init__(self, connection_id: str, services: SymblServices, *, ticket: Releasable,
                 lease: Releasable | None = None, principal: Principal | None = None,
                 on_joined: Callable[[SymblSession], None],
                 on_closed: Callable[[SymblSession], None]) -> None:
        self.connection_id = connection_id
        self.principal = principal
        self.tenant = creation_tenant(principal) if principal is not None else None
        self.id = str(uuid.uuid4())  # the participant id (user.id / from.id)
        self.conversation_id = str(uuid.uuid4())
        self._services = services
        self._settings = services.settings
        self._ticket = ticket
        self._lease = lease
        self._on_joined = on_joined
        self._on_closed = on_closed
        self.state = State.NEW
        self.member: Member | None = None
        self.stream: MediaStream | None = None
        self.sink: SymblSocketSink | None = None  # the socket results go to now
        self.owner: object | None = None  # the socket driving it (one at a time)
        self._audio = AudioIntake(connection_id, chunk_ms=services.settings.chunk_ms)
        self._lock = asyncio.Lock()
        self._ending = False
        self._expiry: asyncio.Task[None] | None = None
        self._hanging_up: asyncio.Future[None] | None = None
        self.no_connection_timeout = 0.0
        self.resumes = 0

    @property
    def joined(self) -> bool:
        return self.member is not None and self.state is not State.ENDED

    # -- start, audio, modify ----------------------------------------------------------------

    async def start(self, request: StartRequest, sink: SymblSocketSink, owner: object) -> None:
        """Begin (or resume) recognition for ``sink``'s socket; RealtimeError if refused."""
        async with self._lock:
            if self.state is State.ENDED or self._ending:
                raise RealtimeError("session_closed", "this connection has ended",
                                    details="open a new connection", fatal=True)
            if owner is not self.owner:
                raise RealtimeError("connection_replaced",
                                    "another socket took over this connectionId",
                                    details="a connectionId streams on one socket at a time",
                                    fatal=True)
            decoder = self._audio.decoder_for(request.audio)
            if self.member is None:
                await self._join(request)
            else:
                self.resumes += 1
                self._cancel_expiry()
                self._audio.skip_gap()
            self._audio.use(decoder)
            self.no_connection_timeout = request.no_connection_timeout
            # Queued before the sink hears anything from the bus: the greeting comes first.
            sink.say(streaming.greeting(self.conversation_id))
            self._attach(sink)
            self.state = State.STREAMING

    async def _join(self, request: StartRequest) -> None:
        services = self._services
        start = StartConfig(speaker=request.speaker, language_code=request.language_code,
                            meeting_title=request.meeting_title, raw=insights_body(request.raw),
                            conversation_id=self.conversation_id, tenant=self.tenant,
                            connection_id=self.connection_id)
        try:
            check_language(start, self._settings.language)
            build = services.insights.prepare(start) if services.insights is not None else None
        except UnsupportedLanguage as exc:
            raise RealtimeError("unsupported_language", str(exc), field="config.languageCode",
                                details="send the languageCode this gateway serves") from None
        except ValueError as exc:  # insight settings: already checked by the parser
            raise RealtimeError("invalid_start_request", str(exc)) from None
        speaker = Speaker(user_id=request.speaker.user_id, name=request.speaker.name,
                          id=self.id)
        try:
            member = services.directory.join(speaker, start, build)
        except ConversationFull as exc:
            raise RealtimeError("conversation_full", str(exc)) from None
        # Subscribers waiting for this connectionId attach before any result is published.
        self._on_joined(self)
        try:
            # Paced by TCP (wait_room), not by the clock: a file streamed faster than real
            # time is recognised whole, never dropped for lateness.
            stream = await services.media.open(member, start, label=f"symbl-{self.id}",
                                               transport="symbl", max_delay=None)
        except RecognizerUnavailable as exc:
            await asyncio.shield(member.leave())
            raise RealtimeError("server_busy", str(exc)) from None
        except BaseException:
            await asyncio.shield(member.leave())
            raise
        self.member = member
        self.stream = stream
        self._audio.stream = self.stream

    def _attach(self, sink: SymblSocketSink) -> None:
        if self.sink is sink:
            return
        if self.sink is not None:
            self._services.bus.detach(self.conversation_id, self.sink)
        self.sink = sink
        self._services.bus.attach(self.conversation_id, sink, participant=self.id)

    async def audio(self, frame: bytes) -> None:
        """Decode one binary frame and queue its audio; raises ``AudioDecodeError``."""
        async with self._lock:
            if self.state is State.STREAMING:
                await self._audio.push(frame)

    async def modify(self, audio: AudioFormat, sink: SymblSocketSink) -> None:
        """``modify_request``: the old decoder's tail first, then the new format."""
        async with self._lock:
            if self.state is not State.STREAMING:
                return
            await self._audio.switch(self._audio.decoder_for(audio))
            sink.say([streaming.encode(lifecycle.session_modified(audio))])

    # -- stop, pause, drop, end ----------------------------------------------------------------

    async def pause(self) -> None:
        """``stop_request`` that keeps the connection: flush, say so, keep everything."""
        async with self._lock:
            if self.state is not State.STREAMING:
                return
            await self._audio.drain()
            if self.stream is not None:
                await self.stream.flush(self._settings.stop_timeout)
            self.state = State.PAUSED
            if self.sink is not None:
                self.sink.say(streaming.farewell(self.conversation_id))

    async def socket_closed(self, sink: SymblSocketSink) -> None:
        """The socket ended without ``stop_request`` (a tab closed, a network drop, an
        error): the pending phrase is finalised for the other outputs now; the session
        waits ``noConnectionTimeout`` for a reconnect, or ends."""
        async with self._lock:
            if self.state is State.ENDED:
                return
            if self.sink is None and self.state is not State.NEW:
                return  # a reconnecting socket left before its start_request: keep waiting
            if self.sink is not None and sink is not self.sink:
                return  # not the socket this session talks to
            if self.resumable:
                await self._detach(sink)
                return
            if self.sink is not None:
                self._services.bus.detach(self.conversation_id, sink)
                self.sink = None
        await self.finish()

    @property
    def resumable(self) -> bool:
        """Whether a new socket may take this session over from its current one."""
        return (self.member is not None and self.no_connection_timeout > 0
                and self.state in (State.STREAMING, State.PAUSED, State.DETACHED)
                and not self._ending)

    async def displace(self) -> None:
        """A reconnect arrived before the old socket was seen to close (a client that lost
        its network reconnects as soon as it is back; the server may notice the dead
        socket only at its next heartbeat). The old socket is told and hung up; the
        session waits for the new socket's ``start_request`` as after a drop."""
        async with self._lock:
            sink = self.sink
            if sink is None or not self.resumable:
                return
            await self._detach(sink)
        sink.say([streaming.encode(RealtimeError(
            "connection_replaced", "another socket took over this connectionId",
            details="a connectionId streams on one socket at a time").body())])
        # In the background: a dead old socket must not hold up the new one's handshake.
        self._hanging_up = asyncio.ensure_future(
            sink.hang_up(POLICY_VIOLATION, "connection_replaced"))

    async def _detach(self, sink: SymblSocketSink) -> None:
        """Keep the conversation without a socket for ``noConnectionTimeout`` seconds."""
        self._services.bus.detach(self.conversation_id, sink)
        self.sink = None
        await self._audio.drain()
        if self.stream is not None:
            await self.stream.flush(self._settings.stop_timeout)
        self.state = State.DETACHED
        self._cancel_expiry()
        self._expiry = asyncio.ensure_future(self._expire(self.no_connection_timeout))
        log.info("symbl %s: socket gone; conversation %s kept %.0f s for a reconnect",
                 self.connection_id, self.conversation_id, self.no_connection_timeout)

    async def finish(self, code: int = NORMAL_CLOSURE) -> None:
        """End: recognise what is left, leave the conversation (its closing insights come
        before the farewell), hang up the socket if there is one, free everything."""
        self._ending = self._audio.hurry = True
        async with self._lock:
            if self.state is State.ENDED:
                return
            said_farewell = self.state is State.PAUSED  # a pause already said it
            self.state = State.ENDED
            self._cancel_expiry()
            try:
                await self._audio.drain()
                if self.stream is not None:
                    await self.stream.finish(self._settings.stop_timeout)
                if self.member is not None:
                    await self._services.media.close_outputs(self.member)
                    await asyncio.shield(self.member.leave())
            except Exception:
                log.exception("symbl %s: finishing failed", self.connection_id)
            sink = self.sink
            if sink is not None and self.member is not None and not said_farewell:
                sink.say(streaming.farewell(self.conversation_id))
        if sink is not None:
            await sink.hang_up(code)
            self._services.bus.detach(self.conversation_id, sink)
        await self._teardown()

    async def revoke(self, why: str) -> None:
        """Its token's app was revoked: the socket hears ``app_revoked`` in Symbl's error
        shape, the conversation ends as after ``stop_request``, the socket closes (1008)."""
        sink = self.sink
        if sink is not None and self.state is not State.ENDED:
            sink.say([streaming.encode(RealtimeError(
                APP_REVOKED, why, details="ask the gateway's operator for new credentials"
            ).body())])
        await self.finish(POLICY_VIOLATION)

    async def _expire(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        log.info("symbl %s: no reconnect within %.0f s; conversation %s ends",
                 self.connection_id, seconds, self.conversation_id)
        await self.finish()

    def _cancel_expiry(self) -> None:
        task, self._expiry = self._expiry, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _teardown(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        self._audio.abort()
        self._ticket.release()
        if self._lease is not None:
            self._lease.release()
        with contextlib.suppress(Exception):
            self._on_closed(self)

