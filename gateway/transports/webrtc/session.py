"""A WebRTC session: one participant's signaling session, peer connection and data channel.

It owns the participant's connection and lifetime (start, bye, vanish, shutdown) and feeds
the audio it receives into the participant's ``MediaStream``; results reach the client
through the bus, on a ``DataChannelSink`` attached for this participant. For calls between
participants it relays their negotiation messages, mutes, and tells its client who else is
in the conversation (``PresenceLink``). Recognition, conversations and insights are not its
business.

A client that asked for ``resume`` may lose its signaling connection, or its media
connection, and continue the session within a grace period (``ClientLink``): the media
stream, the member and the result delivery go on; a new peer connection replaces a broken
one (``SessionMedia``), continuing the same stream on its clock and replaying the results
the client missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiortc import RTCPeerConnection

from gateway.asr.remote import RecognizerUnavailable
from gateway.auth import AuthError, Principal
from gateway.auth.errors import APP_REVOKED
from gateway.conversation.admission import Ticket
from gateway.conversation.member import Member
from gateway.conversation.presence import LeaveReason
from gateway.conversation.start_config import StartConfig
from gateway.outputs.datachannel import DataChannelSink
from gateway.pipeline.stream import MediaStream
from gateway.tasks import TaskSet
from gateway.transcript import Speaker
from signaling import protocol
from signaling.interface import Answer, Notify, RemoteCandidate, Resumed, SessionError

from . import admission, peer
from .client_link import ClientLink
from .intake import AudioIntake
from .media import MediaPath, SessionMedia
from .presence import relay_peer
from .services import SessionServices

__all__ = ["SessionServices", "WebRtcSession"]

log = logging.getLogger(__name__)


class WebRtcSession:
    """Implements ``signaling.interface.SignalingSession`` for one participant."""

    def __init__(self, session_id: str, services: SessionServices, *, notify: Notify,
                 ticket: Ticket, on_closed: Callable[[WebRtcSession], None],
                 principal: Principal | None = None) -> None:
        self.id = session_id
        self.principal = principal
        self._services = services
        self._settings = services.settings
        self.client = ClientLink(notify, session_id)
        self._ticket = ticket
        self._on_closed = on_closed
        self.created = time.monotonic()
        self.media: SessionMedia | None = None
        self.start_config: StartConfig | None = None
        self.member: Member | None = None
        self.stream: MediaStream | None = None
        self._tasks = TaskSet(f"session {session_id}")
        self._closed = asyncio.Event()
        self.ended_as: str | None = None  # why it ended, for a late resume's error

    @property
    def speaker(self) -> Speaker:
        base = self.start_config.speaker if self.start_config else Speaker()
        return dataclasses.replace(base, id=self.id)

    @property
    def pc(self) -> RTCPeerConnection | None:
        return self.media.path.pc if self.media is not None else None

    @property
    def connected_at(self) -> float | None:
        return self.media.path.connected_at if self.media is not None else None

    @property
    def sink(self) -> DataChannelSink | None:
        return self.media.sink if self.media is not None else None

    @property
    def stopping(self) -> bool:
        return self._tasks.closing

    @property
    def resumable(self) -> bool:
        """A resume may continue it now: the client asked, got its token, and it lives."""
        return self.client.can_resume and not self.stopping

    # -- SignalingSession ---------------------------------------------------------------

    async def start(self, offer_sdp: str, config: Mapping[str, Any],
                    features: frozenset[str] = frozenset()) -> Answer:
        self._check_alive()
        start, build_insights = admission.check(self._services, config, offer_sdp)
        self.start_config = await self._authorize_join(start)
        self.member = admission.join(self._services, self.id, self.start_config,
                                     build_insights, features)
        if "resume" in features and self._services.resume_grace > 0:
            self.client.enable_resume(self._services.resume_grace, on_change=self._reconnecting,
                                      on_expired=self._expired)
        if "presence" in features:
            self.client.listen(self.member)
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
        member, services, absence = self.member, self._services, self.client.absence
        assert member is not None
        assert self.start_config is not None
        try:
            self.stream = await services.media.open(member, self.start_config, label=self.id,
                                                    transport="webrtc")
        except RecognizerUnavailable as exc:
            raise SessionError("server_busy", str(exc), retryable=True) from None
        intake = AudioIntake(self.stream, chunk_ms=self._settings.chunk_ms, label=self.id)
        self._check_alive()
        self.media = media = SessionMedia(
            self.id, services.ice, intake, resumable=absence is not None,
            connect_timeout=self._settings.connect_timeout, spawn=self.spawn,
            on_down=self._media_down, on_timeout=self._media_timeout)
        services.bus.attach(member.conversation.id, media.sink, participant=self.id)
        answer_sdp = await self._answered_by(media.answer(offer_sdp))
        warnings: tuple[tuple[str, str], ...] = ()
        problem = await services.ice.gathering_error(answer_sdp, self.id)
        self._check_alive()
        if problem is not None:
            log.error("session %s: no relay candidate: %s", self.id, problem)
            if services.ice.relay_only:
                raise SessionError("turn_unavailable", problem, fatal=True)
            warnings = (("turn_unavailable", problem),)
        resume = (self.client.token, absence.grace) if absence else (None, None)
        return Answer(answer_sdp, member.conversation.id, warnings, *resume)

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        if self.media is None or self.stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)
        await self.media.add_candidate(candidate)

    def answered(self) -> None:
        self.client.open()

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
        """The signaling connection went away without a bye: a resumable session waits for
        its client; any other ends, the participant ``dropped``."""
        if self.resumable:
            self.client.detach()
            return
        await self.end("dropped")

    async def revoke(self, why: str) -> None:
        """Its token's app was revoked: the client hears ``app_revoked`` and the session
        ends now, ``dropped`` for the others (its token could not resume it anyway)."""
        if self.stopping:
            return
        await self.client.notify(protocol.error(APP_REVOKED, why))
        await self.end("dropped")

    async def draining(self, within: float) -> None:
        """The node drains before shutdown (``gateway.observability.drain.Drainable``): a
        client that asked for ``resume`` is told to move its call (a new session in the same
        conversation, on a node that is ready) while this one goes on. Other clients hear
        nothing new: they get the ordinary end (last results, ``bye``/close) at the drain's
        timeout, as before."""
        if self.stopping or not self.client.can_resume:
            return
        await self.client.notify(protocol.reconnect(
            "draining", round(within, 1),
            f"this gateway is shutting down: start a new session in the same conversation "
            f"now; this one ends within {within:.0f} s"))

    async def resume(self, notify: Notify, *, last_seq: int,
                     offer_sdp: str | None) -> Resumed:
        """Continue on a new connection (``notify``); with ``offer_sdp``, on a new peer
        connection too, replaying the results after ``last_seq``. Messages flow to the new
        connection once it calls ``answered()``."""
        self._check_alive()
        member, media, absence = self.member, self.media, self.client.absence
        assert member is not None and media is not None and absence is not None
        sdp, replayed, missed = None, 0, 0
        if offer_sdp is not None:
            peer.check_offer(offer_sdp)
            try:
                sdp, replayed, missed = await self._answered_by(
                    media.replace(offer_sdp, last_seq))
            except SessionError:
                self.client.away("media")  # the old connection is gone, the new one failed
                raise
        elif media.lost:
            raise SessionError("sdp_required", "the media connection of this session is gone: "
                               "resume with a new offer ('sdp') to reconnect it", retryable=True)
        self.client.attach(notify)
        return Resumed(self.id, member.conversation.id, sdp, replayed, missed, absence.grace)

    async def end(self, reason: LeaveReason) -> None:
        """End the session however it ends (``stop``, ``close``, failures, shutdown):
        recognise what is left, send the last results, then close everything.

        The other participants hear at once that this one is gone (and why); only then is
        its queued audio recognised, bounded by ``stop_timeout``. The goodbye (closing
        insights, relay and console goodbyes, data-channel drain) has its own bounds and is
        shielded, so a timeout or a cancelled caller can never leave a relay connection or
        a console socket open.
        """
        if self.stopping:
            await self._closed.wait()
            return
        self._tasks.close()
        self.ended_as = self.ended_as or reason
        try:
            if self.member is not None:
                self.member.depart(reason)
            if self.media is not None:
                await self.media.finish(self._settings.stop_timeout)
            if self.member is not None:
                await self._services.media.close_outputs(self.member)
            if self.member is not None:
                await asyncio.shield(self.member.leave(reason))
            if self.sink is not None:
                await self.sink.drain(timeout=2.0)
        finally:
            await self._teardown()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- media and absence ------------------------------------------------------------------

    async def _answered_by(self, negotiation: Coroutine[Any, Any, Any]) -> Any:
        try:
            result = await negotiation
        except SessionError:
            self._check_alive()  # a shutdown mid-negotiation is not the client's fault
            raise
        self._check_alive()
        return result

    async def _media_down(self, path: MediaPath, state: str) -> None:
        if self.stopping:
            return
        code = "ice_failed" if state == "failed" else "peer_closed"
        absence = self.client.absence
        if self.resumable and absence is not None and self.media is not None:
            await self.client.notify(protocol.error(
                code, f"the peer connection {state}: resume with a new offer within "
                f"{absence.remaining:.0f} s to continue", {"resumable": True}))
            self.client.away("media")
            self.spawn(self.media.retire(path))
            return
        why = "the peer connection failed (no network path to the client)" \
            if state == "failed" else \
            "the peer connection closed (the client left or its network path was lost)"
        await self.client.notify(protocol.error(code, why))
        self.spawn(self.end("dropped"))

    async def _media_timeout(self, path: MediaPath) -> None:
        if self.stopping:
            return
        await self.client.notify(protocol.error(
            "connect_timeout",
            f"no media connection within {self._settings.connect_timeout:.0f} s "
            "(ICE could not connect: check STUN/TURN settings and firewalls)"))
        self.spawn(self.end("dropped"))

    def _reconnecting(self, away: bool) -> None:
        if self.member is not None and not self.stopping:
            self.member.set_reconnecting(away)

    def _expired(self) -> None:
        log.info("session %s: not resumed within its grace period; ending it", self.id)
        self.ended_as = "expired"
        self.spawn(self.end("dropped"))

    # -- lifecycle ----------------------------------------------------------------------

    def _present_member(self) -> Member:
        if self.member is None or self.stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)
        return self.member

    def _check_alive(self) -> None:
        """Stop a negotiation that a shutdown or a vanished peer overtook."""
        if self.stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)

    async def _teardown(self) -> None:
        """Release everything, whatever fails on the way: a peer connection aiortc cannot
        close (it raises again after a bad offer) or a close that hangs (a TURN server that
        went away) must never keep the admission ticket or leave the signaling handler
        waiting for ever."""
        try:
            self._tasks.cancel_all()
            if self.media is not None:
                await self.media.path.retire()
            if self.member is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.member.leave("dropped"))
            await self.client.close()
            if self.sink is not None and self.member is not None:
                self._services.bus.detach(self.member.conversation.id, self.sink)
                await self.sink.close()
            if self.stream is not None:
                await self.stream.close()
        finally:
            self._ticket.release()
            if not self._closed.is_set():
                self._closed.set()
                self._on_closed(self)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task of this session: held, logged if it fails, none once it is ending."""
        return self._tasks.spawn(coro)
