"""Recognizer / RecognizerStream protocols and transcript events.

Stand-in with exactly the interfaces of /work/plan/ARCH.md, so the remote recogniser can be
built before the reshape lands; the lead's module replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Phrase, Speaker


@dataclass(frozen=True, slots=True)
class Partial:
    """Live, unstable text of the phrase being spoken."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """A finished phrase with word times."""

    phrase: Phrase


TranscriptEvent = Partial | Final


class RecognizerStream(Protocol):
    """One participant's recognition. Calls are sequential (await each before the next)."""

    speaker: Speaker

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        """Feed audio; ``chunk.offset`` is authoritative (chunks may skip ahead)."""
        ...

    async def endpoint(self) -> list[TranscriptEvent]:
        """End the phrase in progress now; the stream goes on."""
        ...

    async def close(self) -> None:
        """Free the stream; no calls after it."""
        ...


class Recognizer(Protocol):
    name: str

    async def open_stream(self, speaker: Speaker) -> RecognizerStream: ...

    async def aclose(self) -> None: ...
