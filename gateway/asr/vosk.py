"""In-process Vosk: one shared model, one recognizer per participant, calls in the worker pool.

Each stream has at most one call in flight (its media stream awaits each call before the
next), so the pool's backlog is bounded by the number of open streams. The blocking halves
(``accept_blocking``, ``endpoint_blocking``) are public so that the speech gate can run its
voice detection and the recogniser in one pool job per chunk instead of two.

Partials: ``PartialResult()`` is a traceback of the best path, not a re-decode (70-260 us
per call in ``bench/chunking.py``, ~1 % of recognition when asked after every 100 ms feed),
so it is asked after every feed and passed on only when its text changed; throttling it
only delays partials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import vosk

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk
from gateway.transcript import Phrase, Speaker, Word
from gateway.workers import WorkerPool

from .base import Final, Partial, TranscriptEvent
from .decoder_config import TUNED, DecoderConfig, ModelLayoutError, build_overlay
from .timeline import Timeline

log = logging.getLogger(__name__)

_MODELS: dict[str, vosk.Model] = {}


def tuned_model_dir(model_path: Path, decoder: DecoderConfig | None,
                    overlay_dir: Path | None) -> Path:
    """The directory to load: an overlay of ``model_path`` under ``decoder``'s settings, or
    the model itself when there is nothing to change or it cannot take an overlay (an
    old-layout model without ``conf/model.conf``, an unwritable cache): tuning is an
    optimisation, never a reason not to start."""
    if decoder is None or overlay_dir is None:
        return model_path
    try:
        return build_overlay(model_path, decoder, overlay_dir)
    except (ModelLayoutError, OSError) as exc:
        log.warning("decoder settings not applied, loading the model as it is: %s", exc)
        return model_path


async def load_model(model_path: Path, *, decoder: DecoderConfig | None = TUNED,
                     overlay_dir: Path | None = None) -> vosk.Model:
    """Load a model off the event loop (it takes ~0.5 s and ~160 MB), through the tuned
    overlay when ``overlay_dir`` is given.

    Models are cached per process and directory: a ``vosk.Model`` is read-only and safe to
    share between recognizers, and an application restarted in the same process (tests,
    embedding) should not pay the load or the memory twice. If the overlay fails to load,
    the plain model is loaded instead.
    """
    directory = await asyncio.to_thread(tuned_model_dir, model_path, decoder, overlay_dir)
    try:
        return await _load(directory)
    except Exception:
        if directory == model_path:
            raise
        log.warning("the tuned overlay %s did not load; loading %s as it is", directory,
                    model_path, exc_info=True)
        return await _load(model_path)


async def _load(directory: Path) -> vosk.Model:
    key = str(directory)
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
                 partial_interval: float = 0.0) -> None:
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
        partial_interval: float = 0.0,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._pool = pool
        self._rec: vosk.KaldiRecognizer | None = recognizer
        self.speaker = speaker
        self._partial_interval = partial_interval
        self._new_id = new_id
        self._timeline = Timeline()
        self._last_partial = ""
        self._last_partial_at = float("-inf")
        self.cpu_seconds = 0.0

    @property
    def audio_seconds(self) -> float:
        """Audio fed so far (seconds)."""
        return self._timeline.fed_samples / TARGET_RATE

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        return await self._pool.run(self.accept_blocking, chunk)

    async def endpoint(self) -> list[TranscriptEvent]:
        return await self._pool.run(self.endpoint_blocking)

    async def close(self) -> None:
        self._rec = None  # the C object is freed with its last reference

    # -- worker-thread side -------------------------------------------------------------

    def _recognizer(self) -> vosk.KaldiRecognizer:
        if self._rec is None:
            raise RuntimeError("the recognizer stream is closed")
        return self._rec

    def accept_blocking(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        """Feed ``chunk`` (in a worker thread): a final if Vosk's own endpoint rules fired
        (the backstop when a speech gate stays open), else a partial if its text changed."""
        rec = self._recognizer()
        started = time.thread_time()
        try:
            self._timeline.feed(chunk)
            if rec.AcceptWaveform(chunk.data):
                return self._final(rec.Result())
            now = time.monotonic()
            if now - self._last_partial_at < self._partial_interval:
                return []
            # After FinalResult() Vosk answers {"text": ""} until audio is fed again.
            text = json.loads(rec.PartialResult()).get("partial", "")
            if not text or text == self._last_partial:
                return []
            self._last_partial, self._last_partial_at = text, now
            return [Partial(text)]
        finally:
            self.cpu_seconds += time.thread_time() - started

    def endpoint_blocking(self) -> list[TranscriptEvent]:
        """End the phrase now (in a worker thread)."""
        rec = self._recognizer()
        started = time.thread_time()
        try:
            return self._final(rec.FinalResult())
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _final(self, raw: str) -> list[TranscriptEvent]:
        self._last_partial = ""
        self._last_partial_at = float("-inf")
        result = json.loads(raw)
        timeline = self._timeline
        fed_words = result.get("result", [])
        words = tuple(
            Word(
                word=str(w["word"]),
                start=round(timeline.to_stream(float(w["start"])), 3),
                end=round(timeline.to_stream(float(w["end"]), end=True), 3),
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
