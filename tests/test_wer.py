"""Word error rate against hand-computed cases, and the speech helpers it is used with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import (
    ESPEAK_SENTENCES,
    SpeechSample,
    espeak_wav,
    espeak_wav_48k,
    pocketsphinx_corpus,
    require_espeak,
    require_pocketsphinx_corpus,
)
from tests.support.wer import ErrorCounts, WerStats, align, normalize, wer


def test_normalize() -> None:
    assert normalize("Hello, World!  It's  cold-hearted.") == [
        "hello",
        "world",
        "its",
        "cold",
        "hearted",
    ]
    assert normalize("Room 101; 3 items") == ["room", "101", "3", "items"]  # numbers stay
    assert normalize("  ") == []
    assert normalize("Don\u2019t") == normalize("don't") == ["dont"]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        # identical, modulo case and punctuation
        ("The cat sat.", "the cat sat", ErrorCounts(0, 0, 0, 3)),
        # one substitution in four words
        ("go forward ten meters", "go forward two meters", ErrorCounts(1, 0, 0, 4)),
        # one deletion
        (
            "he was not an ill disposed young man",
            "he was not an disposed young man",
            ErrorCounts(0, 1, 0, 8),
        ),
        # one insertion
        ("ten of clubs", "ten of the clubs", ErrorCounts(0, 0, 1, 3)),
        # nothing recognised: all deletions
        ("five five", "", ErrorCounts(0, 2, 0, 2)),
        # more insertions than reference words: WER above 1
        ("yes", "oh yes yes indeed", ErrorCounts(0, 0, 3, 1)),
        # "ill disposed" -> "illness those": 2 substitutions (pocketsphinx's own output)
        (
            "he was not an ill disposed young man",
            "he was not an illness those young man",
            ErrorCounts(2, 0, 0, 8),
        ),
        # a split word: 1 substitution + 1 insertion
        (
            "he might even have been made amiable himself",
            "he might even have been made the amiable itself",
            ErrorCounts(1, 0, 1, 8),
        ),
    ],
)
def test_align_hand_computed(ref: str, hyp: str, expected: ErrorCounts) -> None:
    assert align(ref, hyp) == expected
    assert wer(ref, hyp) == pytest.approx(expected.errors / expected.reference_words)


def test_wer_values() -> None:
    assert wer("a b c d", "a x c d") == 0.25
    assert wer("a b c d", "d c b a") == 1.0  # see test_reversal_distance
    assert wer("yes", "oh yes yes indeed") == 3.0
    assert wer("", "") == 0.0
    with pytest.raises(ValueError):
        wer("", "something")


def test_reversal_distance() -> None:
    # Levenshtein(a b c d, d c b a) = 4 substitutions, or e.g. 1 ins + 2 sub + 1 del = 4;
    # no alignment does better, since only one of the four words can stay matched
    # and matching it costs a deletion and an insertion around it.
    counts = align("a b c d", "d c b a")
    assert counts.errors == 4


def test_corpus_wer_weights_by_words() -> None:
    stats = WerStats()
    stats.add(
        "one two three four five six seven eight nine ten",
        "one two three four five six seven eight nine ten",
    )
    stats.add("hello", "goodbye")
    # Mean of per-utterance WERs would be 50%; corpus WER is 1 error / 11 words.
    assert stats.wer == pytest.approx(1 / 11)
    assert (stats.utterances, stats.errors, stats.reference_words) == (2, 1, 11)
    assert stats.substitutions == 1
    assert [c.errors for c in stats.per_utterance] == [0, 1]
    assert "9.1%" in stats.summary()
    assert WerStats().wer == 0.0


# --------------------------------------------------------------------------- speech helpers


def test_speech_sample_roundtrip_and_resample(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    sample = SpeechSample(tone, 16000)
    path = sample.write(tmp_path / "tone.wav")
    back = SpeechSample.read(path)
    assert back.rate == 16000 and np.array_equal(back.samples, tone)

    up = back.to(48000)
    assert up.rate == 48000 and abs(len(up.samples) - 48000) <= 2
    assert abs(int(np.abs(up.samples).max()) - 8000) < 400  # amplitude kept
    chunks = list(back.chunks(20))
    assert len(chunks) == 50 and all(len(c) == 640 for c in chunks)
    assert back.padded(0.5, 0.25).duration == pytest.approx(1.75)


def test_espeak_wav_rates(tmp_path: Path) -> None:
    require_espeak()
    p16 = espeak_wav(ESPEAK_SENTENCES[2], tmp_path / "s16.wav")
    p48 = espeak_wav_48k(ESPEAK_SENTENCES[2], tmp_path / "s48.wav", pad=0.5)
    s16, s48 = SpeechSample.read(p16), SpeechSample.read(p48)
    assert (s16.rate, s48.rate) == (16000, 48000)
    assert 2.0 < s16.duration < 8.0
    assert s48.duration == pytest.approx(s16.duration + 1.0, abs=0.01)
    assert np.abs(s16.samples).max() > 3000  # actual speech, not silence


def test_pocketsphinx_corpus_contents() -> None:
    corpus = require_pocketsphinx_corpus()
    by_set: dict[str, int] = {}
    for utt in corpus:
        by_set[utt.set] = by_set.get(utt.set, 0) + 1
        sample = SpeechSample.read(utt.path)
        assert sample.rate == 16000 and 0.5 < sample.duration < 10
        assert utt.transcript and utt.transcript == utt.transcript.lower()
        assert "<s>" not in utt.transcript and "(" not in utt.transcript
    assert by_set == {"librivox": 5, "cards": 5, "commands": 1, "digits": 1}
    assert len({u.id for u in corpus}) == len(corpus)


def test_pocketsphinx_corpus_absent(tmp_path: Path) -> None:
    assert pocketsphinx_corpus(data_dir=tmp_path / "missing") == []
