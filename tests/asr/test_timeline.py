"""The recogniser's clock (audio fed) mapped onto the stream's clock (chunk offsets)."""

from __future__ import annotations

from gateway.asr.timeline import Timeline
from gateway.pipeline.pcm import PcmChunk

SECOND = 16_000


def chunk(start_s: float, seconds: float) -> PcmChunk:
    return PcmChunk(b"\0\0" * int(seconds * SECOND), int(start_s * SECOND))


def test_contiguous_audio_keeps_its_times() -> None:
    t = Timeline()
    for i in range(10):
        t.feed(chunk(i * 0.1, 0.1))
    assert t.to_stream(0.55) == 0.55


def test_skipped_silence_is_added_back() -> None:
    t = Timeline()
    t.feed(chunk(0.0, 1.0))  # speech 0-1 s
    t.feed(chunk(3.0, 1.0))  # 2 s of silence not fed; speech 3-4 s
    t.feed(chunk(4.0, 0.5))
    assert t.to_stream(0.5) == 0.5
    assert t.to_stream(1.2) == 3.2  # 0.2 s into the second segment
    assert abs(t.to_stream(2.4) - 4.4) < 1e-9
    assert t.fed_samples == int(2.5 * SECOND)


def test_forgetting_old_segments_keeps_later_times() -> None:
    t = Timeline()
    t.feed(chunk(0.0, 1.0))
    t.feed(chunk(5.0, 1.0))
    t.feed(chunk(10.0, 1.0))
    t.forget_before(1.5)  # a final ended inside the second segment
    assert t.to_stream(1.5) == 5.5
    assert t.to_stream(2.5) == 10.5
