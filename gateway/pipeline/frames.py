"""Decoded audio frames (``av.AudioFrame``) to 16 kHz mono PCM chunks.

aiortc hands us s16 stereo 48 kHz frames of 20 ms whatever the browser sent; a WHIP or
telephony transport hands frames too. This module converts and re-chunks them; it knows
nothing of aiortc, Vosk or WebSockets.

One stateful ``av.AudioResampler`` per stream: a resampler carries filter state across
frames, so a fresh one per frame would click at every boundary and lose the samples it
holds back; one per stream gives exact sample counts over long streams and no drift.
"""

from __future__ import annotations

import av
import numpy as np

from .pcm import TARGET_RATE, Chunker, PcmChunk


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
