"""A session: one participant's peer connection, audio pipeline, recognizer and outputs.

Each stage owns its state and hands events forward; the session owns their lifetimes
(start, bye, vanish, shutdown). Audio flows reader task -> bounded queue -> recognizer task
-> sinks, so a slow recognizer never blocks aiortc's reader and a slow sink never blocks
recognition.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from signaling.interface import Answer, Notify, RemoteCandidate, SessionError
from turn.mdns import is_mdns_candidate

from . import messages
from .audio import AudioPipeline, PcmChunk
from .conversation import Conversation, ConversationFull, InsightsBuilder, Participant
from .recognizer import Final, Partial, RecognitionEngine, RecognizerStream, TranscriptEvent
from .sdp import summarize_offer
from .sinks import DataChannelSink, Message, Sink
from .start_config import ConfigError, StartConfig, language_matches, parse_start_config
from .transcript import Phrase, Speaker

log = logging.getLogger(__name__)

DATA_CHANNEL_LABEL = "insights"


class InsightsProvider(Protocol):
    """Validates a client's insight settings at start, builds the engine when audio flows."""

    def prepare(self, start: StartConfig) -> InsightsBuilder:
        """Raise ``ConfigError`` (or ``ValueError``) for bad settings."""


class ConversationDirectory(Protocol):
    """Finds or creates the conversation a session belongs to (``SessionManager``)."""

    def join(
        self, participant: Participant, start: StartConfig, insights: InsightsBuilder | None
    ) -> Conversation:
        """Raise ``ConversationFull`` when it cannot take another participant."""


class IceConfigurator(Protocol):
    """ICE for the session's peer connection (``gateway.ice.IceProvider``)."""

    @property
    def relay_only(self) -> bool: ...

    def client_servers(self, user: str) -> list[dict[str, Any]]: ...

    def gateway_configuration(self, user: str) -> RTCConfiguration: ...

    def prepare_offer(self, sdp: str) -> str: ...

    def unusable(self) -> str | None: ...

    async def gathering_error(self, local_sdp: str, user: str) -> str | None: ...


class NoIce:
    """No STUN/TURN: host candidates only (loopback and LAN deployments, tests)."""

    relay_only = False

    def client_servers(self, user: str) -> list[dict[str, Any]]:
        return []

    def gateway_configuration(self, user: str) -> RTCConfiguration:
        return RTCConfiguration(iceServers=[])

    def prepare_offer(self, sdp: str) -> str:
        return sdp

    def unusable(self) -> str | None:
        return None

    async def gathering_error(self, local_sdp: str, user: str) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class SessionSettings:
    language: str = "en-US"
    chunk_ms: int = 100
    partial_interval: float = 0.15
    backlog_seconds: float = 10.0
    analytics_interval: float = 10.0
    connect_timeout: float = 30.0
    stop_timeout: float = 10.0
    offer_timeout: float = 30.0  # signaling: time a new connection has to offer


