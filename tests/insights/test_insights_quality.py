"""The evaluation targets from the issue, held by the same code the benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.insights.evaluation import SPEAKER, eval_phrase, evaluate, load
from gateway.insights.merged_evaluation import TIMINGS, build, evaluate_merged, load_labelled
from gateway.insights.punctuation import Punctuator
from gateway.insights.segment import segment

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


@pytest.mark.parametrize("timing", ["paused", "hesitant"])
@pytest.mark.parametrize("name", ["insights_eval.jsonl", "insights_heldout.jsonl"])
def test_merged_phrases_meet_the_same_bounds(name: str, timing: str) -> None:
    """2-4 utterances per recognizer phrase: each insight found in its own sentence."""
    report = evaluate_merged(build(load_labelled(DATA / name), TIMINGS[timing]))
    for kind, (precision, recall) in BOUNDS.items():
        score = report["aligned"][kind]
        assert score["precision"] >= precision, (timing, kind, score)
        assert score["recall"] >= recall, (timing, kind, score)


@pytest.mark.parametrize("timing", ["tight", "untimed"])
def test_cue_word_cuts_are_precise(timing: str) -> None:
    """Without pauses only cue words cut; a wrong cut breaks a sentence, so few may be."""
    for name in ("insights_eval.jsonl", "insights_heldout.jsonl"):
        report = evaluate_merged(build(load_labelled(DATA / name), TIMINGS[timing]))
        assert report["boundaries"]["precision"] >= 0.85, (name, report["boundaries"])


def test_no_labelled_single_utterance_is_cut() -> None:
    punctuator = Punctuator()
    for name in ("insights_eval.jsonl", "insights_heldout.jsonl"):
        for i, example in enumerate(load(DATA / name)):
            _, sentences = segment(eval_phrase(i, example.text, SPEAKER, 0.0), punctuator)
            assert len(sentences) == 1, (example.id, [s.content for s in sentences])
