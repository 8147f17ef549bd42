"""Labelled audio for voice-activity tests and benchmarks: speech, pauses, noise, clipping.

Every clip is 16 kHz mono int16 with a ground-truth label per 10 ms frame (speech or not)
and the exact sample spans of its speech units (one sentence or recording each).

How labels are derived, so that they can be defended:

* Units are joined with pauses whose lengths we choose, so the boundaries *between* units
  are known exactly (synthesis boundaries, not estimates).
* *Inside* a unit, speech/non-speech is decided by energy on the clean original, before
  any noise is mixed in: a 10 ms frame is speech when its level is above
  ``floor + 0.3 * (peak - floor)`` (floor = 10th, peak = 99th percentile of frame levels in
  dB). Gaps shorter than 150 ms are filled (stop closures and the breaks between words of
  one phrase are speech to a VAD) and islands shorter than 50 ms are dropped (clicks,
  breaths). Leading and trailing non-speech of each unit is trimmed off before joining,
  so a unit span starts and ends on a labelled speech frame.
* Noise is mixed at a signal-to-noise ratio measured over the labelled speech frames only;
  labels are never recomputed on noisy audio.
* Every clip carries a floor of -70 dBFS white noise so that no detector sees digital zero.

Nothing is downloaded: speech is Debian's ``pocketsphinx-testdata`` (real people) and
espeak-ng (synthetic, clean, exact boundaries); noise is generated from a seeded RNG.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tests.support.speech import (
    ESPEAK_SENTENCES,
    SpeechSample,
    espeak_available,
    espeak_wav,
    pocketsphinx_corpus,
    support_cache_dir,
)

__all__ = [
    "FRAME",
    "RATE",
    "LabelledAudio",
    "babble",
    "clipped",
    "energy_labels",
    "espeak_units",
    "join_units",
    "labelled_suite",
    "mix_at_snr",
    "noise_only",
    "pink_noise",
    "real_units",
]

RATE = 16_000
FRAME = 160  # 10 ms label frames
_FLOOR_DBFS = -70.0

Int16Array = npt.NDArray[np.int16]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LabelledAudio:
    """A clip with a speech label per 10 ms frame and its speech-unit spans in samples."""

    name: str
    samples: Int16Array
    labels: BoolArray
    units: tuple[tuple[int, int], ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    def pcm(self) -> bytes:
        return self.samples.astype("<i2").tobytes()


def _frame_db(samples: npt.NDArray[np.floating] | Int16Array) -> npt.NDArray[np.float64]:
    n = len(samples) // FRAME
    frames = np.asarray(samples[: n * FRAME], dtype=np.float64).reshape(n, FRAME)
    return np.asarray(10.0 * np.log10((frames**2).mean(axis=1) + 1e-9) - 90.309)


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    """[start, end) frame index runs where ``mask`` is true."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def energy_labels(samples: Int16Array, fill_ms: int = 150, min_ms: int = 50) -> BoolArray:
    """Speech label per 10 ms frame of *clean* audio (see the module docstring)."""
    db = _frame_db(samples)
    if len(db) == 0:
        return np.zeros(0, dtype=bool)
    floor, peak = np.percentile(db, 10), np.percentile(db, 99)
    mask = db > floor + 0.3 * (peak - floor)
    runs = _runs(mask)
    for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
        if (start - end) * 10 < fill_ms:
            mask[end:start] = True
    for start, end in _runs(mask):
        if (end - start) * 10 < min_ms:
            mask[start:end] = False
    return mask


@dataclass(frozen=True)
class _Unit:
    samples: Int16Array
    labels: BoolArray


def _trimmed(samples: Int16Array) -> _Unit:
    """The unit cut to whole frames from its first to its last labelled speech frame."""
    labels = energy_labels(samples)
    speech = np.flatnonzero(labels)
    if len(speech) == 0:
        raise ValueError("a speech unit without any labelled speech")
    first, last = int(speech[0]), int(speech[-1]) + 1
    return _Unit(samples[first * FRAME : last * FRAME].copy(), labels[first:last].copy())


def real_units() -> list[Int16Array]:
    """The pocketsphinx-testdata recordings (real speech), ``[]`` if not installed."""
    return [SpeechSample.read(u.path).to(RATE).samples for u in pocketsphinx_corpus()]


def espeak_units(sentences: Sequence[str] = ESPEAK_SENTENCES) -> list[Int16Array]:
    """espeak-ng sentences, synthesised once into the test cache; ``[]`` without espeak."""
    if not espeak_available():
        return []
    out = []
    for text in sentences:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = support_cache_dir() / "vad" / f"espeak-{digest}.wav"
        if not path.is_file():
            espeak_wav(text, path)
        out.append(SpeechSample.read(path).samples)
    return out