class Session:
    """Implements ``signaling.interface.SignalingSession`` for one participant."""

    def __init__(
        self,
        session_id: str,
        *,
        engine: RecognitionEngine,
        settings: SessionSettings,
        notify: Notify,
        conversations: ConversationDirectory,
        ice: IceConfigurator | None = None,
        insights: InsightsProvider | None = None,
        on_closed: Callable[[Session], None] = lambda s: None,
    ) -> None:
        self.id = session_id
        self._engine = engine
        self._ice: IceConfigurator = ice or NoIce()
        self._settings = settings
        self._notify = notify
        self._insights_provider = insights
        self._conversations = conversations
        self._on_closed = on_closed
        self.created = time.monotonic()

        self.pc: RTCPeerConnection | None = None
        self.start_config: StartConfig | None = None
        self._sink: DataChannelSink | None = None
        self._sinks: list[Sink] = []
        self._pipeline = AudioPipeline(settings.chunk_ms)
        self._queue: asyncio.Queue[PcmChunk | None] = asyncio.Queue(
            maxsize=max(1, int(settings.backlog_seconds * 1000 / settings.chunk_ms))
        )
        self._stream: RecognizerStream | None = None
        self._build_insights: InsightsBuilder | None = None
        self.conversation: Conversation | None = None
        self._leaving: asyncio.Future[None] | None = None
        self._offset = 0.0  # this stream's start on the conversation clock, seconds
        self._stream_start: datetime | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._recognizer_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closed = asyncio.Event()
        self.dropped_chunks = 0
        self.failures = 0
        self.connected_at: float | None = None

    # -- SignalingSession ---------------------------------------------------------------

    async def start(self, offer_sdp: str, config: Mapping[str, Any]) -> Answer:
        self._check_alive()
        self.start_config = self._validate_config(config)
        try:
            summary = summarize_offer(offer_sdp)
        except ValueError as exc:
            raise SessionError("invalid_sdp", f"the offer is not valid SDP: {exc}") from None
        if not summary.audio_sending:
            raise SessionError(
                "no_audio",
                "the offer sends no audio: add a microphone track (sendrecv or sendonly)",
            )
        if not summary.data_channel:
            raise SessionError(
                "no_data_channel",
                f"create a data channel labelled '{DATA_CHANNEL_LABEL}' before the offer: "
                "results are delivered on it",
            )
        blocked = self._ice.unusable()
        if blocked is not None:
            raise SessionError("turn_unavailable", blocked, fatal=True)
        try:
            self.conversation = self._conversations.join(
                self, self.start_config, self._build_insights
            )
        except ConversationFull as exc:
            raise SessionError("conversation_full", str(exc)) from None
        # From here on every failure tears the session down (and leaves the conversation).
        try:
            answer = await self._negotiate(offer_sdp)
        except BaseException:
            await self._teardown()
            raise
        return answer

    async def _negotiate(self, offer_sdp: str) -> Answer:
        assert self.conversation is not None
        self._stream = await self._engine.open_stream(
            self.speaker, partial_interval=self._settings.partial_interval
        )
        self._check_alive()
        pc = RTCPeerConnection(self._ice.gateway_configuration(self.id))
        self.pc = pc
        self._sink = DataChannelSink(pc)
        self._sinks = [self._sink]
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            await pc.setRemoteDescription(
                RTCSessionDescription(sdp=self._ice.prepare_offer(offer_sdp), type="offer")
            )
            self._check_alive()
            _receive_one_audio_track(pc)
            await pc.setLocalDescription(await pc.createAnswer())
        except SessionError:
            raise
        except Exception as exc:
            self._check_alive()  # a shutdown mid-negotiation is not the client's fault
            log.info("session %s: offer rejected by aiortc: %r", self.id, exc)
            raise SessionError(
                "invalid_sdp", f"the offer could not be applied: {exc or type(exc).__name__}",
                fatal=True,
            ) from None
        self._check_alive()
        answer_sdp = pc.localDescription.sdp
        warnings: tuple[tuple[str, str], ...] = ()
        problem = await self._ice.gathering_error(answer_sdp, self.id)
        self._check_alive()
        if problem is not None:
            log.error("session %s: no relay candidate: %s", self.id, problem)
            if self._ice.relay_only:
                raise SessionError("turn_unavailable", problem, fatal=True)
            warnings = (("turn_unavailable", problem),)
        self._spawn(self._connect_watchdog())
        self._recognizer_task = self._spawn(self._recognize())
        return Answer(answer_sdp, self.conversation.id, warnings)

    def _check_alive(self) -> None:
        """Stop a negotiation that a shutdown or a vanished peer overtook."""
        if self._stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        pc = self.pc
        if pc is None or self._stopping:
            raise SessionError("session_closed", "this session has ended", fatal=True)
        if candidate.candidate is None:
            await pc.addIceCandidate(None)  # end of candidates
            return
        text = candidate.candidate
        if is_mdns_candidate(text):
            # mDNS-hidden browser address: resolving it would stall; the browser still
            # reaches our own candidates and is learned as peer-reflexive.
            log.debug("session %s: ignoring mDNS candidate", self.id)
            return
        text = text[len("candidate:"):] if text.startswith("candidate:") else text
        try:
            ice = candidate_from_sdp(text)
        except Exception:
            raise SessionError("invalid_candidate", "the candidate could not be parsed") from None
        ice.sdpMid = candidate.sdp_mid
        ice.sdpMLineIndex = candidate.sdp_mline_index
        try:
            await pc.addIceCandidate(ice)
        except Exception as exc:
            raise SessionError("invalid_candidate", f"the candidate was refused: {exc}") from None

    async def stop(self) -> None:
        """Bye: recognise what is left, send the last results, then close everything.

        Only catching up on queued audio is bounded by ``stop_timeout``; the goodbye
        (closing insights, relay and console goodbyes, data-channel drain) has its own
        per-sink bounds and is shielded, so a timeout or a cancelled caller can never
        leave a relay connection or a console socket open.
        """
        if self._stopping:
            await self._closed.wait()
            return
        self._stopping = True
        try:
            try:
                await asyncio.wait_for(self._finish_recognition(), self._settings.stop_timeout)
            except TimeoutError:
                log.warning("session %s: recognition did not catch up within %.0f s",
                            self.id, self._settings.stop_timeout)
            goodbye = messages.recognition_stopped() if self._stream_start is not None else None
            await asyncio.shield(self._leave_conversation(goodbye))
            for sink in self._sinks:
                await sink.drain(timeout=2.0)
        finally:
            await self._teardown()

    async def close(self) -> None:
        await self.stop()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- Participant --------------------------------------------------------------------

    @property
    def speaker(self) -> Speaker:
        """Who this session's audio is."""
        base = self.start_config.speaker if self.start_config else Speaker()
        return dataclasses.replace(base, id=self.id)

    def deliver(self, message: Message) -> None:
        """A message for this participant's own outputs."""
        for sink in self._sinks:
            sink.send(message)

    # -- aiortc callbacks ---------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self._stopping:
            return
        if track.kind == "audio" and self._reader is None:
            self._reader = self._spawn(self._read_audio(track))
        else:
            # aiortc decodes every track into an unbounded queue: read it or leak. (Extra
            # tracks are answered inactive, so this only covers a misbehaving peer.)
            self._spawn(_discard(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == DATA_CHANNEL_LABEL and self._sink is not None:
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
            await self._notify(
                {"type": "error", "code": code, "message": f"the peer connection {state}"}
            )
            self._spawn(self.stop())

    # -- media path ---------------------------------------------------------------------

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if self._stream_start is None:
                    self._begin_recognition()
                try:
                    chunks = self._pipeline.push(frame)  # type: ignore[arg-type]
                except Exception:
                    # One undecodable frame must not end the call: skip it.
                    self._failed("audio conversion")
                    continue
                for chunk in chunks:
                    self._enqueue(chunk)
        except MediaStreamError:
            log.info("session %s: audio track ended", self.id)

    def _begin_recognition(self) -> None:
        assert self.conversation is not None
        self._stream_start = datetime.now(UTC)
        self._offset = self.conversation.begin(self._stream_start)
        self._publish(messages.recognition_started())

    def _enqueue(self, chunk: PcmChunk) -> None:
        if self._queue.full():
            # Recognition is behind by backlog_seconds: drop the oldest audio rather than
            # let memory grow; counted and logged so an overloaded host is visible.
            self._queue.get_nowait()
            self.dropped_chunks += 1
            if self.dropped_chunks % 50 == 1:
                log.warning("session %s: recognizer overloaded, dropped %d chunks",
                            self.id, self.dropped_chunks)
        self._queue.put_nowait(chunk)

    async def _recognize(self) -> None:
        assert self._stream is not None
        stream = self._stream
        while (chunk := await self._queue.get()) is not None:
            await self._recognize_step(stream.accept, chunk)
        await self._recognize_step(stream.finish)

    async def _recognize_step(self, step: Callable[..., Any], *args: Any) -> None:
        """One recognizer call and its results; a failure costs that step, not the call."""
        try:
            await self._handle(await step(*args))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed("recognition")

    def _failed(self, stage: str) -> None:
        self.failures += 1
        if self.failures % 100 == 1:
            log.exception("session %s: %s failed (%d so far); continuing",
                          self.id, stage, self.failures)

    async def _handle(self, events: list[TranscriptEvent]) -> None:
        for event in events:
            if isinstance(event, Partial):
                self._publish(self._partial_message(event.text))
            elif isinstance(event, Final):
                await self._final(event.phrase)

    def _partial_message(self, text: str) -> Message:
        assert self._stream is not None and self.conversation is not None
        punctuated = self.conversation.punctuate(text)
        return messages.recognition_result(
            transcript=text, punctuated=punctuated, is_final=False,
            speaker=self._stream.speaker,
        )

    async def _final(self, phrase: Phrase) -> None:
        conversation = self.conversation
        assert self._stream_start is not None and conversation is not None
        content, sentiment, extra = phrase.text, None, list[Message]()
        try:
            analysis = await conversation.analyse(phrase, self._offset)
        except Exception:
            # Insights are extras: the transcript goes out unpunctuated rather than not at all.
            self._failed("insights")
            analysis = None
        if analysis is not None:
            content, sentiment, extra = analysis.content, analysis.sentiment, analysis.messages
        # Live transcript to this participant; the finished message and its insights to
        # everyone in the conversation.
        self._publish(messages.recognition_result(
            transcript=phrase.text, punctuated=content, is_final=True, speaker=phrase.speaker,
            confidence=phrase.confidence, words=phrase.words,
        ))
        conversation.broadcast(messages.message_response(
            phrase, content=content,
            stream_start=self._stream_start, sentiment=sentiment,
        ))
        for message in extra:
            conversation.broadcast(message)

    def _publish(self, message: Message) -> None:
        if self.conversation is not None:
            self.conversation.publish(message, self)
        else:
            self.deliver(message)

    # -- lifecycle ----------------------------------------------------------------------

    def _validate_config(self, config: Mapping[str, Any]) -> StartConfig:
        try:
            start = parse_start_config(config)
            if self._insights_provider is not None:
                self._build_insights = self._insights_provider.prepare(start)
        except ConfigError as exc:
            raise SessionError("invalid_config", str(exc)) from None
        except ValueError as exc:  # insights config errors are ValueErrors with a field
            raise SessionError("invalid_config", str(exc)) from None
        if start.language_code and not language_matches(start.language_code,
                                                        self._settings.language):
            raise SessionError(
                "unsupported_language",
                f"languageCode {start.language_code!r} is not served here; "
                f"this gateway's model recognises {self._settings.language}",
            )
        return start

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(self._settings.connect_timeout)
        if self.connected_at is None and not self._stopping:
            await self._notify({
                "type": "error", "code": "connect_timeout",
                "message": f"no media connection within {self._settings.connect_timeout:.0f} s "
                           "(ICE could not connect: check STUN/TURN settings and firewalls)",
            })
            self._spawn(self.stop())

    async def _finish_recognition(self) -> None:
        """Stop reading audio and recognise everything already received."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        task = self._recognizer_task
        if task is None or task.done():
            return
        try:
            for chunk in self._pipeline.close():
                await self._queue.put(chunk)
        except Exception:
            self._failed("audio flush")
        await self._queue.put(None)
        with contextlib.suppress(Exception):
            await task

    def _leave_conversation(self, goodbye: Message | None) -> asyncio.Future[None]:
        """Leave once, however many paths (bye, teardown) ask for it."""
        if self._leaving is None:
            if self.conversation is None:
                if goodbye is not None:
                    self.deliver(goodbye)
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                self._leaving = done
            else:
                # The last participant out receives the closing insights first.
                self._leaving = asyncio.ensure_future(self.conversation.leave(self, goodbye))
        return self._leaving

    async def _teardown(self) -> None:
        self._stopping = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self.pc is not None:
            await self.pc.close()
        with contextlib.suppress(Exception):
            await asyncio.shield(self._leave_conversation(None))
        self._stream = None
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


def _receive_one_audio_track(pc: RTCPeerConnection) -> None:
    """Answer only the first audio section; video and extra audio become inactive.

    aiortc decodes every track it receives on its own thread: one client offering video
    or ten microphones would cost CPU nobody uses.
    """
    audio_seen = False
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio" and not audio_seen:
            audio_seen = True
            continue
        transceiver.direction = "inactive"


async def _discard(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
