"""What every downstream protocol shares: the stream description, the interface, the audio path.

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

import numpy as np

from gateway.pipeline.pcm import BYTES_PER_SAMPLE, TARGET_RATE, PcmChunk
from gateway.pipeline.resample import PcmResampler
from gateway.transcript import Speaker

Frame = str | bytes
"""A WebSocket message: ``str`` goes out as a text frame, ``bytes`` as a binary frame."""

REPLY_TYPE = "downstream_message"
DEFAULT_MAX_FILL = 5.0


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


class WireAudio:
    """Stream-clock bookkeeping and resampling from 16 kHz to a protocol's wire rate.

    Keeps the sample stream continuous: a chunk that skips ahead (silence a VAD did not
    forward, lost packets) is preceded by that much silence up to ``max_fill`` seconds;
    a longer gap is a jump (the filter tail is flushed and positions restart at the new
    offset), so no burst of silence is generated. Audio overlapping what was already sent
    is dropped. Positions are wire-rate sample frames since the stream's first chunk.
    """

    def __init__(self, rate: int, channels: int = 1, *, max_fill: float = DEFAULT_MAX_FILL) -> None:
        self.rate = rate
        self.channels = channels
        self.max_fill = round(max_fill * TARGET_RATE)
        self.base: int | None = None      # 16 kHz offset of the first sample ever converted
        self._next: int | None = None     # 16 kHz offset expected next on this connection
        self._position = 0                # wire-rate position of the next output sample
        self._resamplers: list[PcmResampler] = []
        self.filled_samples = 0           # 16 kHz silence inserted into gaps
        self.jumps = 0
        self.overlap_samples = 0          # 16 kHz samples dropped as already sent

    def restart(self) -> None:
        """A new connection: fresh filters; the next chunk is placed at its own offset."""
        self._next = None
        self._resamplers = [PcmResampler(TARGET_RATE, self.rate) for _ in range(self.channels)]

    def convert(self, chunk: AudioChunk) -> list[tuple[int, bytes]]:
        """``(position, pcm)`` pieces at the wire rate; a new position means a discontinuity."""
        channels = chunk.channels if isinstance(chunk, MixedChunk) else 1
        if channels != self.channels:
            raise ProtocolConfigError(
                f"{channels}-channel audio given to a {self.channels}-channel stream")
        if not self._resamplers:
            self.restart()
        frame_bytes = BYTES_PER_SAMPLE * channels
        data, offset = chunk.data[: len(chunk.data) - len(chunk.data) % frame_bytes], chunk.offset
        if self.base is None:
            self.base = offset
        pieces: list[tuple[int, bytes]] = []
        if self._next is None:
            self._position = self._wire(offset - self.base)
        elif offset < self._next:
            drop = min(self._next - offset, len(data) // frame_bytes)
            self.overlap_samples += drop
            data, offset = data[drop * frame_bytes:], offset + drop
        elif offset > self._next:
            gap = offset - self._next
            if gap <= self.max_fill:
                self.filled_samples += gap
                data = bytes(gap * frame_bytes) + data
            else:
                self.jumps += 1
                pieces.extend(self._drain())
                self._position = self._wire(offset - self.base)
        if data:
            self._next = offset + len(data) // frame_bytes
            pieces.append(self._emit(self._resample(data, push=True)))
        return [p for p in pieces if p[1]]

    def flush(self) -> list[tuple[int, bytes]]:
        """The samples the filters still hold (end of stream or before a jump)."""
        return [p for p in self._drain() if p[1]]

    def _drain(self) -> list[tuple[int, bytes]]:
        tail = self._resample(b"", push=False)
        return [self._emit(tail)] if tail else []

    def _emit(self, pcm: bytes) -> tuple[int, bytes]:
        piece = (self._position, pcm)
        self._position += len(pcm) // (BYTES_PER_SAMPLE * self.channels)
        return piece

    def _wire(self, samples16k: int) -> int:
        return samples16k * self.rate // TARGET_RATE

    def _resample(self, data: bytes, *, push: bool) -> bytes:
        if self.channels == 1:
            r = self._resamplers[0]
            return r.push(data) if push else r.flush()
        planes = np.frombuffer(data, dtype="<i2").reshape(-1, self.channels).T if data else None
        outs = [r.push(planes[i].tobytes()) if push and planes is not None else r.flush()
                for i, r in enumerate(self._resamplers)]
        arrays = [np.frombuffer(o, dtype="<i2") for o in outs]
        n = min(len(a) for a in arrays)  # equal inputs give equal outputs; guard anyway
        return np.stack([a[:n] for a in arrays], axis=1).astype("<i2").tobytes()


class Framer:
    """Cuts positioned PCM into fixed frames (e.g. 20 ms), padding with silence only where
    the stream is discontinuous or ends, so every frame but none is short."""

    def __init__(self, frame_samples: int, channels: int = 1) -> None:
        self.frame_bytes = frame_samples * BYTES_PER_SAMPLE * channels
        self._sample_bytes = BYTES_PER_SAMPLE * channels
        self._buffer = bytearray()
        self._start = 0  # position of the first buffered sample
        self.padded_samples = 0

    def reset(self) -> None:
        self._buffer.clear()

    def push(self, pieces: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Complete frames as ``(position, frame)``."""
        frames: list[tuple[int, bytes]] = []
        for position, pcm in pieces:
            expected = self._start + len(self._buffer) // self._sample_bytes
            if self._buffer and position != expected:
                frames.extend(self.flush(pad=True))
            if not self._buffer:
                self._start = position
            self._buffer += pcm
            while len(self._buffer) >= self.frame_bytes:
                frames.append((self._start, bytes(self._buffer[: self.frame_bytes])))
                del self._buffer[: self.frame_bytes]
                self._start += self.frame_bytes // self._sample_bytes
        return frames

    def flush(self, *, pad: bool) -> list[tuple[int, bytes]]:
        """The partial frame, padded with silence to full length when ``pad``."""
        if not self._buffer:
            return []
        missing = self.frame_bytes - len(self._buffer) if pad else 0
        self.padded_samples += missing // self._sample_bytes
        frame = (self._start, bytes(self._buffer) + bytes(missing))
        self._buffer.clear()
        return [frame]


def compact_json(message: Mapping[str, Any]) -> str:
    """One text frame: compact JSON, UTF-8 as is (the gateway's one serialisation)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
