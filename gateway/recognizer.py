"""Speech recognition with Vosk: one shared model, one stream per participant, worker threads.

Vosk's C calls release the GIL, so recognition runs in a thread pool sized to the cores and
never on the event loop. Each stream has at most one call in flight (its session awaits each
call before the next), so the pool's backlog is bounded by the number of open sessions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import vosk

from .audio import TARGET_RATE, PcmChunk
from .transcript import Phrase, Speaker, Word

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Partial:
    """Live, unstable text of the phrase being spoken."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """A finished phrase with word times."""

    phrase: Phrase


TranscriptEvent = Partial | Final

_MODELS: dict[str, vosk.Model] = {}


class RecognitionEngine:
    """Owns the process-wide Vosk model and the worker pool that runs every stream."""

    def __init__(self, model: vosk.Model, workers: int) -> None:
        self.model = model
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")

    @classmethod
    async def load(cls, model_path: Path, workers: int | None = None) -> RecognitionEngine:
        """Load the model off the event loop (it takes ~0.5 s and ~160 MB).

        Models are cached per process and path: a ``vosk.Model`` is read-only and safe to
        share between recognizers, and an application restarted in the same process (tests,
        embedding) should not pay the load or the memory twice.
        """
        key = str(model_path)
        model = _MODELS.get(key)
        if model is None:
            vosk.SetLogLevel(-1)
            model = await asyncio.to_thread(vosk.Model, key)
            _MODELS[key] = model
        return cls(model, workers or os.cpu_count() or 1)

    async def open_stream(
        self,
        speaker: Speaker,
        *,
        partial_interval: float = 0.15,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> RecognizerStream:
        """A recognizer for one participant, built in the pool (it takes ~70 ms of CPU)."""
        recognizer = await self.run(_new_recognizer, self.model)
        return RecognizerStream(self, recognizer, speaker, partial_interval=partial_interval,
                                new_id=new_id)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work (recognition, insights) in the shared pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def aclose(self) -> None:
        """Wait for calls still running (off the loop: they may take a while), then stop."""
        await asyncio.to_thread(self.executor.shutdown, wait=True, cancel_futures=True)


def _new_recognizer(model: vosk.Model) -> vosk.KaldiRecognizer:
    recognizer = vosk.KaldiRecognizer(model, TARGET_RATE)
    recognizer.SetWords(True)
    return recognizer


class RecognizerStream:
    """One participant's recognizer. Calls must be sequential: await each before the next."""

    def __init__(
        self,
        engine: RecognitionEngine,
        recognizer: vosk.KaldiRecognizer,
        speaker: Speaker,
        *,
        partial_interval: float,
        new_id: Callable[[], str],
    ) -> None:
        self._engine = engine
        self._rec = recognizer
        self.speaker = speaker
        self._partial_interval = partial_interval
        self._new_id = new_id
        self._last_partial = ""
        self._last_partial_at = 0.0
        self._samples = 0
        self.cpu_seconds = 0.0

    @property
    def audio_seconds(self) -> float:
        return self._samples / TARGET_RATE

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        return await self._engine.run(self._accept_blocking, chunk)

    async def finish(self) -> list[TranscriptEvent]:
        """Finalise whatever was still being spoken; the stream may be reused afterwards."""
        return await self._engine.run(self._finish_blocking)

    # -- worker-thread side -------------------------------------------------------------

    def _accept_blocking(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        started = time.thread_time()
        try:
            self._samples += chunk.samples
            if self._rec.AcceptWaveform(chunk.data):
                return self._final(self._rec.Result())
            now = time.monotonic()
            if now - self._last_partial_at < self._partial_interval:
                return []
            text = json.loads(self._rec.PartialResult()).get("partial", "")
            if not text or text == self._last_partial:
                return []
            self._last_partial, self._last_partial_at = text, now
            return [Partial(text)]
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _finish_blocking(self) -> list[TranscriptEvent]:
        started = time.thread_time()
        try:
            return self._final(self._rec.FinalResult())
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _final(self, raw: str) -> list[TranscriptEvent]:
        self._last_partial = ""
        self._last_partial_at = 0.0
        result = json.loads(raw)
        words = tuple(
            Word(
                word=str(w["word"]),
                start=float(w["start"]),
                end=float(w["end"]),
                confidence=float(w.get("conf", 1.0)),
            )
            for w in result.get("result", [])
        )
        text = str(result.get("text", "")).strip()
        if not text or not words:
            return []
        confidence = sum(w.confidence for w in words) / len(words)
        phrase = Phrase(
            id=self._new_id(),
            text=text,
            speaker=self.speaker,
            start=words[0].start,
            end=words[-1].end,
            words=words,
            confidence=confidence,
        )
        return [Final(phrase)]
