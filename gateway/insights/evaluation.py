"""Score the engine against a labelled utterance set: the one measure both the benchmark
and the tests use, so the numbers in docs and the bounds in tests cannot drift apart.

Utterances are fed through a real ``InsightsEngine`` (not the classifier alone) so the
score includes the confidence threshold, type filtering and message building.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.transcript import Phrase, Speaker, Word

from .config import INSIGHT_TYPES, InsightsConfig, Tracker
from .engine import InsightsEngine

SPEAKER = Speaker("alex@example.com", "Alex")
LISTENER = Speaker("sam@example.com", "Sam")
# Trackers in the run so the timing includes tracker matching, as in a real session.
EVAL_TRACKERS = (
    Tracker("pricing", ("price", "discount", "budget", "quote")),
    Tracker("competition", ("salesforce", "hubspot", "other vendor")),
)
WORD_SECONDS = 0.35


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str
    assignee: str | None
    due: str | None


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    scores: dict[str, TypeScore]
    timings_ms: list[float]
    assignee_correct: int = 0
    assignee_total: int = 0
    due_correct: int = 0
    due_total: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        timings = sorted(self.timings_ms)
        p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))] if timings else 0.0
        return {
            "types": {
                t: {
                    "precision": round(s.precision, 3),
                    "recall": round(s.recall, 3),
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
                for t, s in self.scores.items()
            },
            "assignee_accuracy": round(self.assignee_correct / max(1, self.assignee_total), 3),
            "assignee_total": self.assignee_total,
            "due_accuracy": round(self.due_correct / max(1, self.due_total), 3),
            "due_total": self.due_total,
            "per_phrase_ms": {
                "median": round(statistics.median(timings), 3) if timings else 0.0,
                "p95": round(p95, 3),
                "max": round(timings[-1], 3) if timings else 0.0,
                "n": len(timings),
            },
            "errors": self.errors,
        }


def load(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(
                Example(row["id"], row["text"], row["label"], row.get("assignee"), row.get("due"))
            )
    return examples


def eval_phrase(index: int, text: str, speaker: Speaker, start: float) -> Phrase:
    words = tuple(
        Word(w, start + i * WORD_SECONDS, start + (i + 1) * WORD_SECONDS - 0.05, 0.9)
        for i, w in enumerate(text.split())
    )
    end = start + max(1, len(words)) * WORD_SECONDS
    return Phrase(f"m{index}", text, speaker, start, end, words)


def _role(assignee: dict[str, str] | None) -> str | None:
    if not assignee:
        return None
    if assignee == SPEAKER.to_json():
        return "speaker"
    if assignee == LISTENER.to_json():
        return "listener"
    return assignee.get("name", "").lower() or None


def evaluate(examples: list[Example]) -> Report:
    engine = InsightsEngine(
        InsightsConfig(trackers=EVAL_TRACKERS), datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    )
    # The listener speaks first so "you" can resolve to them, as in a one-on-one call.
    engine.feed(eval_phrase(0, "hello can everyone hear me", LISTENER, 0.0))
    report = Report(scores={t: TypeScore() for t in INSIGHT_TYPES}, timings_ms=[])
    clock = 3.0
    for i, example in enumerate(examples, start=1):
        phrase = eval_phrase(i, example.text, SPEAKER, clock)
        clock = phrase.end + 0.8
        began = time.perf_counter()
        analysis = engine.feed(phrase)
        report.timings_ms.append((time.perf_counter() - began) * 1000.0)
        insights = [
            insight
            for message in analysis.messages
            if message["type"] == "insight_response"
            for insight in message["insights"]
        ]
        predicted = insights[0]["type"] if insights else "none"
        for t, score in report.scores.items():
            if predicted == t and example.label == t:
                score.tp += 1
            elif predicted == t:
                score.fp += 1
            elif example.label == t:
                score.fn += 1
        if predicted != example.label:
            report.errors.append(
                {
                    "id": example.id,
                    "text": example.text,
                    "label": example.label,
                    "predicted": predicted,
                }
            )
        if predicted == example.label and predicted in ("action_item", "follow_up"):
            insight = insights[0]
            report.assignee_total += 1
            report.assignee_correct += _role(insight.get("assignee")) == example.assignee
            if example.due:
                report.due_total += 1
                said: str | None = next(
                    (t["text"].lower() for t in insight["tags"] if t["type"] == "date"), None
                )
                if said:
                    report.due_correct += said in example.due or example.due in said
    return report
