"""A real recognizer final that merges three sentences still yields each one's insight.

Speech is synthesised with espeak-ng and recognised by the real Vosk model (as the gateway
does, words on), so the phrase, its lowercase text and its word times are exactly what the
engine receives live. Pauses of 0.25 s between sentences are shorter than Vosk's endpoint,
so the turn arrives as one final: the case that used to yield no question at all.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from gateway.insights import InsightsConfig, InsightsEngine
from gateway.transcript import Phrase, Speaker, Word
from tests.support.speech import SpeechSample, espeak_wav, require_espeak

pytestmark = pytest.mark.slow

MODEL = Path(os.environ.get("VOSK_MODEL", "/work/shared/models/vosk-model-small-en-us-0.15"))
# Sentences the small model recognises from espeak's voice (tests/test_insights_live.py).
SENTENCES = (
    "can you send me the updated contract before the end of the week",
    "what is the price of the new plan",
    "i will call the customer tomorrow morning about the renewal",
)
PAUSE_SECONDS = 0.25


def recognise(sample: SpeechSample) -> list[Phrase]:
    vosk = pytest.importorskip("vosk")
    if not MODEL.is_dir():
        pytest.skip(f"no Vosk model at {MODEL}")
    vosk.SetLogLevel(-1)
    recognizer = vosk.KaldiRecognizer(vosk.Model(str(MODEL)), 16000)
    recognizer.SetWords(True)
    pcm = sample.samples.astype("<i2").tobytes()
    results = []
    for i in range(0, len(pcm), 3200):  # 0.1 s chunks, as a live stream feeds them
        if recognizer.AcceptWaveform(pcm[i : i + 3200]):
            results.append(json.loads(recognizer.Result()))
    results.append(json.loads(recognizer.FinalResult()))
    speaker = Speaker("ann@example.com", "Ann", "p1")
    phrases = []
    for n, result in enumerate(r for r in results if r.get("text")):
        words = tuple(Word(w["word"], w["start"], w["end"], w["conf"]) for w in result["result"])
        phrases.append(
            Phrase(f"m{n}", result["text"], speaker, words[0].start, words[-1].end, words)
        )
    return phrases


def test_one_final_of_three_sentences_yields_each_insight(tmp_path: Path) -> None:
    require_espeak()
    parts = [
        SpeechSample.read(espeak_wav(text, tmp_path / f"{i}.wav"))
        for i, text in enumerate(SENTENCES)
    ]
    pause = np.zeros(int(PAUSE_SECONDS * 16000), dtype=np.int16)
    tail = np.zeros(16000, dtype=np.int16)
    audio = np.concatenate([parts[0].samples, pause, parts[1].samples, pause,
                            parts[2].samples, tail])  # fmt: skip
    phrases = recognise(SpeechSample(audio, 16000))
    assert len(phrases) < len(SENTENCES), "Vosk was expected to merge the sentences"

    engine = InsightsEngine(InsightsConfig(), datetime(2026, 11, 18, 17, 0, tzinfo=UTC))
    insights = []
    sentences = []
    for phrase in phrases:
        analysis = engine.feed(phrase)
        sentences += [s.content for s in analysis.sentences]
        insights += [
            i for m in analysis.messages if m["type"] == "insight_response" for i in m["insights"]
        ]
    assert len(sentences) == len(SENTENCES), sentences
    kinds = sorted(i["type"] for i in insights)
    assert kinds == ["action_item", "action_item", "question"], insights
    question = next(i for i in insights if i["type"] == "question")
    assert question["text"].startswith("What is the price") and question["text"].endswith("?")
    for insight in insights:
        # Each insight is its own sentence, not the merged phrase.
        assert insight["text"] in sentences
        assert insight["text"] == insight["payload"]["content"]
    call = next(i for i in insights if "customer" in i["text"])
    assert call["assignee"]["name"] == "Ann" and call["dueBy"]["value"].startswith("2026-11-19")
