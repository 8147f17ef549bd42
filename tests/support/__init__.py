"""Shared helpers for tests and benchmarks: speech audio sources and word error rate.

Importable as ``tests.support`` from the repository root (benchmarks put the root on
``sys.path``), so tests and benchmarks measure with exactly the same code.
"""

from tests.support.speech import (
    ESPEAK_SENTENCES,
    SpeechSample,
    Utterance,
    espeak_available,
    espeak_wav,
    espeak_wav_48k,
    pocketsphinx_corpus,
    require_espeak,
    require_pocketsphinx_corpus,
)
from tests.support.wer import ErrorCounts, WerStats, align, normalize, wer

__all__ = [
    "ESPEAK_SENTENCES",
    "ErrorCounts",
    "SpeechSample",
    "Utterance",
    "WerStats",
    "align",
    "espeak_available",
    "espeak_wav",
    "espeak_wav_48k",
    "normalize",
    "pocketsphinx_corpus",
    "require_espeak",
    "require_pocketsphinx_corpus",
    "wer",
]
