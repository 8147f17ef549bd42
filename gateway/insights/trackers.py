"""Match the client's tracker vocabularies against recognizer text.

Recognizer text differs from what a client types in case, plurals, tense, split or joined
compounds ("sales force" / "salesforce") and one-letter recognition slips; each vocabulary
phrase is matched token by token on light stems, allowing one edit in longer words, and
also as a squashed string so compounds match however the recognizer spaced them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .config import Tracker
from .textnorm import deletions, fold, stem, within_one_edit

# Words shorter than this must match exactly: one edit turns "cat" into "car".
MIN_FUZZY_LENGTH = 5


@dataclass(frozen=True, slots=True)
class TrackerMatch:
    tracker: str
    value: str  # the vocabulary phrase as the client wrote it
    word_index: int  # index of the first matched word in the phrase's words


@dataclass(frozen=True)
class _Vocab:
    tracker: str
    value: str
    stems: tuple[str, ...]
    squashed: str


def _token_equal(vocab_stem: str, text_stem: str) -> bool:
    if vocab_stem == text_stem:
        return True
    if min(len(vocab_stem), len(text_stem)) < MIN_FUZZY_LENGTH:
        return False
    return within_one_edit(vocab_stem, text_stem)


class TrackerMatcher:
    """Compiled vocabularies for one session; an empty vocabulary simply never matches."""

    def __init__(self, trackers: tuple[Tracker, ...]) -> None:
        self._vocab: list[_Vocab] = []
        for tracker in trackers:
            for value in tracker.vocabulary:
                folded = [fold(w) for w in value.split()]
                folded = [w for w in folded if w]
                if not folded:
                    continue
                self._vocab.append(
                    _Vocab(
                        tracker=tracker.name,
                        value=value,
                        stems=tuple(stem(w) for w in folded),
                        squashed="".join(folded),
                    )
                )

    def __bool__(self) -> bool:
        return bool(self._vocab)

    def match(self, words: list[str]) -> list[TrackerMatch]:
        """All vocabulary phrases found in ``words`` (first occurrence of each)."""
        if not self._vocab or not words:
            return []
        stems = [stem(w) for w in words]
        by_stem: dict[str, list[int]] = defaultdict(list)
        by_deletion: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(stems):
            by_stem[s].append(i)
            if len(s) >= MIN_FUZZY_LENGTH:
                for d in deletions(s):
                    by_deletion[d].append(i)
        squashed, boundaries = self._squash(words)
        found: list[TrackerMatch] = []
        for vocab in self._vocab:
            index = self._find_tokens(vocab, stems, by_stem, by_deletion)
            if index is None:
                index = self._find_squashed(vocab, squashed, boundaries)
            if index is not None:
                found.append(TrackerMatch(vocab.tracker, vocab.value, index))
        return found

    @staticmethod
    def _squash(words: list[str]) -> tuple[str, dict[int, int]]:
        parts: list[str] = []
        boundaries: dict[int, int] = {}
        position = 0
        for i, word in enumerate(words):
            boundaries[position] = i
            folded = fold(word)
            parts.append(folded)
            position += len(folded)
        boundaries[position] = len(words)
        return "".join(parts), boundaries

    @staticmethod
    def _find_squashed(vocab: _Vocab, squashed: str, boundaries: dict[int, int]) -> int | None:
        start = squashed.find(vocab.squashed)
        while start != -1:
            if start in boundaries and start + len(vocab.squashed) in boundaries:
                return boundaries[start]
            start = squashed.find(vocab.squashed, start + 1)
        return None

    @staticmethod
    def _find_tokens(
        vocab: _Vocab,
        stems: list[str],
        by_stem: dict[str, list[int]],
        by_deletion: dict[str, list[int]],
    ) -> int | None:
        first = vocab.stems[0]
        candidates = set(by_stem.get(first, ()))
        if len(first) >= MIN_FUZZY_LENGTH:
            for d in deletions(first) | {first}:
                candidates.update(by_deletion.get(d, ()))
                candidates.update(by_stem.get(d, ()))
        n = len(vocab.stems)
        for start in sorted(candidates):
            if start + n > len(stems):
                continue
            if all(_token_equal(v, stems[start + k]) for k, v in enumerate(vocab.stems)):
                return start
        return None
