"""The conversation mixer: alignment, a stalled participant, late audio, holes, bounds."""

from __future__ import annotations

import numpy as np

from gateway.pipeline.pcm import PcmChunk
from gateway.protocols.downstream import ConversationMixer, MixedChunk


def tone(n: int, value: int) -> bytes:
    return np.full(n, value, "<i2").tobytes()


def samples(chunks: list[MixedChunk], channels: int = 1) -> np.ndarray:
    return np.frombuffer(b"".join(c.data for c in chunks), "<i2").reshape(-1, channels)


def test_participants_are_aligned_by_their_start_times() -> None:
    mixer = ConversationMixer(channels=2)
    mixer.add("a", started_at=10.0)
    mixer.add("b", started_at=10.1)  # 1600 samples later
    out = []
    for i in range(10):
        out += mixer.push("a", PcmChunk(tone(1600, 100), i * 1600))
        out += mixer.push("b", PcmChunk(tone(1600, 200), i * 1600))
    out += mixer.flush()
    assert [c.offset for c in out][0] == 0
    mixed = samples(out, 2)
    assert len(mixed) == 11 * 1600
    assert (mixed[:, 0][:16000] == 100).all() and (mixed[:, 0][16000:] == 0).all()
    assert (mixed[:1600, 1] == 0).all() and (mixed[1600:, 1] == 200).all()


def test_a_stalled_participant_holds_the_mix_back_only_max_lag() -> None:
    mixer = ConversationMixer(max_lag=0.5)
    mixer.add("talker", 0.0)
    mixer.add("muted", 0.0)
    released = 0
    for i in range(50):  # 5 s from one participant, nothing from the other
        for chunk in mixer.push("talker", PcmChunk(tone(1600, 7), i * 1600)):
            assert chunk.offset == released  # contiguous, nothing invented
            released += chunk.samples
        assert (i + 1) * 1600 - released <= 8000  # never more than 0.5 s behind
    assert len(mixer._pieces) <= 6  # bounded: about max_lag of audio waits


def test_audio_for_time_already_released_is_dropped_and_counted() -> None:
    mixer = ConversationMixer(max_lag=0.2)
    mixer.add("a", 0.0)
    mixer.add("b", 0.0)
    for i in range(10):
        mixer.push("a", PcmChunk(tone(1600, 1), i * 1600))
    out = mixer.push("b", PcmChunk(tone(1600, 1), 0))  # a second behind: too late
    assert out == [] and mixer.late_samples == 1600


def test_removing_a_participant_releases_the_others() -> None:
    mixer = ConversationMixer(max_lag=5.0)
    mixer.add("a", 0.0)
    mixer.add("b", 0.0)
    assert mixer.push("a", PcmChunk(tone(3200, 5), 0)) == []  # b holds it back
    out = mixer.remove("b")
    assert [(c.offset, c.samples) for c in out] == [(0, 3200)]


def test_short_holes_are_silence_long_ones_are_jumps() -> None:
    mixer = ConversationMixer(max_lag=0.1, max_hole=1.0)
    mixer.add("a", 0.0)
    out = mixer.push("a", PcmChunk(tone(1600, 3), 0))
    out += mixer.push("a", PcmChunk(tone(1600, 3), 1600 + 8000))    # 0.5 s hole
    out += mixer.push("a", PcmChunk(tone(1600, 3), 16000 * 10))     # 8.9 s hole
    out += mixer.flush()
    spans = [(c.offset, c.offset + c.samples) for c in out]
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a == merged[-1][1]:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    assert merged == [(0, 1600 + 8000 + 1600), (160000, 161600)]
    first = samples([c for c in out if c.offset < 160000])[:, 0]
    assert (first[1600:9600] == 0).all() and (first[9600:] == 3).all()


def test_sums_clip_instead_of_wrapping() -> None:
    mixer = ConversationMixer()
    mixer.add("a", 0.0)
    mixer.add("b", 0.0)
    mixer.push("a", PcmChunk(tone(160, 30000), 0))
    out = mixer.push("b", PcmChunk(tone(160, 30000), 0)) + mixer.flush()
    assert (samples(out)[:, 0] == 32767).all()
