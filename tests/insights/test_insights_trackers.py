from __future__ import annotations

import time

from gateway.insights import Tracker
from gateway.insights.trackers import TrackerMatcher

MATCHER = TrackerMatcher(
    (
        Tracker("CRM", ("Salesforce", "HubSpot")),
        Tracker("Pricing", ("price increase", "Discount")),
        Tracker("Empty", ()),
        Tracker("Short", ("cat",)),
    )
)


def found(text: str) -> set[tuple[str, str]]:
    return {(m.tracker, m.value) for m in MATCHER.match(text.split())}


def test_case_and_plurals_and_tense() -> None:
    assert found("any DISCOUNTS for us") == {("Pricing", "Discount")}
    assert found("the prices increased again") == {("Pricing", "price increase")}


def test_split_and_joined_compounds() -> None:
    assert found("we use sales force today") == {("CRM", "Salesforce")}
    assert found("or hub spot maybe") == {("CRM", "HubSpot")}


def test_one_recognition_slip_in_a_long_word() -> None:
    assert found("salesforse is what we use") == {("CRM", "Salesforce")}
    assert found("a discont would help") == {("Pricing", "Discount")}


def test_short_words_must_match_exactly() -> None:
    assert found("the car is outside") == set()
    assert found("my cats") == {("Short", "cat")}


def test_word_index_points_at_the_match() -> None:
    (match,) = MATCHER.match("well we could use sales force".split())
    assert match.word_index == 4


def test_empty_vocabulary_never_matches_and_does_not_raise() -> None:
    empty = TrackerMatcher((Tracker("Empty", ()),))
    assert not empty
    assert empty.match("anything at all".split()) == []
    assert MATCHER.match([]) == []


def test_non_ascii_text() -> None:
    assert found("el descuento está aquí ñandú 東京") == set()
    assert found("café discount") == {("Pricing", "Discount")}


def test_ten_thousand_words_stay_bounded() -> None:
    words = ("lorem ipsum sales pricing dolor sit amet " * 1500).split()[:10_000]
    began = time.perf_counter()
    MATCHER.match(words)
    assert time.perf_counter() - began < 2.0  # a stall guard, not a benchmark
