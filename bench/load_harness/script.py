"""What a caller says and exactly when: recordings laid out on one timeline.

Latency is measured from the audio, so the harness must know, for every utterance it sends,
the sample where speech starts and where it ends. The recordings (Debian's
pocketsphinx-testdata, real human speech) are cut close to the speech but not exactly, so
the boundaries are found by energy (:func:`speech_bounds`) and recorded, not assumed.

Two layouts:

* **dense**: utterances one after another with ``pause`` seconds (0.8) from the end of one's
  speech to the start of the next, about a minute in all, as a talkative caller;
* **conversational**: the same utterances, each followed by a silence about as long as an
  utterance (the other party's turn), so each caller speaks about half the time.

Every caller gets the same words in the same order (so WER at N calls compares with WER at
one call on identical audio), but its own lead-in silence (and, conversational, its own
gaps), so N callers do not finish their phrases in the same 20 ms frame.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.support.speech import SpeechSample, Utterance

RATE = 16_000
FRAME = RATE // 100  # 10 ms energy frames
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True, slots=True)
class Clip:
    """One recording, with where its speech starts and ends (seconds into the file)."""

    source: str
    transcript: str
    samples: npt.NDArray[np.int16]
    onset: float
    offset: float

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


@dataclass(frozen=True, slots=True)
class Spoken:
    """One utterance as sent: speech from ``onset`` to ``offset`` seconds after the call's
    first recorded frame, saying ``transcript``."""

    source: str
    transcript: str
    onset: float
    offset: float


@dataclass(frozen=True, slots=True)
class CallScript:
    """A caller's whole recording (16 kHz mono) and its utterances."""

    mode: str
    caller: int
    samples: npt.NDArray[np.int16]
    utterances: tuple[Spoken, ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    @property
    def speech_seconds(self) -> float:
        return sum(u.offset - u.onset for u in self.utterances)

    def write(self, folder: Path) -> Path:
        """Write ``caller-<k>.wav`` and ``caller-<k>.json`` (the JSON names the WAV)."""
        folder.mkdir(parents=True, exist_ok=True)
        wav = SpeechSample(self.samples, RATE).write(folder / f"caller-{self.caller}.wav")
        path = folder / f"caller-{self.caller}.json"
        path.write_text(json.dumps(self.describe() | {"wav": str(wav)}, indent=1))
        return path

    def describe(self) -> dict[str, Any]:
        """The script without its audio (what results files keep)."""
        return {
            "mode": self.mode,
            "caller": self.caller,
            "duration": round(self.duration, 3),
            "speech_seconds": round(self.speech_seconds, 3),
            "utterances": [asdict(u) for u in self.utterances],
        }


def load_script(path: Path) -> tuple[dict[str, Any], list[Spoken]]:
    """Read a script JSON written by :meth:`CallScript.write`: (its fields, its utterances)."""
    data = json.loads(path.read_text())
    return data, [Spoken(**u) for u in data["utterances"]]


def speech_bounds(samples: npt.NDArray[np.int16], *, below_peak_db: float = 35.0,
                  floor_db: float = -55.0) -> tuple[float, float]:
    """(onset, offset) seconds of the speech in a recording, by 10 ms frame energy.

    Speech is any frame within ``below_peak_db`` of the loudest frame (and above
    ``floor_db`` dBFS): these recordings are clean read speech with a noise floor 30-45 dB
    below their peak, so the first and last such frames are the speech edges to 10 ms.
    """
    usable = len(samples) // FRAME * FRAME
    if usable == 0:
        raise ValueError("recording shorter than one 10 ms frame")
    frames = samples[:usable].astype(np.float64).reshape(-1, FRAME)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-12)
    threshold = max(float(level.max()) - below_peak_db, floor_db)
    loud = np.flatnonzero(level > threshold)
    if len(loud) == 0:
        raise ValueError("no speech found (silent recording)")
    return float(loud[0]) * FRAME / RATE, float(loud[-1] + 1) * FRAME / RATE


def clips(corpus: Sequence[Utterance]) -> list[Clip]:
    """The corpus recordings at 16 kHz with their measured speech bounds."""
    out = []
    for utt in corpus:
        sample = SpeechSample.read(utt.path).to(RATE)
        onset, offset = speech_bounds(sample.samples)
        out.append(Clip(utt.id, utt.transcript, sample.samples, onset, offset))
    return out


