"""A WebRTC session: one participant's signaling session, peer connection and data channel.

It owns the participant's connection and lifetime (start, bye, vanish, shutdown) and feeds
the audio it receives into the participant's ``MediaStream``; results reach the client
through the bus, on a ``DataChannelSink`` attached for this participant. For calls between
participants it relays their negotiation messages, mutes, and tells its client who else is
in the conversation (``PresenceLink``). Recognition, conversations and insights are not its
business.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection

from gateway.asr.base import Recognizer
from gateway.asr.remote import RecognizerUnavailable
from gateway.auth import AuthError, Principal
from gateway.auth.conversations import ConversationAccess
from gateway.config import SessionSettings
from gateway.conversation.admission import Ticket
from gateway.conversation.conversation import ConversationFull
from gateway.conversation.directory import ConversationDirectory
from gateway.conversation.insights import InsightsProvider
from gateway.conversation.member import Member
from gateway.conversation.presence import LeaveReason
from gateway.conversation.start_config import StartConfig
from gateway.outputs.bus import ResultBus
from gateway.outputs.datachannel import DataChannelSink
from gateway.pipeline.stream import MediaStream
from gateway.relays.manager import Relays
from gateway.transcript import Speaker
from signaling import protocol
from signaling.interface import Answer, Notify, RemoteCandidate, SessionError

from . import admission, peer
from .ice import IceConfigurator
from .intake import AudioIntake
from .outbox import Outbox
from .presence import PresenceLink, relay_peer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionServices:
    """What every WebRTC session shares: built once by the app, handed to each session."""

    recognizer: Recognizer
    directory: ConversationDirectory
    bus: ResultBus
    ice: IceConfigurator
    insights: InsightsProvider | None
    settings: SessionSettings
    relays: Relays | None = None  # downstream audio relays (--downstream, config.downstreams)
    # Who may join which conversation (docs/access-control.md); None: no checks at all.
    access: ConversationAccess | None = None


class WebRtcSession:
    """Implements ``signaling.interface.SignalingSession`` for one participant."""

    def __init__(self, session_id: str, services: SessionServices, *, notify: Notify,
                 ticket: Ticket, on_closed: Callable[[WebRtcSession], None],
                 principal: Principal | None = None) -> None:
        self.id = session_id
        self.principal = principal
        self._services = services
        self._settings = services.settings
        self._notify = notify
        self._ticket = ticket
        self._on_closed = on_closed
        self.created = time.monotonic()
        self.pc: RTCPeerConnection | None = None
        self.start_config: StartConfig | None = None
        self.member: Member | None = None
        self.stream: MediaStream | None = None
        self._sink: DataChannelSink | None = None
        self._intake: AudioIntake | None = None
        self.outbox = Outbox(notify, session_id)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._closed = asyncio.Event()
        self.connected_at: float | None = None

    @property
    def speaker(self) -> Speaker:
        base = self.start_config.speaker if self.start_config else Speaker()
        return dataclasses.replace(base, id=self.id)

    # -- SignalingSession ---------------------------------------------------------------

    async def start(self, offer_sdp: str, config: Mapping[str, Any],
                    features: frozenset[str] = frozenset()) -> Answer:
        self._check_alive()
        relays = self._services.relays
        self.start_config, build_insights = admission.validate_config(
            config, self._services.insights, self._settings.language,
            downstreams=relays.policy if relays else None)
        self.start_config = await self._authorize_join(self.start_config)
        peer.check_offer(offer_sdp)
        blocked = self._services.ice.unusable()
        if blocked is not None:
            raise SessionError("turn_unavailable", blocked, fatal=True)
        try:
            self.member = self._services.directory.join(
                self.speaker, self.start_config, build_insights,
                accepts_peer="peer" in features)
        except ConversationFull as exc:
            raise SessionError("conversation_full", admission.full_message(exc),
                               retryable=True,
                               details={"maxParticipants": exc.limit} if exc.limit else None
                               ) from None
        if "presence" in features:
            PresenceLink(self.member, self.outbox)
        # From here on every failure tears the session down (and leaves the conversation).
        try:
            return await self._negotiate(offer_sdp)
        except BaseException:
            await self._teardown()
            raise

    async def _authorize_join(self, start: StartConfig) -> StartConfig:
        """The conversation this principal may join (a caller token naming one fills in an
        offer that names none) and the tenant it has or gets; refusals end the session."""
        if self._services.access is None:
            return start
        try:
            grant = await self._services.access.join(self.principal, start.conversation_id)
        except AuthError as exc:
            raise SessionError(exc.code, exc.message, fatal=True) from None
        self._check_alive()
        return dataclasses.replace(start, conversation_id=grant.conversation_id,
                                   tenant=grant.tenant)

    async def _negotiate(self, offer_sdp: str) -> Answer:
        member, services = self.member, self._services
        assert member is not None
        try:
            recognizer = await services.recognizer.open_stream(member.speaker)
        except RecognizerUnavailable as exc:
            raise SessionError("server_busy", str(exc), retryable=True) from None
        assert self.start_config is not None
        taps = services.relays.open_participant_taps(member, self.start_config) \
            if services.relays else ()
        self.stream = MediaStream(recognizer, member, label=self.id,
                                  backlog_chunks=self._settings.backlog_chunks, taps=taps)
        self._intake = AudioIntake(self.stream, chunk_ms=self._settings.chunk_ms,
                                   label=self.id)
        self._check_alive()
        pc = RTCPeerConnection(services.ice.gateway_configuration(self.id))
        self.pc = pc
        self._sink = DataChannelSink(pc, self.id)
        services.bus.attach(member.conversation.id, self._sink, participant=self.id)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            answer_sdp = await peer.answer_offer(pc, services.ice.prepare_offer(offer_sdp))
        except SessionError:
            raise
        except Exception as exc:
            self._check_alive()  # a shutdown mid-negotiation is not the client's fault
            log.info("session %s: offer rejected by aiortc: %r", self.id, exc)
            raise SessionError(
                "invalid_sdp", f"the offer could not be applied: {exc or type(exc).__name__}",
                fatal=True) from None
        self._check_alive()
        warnings: tuple[tuple[str, str], ...] = ()
        problem = await services.ice.gathering_error(answer_sdp, self.id)
        self._check_alive()
        if problem is not None:
            log.error("session %s: no relay candidate: %s", self.id, problem)
            if services.ice.relay_only:
                raise SessionError("turn_unavailable", problem, fatal=True)
            warnings = (("turn_unavailable", problem),)
        self._spawn(self._connect_watchdog())
        return Answer(answer_sdp, member.conversation.id, warnings)

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        if self.pc is None or self._stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)
        await peer.add_candidate(self.pc, candidate, self.id)

    def answered(self) -> None:
        self.outbox.open()

    async def peer(self, to: str, data: Mapping[str, Any]) -> None:
        relay_peer(self._present_member(), to, data)

    async def mute(self, muted: bool) -> None:
        member = self._present_member()
        if self.stream is not None:
            self.stream.set_muted(muted)
        member.conversation.set_muted(member, muted)

    async def stop(self) -> None:
        """Bye: the participant hung up (``left``); see ``end``."""
        await self.end("left")

    async def close(self) -> None:
        """The signaling socket went away without a bye: the participant ``dropped``."""
        await self.end("dropped")

    async def end(self, reason: LeaveReason) -> None:
        """End the session however it ends (``stop``, ``close``, failures, shutdown):
        recognise what is left, send the last results, then close everything.

        The other participants hear at once that this one is gone (and why); only then is
        its queued audio recognised, bounded by ``stop_timeout``. The goodbye (closing
        insights, relay and console goodbyes, data-channel drain) has its own bounds and is
        shielded, so a timeout or a cancelled caller can never leave a relay connection or
        a console socket open.
        """
        if self._stopping:
            await self._closed.wait()
            return
        self._stopping = True
        try:
            if self.member is not None:
                self.member.depart(reason)
            if self._intake is not None:
                await self._intake.finish(self._reader, self._settings.stop_timeout)
            if self.member is not None and self._services.relays is not None:
                # The downstreams' last answers reach this participant before it leaves.
                await self._services.relays.close_participant_taps(self.member)
            if self.member is not None:
                await asyncio.shield(self.member.leave(reason))
            if self._sink is not None:
                await self._sink.drain(timeout=2.0)
        finally:
            await self._teardown()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- aiortc callbacks ---------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self._stopping:
            return
        if track.kind == "audio" and self._reader is None and self._intake is not None:
            self._reader = self._spawn(self._intake.read(track))
        else:
            # Extra tracks are answered inactive, so this only covers a misbehaving peer.
            self._spawn(peer.discard(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == peer.DATA_CHANNEL_LABEL and self._sink is not None:
            self._sink.attach(channel)
        else:
            log.info("session %s: ignoring data channel %r", self.id, channel.label)

    async def _on_connection_state(self) -> None:
        pc = self.pc
        if pc is None:
            return
        state = pc.connectionState
        log.info("session %s: peer connection %s", self.id, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        if state in ("failed", "closed") and not self._stopping:
            code = "ice_failed" if state == "failed" else "peer_closed"
            await self._notify(protocol.error(code, f"the peer connection {state}"))
            self._spawn(self.end("dropped"))

    # -- lifecycle ----------------------------------------------------------------------

    def _present_member(self) -> Member:
        if self.member is None or self._stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)
        return self.member

    def _check_alive(self) -> None:
        """Stop a negotiation that a shutdown or a vanished peer overtook."""
        if self._stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(self._settings.connect_timeout)
        if self.connected_at is None and not self._stopping:
            await self._notify(protocol.error(
                "connect_timeout",
                f"no media connection within {self._settings.connect_timeout:.0f} s "
                "(ICE could not connect: check STUN/TURN settings and firewalls)"))
            self._spawn(self.end("dropped"))

    async def _teardown(self) -> None:
        self._stopping = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self.pc is not None:
            await self.pc.close()
        if self.member is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.member.leave("dropped"))
        await self.outbox.close()
        if self._sink is not None and self.member is not None:
            self._services.bus.detach(self.member.conversation.id, self._sink)
            await self._sink.close()
        if self.stream is not None:
            await self.stream.close()
        self._ticket.release()
        if not self._closed.is_set():
            self._closed.set()
            self._on_closed(self)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        if self._stopping:
            task.cancel()  # nothing new starts once the session is ending
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session %s: task failed", self.id, exc_info=task.exception())

