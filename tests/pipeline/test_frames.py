"""The audio pipeline: frequencies survive resampling, sample counts are exact."""

from __future__ import annotations

import fractions

import av
import numpy as np

from gateway.pipeline.frames import AudioPipeline, PcmConverter
from gateway.pipeline.pcm import TARGET_RATE, Chunker


def stereo_frame(samples: np.ndarray, pts: int, rate: int = 48_000) -> av.AudioFrame:
    interleaved = np.repeat(samples.astype(np.int16), 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, rate)
    return frame


def test_tone_keeps_its_frequency() -> None:
    t = np.arange(48_000 * 2) / 48_000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    pipeline = AudioPipeline(chunk_ms=100)
    chunks = []
    for i in range(0, len(tone), 960):
        chunks += pipeline.push(stereo_frame(tone[i:i + 960], i))
    chunks += pipeline.close()
    pcm = np.frombuffer(b"".join(c.data for c in chunks), dtype=np.int16).astype(float)
    assert len(pcm) == 32_000
    spectrum = np.abs(np.fft.rfft(pcm[1600:-1600]))
    peak_hz = np.argmax(spectrum) * TARGET_RATE / len(pcm[1600:-1600])
    assert abs(peak_hz - 1000) < 5
    # Amplitude is preserved (stereo -> mono must average, not sum or halve).
    assert 7000 < np.max(np.abs(pcm[1600:-1600])) < 9000


def test_sample_counts_exact_over_ten_minutes_despite_timestamp_jumps() -> None:
    pipeline = AudioPipeline(chunk_ms=100)
    silence = np.zeros(960, dtype=np.int16)
    total, expected_offset, pts = 0, 0, 0
    for i in range(30_000):  # 10 minutes of 20 ms frames
        for chunk in pipeline.push(stereo_frame(silence, pts)):
            assert chunk.offset == expected_offset
            expected_offset += chunk.samples
            total += chunk.samples
        # RTP timestamps jump after packet loss; the sample clock must not.
        pts += 960 + (4800 if i % 500 == 0 else 0)
    total += sum(c.samples for c in pipeline.close())
    assert total == 10 * 60 * TARGET_RATE


def test_format_change_midstream_loses_nothing() -> None:
    conv = PcmConverter()
    out = conv.convert(stereo_frame(np.zeros(960, dtype=np.int16), 0))
    mono = av.AudioFrame.from_ndarray(np.zeros((1, 320), dtype=np.int16), format="s16",
                                      layout="mono")
    mono.sample_rate = 16_000
    out += conv.convert(mono)
    out += conv.flush()
    assert len(out) // 2 == 320 + 320


def test_chunker_offsets_and_tail() -> None:
    chunker = Chunker(chunk_ms=100)
    chunks = chunker.push(b"\x00\x01" * 4000)
    assert [c.offset for c in chunks] == [0, 1600]
    tail = chunker.flush()
    assert tail is not None and tail.offset == 3200 and tail.samples == 800
    assert chunker.flush() is None
