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


def test_runs_of_gated_audio_map_back_over_skipped_silence() -> None:
    t = Timeline()
    t.feed(chunk(2.0, 1.0))  # fed 0-1 s = stream 2-3 s
    t.feed(chunk(3.0, 1.0))  # contiguous: the same segment
    t.feed(chunk(10.0, 0.5))  # fed 2-2.5 s = stream 10-10.5 s
    assert t.segments == 2
    assert t.to_stream(0.5) == 2.5
    assert t.to_stream(1.5) == 3.5
    assert t.to_stream(2.25) == 10.25
    t.forget_before(2.1)
    assert t.to_stream(2.25) == 10.25  # the segment still in use is kept
    assert t.fed_samples == int(2.5 * SECOND)


def test_a_word_ending_at_a_skip_ends_before_the_skipped_silence() -> None:
    t = Timeline()
    t.feed(chunk(0.0, 1.0))
    t.feed(chunk(5.0, 1.0))
    assert t.to_stream(1.0) == 5.0  # a word starting at the seam starts after the skip
    assert t.to_stream(1.0, end=True) == 1.0  # a word ending there ends before it


def test_the_number_of_segments_is_bounded_without_finals() -> None:
    from gateway.asr.timeline import MAX_SEGMENTS

    t = Timeline()
    for i in range(MAX_SEGMENTS + 10):
        t.feed(chunk(i * 1.0, 0.5))  # every chunk skips 0.5 s
    assert t.segments == MAX_SEGMENTS
    last = MAX_SEGMENTS + 9
    assert t.to_stream(last * 0.5 + 0.25) == last + 0.25
