"""The speech gate: the recogniser hears speech plus padding, and every sentence ends a phrase.

It sits between a media stream's bounded queue and the recogniser, as a ``Recognizer``
that wraps another one, so every transport (WebRTC, the Symbl WebSocket, telephony) and
every recogniser (in-process Vosk, a vosk-server pool) gets it without knowing it exists.
Per chunk, the :class:`~gateway.pipeline.endpointer.Endpointer` decides what the recogniser
gets (pre-roll, speech, hangover; offsets kept, so skipped silence never shifts word
times) and when a phrase ends (``endpoint()`` on the recogniser: each sentence its own
final instead of Vosk's 0.5-1 s rules merging sentences separated by 0.3 s pauses).

Where the work runs (measured in NOTES-vad.md and docs/performance.md):

* Silero costs ~0.5-1 ms of CPU per 100 ms chunk: too much for the event loop at 24
  streams, so it runs in the worker pool. When the recogniser has blocking halves
  (:class:`BlockingStream`, in-process Vosk), detection and recognition of a chunk run in
  **one** pool job: one thread hop per chunk, not two.
* WebRTC's detector (~30 us per chunk) runs on the loop.
* ``vad="off"``: chunks pass straight through (the recogniser's own endpointing).

A client's forced endpoint (``MediaStream.endpoint()``, Symbl's or Deepgram's "Finalize")
arrives as ``endpoint()`` and goes through the endpointer's ``finalize``, so the gate and
the recogniser agree on where the phrase ended.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gateway.asr.base import Recognizer, RecognizerStream, TranscriptEvent
from gateway.transcript import Speaker

from .endpointer import Endpoint, Endpointer, EndpointerConfig, EndpointerEvent, SpeechAudio
from .pcm import TARGET_RATE, PcmChunk
from .vad import VoiceDetector, make_detector

Runner = Callable[..., Awaitable[Any]]
"""Runs a blocking call in the worker pool (``WorkerPool.run``)."""

VAD_CHOICES = ("silero", "webrtc", "off")
ON_LOOP = frozenset({"webrtc"})  # detectors cheap enough for the event loop
MAX_SPARE_DETECTORS = 64


@runtime_checkable
class BlockingStream(Protocol):
    """A recogniser stream whose work can run inside someone else's pool job."""

    def accept_blocking(self, chunk: PcmChunk) -> list[TranscriptEvent]: ...

    def endpoint_blocking(self) -> list[TranscriptEvent]: ...


@dataclass(frozen=True, slots=True)
class GateConfig:
    """``vad``: ``silero`` (default), ``webrtc`` or ``off``; the endpointer's timing."""

    vad: str = "silero"
    endpointer: EndpointerConfig = field(default_factory=EndpointerConfig)

    def __post_init__(self) -> None:
        if self.vad not in VAD_CHOICES:
            raise ValueError(f"unknown VAD {self.vad!r}; choose one of {', '.join(VAD_CHOICES)}")


@dataclass
class GateStats:
    """What the gate did, summed over every stream (for health and benchmarks)."""

    streams: int = 0
    audio_seconds: float = 0.0
    """Audio that reached the gate."""
    forwarded_seconds: float = 0.0
    """Audio the recogniser was given."""
    endpoints: dict[str, int] = field(default_factory=dict)
    """Phrases ended, by reason (silence, forced, max_phrase)."""
    job_seconds: float = 0.0
    """Wall time of the gate's pool jobs (detection + recognition when batched)."""


class SpeechGate:
    """Implements ``Recognizer``: streams of ``inner`` behind a voice-activity gate."""

    def __init__(self, inner: Recognizer, config: GateConfig | None = None, *,
                 run: Runner, detectors: Callable[[str], VoiceDetector] = make_detector) -> None:
        """``detectors`` builds a detector by name (tests pass a deterministic one)."""
        self.inner = inner
        self.config = config or GateConfig()
        self._detectors = detectors
        self.name = inner.name if self.config.vad == "off" else f"{inner.name}+{self.config.vad}"
        self._run = run
        self._spare: list[VoiceDetector] = []  # reset detectors of closed streams
        self.stats = GateStats()

    async def open_stream(self, speaker: Speaker) -> GatedStream:
        inner = await self.inner.open_stream(speaker)
        endpointer = None
        if self.config.vad != "off":
            try:
                detector = self._spare.pop() if self._spare else await self._new_detector()
            except BaseException:
                await inner.close()  # no stream without its gate, and no leaked recogniser
                raise
            endpointer = Endpointer(detector, self.config.endpointer)
        self.stats.streams += 1
        return GatedStream(self, inner, endpointer)

    async def _new_detector(self) -> VoiceDetector:
        """Silero's ONNX session takes ~0.15 s of CPU to build: in the pool, not the loop."""
        detector: VoiceDetector = await self._run(self._detectors, self.config.vad)
        return detector

    def _recycle(self, detector: VoiceDetector) -> None:
        if len(self._spare) < MAX_SPARE_DETECTORS:
            detector.reset()
            self._spare.append(detector)

    async def aclose(self) -> None:
        self._spare.clear()
        await self.inner.aclose()


