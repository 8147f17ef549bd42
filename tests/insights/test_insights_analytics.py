from __future__ import annotations

from typing import Any

import pytest

from gateway.insights.analytics import ConversationAnalytics
from gateway.transcript import Phrase
from tests.insights.helpers_insights import ALEX, SAM


def _metric(report: dict[str, Any], kind: str) -> dict[str, float]:
    return next(m for m in report["metrics"] if m["type"] == kind)


def _member(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in report["members"] if m["name"] == name)


def build() -> dict[str, Any]:
    a = ConversationAnalytics()
    # Alex talks 0-10 s (20 words) and 20-25 s (10 words); Sam 8-14 s (12 words).
    # Overlap 8-10 s; silence 14-20 s; conversation 0-25 s.
    a.add(Phrase("1", "w " * 20, ALEX, 0.0, 10.0), "alex")
    a.add(Phrase("2", "w " * 12, SAM, 8.0, 14.0), "sam")
    a.add(Phrase("3", "w " * 10, ALEX, 20.0, 25.0), "alex")
    return a.report()


def test_conversation_metrics() -> None:
    report = build()
    assert _metric(report, "total_talk_time") == {
        "type": "total_talk_time", "percent": 76.0, "seconds": 19.0
    }  # fmt: skip
    assert _metric(report, "total_silence")["seconds"] == pytest.approx(6.0)
    assert _metric(report, "total_overlap")["seconds"] == pytest.approx(2.0)
    assert _metric(report, "total_overlap")["percent"] == pytest.approx(100 * 2 / 19, abs=1e-3)


def test_member_metrics_with_overlap() -> None:
    report = build()
    alex, sam = _member(report, "Alex Kim"), _member(report, "Sam Lee")
    assert alex["talkTime"]["seconds"] == pytest.approx(15.0)
    assert sam["talkTime"]["seconds"] == pytest.approx(6.0)
    assert alex["talkTime"]["percentage"] == pytest.approx(100 * 15 / 19, abs=1e-3)
    assert alex["pace"]["wpm"] == 120  # 30 words in 15 s
    assert sam["pace"]["wpm"] == 120
    assert alex["overlap"]["overlapDuration"] == pytest.approx(2.0)
    (other,) = alex["overlap"]["overlappingMembers"]
    assert other["id"] == "sam" and other["seconds"] == pytest.approx(2.0)
    assert other["userId"] == "sam@example.com"
    assert alex["longestMonologue"]["seconds"] == pytest.approx(10.0)
    assert sam["longestMonologue"] == {"seconds": 6.0, "startTime": 8.0, "endTime": 14.0}
    assert alex["id"] == "alex" and alex["userId"] == "alex@example.com"


def test_three_speakers_overlap_is_counted_once() -> None:
    a = ConversationAnalytics()
    for i, (speaker, name) in enumerate([(ALEX, "a"), (SAM, "s")]):
        a.add(Phrase(str(i), "w", speaker, 0.0, 4.0), name)
    from gateway.transcript import Speaker

    a.add(Phrase("3", "w", Speaker("c", "Cy"), 2.0, 6.0), "c")
    report = a.report()
    assert _metric(report, "total_overlap")["seconds"] == pytest.approx(4.0)
    assert _metric(report, "total_talk_time")["seconds"] == pytest.approx(6.0)


def test_monologue_is_broken_by_the_other_speaker() -> None:
    a = ConversationAnalytics()
    a.add(Phrase("1", "w", ALEX, 0.0, 5.0), "a")
    a.add(Phrase("2", "w", SAM, 5.5, 6.0), "s")
    a.add(Phrase("3", "w", ALEX, 6.5, 10.0), "a")
    a.add(Phrase("4", "w", ALEX, 11.0, 20.0), "a")  # pause of 1 s: same monologue
    assert _member(a.report(), "Alex Kim")["longestMonologue"]["seconds"] == pytest.approx(13.5)