def join_units(
    name: str,
    units: Sequence[Int16Array],
    pause_s: float | Sequence[float],
    *,
    lead_s: float = 1.0,
    tail_s: float = 1.0,
    seed: int = 0,
) -> LabelledAudio:
    """Trimmed units separated by exact pauses, with silence before and after, labelled."""
    pauses = [pause_s] * (len(units) - 1) if isinstance(pause_s, float | int) else list(pause_s)
    if len(pauses) != len(units) - 1:
        raise ValueError("need one pause between each pair of units")
    pieces: list[Int16Array] = [np.zeros(round(lead_s * RATE / FRAME) * FRAME, np.int16)]
    labels: list[BoolArray] = [np.zeros(len(pieces[0]) // FRAME, bool)]
    spans: list[tuple[int, int]] = []
    position = len(pieces[0])
    gaps = [*pauses, tail_s]
    for unit_samples, gap in zip(units, gaps, strict=True):
        unit = _trimmed(unit_samples)
        spans.append((position, position + len(unit.samples)))
        silence = np.zeros(round(gap * RATE / FRAME) * FRAME, np.int16)
        pieces += [unit.samples, silence]
        labels += [unit.labels, np.zeros(len(silence) // FRAME, bool)]
        position += len(unit.samples) + len(silence)
    clean = np.concatenate(pieces)
    noisy = _add_floor(clean, seed)
    return LabelledAudio(name, noisy, np.concatenate(labels), tuple(spans))


def _add_floor(samples: Int16Array, seed: int) -> Int16Array:
    rng = np.random.default_rng(seed)
    floor = rng.normal(0.0, 32768 * 10 ** (_FLOOR_DBFS / 20), len(samples))
    return _to_int16(samples.astype(np.float64) + floor)


def _to_int16(x: npt.NDArray[np.float64]) -> Int16Array:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def pink_noise(n: int, seed: int) -> npt.NDArray[np.float64]:
    """Unit-RMS pink (1/f power) noise, shaped in the frequency domain."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return np.asarray(pink / np.sqrt(np.mean(pink**2)))


def babble(n: int, sources: Sequence[Int16Array], seed: int, talkers: int = 6) -> npt.NDArray[
    np.float64
]:
    """Unit-RMS babble: ``talkers`` speech streams (looped, random starts) summed."""
    rng = np.random.default_rng(seed)
    total = np.zeros(n)
    for i in range(talkers):
        stream = np.concatenate([sources[(i + k) % len(sources)] for k in range(len(sources))])
        reps = n // len(stream) + 2
        looped = np.tile(stream.astype(np.float64), reps)
        start = int(rng.integers(0, len(stream)))
        total += looped[start : start + n]
    return np.asarray(total / np.sqrt(np.mean(total**2)))


def mix_at_snr(
    clip: LabelledAudio, noise: npt.NDArray[np.float64], snr_db: float, name: str
) -> LabelledAudio:
    """``clip`` plus ``noise`` scaled so that speech frames are ``snr_db`` above it."""
    x = clip.samples.astype(np.float64)
    speech = np.repeat(clip.labels, FRAME)[: len(x)]
    speech_rms = np.sqrt(np.mean(x[: len(speech)][speech] ** 2))
    scale = speech_rms / 10 ** (snr_db / 20)
    return LabelledAudio(name, _to_int16(x + scale * noise[: len(x)]), clip.labels, clip.units)


def clipped(clip: LabelledAudio, gain_db: float = 20.0) -> LabelledAudio:
    """``clip`` amplified by ``gain_db`` and hard-clipped at full scale (an overdriven mic)."""
    x = clip.samples.astype(np.float64) * 10 ** (gain_db / 20)
    return LabelledAudio(f"{clip.name}+clip{gain_db:g}dB", _to_int16(x), clip.labels, clip.units)


def noise_only(name: str, noise: npt.NDArray[np.float64], level_dbfs: float) -> LabelledAudio:
    """A clip with no speech at all: every frame labelled non-speech."""
    x = noise * 32768 * 10 ** (level_dbfs / 20)
    samples = _to_int16(x[: len(x) // FRAME * FRAME])
    return LabelledAudio(name, samples, np.zeros(len(samples) // FRAME, bool), ())


def labelled_suite(seconds_of_noise: float = 10.0) -> list[LabelledAudio]:
    """The benchmark suite: real and synthetic speech with short and long pauses, noise at
    several SNRs, noise-only and silence clips, and clipping. Needs pocketsphinx-testdata."""
    real = real_units()
    synth = espeak_units()
    if not real:
        raise RuntimeError("pocketsphinx-testdata is not installed")
    clips = [
        join_units("real/pause0.3", real, 0.3, seed=1),
        join_units("real/pause1.0", real, 1.0, seed=2),
    ]
    if synth:
        clips += [
            join_units("espeak/pause0.3", synth, 0.3, seed=3),
            join_units("espeak/pause1.0", synth, 1.0, seed=4),
        ]
    base = join_units("real/mixed", real, _alternating(len(real)), seed=5)
    n = len(base.samples)
    for snr in (20, 10, 5):
        clips.append(mix_at_snr(base, np.random.default_rng(10).normal(size=n), snr,
                                f"real+white{snr}dB"))
        clips.append(mix_at_snr(base, pink_noise(n, 11), snr, f"real+pink{snr}dB"))
        if synth:
            clips.append(mix_at_snr(base, babble(n, synth, 12), snr, f"real+babble{snr}dB"))
    clips.append(clipped(base))
    m = int(seconds_of_noise * RATE)
    clips += [
        noise_only("silence(-70dBFS)", np.random.default_rng(13).normal(size=m), _FLOOR_DBFS),
        noise_only("white(-40dBFS)", np.random.default_rng(14).normal(size=m), -40.0),
        noise_only("pink(-30dBFS)", pink_noise(m, 15), -30.0),
    ]
    return clips


def _alternating(units: int) -> list[float]:
    """Pauses alternating 0.3 s and 1.0 s between ``units`` units."""
    return [0.3 if i % 2 == 0 else 1.0 for i in range(units - 1)]
