"""A WHIP session: one publisher's peer connection, feeding its participant's media stream.

The same path as a WebRTC call from the peer connection on (``peer`` helpers answer the
offer and apply candidates; frames become PCM chunks for a ``MediaStream`` whose listener
is the conversation member), but its lifetime is HTTP's: it starts with the POST, takes
candidates by PATCH, and ends with DELETE, a failed or closed peer connection, no media in
time, the drain or shutdown. A WHIP client has no signaling channel, so anything worth
telling it after the answer goes to the log and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from gateway.asr.remote import RecognizerUnavailable
from gateway.auth import Principal
from gateway.auth.quotas import SessionLease
from gateway.conversation.admission import Ticket
from gateway.conversation.conversation import ConversationFull
from gateway.conversation.insights import InsightsBuilder
from gateway.conversation.member import Member
from gateway.conversation.start_config import StartConfig
from gateway.observability.metrics import count_error
from gateway.outputs.datachannel import DataChannelSink
from gateway.pipeline.frames import AudioPipeline
from gateway.pipeline.stream import MediaStream
from gateway.tasks import TaskSet
from gateway.transports.webrtc import peer
from gateway.transports.webrtc.session import SessionServices
from signaling.interface import RemoteCandidate, SessionError

from .bundle import inherit_bundle_transport
from .offer import IceCredentials, OfferError
from .sdpfrag import SdpFragment

log = logging.getLogger(__name__)

TRANSPORT = "whip"
MAX_CANDIDATES = 200


def new_etag() -> str:
    """A strong entity-tag for an ICE session (RFC 9110 section 8.8.3), quoted."""
    return f'"{secrets.token_urlsafe(12)}"'


class IceRestartUnsupported(Exception):
    """aiortc cannot restart ICE: the PATCH asked for it (RFC 9725 section 4.3.2: 422)."""


class WhipSession:
    """``principal`` published it (its token alone, or a service, may PATCH or DELETE it);
    ``lease`` is that token's session slot, held until the session ends; ``token_digest``
    (SHA-256 of the token) lets that token DELETE it even after it expired."""

    def __init__(self, resource_id: str, services: SessionServices, *, ticket: Ticket,
                 principal: Principal, lease: SessionLease, token_digest: str | None = None,
                 on_closed: Callable[[WhipSession], None]) -> None:
        self.id = resource_id
        self.etag = new_etag()
        self.principal = principal
        self.token_digest = token_digest
        self._services = services
        self._settings = services.settings
        self._ticket = ticket
        self._lease = lease
        self._on_closed = on_closed
        self.created = time.monotonic()
        self.connected_at: float | None = None
        self.pc: RTCPeerConnection | None = None
        self.member: Member | None = None
        self.start_config: StartConfig | None = None
        self.stream: MediaStream | None = None
        self.remote_ice = IceCredentials(None, None)
        self.candidates = 0
        self.conversion_failures = 0
        self._sink: DataChannelSink | None = None
        self._frames = AudioPipeline(services.settings.chunk_ms)
        self._reader: asyncio.Task[None] | None = None
        self._tasks = TaskSet(f"whip {self.id}")
        self._closed = asyncio.Event()

    @property
    def conversation_id(self) -> str | None:
        return self.member.conversation.id if self.member is not None else None

    # -- HTTP operations --------------------------------------------------------------------

    async def start(self, offer_sdp: str, ice: IceCredentials, start: StartConfig,
                    build_insights: InsightsBuilder | None) -> str:
        """Join the conversation, answer the offer; the answer holds all our candidates."""
        speaker = dataclasses.replace(start.speaker, id=self.id)  # the participant id
        self.remote_ice = ice
        self.start_config = start
        try:  # any failure frees the session: its ticket, and its place in the conversation
            try:
                self.member = self._services.directory.join(speaker, start, build_insights)
            except ConversationFull as exc:
                raise OfferError(409, "conversation_full", str(exc)) from None
            try:
                return await self._negotiate(offer_sdp)
            except RecognizerUnavailable as exc:
                raise OfferError(503, "server_busy", str(exc)) from None
        except BaseException:
            await self._teardown()
            raise

    async def add_fragment(self, fragment: SdpFragment) -> None:
        """Apply trickled candidates; what cannot be used is discarded silently (RFC 9725
        section 4.3.1), an ICE restart raises ``IceRestartUnsupported``."""
        if self._restarts_ice(fragment):
            raise IceRestartUnsupported()
        pc = self.pc
        if pc is None or self._stopping:
            return
        for candidate in fragment.candidates:
            if self.candidates >= MAX_CANDIDATES:
                log.info("whip %s: more than %d candidates; ignoring the rest", self.id,
                         MAX_CANDIDATES)
                break
            self.candidates += 1
            await self._add(pc, RemoteCandidate(candidate.text, candidate.mid,
                                                candidate.mline_index))
        if fragment.end_of_candidates:
            await self._add(pc, RemoteCandidate(None, None, 0))

    async def stop(self) -> None:
        """DELETE, drain or shutdown: recognise what is left, deliver the last results,
        close. Bounded like a WebRTC session's stop (``stop_timeout`` for the audio)."""
        if self._stopping:
            await self._closed.wait()
            return
        self._tasks.close()
        try:
            await self._finish_audio()
            if self.member is not None:
                await self._services.media.close_outputs(self.member)
                await asyncio.shield(self.member.leave())
            if self._sink is not None:
                await self._sink.drain(timeout=2.0)
        finally:
            await self._teardown()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- negotiation --------------------------------------------------------------------------

    async def _negotiate(self, offer_sdp: str) -> str:
        member, services = self.member, self._services
        assert member is not None
        assert self.start_config is not None
        self.stream = await services.media.open(member, self.start_config, label=self.id,
                                                transport=TRANSPORT)
        pc = RTCPeerConnection(services.ice.gateway_configuration(self.id))
        self.pc = pc
        # Optional: a client that opens an "insights" data channel gets its own results on it,
        # as a browser on /ws does. Plain WHIP encoders offer none.
        self._sink = DataChannelSink(pc, self.id)
        services.bus.attach(member.conversation.id, self._sink, participant=self.id)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            offer = inherit_bundle_transport(services.ice.prepare_offer(offer_sdp))
            answer = await peer.answer_offer(pc, offer)
        except Exception as exc:
            log.info("whip %s: offer rejected by aiortc: %r", self.id, exc)
            raise OfferError(400, "invalid_sdp", "the offer could not be applied: "
                             f"{exc or type(exc).__name__}") from None
        problem = await services.ice.gathering_error(answer, self.id)
        if problem is not None:
            if services.ice.relay_only:
                raise OfferError(503, "turn_unavailable", problem)
            log.warning("whip %s: no relay candidate: %s", self.id, problem)
            count_error(TRANSPORT, "turn_unavailable")
        self._spawn(self._connect_watchdog())
        return answer

    def _restarts_ice(self, fragment: SdpFragment) -> bool:
        ufrag, pwd = self.remote_ice.ufrag, self.remote_ice.pwd
        return (fragment.ice_ufrag is not None and ufrag is not None
                and fragment.ice_ufrag != ufrag) or (
            fragment.ice_pwd is not None and pwd is not None and fragment.ice_pwd != pwd)

    async def _add(self, pc: RTCPeerConnection, candidate: RemoteCandidate) -> None:
        try:
            await peer.add_candidate(pc, candidate, self.id)
        except SessionError as exc:
            log.debug("whip %s: candidate discarded: %s", self.id, exc.message)

    # -- aiortc callbacks -----------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self._stopping:
            return
        if track.kind == "audio" and self._reader is None:
            self._reader = self._spawn(self._read_audio(track))
        else:
            self._spawn(peer.discard(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == peer.DATA_CHANNEL_LABEL and self._sink is not None:
            self._sink.attach(channel)

    async def _on_connection_state(self) -> None:
        pc = self.pc
        if pc is None:
            return
        state = pc.connectionState
        log.info("whip %s: peer connection %s", self.id, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        if state in ("failed", "closed") and not self._stopping:
            count_error(TRANSPORT, "ice_failed" if state == "failed" else "peer_closed")
            self._spawn(self.stop())

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(self._settings.connect_timeout)
        if self.connected_at is None and not self._stopping:
            log.warning("whip %s: no media connection within %.0f s; ending the session",
                        self.id, self._settings.connect_timeout)
            count_error(TRANSPORT, "connect_timeout")
            self._spawn(self.stop())

    # -- media ----------------------------------------------------------------------------

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        assert self.stream is not None
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                try:
                    chunks = self._frames.push(frame)  # type: ignore[arg-type]
                except Exception:
                    self.conversion_failures += 1  # one bad frame must not end the session
                    if self.conversion_failures % 100 == 1:
                        log.exception("whip %s: audio conversion failed", self.id)
                    continue
                for chunk in chunks:
                    self.stream.push(chunk)

    async def _finish_audio(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        stream = self.stream
        if stream is None or stream.started_at is None:
            return
        try:
            for chunk in self._frames.close():
                stream.push(chunk)
        except Exception:
            log.exception("whip %s: audio flush failed", self.id)
        await stream.finish(self._settings.stop_timeout)

    # -- lifecycle ----------------------------------------------------------------------------

    async def _teardown(self) -> None:
        """Release everything, whatever fails on the way (as a WebRTC session's teardown:
        the admission ticket and the token's session slot are never kept)."""
        try:
            self._tasks.cancel_all()
            if self.pc is not None:
                await peer.close_peer(self.pc, self.id)
            if self.member is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.member.leave())
            if self._sink is not None and self.member is not None:
                self._services.bus.detach(self.member.conversation.id, self._sink)
                await self._sink.close()
            if self.stream is not None:
                await self.stream.close()
        finally:
            self._ticket.release()
            self._lease.release()
            if not self._closed.is_set():
                self._closed.set()
                self._on_closed(self)

    @property
    def _stopping(self) -> bool:
        return self._tasks.closing

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._tasks.spawn(coro)


