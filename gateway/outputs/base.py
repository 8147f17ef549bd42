"""The output seam: what every sink implements and what the bus knows of a conversation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.pipeline.pcm import PcmChunk

from .result import Result


class Sink(Protocol):
    """A result output. ``send`` never blocks and never raises: the media path must not
    wait on a slow or broken output."""

    name: str

    def send(self, result: Result) -> None: ...

    async def drain(self, timeout: float) -> None:
        """Best effort: wait up to ``timeout`` until what was sent has been delivered."""
        ...

    async def close(self) -> None:
        """Release connections and tasks; called once, after the last ``drain``."""
        ...


class AudioSink(Protocol):
    """A participant's PCM going downstream; same promises as ``Sink``."""

    name: str

    def send_audio(self, chunk: PcmChunk) -> None: ...

    async def drain(self, timeout: float) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """What a conversation-level output knows of the conversation it serves."""

    id: str
    meeting_title: str | None = None
    # The Symbl ``connectionId`` that opened it, when the gateway gave it another id: a
    # caller token naming the connection may read the conversation too.
    connection_id: str | None = None


SinkFactory = Callable[[ConversationInfo], Sink]
"""Builds an output for each new conversation (a relay, the store's writer…)."""
