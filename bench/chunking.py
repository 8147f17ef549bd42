"""Feed size and partial results: chunk size vs Vosk CPU vs partial and final latency.

One stream (the 12 pocketsphinx-testdata recordings with 1.0 s pauses, so that Vosk's own
endpointing also separates them) is fed to a fresh recogniser in chunks of 20, 40, 60, 100
and 200 ms, ungated (every chunk; Vosk's endpoints) and gated (the Endpointer's audio;
``FinalResult()`` at its endpoints). ``PartialResult()`` is asked after every chunk and
each call is timed; asking less often is then derived exactly on the same chunk grid
(``PartialResult`` does not change the decoder's state): for an interval of N ms a
partial is asked when N ms of audio passed since the last ask.

Latencies are on the audio clock plus the compute of the call that produced the result:
* first partial: from a unit's labelled onset to the end of the chunk whose
  ``PartialResult`` first had text for it, plus that call's accept+partial CPU;
* final (gated): from the unit's labelled end to the endpoint's chunk end plus the
  ``FinalResult`` CPU; ungated: to the chunk whose ``AcceptWaveform`` returned true.

CPU is thread CPU of the Vosk calls per second of stream audio; partial CPU is reported
separately per policy. The machine is shared: ``--repeats`` runs, CPU is the minimum.

Usage: ``python bench/chunking.py [--model DIR]``; writes bench/results/chunking.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import vosk  # noqa: E402

from gateway.pipeline.endpointer import (  # noqa: E402
    Endpoint,
    Endpointer,
    EndpointerConfig,
    SpeechAudio,
)
from gateway.pipeline.pcm import PcmChunk  # noqa: E402
from gateway.pipeline.vad import SileroDetector  # noqa: E402
from tests.support.vad_audio import RATE, LabelledAudio, join_units, real_units  # noqa: E402

SIZES_MS = (20, 40, 60, 100, 200)
PARTIAL_EVERY_MS = (0, 100, 200, 300, 500)  # 0: after every chunk


def run(model: vosk.Model, clip: LabelledAudio, chunk_ms: int, gated: bool,
        config: EndpointerConfig | None = None) -> dict[str, Any]:
    """Feed the clip; a timeline of (audio position, compute s, kind, text)."""
    rec = vosk.KaldiRecognizer(model, RATE)
    rec.SetWords(True)
    endpointer = Endpointer(SileroDetector(), config) if gated else None
    pcm, step = clip.pcm(), RATE * chunk_ms // 1000 * 2
    accept_cpu = partial_cpu = 0.0
    partial_calls = 0
    timeline: list[tuple[int, float, str, str]] = []
    for i in range(0, len(pcm), step):
        chunk = PcmChunk(pcm[i : i + step], i // 2)
        position = chunk.offset + chunk.samples
        events = endpointer.push(chunk) if endpointer else [SpeechAudio(chunk)]
        fed = False
        for event in events:
            if isinstance(event, SpeechAudio):
                started = time.thread_time()
                done = rec.AcceptWaveform(event.chunk.data)
                spent = time.thread_time() - started
                accept_cpu += spent
                fed = True
                if done:
                    started = time.thread_time()
                    text = json.loads(rec.Result()).get("text", "")
                    timeline.append((position, spent + time.thread_time() - started, "final", text))
            elif isinstance(event, Endpoint):
                started = time.thread_time()
                text = json.loads(rec.FinalResult()).get("text", "")
                timeline.append((position, time.thread_time() - started, "final", text))
        if fed:
            started = time.thread_time()
            text = json.loads(rec.PartialResult()).get("partial", "")
            spent = time.thread_time() - started
            partial_cpu += spent
            partial_calls += 1
            timeline.append((position, spent, "partial", text))
    return {"accept_cpu": accept_cpu, "partial_cpu": partial_cpu,
            "partial_calls": partial_calls, "timeline": timeline}


def latencies(timeline: list[tuple[int, float, str, str]], clip: LabelledAudio, every_ms: int
              ) -> tuple[list[float], list[float], int]:
    """First-partial and final latencies (ms) per unit under an ask-every policy."""
    asks: list[tuple[int, float, str]] = []
    last_ask = -10**9
    for position, spent, kind, text in timeline:
        if kind == "partial" and position - last_ask >= every_ms * RATE // 1000:
            asks.append((position, spent, text))
            last_ask = position
    finals = [(p, s) for p, s, kind, t in timeline if kind == "final" and t]
    first, final = [], []
    for start, end in clip.units:
        hit = next(((p, s) for p, s, text in asks if p > start and text), None)
        if hit:
            first.append((hit[0] - start) / RATE * 1000 + hit[1] * 1000)
        done = next(((p, s) for p, s in finals if p >= end - 0.15 * RATE), None)
        if done:
            final.append((done[0] - end) / RATE * 1000 + done[1] * 1000)
    return first, final, len(asks)


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES_MS))
    args = parser.parse_args()
    if not args.model:
        raise SystemExit("give --model or set VOSK_MODEL")
    units = real_units()
    if not units:
        raise SystemExit("pocketsphinx-testdata is not installed")
    vosk.SetLogLevel(-1)
    model = vosk.Model(args.model)
    clip = join_units("real", units, 1.0, seed=31)
    rows = []
    print(f"{'chunk':>5} {'mode':7} {'accept/s':>8} {'us/partial':>10} {'every':>5} "
          f"{'asks/s':>6} {'partial/s':>9} {'first50':>7} {'first90':>7} "
          f"{'final50':>7} {'final90':>7}")
    for chunk_ms in args.sizes:
        for gated in (False, True):
            runs = [run(model, clip, chunk_ms, gated) for _ in range(args.repeats)]
            best = min(runs, key=lambda r: r["accept_cpu"])
            per_partial = min(r["partial_cpu"] / max(1, r["partial_calls"]) for r in runs)
            for every in PARTIAL_EVERY_MS:
                first, final, asks = latencies(best["timeline"], clip, every)
                row = {
                    "chunk_ms": chunk_ms, "mode": "gated" if gated else "ungated",
                    "accept_cpu_per_s": round(best["accept_cpu"] / clip.duration, 4),
                    "us_per_partial": round(per_partial * 1e6, 1), "partial_every_ms": every,
                    "asks_per_s": round(asks / clip.duration, 2),
                    "partial_cpu_per_s": round(per_partial * asks / clip.duration, 4),
                    "first_partial_ms_median": pct(first, 50),
                    "first_partial_ms_p90": pct(first, 90),
                    "final_ms_median": pct(final, 50), "final_ms_p90": pct(final, 90),
                    "units": len(clip.units), "units_with_partial": len(first),
                }
                rows.append(row)
                print(f"{chunk_ms:5} {row['mode']:7} {row['accept_cpu_per_s']:8.3f} "
                      f"{row['us_per_partial']:10.0f} {every:5} {row['asks_per_s']:6.1f} "
                      f"{row['partial_cpu_per_s']:9.4f} {row['first_partial_ms_median']!s:>7} "
                      f"{row['first_partial_ms_p90']!s:>7} {row['final_ms_median']!s:>7} "
                      f"{row['final_ms_p90']!s:>7}", flush=True)
    print("\ngated, 100 ms chunks, partial after every chunk: pre-roll and onset confirmation")
    pre_rolls = []
    for pre_roll, min_speech in ((300, 64), (500, 64), (800, 64), (300, 32)):
        config = EndpointerConfig(pre_roll_ms=pre_roll, min_speech_ms=min_speech)
        result = run(model, clip, 100, True, config)
        first, final, _ = latencies(result["timeline"], clip, 0)
        row = {"pre_roll_ms": pre_roll, "min_speech_ms": min_speech,
               "accept_cpu_per_s": round(result["accept_cpu"] / clip.duration, 4),
               "first_partial_ms_median": pct(first, 50), "first_partial_ms_p90": pct(first, 90),
               "first_partial_ms": [round(v) for v in first],
               "final_ms_median": pct(final, 50), "final_ms_p90": pct(final, 90)}
        pre_rolls.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    out = REPO / "bench" / "results" / "chunking.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"audio_s": round(clip.duration, 2), "rows": rows,
                               "pre_roll": pre_rolls}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
