"""The audio path every protocol shares: the stream clock, resampling, fixed framing.

Protocols differ in encoding and envelope, not in how a stream of 16 kHz chunks becomes a
continuous sample stream at the wire rate: gaps are filled or jumped, overlaps dropped,
filters carried across chunks (and restarted per connection), frames cut to size.
"""

from __future__ import annotations

import numpy as np

from gateway.pipeline.pcm import BYTES_PER_SAMPLE, TARGET_RATE
from gateway.pipeline.resample import PcmResampler

from .base import AudioChunk, MixedChunk, ProtocolConfigError

DEFAULT_MAX_FILL = 5.0


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
