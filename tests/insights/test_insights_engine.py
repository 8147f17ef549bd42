from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from gateway.insights import Analysis, InsightsConfig, InsightsEngine, Tracker
from gateway.transcript import Phrase, Speaker
from tests.insights.helpers_insights import ALEX, SAM, START, phrase


def engine(**kwargs: Any) -> InsightsEngine:
    return InsightsEngine(InsightsConfig(**kwargs), START)


def of_type(analysis: Analysis, kind: str) -> list[dict[str, Any]]:
    return [m for m in analysis.messages if m["type"] == kind]


def only_insight(analysis: Analysis) -> dict[str, Any]:
    (message,) = of_type(analysis, "insight_response")
    (insight,) = message["insights"]
    return insight


def test_question_insight_shape() -> None:
    e = engine()
    result = e.feed(phrase("what do you think about the new pricing model", SAM, pid="q1"))
    assert result.content == "What do you think about the new pricing model?"
    insight = only_insight(result)
    assert set(insight) == {
        "id", "type", "text", "payload", "confidence", "from", "messageReference", "hints",
        "tags", "dismissed",
    }  # fmt: skip
    assert insight["text"] == result.content  # Symbl's reference: the insight's sentence
    assert insight["type"] == "question"
    assert insight["payload"] == {"content": result.content, "contentType": "text/plain"}
    assert insight["from"] == {"userId": "sam@example.com", "name": "Sam Lee"}
    assert insight["messageReference"] == {"id": "q1"}
    assert 0.5 <= insight["confidence"] <= 1.0
    assert insight["dismissed"] is False


def test_action_item_with_listener_assignee_and_due_date_in_client_timezone() -> None:
    # Symbl's sign: minutes behind UTC, as getTimezoneOffset() (480 is UTC-08:00).
    e = InsightsEngine(InsightsConfig(timezone_offset_minutes=480), START)  # 09:00 Pacific
    e.feed(phrase("hi sam", ALEX, pid="m0"))
    result = e.feed(phrase("can you send me the contract by friday", SAM, 2.0, pid="m1"))
    insight = only_insight(result)
    assert insight["type"] == "action_item"
    assert insight["assignee"] == ALEX.to_json()
    assert insight["dueBy"] == {"value": "2026-11-20T00:00:00-08:00"}
    (tag,) = insight["tags"]
    assert tag["type"] == "date" and tag["text"] == "by Friday"
    assert result.content[tag["beginOffset"] :].startswith("by Friday")
    assert tag["value"] == {"value": {"datetime": "2026-11-20"}}


def test_speaker_commitment_and_named_assignee() -> None:
    e = engine()
    mine = only_insight(e.feed(phrase("i'll update the roadmap tomorrow", ALEX)))
    assert mine["assignee"] == ALEX.to_json()
    named = only_insight(e.feed(phrase("priya is going to review the pull request", ALEX)))
    assert named["assignee"] == {"name": "Priya"}
    person = next(t for t in named["tags"] if t["type"] == "person")
    assert person["text"] == "Priya" and person["beginOffset"] == 0


def test_follow_up() -> None:
    insight = only_insight(engine().feed(phrase("let's schedule a follow up call next week")))
    assert insight["type"] == "follow_up"
    assert insight["dueBy"]["value"] == "2026-11-23T00:00:00+00:00"


def test_only_requested_insight_types_are_sent() -> None:
    e = engine(insight_types=frozenset({"action_item"}))
    assert of_type(e.feed(phrase("how long will the migration take")), "insight_response") == []
    assert of_type(e.feed(phrase("i'll send the deck")), "insight_response")


def test_confidence_threshold_drops_weak_insights() -> None:
    strict = engine(confidence_threshold=0.95)
    assert of_type(strict.feed(phrase("that's the latest version right")), "insight_response") == []
    lenient = engine(confidence_threshold=0.5)
    assert of_type(lenient.feed(phrase("that's the latest version right")), "insight_response")


def test_sentiment_on_every_message() -> None:
    result = engine().feed(phrase("i love the new dashboard"))
    assert result.sentiment["suggested"] == "positive"
    assert -1 <= result.sentiment["polarity"]["score"] <= 1


def test_tracker_response_shape() -> None:
    e = engine(trackers=(Tracker("CRM", ("Salesforce",)),))
    result = e.feed(phrase("are you guys using sales force right now", pid="t1"))
    (message,) = of_type(result, "tracker_response")
    assert message["isFinal"] is True and message["sequenceNumber"] == 1
    (tracker,) = message["trackers"]
    assert tracker["name"] == "CRM"
    (match,) = tracker["matches"]
    assert match["type"] == "vocabulary" and match["value"] == "Salesforce"
    (ref,) = match["messageRefs"]
    assert ref["id"] == "t1" and ref["text"] == result.content
    assert result.content[ref["offset"] :].startswith("sales force")
    assert match["insightRefs"][0]["id"] == only_insight(result)["id"]
    again = e.feed(phrase("salesforce again", pid="t2"))
    assert of_type(again, "tracker_response")[0]["sequenceNumber"] == 2


