"""The Symbl-compatible endpoint end to end: latency and WER per encoding against Vosk.

    VOSK_MODEL=/path/to/model python bench/symbl_latency.py [--latency-cases ...] [--out FILE]

Starts ``python -m gateway`` as a subprocess (no store) and drives it with the Symbl client
of ``tests/support/symbl_client.py`` over ``/v1/streaming/{id}``, one connection per
pocketsphinx-testdata recording (12 recordings, 39.6 s, 101 words):

* **WER per encoding and rate** (LINEAR16 8/16/44.1/48 kHz, MULAW 8 kHz, WebM and Ogg
  Opus from MediaRecorder, raw Opus packets, FLAC), streamed as fast as the gateway takes
  them, against Vosk straight on the original 16 kHz file (the same model, in process).
* **Latency from the audio clock**, streamed in real time (paced by an absolute schedule)
  with 1 s of silence after each recording, as a live microphone keeps sending: a phrase's
  *first partial* latency is the arrival of its first partial minus the moment its first
  word was spoken (stream start + the word's start time from the final); its *final*
  latency is the arrival of its final ``recognition_result`` minus the moment its last word
  ended. The second of silence after each recording lets Vosk end every phrase on its own
  (its endpoint rules need 0.5-1 s of silence) before ``stop_request``. For scale, the same
  two numbers for Vosk alone on the audio clock (no transport, no waiting: the model's own
  share, mostly the silence its endpointer waits for) are reported too.

Prints a table and writes JSON to ``bench/results/symbl_latency.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import vosk  # noqa: E402

from gateway.model import resolve_model  # noqa: E402
from tests.support import symbl_client as client  # noqa: E402
from tests.support.baseline import direct_transcript  # noqa: E402
from tests.support.speech import SpeechSample, Utterance, pocketsphinx_corpus  # noqa: E402
from tests.support.wer import WerStats  # noqa: E402

LATENCY_CASES = ["LINEAR16 16 kHz", "LINEAR16 44.1 kHz", "MULAW 8 kHz",
                 "WebM/Opus MediaRecorder"]
TAIL_SILENCE = 1.0


def _seconds(t: dict[str, str]) -> float:
    return int(t["seconds"]) + int(t["nanos"]) / 1e9


def phrase_latencies(session: client.Session) -> list[dict[str, Any]]:
    """Per final phrase: first-partial and final latency from the audio clock."""
    out: list[dict[str, Any]] = []
    first_partial_at: float | None = None
    for message, at in zip(session.messages, session.arrivals, strict=True):
        if client.kind_of(message) != "recognition_result":
            continue
        inner = message["message"]
        if not inner["isFinal"]:
            if first_partial_at is None:
                first_partial_at = at
            continue
        words = inner["payload"]["raw"]["alternatives"][0].get("words") or []
        if words:
            spoken_from = session.started_at + _seconds(words[0]["startTime"])
            spoken_to = session.started_at + _seconds(words[-1]["endTime"])
            out.append({
                "final_s": at - spoken_to,
                "first_partial_s": (first_partial_at - spoken_from
                                    if first_partial_at is not None else None),
            })
        first_partial_at = None
    return out


def inherent_latencies(model: vosk.Model, corpus: list[Utterance], tail: float
                       ) -> list[dict[str, float]]:
    """The model's own share of the latency, no transport: Vosk fed 100 ms chunks of each
    recording (with the same silence after it), times in audio seconds: when a phrase's
    first partial appears minus its first word's start, when its final appears minus its
    last word's end (Vosk waits for 0.5-1 s of silence before ending a phrase)."""
    out = []
    for utt in corpus:
        pcm = SpeechSample.read(utt.path).to(16000).padded(after=tail).pcm()
        rec = vosk.KaldiRecognizer(model, 16000)
        rec.SetWords(True)
        first_partial: float | None = None
        for i in range(0, len(pcm), 3200):
            position = (i + len(pcm[i:i + 3200])) / 32000
            if rec.AcceptWaveform(pcm[i:i + 3200]):
                words = json.loads(rec.Result()).get("result") or []
                if words and first_partial is not None:
                    out.append({"first_partial_s": first_partial - words[0]["start"],
                                "final_s": position - words[-1]["end"]})
                first_partial = None
            elif first_partial is None and json.loads(rec.PartialResult()).get("partial"):
                first_partial = position
    return out


