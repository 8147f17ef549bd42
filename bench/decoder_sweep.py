"""Vosk decoder settings: WER against CPU, fed every chunk (ungated) or VAD-gated.

For each :class:`~gateway.asr.decoder_config.DecoderConfig` in the grid, the model is
loaded through :func:`~gateway.asr.decoder_config.build_overlay` (the user's model is never
touched) and two conversational streams are recognised in 100 ms chunks:

* ``real``: the 12 pocketsphinx-testdata recordings (real people, 101 words), joined with
  pauses alternating 0.3 s and 1.0 s, 1 s of silence at each end;
* ``conv``: the same recordings with pauses alternating 0.3 s and 6 s (a conversational
  participant, silent about half the time);
* ``espeak``: the 8 espeak-ng sentences of tests/support/speech.py, joined like ``real``.

``ungated`` feeds every chunk and takes Vosk's own finals (its endpoint rules).
``gated`` feeds only what the :class:`~gateway.pipeline.endpointer.Endpointer` forwards
(default config, Silero VAD) and calls ``FinalResult()`` at each of its endpoints;
Vosk's own finals inside a gated phrase are counted (``vosk_cuts``): they are the
mid-sentence cuts that longer Vosk endpoint rules would avoid.

Reported per config, mode and stream: WER (all errors / reference words), CPU of the Vosk
calls per second of *stream* audio (so gating's saving shows), seconds fed, finals, and
units merged into another's final (``merged``: a final whose words span two units).
The VAD's own CPU is reported once (it does not depend on the decoder).

Usage: ``python bench/decoder_sweep.py [--model DIR] [--quick]``; writes
bench/results/decoder_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import vosk  # noqa: E402

from gateway.asr.decoder_config import DecoderConfig, build_overlay  # noqa: E402
from gateway.pipeline.endpointer import (  # noqa: E402
    Endpoint,
    Endpointer,
    EndpointerEvent,
    SpeechAudio,
    StreamClock,
)
from gateway.pipeline.pcm import PcmChunk  # noqa: E402
from gateway.pipeline.vad import SileroDetector  # noqa: E402
from tests.support.speech import ESPEAK_SENTENCES, SpeechSample, pocketsphinx_corpus  # noqa: E402
from tests.support.vad_audio import RATE, LabelledAudio, espeak_units, join_units  # noqa: E402
from tests.support.wer import WerStats  # noqa: E402

GRID: dict[str, DecoderConfig] = {
    "model(3000/10/2)": DecoderConfig(),
    "ma2000": DecoderConfig(max_active=2000),
    "ma1500": DecoderConfig(max_active=1500),
    "ma1000": DecoderConfig(max_active=1000),
    "ma700": DecoderConfig(max_active=700),
    "beam8": DecoderConfig(beam=8.0),
    "beam7": DecoderConfig(beam=7.0),
    "lb1": DecoderConfig(lattice_beam=1.0),
    "ma1000+beam8": DecoderConfig(max_active=1000, beam=8.0),
    "ma1500+beam8+lb1": DecoderConfig(max_active=1500, beam=8.0, lattice_beam=1.0),
    "vosk-ep(1/1.5/2)": DecoderConfig(endpoint_silence=(1.0, 1.5, 2.0)),
}
QUICK = ("model(3000/10/2)", "ma1000", "beam8", "vosk-ep(1/1.5/2)")
CHUNK = RATE // 10  # 100 ms, the gateway's current feed size


def alternating(n: int) -> list[float]:
    return [0.3 if i % 2 == 0 else 1.0 for i in range(n - 1)]


def streams() -> dict[str, tuple[LabelledAudio, list[str]]]:
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed")
    real = [SpeechSample.read(u.path).to(RATE).samples for u in corpus]
    references = [u.transcript for u in corpus]
    out = {"real": (join_units("real", real, alternating(len(real)), seed=21), references),
           # A conversational participant: the same speech, but ~half the stream silent.
           "conv": (join_units("conv", real, [0.3 if i % 2 == 0 else 6.0
                                              for i in range(len(real) - 1)], seed=23),
                    references)}
    synth = espeak_units()
    if synth:
        out["espeak"] = (join_units("espeak", synth, alternating(len(synth)), seed=22),
                         list(ESPEAK_SENTENCES))
    return out


def chunks(clip: LabelledAudio) -> list[PcmChunk]:
    pcm = clip.pcm()
    return [PcmChunk(pcm[i : i + 2 * CHUNK], i // 2) for i in range(0, len(pcm), 2 * CHUNK)]


def gate(clip: LabelledAudio) -> tuple[list[EndpointerEvent], float]:
    """The endpointer's events for the whole clip, and the VAD's CPU seconds."""
    endpointer = Endpointer(SileroDetector())
    started = time.process_time()
    events = [e for chunk in chunks(clip) for e in endpointer.push(chunk)]
    return events, time.process_time() - started


def words_of(raw: str, clock: StreamClock | None) -> list[tuple[str, float, float]]:
    result = json.loads(raw)
    out = []
    for w in result.get("result", []):
        start, end = float(w["start"]), float(w["end"])
        if clock is not None:
            start, end = clock.to_stream(start), clock.to_stream(end)
        out.append((str(w["word"]), start, end))
    return out


def recognise(model: vosk.Model, clip: LabelledAudio, gated: list[EndpointerEvent] | None
              ) -> dict[str, Any]:
    """Feed one stream; finals as word lists on the stream clock; CPU of the Vosk calls."""
    rec = vosk.KaldiRecognizer(model, RATE)
    rec.SetWords(True)
    finals: list[list[tuple[str, float, float]]] = []
    clock = StreamClock() if gated is not None else None
    vosk_cuts = fed = 0
    cpu = 0.0
    items: list[EndpointerEvent] = (
        gated if gated is not None else [SpeechAudio(c) for c in chunks(clip)])
    for event in items:
        started = time.thread_time()
        if isinstance(event, SpeechAudio):
            if clock is not None:
                clock.fed(event.chunk)
            fed += event.chunk.samples
            if rec.AcceptWaveform(event.chunk.data):
                finals.append(words_of(rec.Result(), clock))
                vosk_cuts += gated is not None
        elif isinstance(event, Endpoint):
            finals.append(words_of(rec.FinalResult(), clock))
        cpu += time.thread_time() - started
    started = time.thread_time()
    finals.append(words_of(rec.FinalResult(), clock))
    cpu += time.thread_time() - started
    finals = [f for f in finals if f]
    return {"finals": finals, "cpu": cpu, "fed_s": fed / RATE, "vosk_cuts": vosk_cuts}


def merged_units(finals: list[list[tuple[str, float, float]]], clip: LabelledAudio) -> int:
    """Finals whose words lie in more than one unit (units widened by 150 ms each side)."""
    merged = 0
    for words in finals:
        units = set()
        for _, start, end in words:
            middle = (start + end) / 2 * RATE
            for i, (a, b) in enumerate(clip.units):
                if a - 0.15 * RATE <= middle <= b + 0.15 * RATE:
                    units.add(i)
        merged += max(0, len(units) - 1)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--configs", nargs="*", choices=list(GRID), help="a subset of the grid")
    parser.add_argument("--modes", nargs="*", default=["ungated", "gated"],
                        choices=["ungated", "gated"])
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per cell; CPU is the minimum (the machine is shared)")
    args = parser.parse_args()
    if not args.model:
        raise SystemExit("give --model or set VOSK_MODEL")
    vosk.SetLogLevel(-1)
    data = streams()
    gates = {name: gate(clip) for name, (clip, _) in data.items()}
    vad_cpu = sum(cpu for _, cpu in gates.values())
    audio_s = sum(clip.duration for clip, _ in data.values())
    print(f"VAD+endpointer CPU: {vad_cpu / audio_s * 1000:.1f} ms per audio second")
    rows: list[dict[str, Any]] = []
    cache = Path(tempfile.mkdtemp(prefix="decoder-sweep-"))
    names = tuple(args.configs) if args.configs else QUICK if args.quick else tuple(GRID)
    print(f"{'config':18} {'mode':7} {'stream':7} {'WER':>6} {'cpu/s':>6} {'fed_s':>6} "
          f"{'finals':>6} {'units':>5} {'merged':>6} {'voskcut':>7}")
    for name in names:
        model = vosk.Model(str(build_overlay(Path(args.model), GRID[name], cache)))
        for mode in args.modes:
            for stream, (clip, references) in data.items():
                events = gates[stream][0] if mode == "gated" else None
                runs = [recognise(model, clip, events) for _ in range(args.repeats)]
                run = runs[0]
                run["cpu"] = min(r["cpu"] for r in runs)
                texts = {" ".join(w for f in r["finals"] for w, _, _ in f) for r in runs}
                stats = WerStats()
                stats.add(" ".join(references),
                          " ".join(w for final in run["finals"] for w, _, _ in final))
                row = {
                    "config": name, "overrides": asdict(GRID[name]), "mode": mode,
                    "stream": stream, "wer": round(stats.wer, 4),
                    "errors": stats.errors, "words": stats.reference_words,
                    "cpu_per_audio_s": round(run["cpu"] / clip.duration, 4),
                    "audio_s": round(clip.duration, 2), "fed_s": round(run["fed_s"], 2),
                    "finals": len(run["finals"]), "units": len(clip.units),
                    "merged": merged_units(run["finals"], clip), "vosk_cuts": run["vosk_cuts"],
                    "deterministic": len(texts) == 1,
                }
                rows.append(row)
                print(f"{name:18} {mode:7} {stream:7} {row['wer']:6.3f} "
                      f"{row['cpu_per_audio_s']:6.3f} {row['fed_s']:6.1f} {row['finals']:6} "
                      f"{row['units']:5} {row['merged']:6} {row['vosk_cuts']:7}", flush=True)
        del model
    suffix = "" if names == tuple(GRID) else "-subset"
    out = REPO / "bench" / "results" / f"decoder_sweep{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"vad_cpu_ms_per_s": round(vad_cpu / audio_s * 1000, 2),
                               "chunk_ms": CHUNK * 1000 // RATE, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