CONVERSATION = [
    "so we are looking at renewing our auto insurance policy",
    "the premium on the auto insurance went up by twenty percent last year",
    "do you offer a multi car discount for families",
    "yes we have a multi car discount and a safe driver discount",
    "what about roadside assistance is that included in the plan",
    "roadside assistance is included in the premium plan",
]


def test_topics_are_sent_when_they_change_and_not_when_unchanged() -> None:
    e = engine()
    sent: list[dict[str, Any]] = []
    for i, text in enumerate(CONVERSATION):
        sent += of_type(e.feed(phrase(text, pid=f"m{i}")), "topic_response")
    assert sent, "topics should appear during the conversation"
    topics = sent[-1]["topics"]
    phrases = {t["phrases"] for t in topics}
    assert "auto insurance" in phrases
    for topic in topics:
        assert set(topic) == {"id", "type", "phrases", "score", "messageReferences", "rootWords"}
        assert topic["type"] == "topic" and 0 < topic["score"] <= 1
        assert all(r["relation"] == "text instance" for r in topic["messageReferences"])
    final = [m for m in e.finish() if m["type"] == "topic_response"]
    # Nothing new since the last topic_response: finish() must not repeat it.
    assert final == [] or final[0]["topics"] != topics


def test_analytics_only_when_something_new_and_final_at_finish() -> None:
    e = engine()
    assert e.analytics() is None
    e.feed(phrase("hello there everyone", ALEX, 0.0))
    e.feed(phrase("hi alex good to see you", SAM, 0.5))  # overlaps Alex
    report = e.analytics()
    assert report is not None and report["type"] == "analytics_response"
    assert {m["name"] for m in report["members"]} == {"Alex Kim", "Sam Lee"}
    overlap = next(m for m in report["metrics"] if m["type"] == "total_overlap")
    assert overlap["seconds"] > 0
    assert e.analytics() is None
    final = e.finish()
    assert final[-1]["type"] == "analytics_response"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "okay", "東京で会いましょう ñandú café", "🙂 🙃", "word " * 10_000],
)
def test_bad_input_never_raises(text: str) -> None:
    e = engine(trackers=(Tracker("Empty", ()), Tracker("CRM", ("salesforce",))))
    began = time.perf_counter()
    result = e.feed(phrase(text))
    assert time.perf_counter() - began < 5.0  # stall guard, not a benchmark
    assert isinstance(result.content, str)
    assert result.sentiment["suggested"] in {"positive", "neutral", "negative"}
    e.analytics()
    e.finish()


def test_phrase_without_words_or_speaker() -> None:
    e = engine()
    result = e.feed(Phrase("x", "can you send me the deck", Speaker(), 1.0, 2.0))
    insight = only_insight(result)
    assert insight["from"] == {}
    assert "assignee" not in insight
    assert e.analytics() is not None


def test_broken_phrase_degrades_instead_of_raising() -> None:
    result = engine().feed(Phrase("x", None, ALEX, 0.0, 1.0))  # type: ignore[arg-type]
    assert result.messages == []


def test_engines_do_not_share_state() -> None:
    a, b = engine(), engine()
    for i, text in enumerate(CONVERSATION):
        a.feed(phrase(text, pid=f"a{i}"))
    assert b.analytics() is None
    assert b.finish() == []


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError):
        InsightsEngine(InsightsConfig(), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("timezone_offset", "due_by"),
    [
        (480, "2026-11-20T00:00:00-08:00"),  # Symbl's example value: US Pacific
        (-60, "2026-11-20T00:00:00+01:00"),  # CET: getTimezoneOffset() is -60
        (-540, "2026-11-20T00:00:00+09:00"),  # Tokyo
    ],
)
def test_due_dates_follow_symbls_timezone_sign(timezone_offset: int, due_by: str) -> None:
    e = InsightsEngine(InsightsConfig(timezone_offset_minutes=timezone_offset), START)
    insight = only_insight(e.feed(phrase("i'll send the contract by friday", ALEX)))
    assert insight["dueBy"] == {"value": due_by}


def test_tomorrow_is_resolved_in_the_clients_day() -> None:
    # 17:00 UTC on Wednesday is already 02:00 Thursday in Tokyo (getTimezoneOffset -540).
    tokyo = InsightsEngine(InsightsConfig(timezone_offset_minutes=-540), START)
    insight = only_insight(tokyo.feed(phrase("i'll call the customer tomorrow", ALEX)))
    assert insight["dueBy"] == {"value": "2026-11-20T00:00:00+09:00"}


def test_symbl_defaults_send_no_insights() -> None:
    from gateway.insights import SYMBL_DEFAULTS, parse_insights_config

    e = InsightsEngine(parse_insights_config({}, defaults=SYMBL_DEFAULTS), START)
    result = e.feed(phrase("can you send me the contract by friday"))
    assert of_type(result, "insight_response") == []
    assert result.content == "Can you send me the contract by Friday?"


def test_every_insight_carries_its_text() -> None:
    e = engine()
    for text in ("i'll update the roadmap", "let's sync again next week", "is that ready"):
        insight = only_insight(e.feed(phrase(text)))
        assert insight["text"] == insight["payload"]["content"]
        assert insight["text"][0].isupper() and insight["text"][-1] in ".?"
