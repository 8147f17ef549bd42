"""How fast the first partial of a phrase can come, and what ending phrases costs it.

Vosk restarts its feature pipeline (online CMVN and i-vector state, a fresh decoder) after
``FinalResult()``; after an endpoint of its own rules (``AcceptWaveform`` true, then
``Result()``) it only restarts the decoder. The speech gate ends every sentence, so if a
cold pipeline slows the next phrase's first words, ending phrases the other way pays.

Modes, on one stream (the pocketsphinx human recordings with 1.0 s pauses, and espeak
sentences), 100 ms chunks, a partial asked after every feed:

* ``ungated``: every chunk; Vosk's own endpoints;
* ``gated-final``: the gate's audio; ``FinalResult()`` at its endpoints (what ships);
* ``gated-warm``: the gate's audio; at its endpoints, digital silence is fed until Vosk's
  own rules end the phrase (``Result()``), keeping the pipeline warm.

Reported per mode: first-partial latency after the labelled onset on the audio clock (the
end of the chunk whose partial first had text, plus that call's CPU: what no transport can
remove), final latency after the labelled end, the duration of each phrase's first word
(Vosk's own word times: a word-level partial cannot come before its word is heard), WER,
and Vosk thread CPU per stream second (minimum of ``--repeats``; the machine is shared).

Usage: ``python bench/phrase_start.py``; writes ``bench/results/phrase_start.json``.
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

from gateway.asr.decoder_config import TUNED, DecoderConfig, build_overlay  # noqa: E402
from gateway.pipeline.endpointer import (  # noqa: E402
    Endpoint,
    Endpointer,
    EndpointerConfig,
    SpeechAudio,
)
from gateway.pipeline.pcm import PcmChunk  # noqa: E402
from gateway.pipeline.vad import SileroDetector  # noqa: E402
from tests.support.speech import ESPEAK_SENTENCES, pocketsphinx_corpus  # noqa: E402
from tests.support.vad_audio import (  # noqa: E402
    RATE,
    LabelledAudio,
    espeak_units,
    join_units,
    real_units,
)
from tests.support.wer import WerStats  # noqa: E402

FPC = (9, 15, 30, 51)
MODES = ("ungated", "gated-final", "gated-warm", "gated-result", "gated-result-pad",
         *(f"gated-fpc{n}" for n in FPC), "gated-chunk50", "gated-preroll600")
"""``gated-final`` is the gate with the model's decoder settings; the others each change one
thing: ``fpcN`` the decoder's ``frames-per-chunk`` (21 by default: the network runs on
~210 ms of audio at a time, so partials move in ~210 ms steps),
``chunk50`` the feed size, ``preroll600`` the audio kept before detected speech."""
CHUNK = RATE // 10  # 100 ms
SILENCE = b"\0\0" * CHUNK


def run(models: dict[str, vosk.Model], clip: LabelledAudio, mode: str) -> dict[str, Any]:
    rec = vosk.KaldiRecognizer(models[mode[6:] if mode.startswith("gated-fpc") else "tuned"],
                               RATE)
    rec.SetWords(True)
    config = EndpointerConfig(pre_roll_ms=600) if mode == "gated-preroll600" else None
    endpointer = None if mode == "ungated" else Endpointer(SileroDetector(), config)
    chunk_samples = CHUNK // 2 if mode == "gated-chunk50" else CHUNK
    pcm = clip.pcm()
    cpu = 0.0
    partials: list[tuple[int, float]] = []  # (audio position, cpu) of partials with text
    finals: list[tuple[int, float, dict[str, Any]]] = []
    fed_total = 0

    def final(position: int, spent: float, raw: str) -> None:
        result = json.loads(raw)
        if result.get("text"):
            finals.append((position, spent, result))

    for i in range(0, len(pcm), chunk_samples * 2):
        chunk = PcmChunk(pcm[i : i + chunk_samples * 2], i // 2)
        position = chunk.offset + chunk.samples
        events = endpointer.push(chunk) if endpointer else [SpeechAudio(chunk)]
        for event in events:
            started = time.thread_time()
            if isinstance(event, SpeechAudio):
                fed_total += event.chunk.samples
                if rec.AcceptWaveform(event.chunk.data):
                    final(position, time.thread_time() - started, rec.Result())
                    cpu += time.thread_time() - started
                    continue
                text = json.loads(rec.PartialResult()).get("partial", "")
                if text:
                    partials.append((position, time.thread_time() - started))
            elif isinstance(event, Endpoint):
                if mode in ("gated-result", "gated-result-pad"):
                    # End the phrase without finishing the input: Vosk keeps its feature
                    # pipeline (i-vector and CMVN adaptation) for the next phrase.
                    if mode == "gated-result-pad":
                        fed_total += 3 * CHUNK
                        rec.AcceptWaveform(SILENCE * 3)
                    final(position, time.thread_time() - started, rec.Result())
                elif mode != "gated-warm":
                    final(position, time.thread_time() - started, rec.FinalResult())
                else:  # feed silence until Vosk's own rules end the phrase
                    for _ in range(30):
                        fed_total += CHUNK
                        if rec.AcceptWaveform(SILENCE):
                            final(position, time.thread_time() - started, rec.Result())
                            break
                    else:
                        final(position, time.thread_time() - started, rec.FinalResult())
            cpu += time.thread_time() - started
    started = time.thread_time()
    final(len(pcm) // 2, 0.0, rec.FinalResult())
    cpu += time.thread_time() - started
    return {"cpu": cpu, "partials": partials, "finals": finals, "fed": fed_total}


def measure(out: dict[str, Any], clip: LabelledAudio, refs: list[str]) -> dict[str, Any]:
    first, final_lat, first_word = [], [], []
    for start, end in clip.units:
        hit = next(((p, s) for p, s in out["partials"] if p > start), None)
        if hit:
            first.append((hit[0] - start) / RATE * 1000 + hit[1] * 1000)
        done = next(((p, s) for p, s, _ in out["finals"] if p >= end - 0.15 * RATE), None)
        if done:
            final_lat.append((done[0] - end) / RATE * 1000 + done[1] * 1000)
    for _, _, result in out["finals"]:
        words = result.get("result") or []
        if words:
            first_word.append((words[0]["end"] - words[0]["start"]) * 1000)
    wer = WerStats()
    hyp = " ".join(r.get("text", "") for _, _, r in out["finals"])
    wer.add(" ".join(refs), hyp)
    return {"first_partial_ms": first, "final_ms": final_lat, "first_word_ms": first_word,
            "wer": wer.wer, "finals": len(out["finals"])}


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q))) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    if not args.model:
        raise SystemExit("set VOSK_MODEL or --model")
    vosk.SetLogLevel(-1)
    cache = REPO / ".cache" / "overlays"
    models = {"tuned": vosk.Model(str(build_overlay(Path(args.model), TUNED, cache)))}
    for n in FPC:
        config = DecoderConfig(max_active=TUNED.max_active, extra={"frames-per-chunk": str(n)})
        models[f"fpc{n}"] = vosk.Model(str(build_overlay(Path(args.model), config, cache)))
    corpus = pocketsphinx_corpus()
    clips = {
        "real": (join_units("real", real_units(), 1.0), [u.transcript for u in corpus]),
        "espeak": (join_units("espeak", espeak_units(), 1.0), list(ESPEAK_SENTENCES)),
    }
    results: dict[str, Any] = {}
    print(f"{'clip':7} {'mode':16} {'1st partial p50/p90 ms':>22} {'final p50/p90':>14} "
          f"{'1st word p50/p90':>17} {'WER':>6} {'finals':>6} {'CPU-s/s':>8}")
    for name, (clip, refs) in clips.items():
        for mode in args.modes:
            runs = [run(models, clip, mode) for _ in range(args.repeats)]
            m = measure(runs[0], clip, refs)
            cpu = min(r["cpu"] for r in runs) / clip.duration
            results[f"{name}/{mode}"] = {**m, "cpu_per_s": cpu,
                                         "fed_s": runs[0]["fed"] / RATE}
            print(f"{name:7} {mode:16} {pct(m['first_partial_ms'], 50)!s:>10}/"
                  f"{pct(m['first_partial_ms'], 90)!s:<11} {pct(m['final_ms'], 50)!s:>6}/"
                  f"{pct(m['final_ms'], 90)!s:<7} {pct(m['first_word_ms'], 50)!s:>8}/"
                  f"{pct(m['first_word_ms'], 90)!s:<8} {m['wer']:6.3f} {m['finals']:6d} "
                  f"{cpu:8.3f}", flush=True)
    path = REPO / "bench" / "results" / "phrase_start.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
