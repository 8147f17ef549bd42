"""Stateful resampling of mono s16 PCM between any two rates, with exact sample counts.

Symbl clients declare any ``sampleRateHertz`` from 8 kHz to 48 kHz and the recogniser wants
16 kHz; telephony downstreams want 8 kHz. One ``av.AudioResampler`` per stream carries its
filter state across chunks, so chunk boundaries do not click and, over a long stream, the
output has exactly ``input_samples * out_rate / in_rate`` samples (no drift); ``flush`` returns
the few samples the filter holds back.
"""

from __future__ import annotations

import av
import numpy as np


class PcmResampler:
    """Mono s16le PCM at ``in_rate`` to mono s16le PCM at ``out_rate``."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._resampler: av.AudioResampler | None = None
        self._odd = b""  # half a sample left over from the previous chunk

    def push(self, pcm: bytes) -> bytes:
        data = self._odd + pcm
        cut = len(data) - len(data) % 2
        data, self._odd = data[:cut], data[cut:]
        if not data:
            return b""
        if self.in_rate == self.out_rate:
            return data
        samples = np.frombuffer(data, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.in_rate
        frame.pts = None  # sample counts are the clock, not timestamps
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.out_rate)
        return _to_bytes(self._resampler.resample(frame))

    def flush(self) -> bytes:
        """The samples the filter still holds (end of stream); the resampler starts over."""
        resampler, self._resampler = self._resampler, None
        self._odd = b""
        if resampler is None:
            return b""
        return _to_bytes(resampler.resample(None))


def _to_bytes(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(f.to_ndarray().astype("<i2", copy=False).tobytes() for f in frames)