@dataclass(frozen=True, slots=True)
class _JobResult:
    events: list[TranscriptEvent]
    forwarded: int  # samples given to the recogniser
    reasons: tuple[str, ...]  # endpoints, by reason
    seconds: float  # the job's wall time


class GatedStream:
    """Implements ``RecognizerStream``. Calls are sequential, like any recogniser stream's."""

    def __init__(self, gate: SpeechGate, inner: RecognizerStream,
                 endpointer: Endpointer | None) -> None:
        self._gate = gate
        self.inner = inner
        self.endpointer = endpointer
        self.speaker = inner.speaker
        self._blocking = inner if isinstance(inner, BlockingStream) else None
        self._on_loop = gate.config.vad in ON_LOOP
        self._closed = False
        self._in_pool = False  # a pool job may be using the detector (stays set if cancelled)

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        self._gate.stats.audio_seconds += chunk.samples / TARGET_RATE
        decisions: list[EndpointerEvent]
        if self.endpointer is None:
            decisions = [SpeechAudio(chunk)]
        elif self._on_loop:
            decisions = self.endpointer.push(chunk)
        elif self._blocking is not None:
            return await self._job(chunk, None)  # detection and recognition: one job
        else:
            started = time.perf_counter()
            self._in_pool = True
            decisions = await self._gate._run(self.endpointer.push, chunk)
            self._in_pool = False
            self._gate.stats.job_seconds += time.perf_counter() - started
        if not decisions:
            return []  # silence a loop-side detector gated: no pool hop at all
        if self._blocking is not None:
            return await self._job(None, decisions)
        return await self._apply(decisions)

    async def endpoint(self) -> list[TranscriptEvent]:
        """End the phrase now (a client's Finalize, a mute, the end of the stream).

        With a gate, only if the endpointer had a phrase open: otherwise the recogniser
        has heard nothing since its last final and there is nothing to end."""
        if self.endpointer is not None:
            decisions = self.endpointer.finalize()
            if not decisions:
                return []
            if self._blocking is not None:
                return await self._job(None, decisions)
            return await self._apply(decisions)
        if self._blocking is not None:
            return await self._job(None, [Endpoint(0, "forced")])
        return await self.inner.endpoint()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.endpointer is not None:
            if not self._in_pool:  # a cancelled caller's job may still run on it: drop it
                self._gate._recycle(self.endpointer.detector)
            self.endpointer = None
        await self.inner.close()

    # -- internals ------------------------------------------------------------------------

    async def _job(self, chunk: PcmChunk | None,
                   decisions: list[EndpointerEvent] | None) -> list[TranscriptEvent]:
        self._in_pool = True
        result: _JobResult = await self._gate._run(self._work, chunk, decisions)
        self._in_pool = False  # not reached when cancelled: the job may still be running
        stats = self._gate.stats
        stats.job_seconds += result.seconds
        stats.forwarded_seconds += result.forwarded / TARGET_RATE
        for reason in result.reasons:
            stats.endpoints[reason] = stats.endpoints.get(reason, 0) + 1
        return result.events

    def _work(self, chunk: PcmChunk | None,
              decisions: list[EndpointerEvent] | None) -> _JobResult:
        """Worker-thread side: detect (if ``chunk``), then recognise what the gate decided.
        Stream statistics are counted by the caller, on the loop."""
        started = time.perf_counter()
        blocking = self._blocking
        assert blocking is not None
        if decisions is None:
            assert chunk is not None and self.endpointer is not None
            decisions = self.endpointer.push(chunk)
        events: list[TranscriptEvent] = []
        forwarded = 0
        reasons: list[str] = []
        for decision in decisions:
            if isinstance(decision, SpeechAudio):
                forwarded += decision.chunk.samples
                events += blocking.accept_blocking(decision.chunk)
            elif isinstance(decision, Endpoint):
                reasons.append(decision.reason)
                events += blocking.endpoint_blocking()
        return _JobResult(events, forwarded, tuple(reasons), time.perf_counter() - started)

    async def _apply(self, decisions: list[EndpointerEvent]) -> list[TranscriptEvent]:
        """Recognise what the gate decided, through the recogniser's own async calls."""
        stats = self._gate.stats
        events: list[TranscriptEvent] = []
        for decision in decisions:
            if isinstance(decision, SpeechAudio):
                stats.forwarded_seconds += decision.chunk.samples / TARGET_RATE
                events += await self.inner.accept(decision.chunk)
            elif isinstance(decision, Endpoint):
                stats.endpoints[decision.reason] = stats.endpoints.get(decision.reason, 0) + 1
                events += await self.inner.endpoint()
        return events
