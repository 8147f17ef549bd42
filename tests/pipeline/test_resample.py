"""Stateful resampling: exact sample counts over long streams, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.pipeline.resample import PcmResampler


def tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 9000).astype("<i2").tobytes()


@pytest.mark.parametrize(("in_rate", "out_rate"), [
    (8000, 16000), (11025, 16000), (22050, 16000), (44100, 16000), (48000, 16000),
    (16000, 8000), (16000, 16000)])
@pytest.mark.parametrize("chunk", [333, 3200, 17])
def test_sample_count_is_exact(in_rate: int, out_rate: int, chunk: int) -> None:
    pcm = tone(in_rate, 10.0)
    resampler = PcmResampler(in_rate, out_rate)
    out = b"".join(resampler.push(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk))
    out += resampler.flush()
    assert len(out) // 2 == 10 * out_rate


def test_tone_keeps_its_frequency() -> None:
    resampler = PcmResampler(44100, 16000)
    out = np.frombuffer(resampler.push(tone(44100, 1.0, 1000.0)) + resampler.flush(), "<i2")
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(int(np.argmax(spectrum)) - 1000) <= 1  # 1 Hz bins over one second


def test_rejects_nonsense_rates() -> None:
    with pytest.raises(ValueError):
        PcmResampler(0, 16000)
