"""Baseline: Vosk run straight on WAV files, no WebRTC, no Opus, no resampling.

This is the accuracy and cost the gateway would have if its transport were perfect. The
gateway's end-to-end WER (browser -> Opus -> aiortc -> PyAV -> Vosk) is compared
against these numbers: any gap is what the media path costs.

For every utterance of the corpus (the human recordings of pocketsphinx-testdata plus
a few espeak-ng sentences) and every chunk size, a fresh ``KaldiRecognizer`` (one
stream, configured as the gateway configures it: 16 kHz, ``SetWords(True)``) is fed the
audio in fixed chunks; the text of every ``Result()`` plus ``FinalResult()`` is the
hypothesis. CPU cost is ``time.process_time`` around the feeding, divided by the audio
duration: CPU-seconds per audio-second for one stream (the inverse of how many
real-time streams one core can carry).

Vosk is not bit-for-bit deterministic: the same audio, fed the same way into a fresh
recognizer, can decode a borderline word differently from run to run (seen on the
synthetic sentences; the human recordings were stable). So each utterance is decoded
``--repeats`` times and corpus WER is reported as the mean with its min-max range;
a chunk-size difference smaller than that range is noise.

Usage::

    python bench/wer_direct.py [--model DIR] [--chunk-ms 20 100 200] [--partials]

The model comes from ``--model`` or ``VOSK_MODEL``. Results go to
``bench/results/wer_direct-<time>.json`` (gitignored) and a table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import vosk  # noqa: E402

from tests.support.speech import (  # noqa: E402
    ESPEAK_SENTENCES,
    SpeechSample,
    Utterance,
    espeak_available,
    espeak_wav,
    pocketsphinx_corpus,
    support_cache_dir,
)
from tests.support.wer import WerStats  # noqa: E402

RATE = 16000


@dataclass
class UtteranceResult:
    id: str
    set: str
    chunk_ms: int
    repeat: int
    audio_s: float
    reference: str
    hypothesis: str
    ref_words: int
    errors: int
    substitutions: int
    deletions: int
    insertions: int
    wer: float
    cpu_s: float
    wall_s: float

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s


def espeak_corpus(speed: int) -> list[Utterance]:
    """The chosen sentences, synthesised once into the test cache (keyed by text+voice)."""
    if not espeak_available():
        return []
    out_dir = support_cache_dir() / "espeak"
    utterances = []
    for i, text in enumerate(ESPEAK_SENTENCES, 1):
        key = hashlib.sha256(f"en-us|{speed}|{RATE}|{text}".encode()).hexdigest()[:12]
        path = out_dir / f"sentence{i:02d}-{key}.wav"
        if not path.is_file():
            espeak_wav(text, path, rate=RATE, speed=speed)
        utterances.append(Utterance(f"espeak/sentence{i:02d}", path, text, "espeak"))
    return utterances


def recognise(
    model: vosk.Model, sample: SpeechSample, chunk_ms: int, partials: bool
) -> tuple[str, float, float]:
    """Decode one utterance as one stream; return (text, cpu seconds, wall seconds)."""
    rec = vosk.KaldiRecognizer(model, RATE)
    rec.SetWords(True)
    chunks = list(sample.chunks(chunk_ms))  # cut before timing: not the recognizer's cost
    texts: list[str] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for chunk in chunks:
        if rec.AcceptWaveform(chunk):
            texts.append(json.loads(rec.Result()).get("text", ""))
        elif partials:
            rec.PartialResult()
    texts.append(json.loads(rec.FinalResult()).get("text", ""))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return " ".join(t for t in texts if t), cpu, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"), help="Vosk model dir")
    parser.add_argument("--chunk-ms", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--repeats", type=int, default=3, help="decodes per utterance")
    parser.add_argument("--espeak-speed", type=int, default=175, help="espeak-ng words/min")
    parser.add_argument("--partials", action="store_true", help="also ask for a partial per chunk")
    parser.add_argument("--no-espeak", action="store_true")
    parser.add_argument("--no-pocketsphinx", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/)")
    args = parser.parse_args(argv)

    if not args.model:
        parser.error("no model: pass --model DIR or set VOSK_MODEL")
    corpus: list[Utterance] = []
    if not args.no_pocketsphinx:
        corpus += pocketsphinx_corpus()
    if not args.no_espeak:
        corpus += espeak_corpus(args.espeak_speed)
    if not corpus:
        parser.error("empty corpus: install pocketsphinx-testdata and/or espeak-ng")

    vosk.SetLogLevel(-1)
    t0 = time.perf_counter()
    model = vosk.Model(str(args.model))
    load_s = time.perf_counter() - t0
    samples = {u.id: SpeechSample.read(u.path).to(RATE) for u in corpus}

    results: list[UtteranceResult] = []
    for chunk_ms in args.chunk_ms:
        print(f"\n== chunk {chunk_ms} ms (first of {args.repeats} runs; * = runs disagreed)")
        head = f"{'utterance':44} {'sec':>5} {'words':>5} {'err':>4} {'WER':>6} {'cpu/s':>6}"
        print(head + "  hypothesis")
        for utt in corpus:
            sample = samples[utt.id]
            runs: list[UtteranceResult] = []
            for repeat in range(args.repeats):
                hyp, cpu, wall = recognise(model, sample, chunk_ms, args.partials)
                c = WerStats().add(utt.transcript, hyp)
                runs.append(
                    UtteranceResult(
                        id=utt.id,
                        set=utt.set,
                        chunk_ms=chunk_ms,
                        repeat=repeat,
                        audio_s=sample.duration,
                        reference=utt.transcript,
                        hypothesis=hyp,
                        ref_words=c.reference_words,
                        errors=c.errors,
                        substitutions=c.substitutions,
                        deletions=c.deletions,
                        insertions=c.insertions,
                        wer=c.wer,
                        cpu_s=cpu,
                        wall_s=wall,
                    )
                )
            results += runs
            r = runs[0]
            mark = "*" if len({x.hypothesis for x in runs}) > 1 else " "
            cpu_rate = sum(x.cpu_s for x in runs) / (r.audio_s * len(runs))
            print(
                f"{utt.id:44} {r.audio_s:5.1f} {r.ref_words:5d} {r.errors:4d} {r.wer:6.1%} "
                f"{cpu_rate:6.3f} {mark}{r.hypothesis}"
            )

    summary = summarise(results, args.chunk_ms, args.repeats)
    print_summary(summary, args.chunk_ms, load_s)

    out = args.out or REPO_ROOT / "bench" / "results" / (
        "wer_direct-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "wer_direct",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": Path(args.model).name,
        "model_load_s": load_s,
        "vosk_version": getattr(vosk, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "recognizer": {"rate": RATE, "set_words": True, "partials_per_chunk": args.partials},
        "repeats": args.repeats,
        "espeak_speed_wpm": None if args.no_espeak else args.espeak_speed,
        "summary": summary,
        "utterances": [asdict(r) | {"cpu_per_audio_s": r.cpu_per_audio_s} for r in results],
    }
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


def summarise(
    results: list[UtteranceResult], chunk_sizes: list[int], repeats: int
) -> dict[str, Any]:
    """Corpus WER (errors / words) and CPU per audio second, per chunk size and set.

    WER is computed per repeat over the whole group, then reported as mean/min/max
    across repeats; the error breakdown and CPU are means over repeats.
    """
    sets = sorted({r.set for r in results}, key=lambda s: (s == "espeak", s))
    groups = {"human (pocketsphinx)": [s for s in sets if s != "espeak"]}
    groups |= {s: [s] for s in sets}
    groups["all"] = sets
    summary: dict[str, Any] = {}
    for chunk_ms in chunk_sizes:
        rows: dict[str, Any] = {}
        for label, members in groups.items():
            rs = [r for r in results if r.chunk_ms == chunk_ms and r.set in members]
            if not rs or not members:
                continue
            per_run = [[r for r in rs if r.repeat == k] for k in range(repeats)]
            words = sum(r.ref_words for r in per_run[0])
            audio = sum(r.audio_s for r in per_run[0])
            wers = [sum(r.errors for r in run) / words if words else 0.0 for run in per_run]

            def mean(attr: str, runs: list[list[UtteranceResult]] = per_run) -> float:
                return sum(getattr(r, attr) for run in runs for r in run) / len(runs)

            rows[label] = {
                "utterances": len(per_run[0]),
                "audio_s": round(audio, 2),
                "ref_words": words,
                "substitutions": mean("substitutions"),
                "deletions": mean("deletions"),
                "insertions": mean("insertions"),
                "wer": sum(wers) / len(wers),
                "wer_min": min(wers),
                "wer_max": max(wers),
                "wer_per_repeat": wers,
                "cpu_per_audio_s": mean("cpu_s") / audio,
                "realtime_factor": mean("wall_s") / audio,
            }
        summary[str(chunk_ms)] = rows
    return summary


def print_summary(summary: dict[str, Any], chunk_sizes: list[int], load_s: float) -> None:
    print("\n== Summary: Vosk directly on WAV, one stream at a time")
    print(
        f"model load {load_s:.2f} s; WER = (S+D+I) / reference words, mean [min-max] over "
        "repeats; S/D/I are means; cpu/s = CPU seconds per audio second"
    )
    header = f"{'set':22} {'chunk':>6} {'utts':>5} {'audio s':>8} {'words':>6} "
    header += f"{'S':>5} {'D':>5} {'I':>5} {'WER':>7} {'range':>13} {'cpu/s':>7}"
    print(header)
    print("-" * len(header))
    labels = list(next(iter(summary.values())).keys())
    for label in labels:
        for chunk_ms in chunk_sizes:
            row = summary[str(chunk_ms)].get(label)
            if row is None:
                continue
            spread = f"[{row['wer_min']:.1%}-{row['wer_max']:.1%}]"
            print(
                f"{label:22} {chunk_ms:4d}ms {row['utterances']:5d} {row['audio_s']:8.1f} "
                f"{row['ref_words']:6d} {row['substitutions']:5.1f} {row['deletions']:5.1f} "
                f"{row['insertions']:5.1f} {row['wer']:7.1%} {spread:>13} "
                f"{row['cpu_per_audio_s']:7.3f}"
            )


if __name__ == "__main__":
    sys.exit(main())
