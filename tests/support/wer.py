"""Word error rate, the one accuracy number the gateway is judged by.

WER = (substitutions + deletions + insertions) / words in the reference, from a
Levenshtein alignment over words. Both sides are normalised first so that the score
measures recognition, not formatting: Vosk emits lowercase words without punctuation,
while references are written as people write. Numbers are *not* spelled out ("25" stays
"25"): references meant for Vosk should spell numbers as words, and a mismatch there
is a real difference in output the client would see.

Corpus WER is total errors over total reference words (:class:`WerStats`), not the mean
of per-utterance WERs, which would let a two-word utterance weigh as much as a
twenty-word one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ErrorCounts", "WerStats", "align", "normalize", "wer"]

_APOSTROPHES = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[^\w]+|_")


def normalize(text: str) -> list[str]:
    """Lowercase, drop punctuation, split into words.

    Apostrophes are removed inside words ("don't" -> "dont") so that either spelling
    matches; every other punctuation mark (hyphens included) separates words, so
    "cold-hearted" matches a recognizer's "cold hearted".
    """
    text = _APOSTROPHES.sub("", text.lower())
    return _NON_WORD.sub(" ", text).split()


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """The outcome of aligning one hypothesis against one reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors per reference word; 0.0 for an empty reference with no output."""
        if self.reference_words == 0:
            if self.errors:
                raise ValueError(
                    "WER is undefined for an empty reference with a non-empty hypothesis"
                )
            return 0.0
        return self.errors / self.reference_words


def align(reference: str, hypothesis: str) -> ErrorCounts:
    """Minimum-edit alignment of normalised words, with the error breakdown.

    Ties between equally cheap alignments are broken towards substitutions, then
    deletions, matching the usual sclite/jiwer convention closely enough for totals
    (the total edit distance is the same whichever way ties go).
    """
    ref = normalize(reference)
    hyp = normalize(hypothesis)
    # Each cell: (cost, subs, dels, ins). Row-by-row DP, O(len(ref) * len(hyp)).
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            diag = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                best = diag
            else:
                best = (diag[0] + 1, diag[1] + 1, diag[2], diag[3])
            up = prev[j]  # reference word with no hypothesis word: deletion
            if up[0] + 1 < best[0]:
                best = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = cur[j - 1]  # hypothesis word with no reference word: insertion
            if left[0] + 1 < best[0]:
                best = (left[0] + 1, left[1], left[2], left[3] + 1)
            cur.append(best)
        prev = cur
    _, subs, dels, ins = prev[-1]
    return ErrorCounts(subs, dels, ins, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (0.0 = perfect; can exceed 1)."""
    return align(reference, hypothesis).wer


@dataclass(slots=True)
class WerStats:
    """Corpus-level accumulator: total errors over total reference words."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0
    utterances: int = 0
    per_utterance: list[ErrorCounts] = field(default_factory=list)

    def add(self, reference: str, hypothesis: str) -> ErrorCounts:
        """Align one utterance, add it to the totals and return its own counts."""
        counts = align(reference, hypothesis)
        self.substitutions += counts.substitutions
        self.deletions += counts.deletions
        self.insertions += counts.insertions
        self.reference_words += counts.reference_words
        self.utterances += 1
        self.per_utterance.append(counts)
        return counts

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words if self.reference_words else 0.0

    def summary(self) -> str:
        return (
            f"WER {self.wer:.1%} over {self.utterances} utterances, {self.reference_words} words "
            f"(S={self.substitutions} D={self.deletions} I={self.insertions})"
        )
