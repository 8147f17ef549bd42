"""Score the engine on long recognizer phrases that merge several labelled utterances.

Vosk ends a phrase only after 0.5-1.0 s of silence, so a turn of two to four sentences
often arrives as one final. This builds such phrases from the labelled single-utterance
sets (2-4 utterances each, in a seeded random order) with word timings shaped like
Vosk's, under several timing conditions, and scores the insights against the sentence
each came from:

* ``paused``: 0.2-0.4 s between sentences, 0.02-0.15 s between words (a speaker who
  pauses briefly between sentences: shorter than Vosk's endpoint, so one final);
* ``hesitant``: as ``paused``, plus one word gap in eight inside a sentence is a
  0.2-0.5 s hesitation (breaks must not be invented at every pause);
* ``tight``: sentences run together with word-sized gaps (cue words only);
* ``untimed``: no word times at all, as a recognizer without words gives (cue words only).

Only the engine's public interface is used (``InsightsEngine``, ``InsightsConfig``,
``Phrase``), so the benchmark can run this same file against an older engine as the
"before" of a comparison.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.insights.config import InsightsConfig
from gateway.insights.engine import InsightsEngine
from gateway.transcript import Phrase, Speaker, Word

LABELS = ("question", "action_item", "follow_up")
SPEAKER = Speaker("alex@example.com", "Alex")
LISTENER = Speaker("sam@example.com", "Sam")


@dataclass(frozen=True)
class Timing:
    name: str
    between: tuple[float, float] | None  # gap between utterances; None: no word times
    within: tuple[float, float] = (0.02, 0.15)
    hesitation_rate: float = 0.0
    hesitation: tuple[float, float] = (0.2, 0.5)


TIMINGS: dict[str, Timing] = {
    t.name: t
    for t in (
        Timing("paused", (0.2, 0.4)),
        Timing("hesitant", (0.2, 0.4), hesitation_rate=0.125),
        Timing("tight", (0.02, 0.15)),
        Timing("untimed", None),
    )
}


@dataclass(frozen=True)
class Segment:
    id: str
    text: str
    label: str
    first_word: int
    end_word: int


@dataclass(frozen=True)
class Merged:
    phrase: Phrase
    segments: tuple[Segment, ...]


def load_labelled(path: Path) -> list[tuple[str, str, str]]:
    """(id, text, label) rows of a labelled utterance set (tests/data/*.jsonl)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r["id"], r["text"], r["label"]) for r in rows if r]


def _word_seconds(word: str, rng: random.Random) -> float:
    return min(0.6, max(0.1, 0.1 + 0.045 * len(word) + rng.uniform(-0.04, 0.04)))


def build(rows: list[tuple[str, str, str]], timing: Timing, seed: int = 7) -> list[Merged]:
    """Deterministic merged phrases: the same rows, seed and timing give the same set."""
    order = random.Random(seed)
    shuffled = rows[:]
    order.shuffle(shuffled)
    groups: list[list[tuple[str, str, str]]] = []
    while shuffled:
        size = order.randint(2, 4)
        groups.append(shuffled[:size])
        shuffled = shuffled[size:]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2] += groups.pop()
    clock = random.Random(seed + 1)  # timings vary by condition, grouping does not
    merged: list[Merged] = []
    t = 3.0
    for index, group in enumerate(groups):
        words: list[Word] = []
        segments: list[Segment] = []
        begin = t
        for uid, text, label in group:
            first = len(words)
            for j, token in enumerate(text.split()):
                if words:
                    if j == 0 and timing.between is not None:
                        t += clock.uniform(*timing.between)
                    elif clock.random() < timing.hesitation_rate:
                        t += clock.uniform(*timing.hesitation)
                    else:
                        t += clock.uniform(*timing.within)
                duration = _word_seconds(token, clock)
                words.append(Word(token, round(t, 3), round(t + duration, 3), 0.9))
                t += duration
            segments.append(Segment(uid, text, label, first, len(words)))
        text = " ".join(w.word for w in words)
        kept = tuple(words) if timing.between is not None else ()
        phrase = Phrase(f"p{index}", text, SPEAKER, round(begin, 3), round(t, 3), kept)
        merged.append(Merged(phrase, tuple(segments)))
        t += 1.5
    return merged


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def scores(self) -> dict[str, float | int]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return {"precision": round(precision, 3), "recall": round(recall, 3),
                "tp": self.tp, "fp": self.fp, "fn": self.fn}  # fmt: skip


def _span(content: str, text: str, start: int) -> tuple[int, int, int] | None:
    """Word range of insight ``text`` inside the phrase ``content`` (searching from start)."""
    at = content.find(text, start)
    if at < 0:
        at = content.find(text)
    if at < 0:
        return None
    first = content[:at].count(" ")
    return first, first + text.count(" ") + 1, at + len(text)


def _boundaries(content: str) -> set[int]:
    """Word indexes that start a sentence inside the content (after a . or ? mark)."""
    tokens = content.split(" ")
    return {i + 1 for i, tok in enumerate(tokens[:-1]) if tok.endswith((".", "?", "!"))}


def _norm(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


def evaluate_merged(merged: Iterable[Merged]) -> dict[str, Any]:
    """Sentence-aligned and per-phrase scores, boundary accuracy and per-phrase cost."""
    engine = InsightsEngine(InsightsConfig(), datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    engine.feed(Phrase("m0", "hello can everyone hear me", LISTENER, 0.0, 2.0))
    aligned = {label: Counts() for label in LABELS}
    per_phrase = {label: Counts() for label in LABELS}
    cuts = Counts()
    exact = matched = 0
    timings: list[float] = []
    for item in merged:
        began = time.perf_counter()
        analysis = engine.feed(item.phrase)
        timings.append((time.perf_counter() - began) * 1000.0)
        insights = [
            i for m in analysis.messages if m["type"] == "insight_response" for i in m["insights"]
        ]
        gold = [s for s in item.segments if s.label in LABELS]
        for label in LABELS:
            predicted = sum(i["type"] == label for i in insights)
            wanted = sum(s.label == label for s in gold)
            per_phrase[label].tp += min(predicted, wanted)
            per_phrase[label].fp += max(0, predicted - wanted)
            per_phrase[label].fn += max(0, wanted - predicted)
        unmatched = list(gold)
        position = 0
        for insight in insights:
            content = insight["payload"]["content"]
            span = _span(analysis.content, content, position)
            hit = None
            if span is not None:
                first, end, position = span
                for segment in unmatched:
                    overlap = min(end, segment.end_word) - max(first, segment.first_word)
                    if (
                        segment.label == insight["type"]
                        and overlap * 2 >= segment.end_word - segment.first_word
                        and overlap * 2 >= end - first
                    ):
                        hit = segment
                        break
            if hit is None:
                aligned[insight["type"]].fp += 1
                continue
            unmatched.remove(hit)
            aligned[hit.label].tp += 1
            matched += 1
            exact += _norm(content) == _norm(hit.text)
        for segment in unmatched:
            aligned[segment.label].fn += 1
        truth = {s.first_word for s in item.segments[1:]}
        found = _boundaries(analysis.content)
        cuts.tp += len(truth & found)
        cuts.fp += len(found - truth)
        cuts.fn += len(truth - found)
    ordered = sorted(timings)
    return {
        "aligned": {label: c.scores() for label, c in aligned.items()},
        "per_phrase": {label: c.scores() for label, c in per_phrase.items()},
        "boundaries": cuts.scores(),
        "insight_is_its_sentence": round(exact / matched, 3) if matched else 0.0,
        "phrases": len(ordered),
        "per_phrase_ms": {
            "median": round(statistics.median(ordered), 3) if ordered else 0.0,
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)
            if ordered
            else 0.0,
        },
    }
