"""In-process Vosk: one shared model, one recognizer per participant, calls in the worker pool.

Each stream has at most one call in flight (its media stream awaits each call before the
next), so the pool's backlog is bounded by the number of open streams.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import vosk

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk
from gateway.transcript import Phrase, Speaker, Word
from gateway.workers import WorkerPool

from .base import Final, Partial, TranscriptEvent
from .timeline import Timeline

_MODELS: dict[str, vosk.Model] = {}


async def load_model(model_path: Path) -> vosk.Model:
    """Load a model off the event loop (it takes ~0.5 s and ~160 MB).

    Models are cached per process and path: a ``vosk.Model`` is read-only and safe to share
    between recognizers, and an application restarted in the same process (tests,
    embedding) should not pay the load or the memory twice.
    """
    key = str(model_path)
    model = _MODELS.get(key)
    if model is None:
        vosk.SetLogLevel(-1)
        model = await asyncio.to_thread(vosk.Model, key)
        _MODELS[key] = model
    return model


class VoskRecognizer:
    """Implements ``gateway.asr.base.Recognizer`` with the local model."""

    name = "vosk"

    def __init__(self, model: vosk.Model, pool: WorkerPool, *,
                 partial_interval: float = 0.15) -> None:
        self.model = model
        self.pool = pool
        self.partial_interval = partial_interval

    async def open_stream(
        self, speaker: Speaker, *, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    ) -> VoskStream:
        """A recognizer for one participant, built in the pool (it takes ~70 ms of CPU)."""
        recognizer = await self.pool.run(_new_recognizer, self.model)
        return VoskStream(self.pool, recognizer, speaker,
                          partial_interval=self.partial_interval, new_id=new_id)

    async def aclose(self) -> None:
        """The model is cached for the process; the pool belongs to the application."""


def _new_recognizer(model: vosk.Model) -> vosk.KaldiRecognizer:
    recognizer = vosk.KaldiRecognizer(model, TARGET_RATE)
    recognizer.SetWords(True)
    return recognizer


class VoskStream:
    """One participant's recognizer. Calls must be sequential: await each before the next."""

    def __init__(
        self,
        pool: WorkerPool,
        recognizer: vosk.KaldiRecognizer,
        speaker: Speaker,
        *,
        partial_interval: float,
        new_id: Callable[[], str],
    ) -> None:
        self._pool = pool
        self._rec: vosk.KaldiRecognizer | None = recognizer
        self.speaker = speaker
        self._partial_interval = partial_interval
        self._new_id = new_id
        self._timeline = Timeline()
        self._last_partial = ""
        self._last_partial_at = 0.0
        self.cpu_seconds = 0.0

    @property
    def audio_seconds(self) -> float:
        return self._timeline.fed_samples / TARGET_RATE

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        return await self._pool.run(self._accept_blocking, chunk)

    async def endpoint(self) -> list[TranscriptEvent]:
        return await self._pool.run(self._endpoint_blocking)

    async def close(self) -> None:
        self._rec = None  # the C object is freed with its last reference

    # -- worker-thread side -------------------------------------------------------------

    def _recognizer(self) -> vosk.KaldiRecognizer:
        if self._rec is None:
            raise RuntimeError("the recognizer stream is closed")
        return self._rec

    def _accept_blocking(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        rec = self._recognizer()
        started = time.thread_time()
        try:
            self._timeline.feed(chunk)
            if rec.AcceptWaveform(chunk.data):
                return self._final(rec.Result())
            now = time.monotonic()
            if now - self._last_partial_at < self._partial_interval:
                return []
            text = json.loads(rec.PartialResult()).get("partial", "")
            if not text or text == self._last_partial:
                return []
            self._last_partial, self._last_partial_at = text, now
            return [Partial(text)]
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _endpoint_blocking(self) -> list[TranscriptEvent]:
        rec = self._recognizer()
        started = time.thread_time()
        try:
            return self._final(rec.FinalResult())
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _final(self, raw: str) -> list[TranscriptEvent]:
        self._last_partial = ""
        self._last_partial_at = 0.0
        result = json.loads(raw)
        timeline = self._timeline
        fed_words = result.get("result", [])
        words = tuple(
            Word(
                word=str(w["word"]),
                start=timeline.to_stream(float(w["start"])),
                end=timeline.to_stream(float(w["end"])),
                confidence=float(w.get("conf", 1.0)),
            )
            for w in fed_words
        )
        if fed_words:
            timeline.forget_before(float(fed_words[-1]["end"]))
        text = str(result.get("text", "")).strip()
        if not text or not words:
            return []
        confidence = sum(w.confidence for w in words) / len(words)
        return [Final(Phrase(
            id=self._new_id(),
            text=text,
            speaker=self.speaker,
            start=words[0].start,
            end=words[-1].end,
            words=words,
            confidence=confidence,
        ))]
