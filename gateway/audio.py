"""Audio pipeline: WebRTC frames in, 16 kHz mono s16 PCM chunks out.

aiortc hands us s16 stereo 48 kHz frames of 20 ms whatever the browser sent. Vosk wants
16 kHz mono s16, and is cheaper fed in chunks of ~100-200 ms than in 20 ms frames, so this
module converts and re-chunks. It knows nothing of Vosk or WebSockets.

One stateful ``av.AudioResampler`` per stream: a resampler carries filter state across
frames, so a fresh one per frame would click at every boundary and lose the samples it
holds back; one per stream gives exact sample counts over long streams and no drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

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


class PcmConverter:
    """Converts any ``av.AudioFrame`` to 16 kHz mono s16 bytes, statefully.

    If the input layout, format or rate changes mid-stream (a renegotiated track), the
    old resampler is flushed first so no samples are lost, then replaced.
    """

    def __init__(self, rate: int = TARGET_RATE) -> None:
        self.rate = rate
        self._resampler: av.AudioResampler | None = None
        self._input_key: tuple[str, str, int] | None = None

    def convert(self, frame: av.AudioFrame) -> bytes:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        out = b""
        if self._resampler is None or key != self._input_key:
            out = self.flush()
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
            self._input_key = key
        # The resampler trusts timestamps; WebRTC timestamps jump on packet loss and
        # the filter would then insert or drop samples. Sample counts are our clock.
        frame.pts = None
        return out + _frames_to_bytes(self._resampler.resample(frame))

    def flush(self) -> bytes:
        """Return the samples the resampler still holds back (call at end of stream)."""
        if self._resampler is None:
            return b""
        data = _frames_to_bytes(self._resampler.resample(None))
        self._resampler = None
        self._input_key = None
        return data


def _frames_to_bytes(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(bytes(f.to_ndarray().astype(np.int16, copy=False).tobytes()) for f in frames)


class Chunker:
    """Groups PCM bytes into fixed-size chunks, tracking the stream offset in samples."""

    def __init__(self, chunk_ms: int = 100, rate: int = TARGET_RATE) -> None:
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        self.chunk_bytes = rate * chunk_ms // 1000 * BYTES_PER_SAMPLE
        self._buffer = bytearray()
        self._offset = 0

    def push(self, data: bytes) -> list[PcmChunk]:
        self._buffer += data
        chunks: list[PcmChunk] = []
        while len(self._buffer) >= self.chunk_bytes:
            chunks.append(self._take(self.chunk_bytes))
        return chunks

    def flush(self) -> PcmChunk | None:
        if not self._buffer:
            return None
        return self._take(len(self._buffer))

    def _take(self, size: int) -> PcmChunk:
        chunk = PcmChunk(bytes(self._buffer[:size]), self._offset)
        del self._buffer[:size]
        self._offset += size // BYTES_PER_SAMPLE
        return chunk


class AudioPipeline:
    """Frames in, fixed-size 16 kHz mono PCM chunks out; ``close`` drains everything."""

    def __init__(self, chunk_ms: int = 100) -> None:
        self._converter = PcmConverter()
        self._chunker = Chunker(chunk_ms)
        self.frames_in = 0

    def push(self, frame: av.AudioFrame) -> list[PcmChunk]:
        self.frames_in += 1
        return self._chunker.push(self._converter.convert(frame))

    def close(self) -> list[PcmChunk]:
        chunks = self._chunker.push(self._converter.flush())
        last = self._chunker.flush()
        if last is not None:
            chunks.append(last)
        return chunks
