"""The endpointer on labelled speech (real Silero) and on tones (exact timing).

Speech tests use the real Silero detector: sentence counts there are what users see.
Timing tests use :class:`ToneDetector`, a real but trivially predictable detector (a frame
is speech when loud), so that offsets can be asserted to the sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import vosk

from gateway.pipeline.endpointer import (
    Endpoint,
    Endpointer,
    EndpointerConfig,
    EndpointerEvent,
    SpeechAudio,
    SpeechStart,
    StreamClock,
)
from gateway.pipeline.pcm import PcmChunk
from gateway.pipeline.vad import SileroDetector
from tests.support.speech import require_espeak, require_pocketsphinx_corpus
from tests.support.vad_audio import RATE, espeak_units, join_units, real_units


class ToneDetector:
    """Speech = frame RMS above -30 dBFS; 10 ms frames. Deterministic, stateless."""

    name = "tone"
    frame_samples = 160

    def speech_probability(self, frame: bytes) -> float:
        x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        return 1.0 if np.sqrt(np.mean(x**2)) > 32768 * 10 ** (-30 / 20) else 0.0

    def reset(self) -> None:
        pass


def tone_clip(*parts: tuple[str, float]) -> bytes:
    """Concatenated ("tone"|"quiet", seconds) pieces as PCM."""
    pieces = []
    for kind, seconds in parts:
        n = round(seconds * RATE)
        t = np.arange(n) / RATE
        amplitude = 8000 if kind == "tone" else 0
        pieces.append((amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2"))
    return np.concatenate(pieces).tobytes()


def feed(endpointer: Endpointer, pcm: bytes, chunk_ms: int = 100,
         start: int = 0) -> list[EndpointerEvent]:
    step = RATE * chunk_ms // 1000 * 2
    events: list[EndpointerEvent] = []
    for i in range(0, len(pcm), step):
        events += endpointer.push(PcmChunk(pcm[i : i + step], start + i // 2))
    return events


def endpoints(events: list[EndpointerEvent]) -> list[Endpoint]:
    return [e for e in events if isinstance(e, Endpoint)]


def audio(events: list[EndpointerEvent]) -> list[PcmChunk]:
    return [e.chunk for e in events if isinstance(e, SpeechAudio)]


# -- sentences ---------------------------------------------------------------------------


def test_three_synthetic_sentences_with_short_pauses_give_three_endpoints() -> None:
    require_espeak()
    clip = join_units("turn", espeak_units()[:3], 0.3)
    found = endpoints(feed(Endpointer(SileroDetector()), clip.pcm()))
    assert [e.reason for e in found] == ["silence"] * 3
    # Each endpoint lies at its own sentence's end (within 150 ms: the detector's
    # offset lag), never inside a sentence.
    for endpoint, (_, end) in zip(found, clip.units, strict=True):
        assert abs(endpoint.offset - end) <= 0.15 * RATE


def test_eight_synthetic_sentences_with_short_pauses() -> None:
    require_espeak()
    clip = join_units("turn", espeak_units(), 0.3)
    assert len(endpoints(feed(Endpointer(SileroDetector()), clip.pcm()))) == len(clip.units)


def test_real_speech_short_pauses_mostly_split_and_long_pauses_always() -> None:
    require_pocketsphinx_corpus()
    units = real_units()
    short = join_units("short", units, 0.3)
    long = join_units("long", units, 1.0)
    short_found = endpoints(feed(Endpointer(SileroDetector()), short.pcm()))
    long_found = endpoints(feed(Endpointer(SileroDetector()), long.pcm()))
    # 1.0 s pauses: one endpoint per recording, plus at most one inside a recording (one
    # LibriVox sentence has a comma pause longer than any endpoint setting tolerates).
    assert len(units) <= len(long_found) <= len(units) + 1
    # 0.3 s pauses between real recordings: measured 10 of 11 boundaries split.
    assert len(short_found) >= len(units) - 2


def test_noise_alone_opens_nothing() -> None:
    rng = np.random.default_rng(5)
    noise = (rng.normal(size=10 * RATE) * 32768 * 10 ** (-40 / 20)).astype("<i2").tobytes()
    endpointer = Endpointer(SileroDetector())
    assert feed(endpointer, noise) == []
    assert endpointer.samples_forwarded == 0
    assert endpointer.finalize() == []


# -- timing, offsets and padding ------------------------------------------------------------


def test_forwarded_audio_keeps_its_offsets_and_is_never_duplicated() -> None:
    pcm = tone_clip(("quiet", 1.0), ("tone", 0.5), ("quiet", 1.0), ("tone", 0.7), ("quiet", 1))
    config = EndpointerConfig(pre_roll_ms=250, hangover_ms=150, endpoint_silence_ms=300)
    events = feed(Endpointer(ToneDetector(), config), pcm, start=48_000)
    chunks = audio(events)
    position = 0
    for chunk in chunks:
        begin = (chunk.offset - 48_000) * 2
        assert chunk.data == pcm[begin : begin + len(chunk.data)]  # bytes at their offset
        assert chunk.offset >= position  # in order, no overlap
        position = chunk.offset + chunk.samples
    starts = [e.offset - 48_000 for e in events if isinstance(e, SpeechStart)]
    assert starts == [RATE * 1, int(RATE * 2.5)]
    # Pre-roll: each phrase's audio begins exactly 250 ms before its onset.
    firsts = [chunks[0]] + [b for a, b in zip(chunks, chunks[1:], strict=False)
                            if b.offset != a.offset + a.samples]
    assert [c.offset - 48_000 for c in firsts] == [s - RATE // 4 for s in starts]
    # Hangover: each phrase's audio ends 150 ms after its tone ends.
    lasts = [a for a, b in zip(chunks, chunks[1:], strict=False)
             if b.offset != a.offset + a.samples] + [chunks[-1]]
    assert [c.offset + c.samples - 48_000 for c in lasts] == [int(RATE * 1.65), int(RATE * 3.35)]
    # Endpoints carry where the speech ended, on the stream clock.
    assert [(e.offset - 48_000, e.reason) for e in endpoints(events)] == [
        (int(RATE * 1.5), "silence"), (int(RATE * 3.2), "silence")]


def test_chunk_size_does_not_change_decisions() -> None:
    pcm = tone_clip(("quiet", 0.7), ("tone", 0.4), ("quiet", 0.33), ("tone", 0.9), ("quiet", 1))
    results = []
    for chunk_ms in (20, 60, 100, 200):
        events = feed(Endpointer(ToneDetector()), pcm, chunk_ms=chunk_ms)
        results.append([(type(e).__name__, getattr(e, "offset", None)) for e in events
                        if not isinstance(e, SpeechAudio)])
        forwarded = b"".join(c.data for c in audio(events))
        assert len(forwarded) == sum(c.samples for c in audio(events)) * 2
    assert all(r == results[0] for r in results)


def test_a_gap_in_offsets_counts_as_silence_and_a_rewind_is_refused() -> None:
    endpointer = Endpointer(ToneDetector())
    tone = tone_clip(("tone", 0.5))
    events = feed(endpointer, tone)
    assert endpointer.in_speech
    # The caller skipped 1 s: the phrase ends at the tone's end, not at the gap's end.
    events = endpointer.push(PcmChunk(tone_clip(("quiet", 0.1)), RATE * 3 // 2))
    assert endpoints(events) == [Endpoint(RATE // 2, "silence")]
    with pytest.raises(ValueError, match="overlaps"):
        endpointer.push(PcmChunk(b"\0\0" * 160, RATE))
    with pytest.raises(ValueError, match="odd number"):
        endpointer.push(PcmChunk(b"\0\0\0", 2 * RATE))


# -- forced endpoints and bounds -------------------------------------------------------------


def test_finalize_ends_the_phrase_and_speech_after_it_opens_a_new_one() -> None:
    endpointer = Endpointer(ToneDetector())
    first = feed(endpointer, tone_clip(("quiet", 0.5), ("tone", 0.5)))
    forced = endpointer.finalize()
    assert forced == [Endpoint(RATE, "forced")]
    assert endpointer.finalize() == []  # nothing open any more
    rest = feed(endpointer, tone_clip(("tone", 0.5), ("quiet", 0.5)), start=RATE)
    assert [e for e in rest if isinstance(e, SpeechStart)] == [SpeechStart(RATE)]
    assert endpoints(rest) == [Endpoint(int(RATE * 1.5), "silence")]
    chunks = audio(first) + audio(rest)
    spans = [(c.offset, c.offset + c.samples) for c in chunks]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # no replay


def test_finalize_in_trailing_silence_ends_at_the_last_speech() -> None:
    endpointer = Endpointer(ToneDetector())
    feed(endpointer, tone_clip(("tone", 0.5), ("quiet", 0.1)))
    assert endpointer.finalize() == [Endpoint(RATE // 2, "forced")]


def test_a_long_monologue_is_cut_at_max_phrase() -> None:
    config = EndpointerConfig(max_phrase_ms=1000)
    events = feed(Endpointer(ToneDetector(), config), tone_clip(("tone", 3.5), ("quiet", 0.5)))
    assert [(e.offset, e.reason) for e in endpoints(events)] == [
        (RATE, "max_phrase"), (2 * RATE, "max_phrase"), (3 * RATE, "max_phrase"),
        (int(3.5 * RATE), "silence")]


def test_held_audio_stays_bounded_in_silence_and_in_pauses() -> None:
    config = EndpointerConfig()
    endpointer = Endpointer(ToneDetector(), config)
    bound = (config.pre_roll_ms + config.endpoint_silence_ms + 200) * RATE // 1000
    step = RATE // 10
    quiet = tone_clip(("quiet", 0.1))
    for i in range(600):  # a minute of silence
        endpointer.push(PcmChunk(quiet, i * step))
        assert endpointer.held_samples <= bound
    assert endpointer.samples_forwarded == 0


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="hangover"):
        EndpointerConfig(hangover_ms=500, endpoint_silence_ms=300)
    with pytest.raises(ValueError, match="threshold"):
        EndpointerConfig(speech_threshold=0.3, silence_threshold=0.4)
    with pytest.raises(ValueError, match=">= 0"):
        EndpointerConfig(pre_roll_ms=-1)


def test_one_push_gives_one_contiguous_piece_of_audio() -> None:
    # Pre-roll, onset and the rest of the chunk arrive as one piece: one recogniser call.
    endpointer = Endpointer(ToneDetector())
    pcm = tone_clip(("quiet", 0.6), ("tone", 0.6), ("quiet", 0.6))
    step = RATE // 5 * 2  # 200 ms chunks
    for i in range(0, len(pcm), step):
        pieces = audio(endpointer.push(PcmChunk(pcm[i : i + step], i // 2)))
        assert len(pieces) <= 1


# -- the recogniser's clock --------------------------------------------------------------


def test_stream_clock_maps_fed_time_back_over_skipped_silence() -> None:
    clock = StreamClock()
    clock.fed(PcmChunk(b"\0\0" * RATE, 2 * RATE))  # fed 0-1 s = stream 2-3 s
    clock.fed(PcmChunk(b"\0\0" * RATE, 3 * RATE))  # contiguous: same run
    clock.fed(PcmChunk(b"\0\0" * (RATE // 2), 10 * RATE))  # fed 2-2.5 s = stream 10-10.5 s
    assert clock.to_stream(0.5) == 2.5
    assert clock.to_stream(1.5) == 3.5
    assert clock.to_stream(2.25) == 10.25
    clock.forget_before(2.1)
    assert clock.to_stream(2.25) == 10.25  # the run still in use is kept
    assert clock.fed_samples == 2 * RATE + RATE // 2


@pytest.mark.slow
def test_gated_vosk_word_times_land_on_the_stream_clock(model_path: Path) -> None:
    require_pocketsphinx_corpus()
    units = real_units()[:2]
    clip = join_units("two", units, 4.0)  # 4 s of silence is skipped between them
    rec = vosk.KaldiRecognizer(vosk.Model(str(model_path)), RATE)
    rec.SetWords(True)
    clock = StreamClock()
    words: list[tuple[float, float]] = []
    for event in feed(Endpointer(SileroDetector()), clip.pcm()):
        raw = None
        if isinstance(event, SpeechAudio):
            clock.fed(event.chunk)
            if rec.AcceptWaveform(event.chunk.data):
                raw = rec.Result()
        elif isinstance(event, Endpoint):
            raw = rec.FinalResult()  # Vosk's word times keep counting fed audio after this
        if raw:
            words += [(clock.to_stream(w["start"]), clock.to_stream(w["end"]))
                      for w in json.loads(raw).get("result", [])]
    assert clock.fed_samples < len(clip.samples) - 3 * RATE  # the silence was not fed
    second_start = clip.units[1][0] / RATE
    first = [w for w in words if w[1] < second_start - 1.0]
    second = [w for w in words if w[0] > second_start - 0.3]
    assert first and second and len(first) + len(second) == len(words)
    # Words sit inside their recording's span on the stream clock (within 0.3 s).
    for group, (span_start, span_end) in zip((first, second), clip.units, strict=True):
        assert span_start / RATE - 0.3 <= group[0][0]
        assert group[-1][1] <= span_end / RATE + 0.3