def cycle_to(clip_list: Sequence[Clip], duration: float, pause: float) -> list[Clip]:
    """Clips in corpus order, repeated from the start, until the speech plus ``pause`` after
    each reaches ``duration`` seconds (the dense minute: 14 utterances of the 12)."""
    if not clip_list:
        raise ValueError("no recordings")
    out: list[Clip] = []
    total = 0.0
    while total < duration:
        clip = clip_list[len(out) % len(clip_list)]
        out.append(clip)
        total += clip.offset - clip.onset + pause
    return out


def lay_out(mode: str, caller: int, clip_list: Sequence[Clip], lead: float,
            gaps: Sequence[float], tail: float, margin: float = 0.05) -> CallScript:
    """Place clips on one timeline: ``lead`` s of silence, then each clip's speech (with
    ``margin`` s of its own room sound either side), ``gaps[i]`` s from the end of clip i's
    speech to the start of the next (the last gap is unused), and ``tail`` s of silence after
    the last speech (so the server's end-of-phrase detection can fire)."""
    if len(gaps) != len(clip_list):
        raise ValueError("one gap per clip")
    parts: list[npt.NDArray[np.int16]] = []
    spoken: list[Spoken] = []
    cursor = 0  # samples laid out so far
    speech_end = 0.0  # where the previous utterance's speech ended (seconds)
    for i, clip in enumerate(clip_list):
        start_s = max(0.0, clip.onset - margin)
        stop_s = min(clip.duration, clip.offset + margin)
        onset_at = lead if i == 0 else speech_end + gaps[i - 1]
        clip_start = round((onset_at - (clip.onset - start_s)) * RATE)
        if clip_start < cursor:
            raise ValueError("gap shorter than the margins around the speech")
        piece = clip.samples[round(start_s * RATE):round(stop_s * RATE)]
        parts += [np.zeros(clip_start - cursor, dtype=np.int16), piece]
        onset = clip_start / RATE + (clip.onset - start_s)
        speech_end = onset + (clip.offset - clip.onset)
        spoken.append(Spoken(clip.source, clip.transcript, round(onset, 4), round(speech_end, 4)))
        cursor = clip_start + len(piece)
    end = round((speech_end + tail) * RATE)
    parts.append(np.zeros(max(0, end - cursor), dtype=np.int16))
    return CallScript(mode, caller, np.concatenate(parts).astype(np.int16), tuple(spoken))


def dense(clip_list: Sequence[Clip], caller: int, *, pause: float = 0.8,
          lead_spread: float = 2.0, tail: float = 2.5) -> CallScript:
    """Dense speech: every utterance followed by ``pause`` s; caller ``k`` starts after
    0.2 s plus a golden-ratio share of ``lead_spread`` (spread evenly whatever N is)."""
    lead = 0.2 + lead_spread * ((caller * GOLDEN) % 1.0)
    return lay_out("dense", caller, clip_list, lead, [pause] * len(clip_list), tail)


def conversational(clip_list: Sequence[Clip], caller: int, *, talk_ratio: float = 0.5,
                   pause: float = 0.8, tail: float = 2.5, seed: int = 1) -> CallScript:
    """Conversational speech: after each utterance a silent turn (the other party) as long
    as a randomly drawn utterance scaled to speak ``talk_ratio`` of the time (at least
    ``pause``); the lead-in is random too. Seeded by ``caller``: reproducible, yet callers
    are out of phase as real conversations are."""
    if not 0.0 < talk_ratio < 1.0:
        raise ValueError("talk_ratio must be between 0 and 1")
    rng = random.Random(seed * 100_003 + caller)
    lengths = [c.offset - c.onset for c in clip_list]
    scale = (1.0 - talk_ratio) / talk_ratio
    gaps = [max(pause, rng.choice(lengths) * scale) for _ in clip_list]
    lead = 0.2 + rng.uniform(0.0, sum(gaps) / len(gaps))
    return lay_out("conversational", caller, clip_list, lead, gaps, tail)


def build(mode: str, clip_list: Sequence[Clip], caller: int) -> CallScript:
    """The script of caller ``caller`` in ``mode`` ("dense" or "conversational")."""
    if mode == "dense":
        return dense(clip_list, caller)
    if mode == "conversational":
        return conversational(clip_list, caller)
    raise ValueError(f"unknown mode {mode!r}")
