"""A scripted recognizer: deterministic transcripts from audio positions, for unit tests.

The media stream, conversations and outputs are tested in milliseconds with it instead of
the real model: each scripted phrase is "heard" when the stream's audio passes its end, and
its words are spread evenly over its span. Partials show the words heard so far. The real
model's behaviour is pinned by the slow tests; this fake pins the plumbing.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Phrase, Speaker, Word

from .base import Final, Partial, TranscriptEvent


@dataclass(frozen=True, slots=True)
class ScriptedPhrase:
    text: str
    start: float  # seconds on the stream clock
    end: float

    def words(self, speaker: Speaker) -> tuple[Word, ...]:
        tokens = self.text.split()
        step = (self.end - self.start) / max(1, len(tokens))
        return tuple(Word(t, self.start + i * step, self.start + (i + 1) * step, 0.9)
                     for i, t in enumerate(tokens))


class ScriptedRecognizer:
    """Implements ``Recognizer``; every stream plays the same script (or one per speaker)."""

    name = "scripted"

    def __init__(self, script: list[ScriptedPhrase],
                 per_speaker: dict[str, list[ScriptedPhrase]] | None = None,
                 *, delay: float = 0.0, fail_on: set[str] | None = None) -> None:
        self.script = script
        self.per_speaker = per_speaker or {}
        self.delay = delay  # seconds each call takes, to model a slow recognizer
        self.fail_on = fail_on or set()  # phrase texts whose final raises, to test failures
        self.streams: list[ScriptedStream] = []
        self._ids = itertools.count(1)

    async def open_stream(self, speaker: Speaker) -> ScriptedStream:
        key = speaker.name or speaker.user_id or ""
        stream = ScriptedStream(self, speaker, list(self.per_speaker.get(key, self.script)))
        self.streams.append(stream)
        return stream

    def new_id(self) -> str:
        return f"phrase-{next(self._ids)}"

    async def aclose(self) -> None:
        pass


class ScriptedStream:
    def __init__(self, owner: ScriptedRecognizer, speaker: Speaker,
                 script: list[ScriptedPhrase]) -> None:
        self._owner = owner
        self.speaker = speaker
        self._pending = sorted(script, key=lambda p: p.start)
        self._heard_until = 0.0
        self.chunks: list[PcmChunk] = []
        self.endpoints = 0
        self.closed = False

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        await self._pause()
        self.chunks.append(chunk)
        self._heard_until = max(self._heard_until, chunk.end_seconds)
        events: list[TranscriptEvent] = []
        while self._pending and self._pending[0].end <= self._heard_until:
            events.append(self._final(self._pending.pop(0)))
        if self._pending and self._pending[0].start < self._heard_until:
            current = self._pending[0]
            heard = [w.word for w in current.words(self.speaker) if w.start < self._heard_until]
            events.append(Partial(" ".join(heard)))
        return events

    async def endpoint(self) -> list[TranscriptEvent]:
        """Finalise the phrase in progress with the words heard so far."""
        await self._pause()
        self.endpoints += 1
        if not self._pending or self._pending[0].start >= self._heard_until:
            return []
        current = self._pending.pop(0)
        words = [w for w in current.words(self.speaker) if w.start < self._heard_until]
        cut = ScriptedPhrase(" ".join(w.word for w in words), current.start, words[-1].end)
        return [self._final(cut)]

    async def close(self) -> None:
        self.closed = True

    def _final(self, scripted: ScriptedPhrase) -> Final:
        if scripted.text in self._owner.fail_on:
            raise RuntimeError(f"scripted failure on {scripted.text!r}")
        words = scripted.words(self.speaker)
        return Final(Phrase(self._owner.new_id(), scripted.text, self.speaker,
                            scripted.start, scripted.end, words, 0.9))

    async def _pause(self) -> None:
        if self._owner.delay:
            await asyncio.sleep(self._owner.delay)
