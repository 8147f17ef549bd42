"""PCM chunks: the unit every transport hands to the media stream.

Whatever a participant's audio came as (Opus over WebRTC, LINEAR16 or mu-law over a
WebSocket), it becomes 16 kHz mono s16le here, the rate the recogniser runs at. A chunk
carries its offset in samples since the start of the participant's stream, so times stay
right even when a stage (the VAD gate) does not forward every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_RATE = 16_000
BYTES_PER_SAMPLE = 2


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """A run of 16 kHz mono s16le samples; ``offset`` counts samples since stream start."""

    data: bytes
    offset: int

    @property
    def samples(self) -> int:
        return len(self.data) // BYTES_PER_SAMPLE

    @property
    def start_seconds(self) -> float:
        return self.offset / TARGET_RATE

    @property
    def end_seconds(self) -> float:
        return (self.offset + self.samples) / TARGET_RATE


class Chunker:
    """Groups PCM bytes into fixed-size chunks, tracking the stream offset in samples.

    Recognisers are cheaper fed ~100 ms at a time than 20 ms frames, and fixed sizes make
    backlog bounds (in chunks) mean a fixed number of seconds.
    """

    def __init__(self, chunk_ms: int = 100, rate: int = TARGET_RATE) -> None:
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        self.chunk_bytes = rate * chunk_ms // 1000 * BYTES_PER_SAMPLE
        self._buffer = bytearray()
        self._offset = 0

    @property
    def offset(self) -> int:
        """Samples handed out so far (the next chunk's offset)."""
        return self._offset

    def push(self, data: bytes) -> list[PcmChunk]:
        self._buffer += data
        chunks: list[PcmChunk] = []
        while len(self._buffer) >= self.chunk_bytes:
            chunks.append(self._take(self.chunk_bytes))
        return chunks

    def skip_to(self, offset: int) -> None:
        """Move the clock forward to ``offset`` samples: a gap in the audio (a paused or
        reconnected stream) that the recognizer's timeline treats as silence. Never back;
        flush what is buffered first."""
        if self._buffer:
            raise ValueError("flush the buffered samples before skipping ahead")
        self._offset = max(self._offset, offset)

    def flush(self) -> PcmChunk | None:
        """The last, shorter chunk (whole samples only), at the end of a stream."""
        size = len(self._buffer) - len(self._buffer) % BYTES_PER_SAMPLE
        if not size:
            self._buffer.clear()
            return None
        chunk = self._take(size)
        self._buffer.clear()
        return chunk

    def _take(self, size: int) -> PcmChunk:
        chunk = PcmChunk(bytes(self._buffer[:size]), self._offset)
        del self._buffer[:size]
        self._offset += size // BYTES_PER_SAMPLE
        return chunk
