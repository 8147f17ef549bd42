"""Decoded Symbl audio recognised by the real Vosk model, against Vosk on the original file:
the encodings the end-to-end accuracy test (tests/symbl/test_accuracy.py, which covers
LINEAR16 16 and 44.1 kHz, MULAW and WebM/Opus through the gateway) does not send.

Corpus: all 12 pocketsphinx-testdata recordings (39.6 s, 101 reference words), so one word
is one percentage point of WER. Bounds, against Vosk straight on the original 16 kHz WAV
(measured with vosk-model-small-en-us-0.15: 7 errors, WER 6.9%):

* FLAC is lossless: the transcript must be *identical*.
* Symbl's browser snippet at 48 kHz goes 16 k → 48 k → 16 k through two band-limited
  resamplers: the signal is the same to within ~-60 dB, so at most 2 extra errors (a
  borderline word may flip; measured: 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import vosk

from gateway.transports.symbl.codecs import make_decoder
from tests.support import symbl_client as client
from tests.support.baseline import direct_transcript
from tests.support.speech import SpeechSample, Utterance, require_pocketsphinx_corpus
from tests.support.wer import WerStats

pytestmark = pytest.mark.slow

Encoder = Callable[[SpeechSample], list[client.Frame]]


@pytest.fixture(scope="module")
def model(model_path: Path) -> vosk.Model:
    vosk.SetLogLevel(-1)
    return vosk.Model(str(model_path))


@pytest.fixture(scope="module")
def corpus() -> list[Utterance]:
    return require_pocketsphinx_corpus()


@pytest.fixture(scope="module")
def baseline(model: vosk.Model, corpus: list[Utterance]) -> tuple[WerStats, list[str]]:
    stats, texts = WerStats(), []
    for utt in corpus:
        texts.append(direct_transcript(model, utt.path))
        stats.add(utt.transcript, texts[-1])
    return stats, texts


def recognise(model: vosk.Model, pcm: bytes) -> str:
    rec = vosk.KaldiRecognizer(model, 16000)
    texts = []
    for i in range(0, len(pcm), 3200):
        if rec.AcceptWaveform(pcm[i:i + 3200]):
            texts.append(json.loads(rec.Result())["text"])
    texts.append(json.loads(rec.FinalResult())["text"])
    return " ".join(t for t in texts if t)


def transcribe(model: vosk.Model, corpus: list[Utterance], encoding: str, rate: int,
               encode: Encoder) -> tuple[WerStats, list[str]]:
    stats, texts = WerStats(), []
    for utt in corpus:
        decoder = make_decoder(encoding, rate)
        frames = encode(SpeechSample.read(utt.path))
        pcm = b"".join(decoder.push(payload) for payload, _ in frames) + decoder.close()
        texts.append(recognise(model, pcm))
        stats.add(utt.transcript, texts[-1])
    return stats, texts


@pytest.mark.parametrize(("encoding", "rate", "encode"), [
    ("FLAC", 16000, lambda s: client.pcm_frames(
        client.container(s, "flac", "flac", 16000), s.duration, 8192)),
], ids=["FLAC-16k"])
def test_lossless_encodings_give_the_identical_transcript(
        model: vosk.Model, corpus: list[Utterance], baseline: tuple[WerStats, list[str]],
        encoding: str, rate: int, encode: Encoder) -> None:
    _, texts = transcribe(model, corpus, encoding, rate, encode)
    assert texts == baseline[1]


@pytest.mark.parametrize(("encoding", "rate", "encode", "extra_errors"), [
    ("LINEAR16", 48000, lambda s: client.browser_linear16(s, 48000), 2),
], ids=["browser-snippet-48k"])
def test_lossy_paths_stay_close_to_vosk_on_the_file(
        model: vosk.Model, corpus: list[Utterance], baseline: tuple[WerStats, list[str]],
        encoding: str, rate: int, encode: Encoder, extra_errors: int) -> None:
    stats, _ = transcribe(model, corpus, encoding, rate, encode)
    print(f"\n{encoding} {rate}: {stats.summary()} vs direct {baseline[0].summary()}")
    assert stats.reference_words == baseline[0].reference_words > 90
    assert stats.errors <= baseline[0].errors + extra_errors
