"""The recognition protocol: a stream that accepts PCM and yields partials and finals.

Everything after the audio queue depends on these types only, so a recogniser is a
provider behind one interface (in-process Vosk, a remote vosk-server pool, a scripted fake),
as LiveKit agents keep an abstract STT stream with providers in separate files.
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
    """A finished phrase with word times (seconds on the stream's clock)."""

    phrase: Phrase


TranscriptEvent = Partial | Final


class RecognizerStream(Protocol):
    """One participant's recognition. Calls are sequential: await each before the next."""

    speaker: Speaker

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        """Feed audio.

        ``chunk.offset`` is authoritative: chunks may skip ahead (silence a VAD did not
        forward), and word times in finals are seconds from the stream start on that clock,
        not on the clock of the audio actually fed.
        """
        ...

    async def endpoint(self) -> list[TranscriptEvent]:
        """End the phrase in progress now (a VAD endpoint, a client's Finalize).

        The stream goes on; the next ``accept`` starts a new phrase.
        """
        ...

    async def close(self) -> None:
        """Free the stream; no calls after it."""
        ...


class Recognizer(Protocol):
    """A source of recognizer streams (one per participant)."""

    name: str

    async def open_stream(self, speaker: Speaker) -> RecognizerStream: ...

    async def aclose(self) -> None: ...
