"""What every downstream protocol shares: the stream description and the interface.

A downstream protocol turns one stream of the gateway's audio (a participant's 16 kHz mono
PCM, or a conversation's mix) into the frames one WebSocket service expects, and parses what
that service answers. It does no I/O: the connection manager owns the socket, the replay
buffer and reconnects, and calls the protocol in this order on every connection::

    opening()            frames to send first (resets per-connection state)
    audio(chunk) ...     frames for each chunk, in order
    mark(name)           optional, where the protocol defines marks
    closing()            the protocol's own goodbye (flushes held-back audio first)

and ``reply(frame)`` for every frame the service sends, then ``responses()`` for frames the
protocol wants to send back (e.g. Twilio mark echoes).

Reconnect contract: ``opening()`` may be called again after a connection was lost. It resets
everything that belongs to one connection (message counters, framing remainder, resampler
filter state), so the chunk whose frames were not all written must be given to ``audio()``
again after it; the stream clock (first offset, timestamps) is kept, so timestamps stay on the
participant's clock across connections. Replay buffers must therefore hold PCM chunks and call
``audio()`` at send time, not hold pre-built frames.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from gateway.pipeline.pcm import BYTES_PER_SAMPLE, PcmChunk
from gateway.transcript import Speaker

Frame = str | bytes
"""A WebSocket message: ``str`` goes out as a text frame, ``bytes`` as a binary frame."""

REPLY_TYPE = "downstream_message"


class ProtocolConfigError(ValueError):
    """A protocol option the protocol's specification does not allow (a clear start error)."""


@dataclass(frozen=True, slots=True)
class MixedChunk:
    """Audio of a whole conversation: 16 kHz s16le, ``channels`` interleaved.

    ``offset`` counts sample frames (one sample per channel) on the conversation clock.
    Produced by :class:`~gateway.protocols.downstream.mixer.ConversationMixer` for
    protocols with ``mixes = True``.
    """

    data: bytes
    offset: int
    channels: int = 1

    @property
    def samples(self) -> int:
        return len(self.data) // (BYTES_PER_SAMPLE * self.channels)


AudioChunk = PcmChunk | MixedChunk


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Who and what one downstream stream carries; fixed for the stream's life.

    ``participant_id`` is None for a conversation-level (mixed) stream. ``call_id`` and
    ``stream_id`` default to ids derived from the conversation and participant, so every
    reconnect of the same stream names it the same way. ``sample_rate`` is the wire rate
    asked for (None: the protocol's default); each protocol checks it against its
    specification. ``started_at`` is the wall-clock time (epoch seconds) of offset 0.
    """

    conversation_id: str
    participant_id: str | None = None
    speaker: Speaker | None = None
    meeting_title: str | None = None
    call_id: str | None = None
    stream_id: str | None = None
    account_id: str | None = None
    sample_rate: int | None = None
    started_at: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def derived_id(self, kind: str) -> uuid.UUID:
        """A stable UUID for ``kind`` of this stream: "stream" ids are per participant,
        any other kind ("call", "account", ...) per conversation."""
        scope = f"{self.conversation_id}/{self.participant_id or '*'}" if kind == "stream" \
            else self.conversation_id
        return uuid.uuid5(uuid.NAMESPACE_URL, f"gateway:{kind}:{scope}")


class DownstreamProtocol(Protocol):
    """The interface the connection manager codes against (see the module docstring)."""

    name: ClassVar[str]
    subprotocols: tuple[str, ...]
    mixes: bool     # True: one connection per conversation, fed by a ConversationMixer
    channels: int   # channels of the MixedChunks a mixing protocol expects
    ended: bool     # the downstream ended the stream: do not reconnect
    server_closes: bool  # after closing(): the server answers, then closes (else close 1000)

    def opening(self) -> list[Frame]: ...

    def audio(self, chunk: AudioChunk) -> list[Frame]: ...

    def mark(self, name: str) -> list[Frame]: ...

    def closing(self) -> list[Frame]: ...

    def reply(self, frame: Frame) -> dict[str, Any] | None: ...

    def responses(self) -> list[Frame]: ...


class ProtocolBase:
    """Counters, reply tagging and the no-op parts most protocols share."""

    name: ClassVar[str] = "base"
    subprotocols: tuple[str, ...] = ()
    mixes = False
    channels = 1
    server_closes = False  # after closing(): wait for the server to answer and close

    def __init__(self, info: StreamInfo, *, label: str | None = None) -> None:
        self.info = info
        self.label = label or self.name
        self.ended = False
        self.connections = 0       # opening() calls
        self.replies = 0           # frames received
        self.replies_forwarded = 0
        self.binary_replies = 0    # counted, never forwarded
        self.binary_reply_bytes = 0
        self._outbox: list[Frame] = []

    def opening(self) -> list[Frame]:
        """Frames to send first on a new connection; resets per-connection state."""
        raise NotImplementedError

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        """Frames for one chunk (called in order, after ``opening``)."""
        raise NotImplementedError

    def closing(self) -> list[Frame]:
        """Held-back audio, then the protocol's goodbye."""
        raise NotImplementedError

    def mark(self, name: str) -> list[Frame]:
        """Protocols without marks send nothing."""
        return []

    def responses(self) -> list[Frame]:
        """Frames to send in answer to replies (taken once)."""
        out, self._outbox = self._outbox, []
        return out

    def reply(self, frame: Frame) -> dict[str, Any] | None:
        """Count ``frame``; parse a JSON text reply and tag it (binary is only counted)."""
        self.replies += 1
        if isinstance(frame, bytes):
            self.binary_replies += 1
            self.binary_reply_bytes += len(frame)
            return None
        try:
            message = json.loads(frame)
        except ValueError:
            return self.tag({"text": frame})
        if not isinstance(message, dict):
            return self.tag({"value": message})
        return self.on_message(message)

    def on_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A parsed JSON object from the downstream; forwarded as is unless overridden."""
        return self.tag(message)

    def tag(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The envelope the gateway forwards to the client: origin plus the message."""
        self.replies_forwarded += 1
        return {
            "type": REPLY_TYPE,
            "protocol": self.name,
            "downstream": self.label,
            "conversationId": self.info.conversation_id,
            "participantId": self.info.participant_id,
            "message": dict(message),
        }


def compact_json(message: Mapping[str, Any]) -> str:
    """One text frame: compact JSON, UTF-8 as is (the gateway's one serialisation)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
