"""What one call's arrival log says: latencies from the audio, WER, merged phrases, backlog.

Inputs are the caller's own observations, on its own clock (seconds from its first recording
frame): when each utterance's speech started and ended as sent, and when each result
arrived. Nothing the server says about time is used, so the gateway and the peer (which
sends no word times at all) are measured the same way.

Which utterance a final belongs to comes from its words: all finals of the call, in order,
are aligned against all reference transcripts, in order (minimum edit distance, via jiwer);
each hypothesis word aligned to a reference word takes that word's utterance, inserted words
take their phrase neighbour's. Then:

* a final **covers** the utterances its words belong to; an utterance is **of its own** when
  every final covering it covers nothing else (it was not merged with a neighbour);
* **final latency** of an utterance: arrival of the final holding its last recognised word,
  minus the end of its speech (a merged utterance waits for its neighbour: that is the cost);
* **first-partial latency**: arrival of the first result showing a word of the utterance,
  minus the start of its speech. Partials carry no word times, so "showing a word of u" is
  "has more words than the final has before u's first word" (partials grow into their final);
* **backlog**: each final's lag behind the end of the last utterance it covers, against the
  time in the call; a server keeping real time has a flat lag, one falling behind a rising
  one (the slope is seconds of lag gained per second of call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jiwer
import numpy as np

from tests.support.wer import align, normalize


@dataclass(frozen=True, slots=True)
class Phrase:
    """One final and the partials that led to it: (arrival, word count) each."""

    at: float
    words: tuple[str, ...]
    partials: tuple[tuple[float, int], ...]


def phrases(events: Sequence[Sequence[Any]]) -> list[Phrase]:
    """Group an arrival log ``(t, "partial"|"final", text)`` into phrases.

    Every final ends a phrase; an empty final (silence endpointed) ends one and yields
    nothing; partials never followed by a final are dropped; empty partials are ignored.
    """
    out: list[Phrase] = []
    pending: list[tuple[float, int]] = []
    for t, kind, text in events:
        words = normalize(str(text))
        if kind == "partial":
            if words:
                pending.append((float(t), len(words)))
        elif kind == "final":
            if words:
                out.append(Phrase(float(t), tuple(words), tuple(pending)))
            pending = []
    return out


def label_words(references: Sequence[str], finals: Sequence[Phrase]) -> list[list[int | None]]:
    """For every word of every final, the index of the utterance whose reference word it is
    aligned to (None: an inserted word)."""
    ref_words: list[str] = []
    ref_label: list[int] = []
    for index, text in enumerate(references):
        words = normalize(text)
        ref_words += words
        ref_label += [index] * len(words)
    hyp_words = [w for p in finals for w in p.words]
    labels: list[int | None] = [None] * len(hyp_words)
    if ref_words and hyp_words:
        chunks = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words)).alignments[0]
        for chunk in chunks:
            if chunk.type in ("equal", "substitute"):
                for k in range(chunk.hyp_end_idx - chunk.hyp_start_idx):
                    labels[chunk.hyp_start_idx + k] = ref_label[chunk.ref_start_idx + k]
    out: list[list[int | None]] = []
    cursor = 0
    for p in finals:
        own = labels[cursor:cursor + len(p.words)]
        cursor += len(p.words)
        out.append(own)
    return out


def _fill_insertions(labels: list[int | None]) -> list[int | None]:
    """Inserted words take the label of the previous aligned word of the phrase, or of the
    next one at the phrase's start."""
    filled = list(labels)
    last: int | None = None
    for i, label in enumerate(filled):
        if label is None:
            filled[i] = last
        else:
            last = label
    following: int | None = None
    for i in range(len(filled) - 1, -1, -1):
        if filled[i] is None:
            filled[i] = following
        else:
            following = filled[i]
    return filled


@dataclass
class CallMetrics:
    """Per-utterance latencies (None where the utterance got no words) and call totals."""

    reference_words: int
    errors: int
    first_partial: list[float | None]
    final: list[float | None]
    own: list[bool]
    lag: list[tuple[float, float]] = field(default_factory=list)
    finals: int = 0
    spurious: int = 0

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words if self.reference_words else 0.0

    @property
    def missed(self) -> int:
        return sum(1 for x in self.final if x is None)

    @property
    def lag_slope(self) -> float | None:
        """Seconds of final lag gained per second of call (least squares), or None."""
        if len(self.lag) < 3:
            return None
        t, lag = np.asarray(self.lag).T
        if float(np.ptp(t)) == 0.0:
            return None
        return float(np.polyfit(t, lag, 1)[0])

    def to_json(self) -> dict[str, Any]:
        slope = self.lag_slope
        return {
            "reference_words": self.reference_words, "errors": self.errors,
            "wer": round(self.wer, 4), "finals": self.finals, "spurious_finals": self.spurious,
            "utterances": len(self.final), "own": sum(self.own), "missed": self.missed,
            "first_partial_s": [_r(x) for x in self.first_partial],
            "final_s": [_r(x) for x in self.final],
            "lag": [[round(t, 3), round(v, 3)] for t, v in self.lag],
            "lag_slope": None if slope is None else round(slope, 4),
            "max_lag_s": _r(max((v for _, v in self.lag), default=None)),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def measure(utterances: Sequence[tuple[float, float, str]],
            events: Sequence[Sequence[Any]]) -> CallMetrics:
    """Metrics of one call: ``utterances`` as (speech start, speech end, transcript) on the
    caller's clock, ``events`` its arrival log on the same clock."""
    finals = phrases(events)
    labels = [
        # A word cannot belong to speech that had not started when its final arrived (the
        # minimum-edit alignment may pair a stray word with a missed utterance's word).
        _fill_insertions([u if u is not None and utterances[u][0] <= p.at else None
                          for u in plabels])
        for p, plabels in zip(finals, label_words([u[2] for u in utterances], finals),
                              strict=True)
    ]
    hypothesis = " ".join(" ".join(p.words) for p in finals)
    counts = align(" ".join(u[2] for u in utterances), hypothesis)
    n = len(utterances)
    covering: list[set[int]] = [set() for _ in range(n)]  # phrase indices covering u
    first_partial: list[float | None] = [None] * n
    final: list[float | None] = [None] * n
    lag: list[tuple[float, float]] = []
    spurious = 0
    for pi, (phrase, plabels) in enumerate(zip(finals, labels, strict=True)):
        covered = sorted({u for u in plabels if u is not None})
        if not covered:
            spurious += 1
            continue
        for u in covered:
            covering[u].add(pi)
            final[u] = phrase.at - utterances[u][1]  # later phrases overwrite: last word wins
            if first_partial[u] is None:
                first_partial[u] = _first_showing(phrase, plabels.index(u), utterances[u][0])
        end = utterances[covered[-1]][1]
        lag.append((end, phrase.at - end))
    own = [bool(c) and all(set(labels[p]) == {u} for p in c) for u, c in enumerate(covering)]
    return CallMetrics(counts.reference_words, counts.errors, first_partial, final, own, lag,
                       len(finals), spurious)


def _first_showing(phrase: Phrase, words_before: int, onset: float) -> float:
    """Latency from ``onset`` to the first result of ``phrase`` showing word ``words_before``
    (0-based) of its final: a partial with more words, or else the final itself."""
    for t, count in phrase.partials:
        if count > words_before and t >= onset:
            return t - onset
    return phrase.at - onset
