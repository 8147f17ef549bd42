"""Symbl-endpoint audio decoders: CPU per audio-second and Vosk WER per encoding.

    VOSK_MODEL=/path/to/model python bench/symbl_codecs.py [--out bench/results/symbl_codecs.json]

Every pocketsphinx-testdata recording is encoded as a Symbl client would send it
(tests/support/symbl_client.py: LINEAR16 16 kHz and 44.1 kHz, Symbl's browser snippet at
48 kHz, MULAW 8 kHz, MediaRecorder WebM/Opus in 250 ms chunks cut anywhere, Ogg/Opus, raw
Opus packets, FLAC), decoded by gateway.transports.symbl.codecs, and recognised by Vosk;
the baseline is Vosk straight on the original 16 kHz recording. CPU is process time of the
decoder alone (push + close), per second of audio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vosk  # noqa: E402

from gateway.model import resolve_model  # noqa: E402
from gateway.transports.symbl.codecs import make_decoder  # noqa: E402
from tests.support import symbl_client as client  # noqa: E402
from tests.support.baseline import direct_transcript  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402
from tests.support.wer import WerStats  # noqa: E402

Encoder = Callable[[SpeechSample], list[client.Frame]]
CASES: dict[str, tuple[str, int, Encoder]] = {
    "LINEAR16 16 kHz": ("LINEAR16", 16000, lambda s: client.linear16(s, 16000)),
    "LINEAR16 44.1 kHz": ("LINEAR16", 44100, lambda s: client.linear16(s, 44100)),
    "LINEAR16 48 kHz (Symbl browser snippet)": (
        "LINEAR16", 48000, lambda s: client.browser_linear16(s, 48000)),
    "MULAW 8 kHz": ("MULAW", 8000, client.mulaw),
    "WebM/Opus MediaRecorder 250 ms": (
        "audio/webm;codecs=opus", 48000, lambda s: client.media_recorder(s, "webm")),
    "Ogg/Opus MediaRecorder 250 ms": ("OPUS", 48000, lambda s: client.media_recorder(s, "ogg")),
    "Opus raw packets (Symbl web SDK)": ("OPUS", 48000, client.raw_opus),
    "FLAC 16 kHz": ("FLAC", 16000, lambda s: client.pcm_frames(
        client.container(s, "flac", "flac", 16000), s.duration, 8192)),
}


def recognise(model: vosk.Model, pcm: bytes) -> str:
    rec = vosk.KaldiRecognizer(model, 16000)
    texts = []
    for i in range(0, len(pcm), 3200):
        if rec.AcceptWaveform(pcm[i:i + 3200]):
            texts.append(json.loads(rec.Result())["text"])
    texts.append(json.loads(rec.FinalResult())["text"])
    return " ".join(t for t in texts if t)


def run(model: vosk.Model) -> dict[str, dict[str, float | int | str]]:
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed")
    baseline = WerStats()
    for utt in corpus:
        baseline.add(utt.transcript, direct_transcript(model, utt.path))
    results: dict[str, dict[str, float | int | str]] = {
        "Vosk on the original WAV": {"wer": round(baseline.wer, 4), "summary": baseline.summary()}}
    for name, (encoding, rate, encode) in CASES.items():
        stats, cpu, audio = WerStats(), 0.0, 0.0
        for utt in corpus:
            sample = SpeechSample.read(utt.path)
            frames = encode(sample)
            decoder = make_decoder(encoding, rate)
            started = time.process_time()
            pcm = b"".join(decoder.push(f) for f, _ in frames) + decoder.close()
            cpu += time.process_time() - started
            audio += sample.duration
            stats.add(utt.transcript, recognise(model, pcm))
        results[name] = {"wer": round(stats.wer, 4), "summary": stats.summary(),
                         "decoder_cpu_ms_per_audio_s": round(1000 * cpu / audio, 3),
                         "audio_seconds": round(audio, 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/symbl_codecs.json")
    args = parser.parse_args()
    vosk.SetLogLevel(-1)
    model = vosk.Model(str(resolve_model(os.environ.get("VOSK_MODEL") or None)))
    results = run(model)
    for name, row in results.items():
        cpu = row.get("decoder_cpu_ms_per_audio_s")
        print(f"{name:42s} WER {float(row['wer']):6.1%}"
              + (f"   decoder {cpu} ms CPU per audio-second" if cpu is not None else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.machine(), "python": sys.version,
                                    "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
