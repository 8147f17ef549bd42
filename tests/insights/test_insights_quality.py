"""The evaluation targets from the issue, held by the same code the benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.insights.evaluation import evaluate, load

DATA = Path(__file__).resolve().parent.parent / "data"
# (precision, recall) lower bounds from the issue.
BOUNDS = {"question": (0.90, 0.85), "action_item": (0.85, 0.80)}


@pytest.mark.parametrize("name", ["insights_eval.jsonl", "insights_heldout.jsonl"])
def test_precision_and_recall_bounds(name: str) -> None:
    examples = load(DATA / name)
    report = evaluate(examples)
    for kind, (precision, recall) in BOUNDS.items():
        score = report.scores[kind]
        assert score.precision >= precision, (kind, score, report.errors)
        assert score.recall >= recall, (kind, score, report.errors)


def test_eval_set_is_big_enough_and_well_formed() -> None:
    examples = load(DATA / "insights_eval.jsonl")
    assert len(examples) >= 200
    assert {e.label for e in examples} == {"question", "action_item", "follow_up", "none"}
    assert len({e.id for e in examples}) == len(examples)
    assert all(e.text == e.text.lower() and "?" not in e.text for e in examples)