async def run_case(url: str, corpus: list[Utterance], name: str, *, speed: float,
                   tail: float) -> tuple[WerStats, list[client.Session], float]:
    case = client.ENCODINGS[name]
    stats, sessions = WerStats(), []
    started = time.monotonic()
    for utt in corpus:
        sample = SpeechSample.read(utt.path)
        if tail:
            sample = sample.padded(after=tail)
        session = await client.stream(url, case.encode(sample), case.start_request(),
                                      speed=speed, timeout=120)
        stats.add(utt.transcript, session.transcript)
        sessions.append(session)
    return stats, sessions, time.monotonic() - started


def summarise(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {"n": len(values), "median": round(statistics.median(values), 3),
            "p95": round(float(np.percentile(values, 95)), 3), "max": round(max(values), 3)}


async def start_gateway(model: str) -> tuple[asyncio.subprocess.Process, str]:
    cmd = [sys.executable, "-m", "gateway", "--port", "0", "--log-level", "warning",
           "--database", "off", "--model", model]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    match = re.search(r"(http://\S+?)/?$", line.strip())
    if not match:
        proc.kill()
        raise SystemExit(f"gateway did not start: {line!r}")
    return proc, match.group(1)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed")
    vosk.SetLogLevel(-1)
    model = vosk.Model(args.model)
    baseline = WerStats()
    for utt in corpus:
        baseline.add(utt.transcript, direct_transcript(model, utt.path))
    inherent = inherent_latencies(model, corpus, TAIL_SILENCE)
    del model
    proc, url = await start_gateway(args.model)
    results: dict[str, Any] = {"Vosk straight on the WAV": {
        "wer": round(baseline.wer, 4), "errors": baseline.errors, "summary": baseline.summary(),
        "first_partial_latency_s": summarise([p["first_partial_s"] for p in inherent]),
        "final_latency_s": summarise([p["final_s"] for p in inherent])}}
    print(f"{'Vosk alone (audio clock, no transport)':42s} first partial "
          f"{results['Vosk straight on the WAV']['first_partial_latency_s']}  final "
          f"{results['Vosk straight on the WAV']['final_latency_s']}", flush=True)
    try:
        for name in args.wer_cases:
            stats, _, took = await run_case(url, corpus, name, speed=0, tail=0)
            results[name] = {"wer": round(stats.wer, 4), "errors": stats.errors,
                             "extra_errors_vs_straight": stats.errors - baseline.errors,
                             "summary": stats.summary(), "fast_run_seconds": round(took, 1)}
            print(f"{name:42s} WER {stats.wer:6.1%} ({stats.errors - baseline.errors:+d} "
                  f"errors vs straight)", flush=True)
        for name in args.latency_cases:
            stats, sessions, _ = await run_case(url, corpus, name, speed=1.0,
                                                tail=TAIL_SILENCE)
            phrases = [p for s in sessions for p in phrase_latencies(s)]
            row = results.setdefault(name, {})
            row["realtime_wer"] = round(stats.wer, 4)
            row["first_partial_latency_s"] = summarise(
                [p["first_partial_s"] for p in phrases if p["first_partial_s"] is not None])
            row["final_latency_s"] = summarise([p["final_s"] for p in phrases])
            print(f"{name:42s} first partial {row['first_partial_latency_s']}  "
                  f"final {row['final_latency_s']}", flush=True)
    finally:
        proc.terminate()
        await proc.communicate()
    return {"machine": platform.machine(), "cores": os.cpu_count(),
            "load_average": os.getloadavg(), "python": sys.version.split()[0],
            "corpus": f"pocketsphinx-testdata, {len(corpus)} recordings", "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="Vosk model (default: $VOSK_MODEL)")
    parser.add_argument("--wer-cases", nargs="*", default=list(client.ENCODINGS),
                        choices=list(client.ENCODINGS), metavar="CASE")
    parser.add_argument("--latency-cases", nargs="*", default=LATENCY_CASES,
                        choices=list(client.ENCODINGS), metavar="CASE")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/symbl_latency.json")
    args = parser.parse_args()
    args.model = str(resolve_model(args.model or os.environ.get("VOSK_MODEL") or None))
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
