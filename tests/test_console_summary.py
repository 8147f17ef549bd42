"""The console's conversation summaries: what a list shows, read from real result shapes.

Results are built with the gateway's own Symbl builders (``messages``, ``insights``) and the
lifecycle bodies the conversation publishes, so the summary is pinned against what a call
really produces; the whole gateway path is pinned in test_console_api.py.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.outputs.base import ConversationInfo
from gateway.outputs.board import ConversationBoard, RecentInMemory
from gateway.outputs.result import Result
from gateway.outputs.summary import ConversationSummary, SummarySink, summary_sink_factory
from gateway.protocols.symbl import insights as shapes
from gateway.protocols.symbl import lifecycle, messages
from gateway.transcript import Phrase, Speaker, Word

ALICE = Speaker(user_id="alice@example.com", name="Alice", id="p-alice")
BOB = Speaker(name="Bob", id="p-bob")
START = datetime(2026, 11, 21, 7, 47, 43, tzinfo=UTC)


class Feed:
    """Publishes bodies as a conversation would (seq from 1, lifecycle marked)."""

    def __init__(self, sink: SummarySink | ConversationSummary, cid: str = "c1") -> None:
        self.sink = sink
        self.cid = cid
        self.seq = itertools.count(1)

    def send(self, body: dict[str, Any], *, kind: str = "symbl", origin: str | None = None,
             audience: str = "conversation") -> bool | None:
        result = Result.of(self.cid, body, next(self.seq), kind=kind,  # type: ignore[arg-type]
                           origin=origin, audience=audience)  # type: ignore[arg-type]
        if isinstance(self.sink, ConversationSummary):
            return self.sink.apply(result)
        self.sink.send(result)
        return None

    def life(self, kind: str, **fields: Any) -> bool | None:
        return self.send({"type": kind, "conversationId": self.cid, **fields}, kind="lifecycle")

    def joined(self, speaker: Speaker) -> bool | None:
        return self.life("participant_joined", participant=speaker.to_json(),
                         at="2026-11-21T07:47:44.000Z")

    def said(self, speaker: Speaker, text: str, score: float = 0.0, at: float = 1.0) -> bool | None:
        words = tuple(Word(w, at + i * 0.3, at + i * 0.3 + 0.25, 0.9)
                      for i, w in enumerate(text.split()))
        phrase = Phrase(f"m-{text[:8]}-{at}", text, speaker, at, at + len(words) * 0.3, words)
        sentiment = {"polarity": {"score": score}, "suggested": "neutral"}
        return self.send(messages.message_response(phrase, content=text.capitalize() + ".",
                                                   stream_start=START, sentiment=sentiment))

    def insight(self, kind: str, text: str, speaker: Speaker) -> bool | None:
        return self.send(shapes.insight_response([shapes.insight(
            insight_id=f"i-{text[:6]}", insight_type=kind, content=text, confidence=0.9,
            sender=speaker.to_json(), message_id="m")]))


def test_a_call_as_the_list_shows_it() -> None:
    summary = ConversationSummary("c1")
    feed = Feed(summary)
    assert feed.life("conversation_started", meetingTitle="Billing",
                     startTime="2026-11-21T07:47:43.000Z")
    feed.joined(ALICE)
    feed.joined(BOB)
    feed.said(ALICE, "thanks for calling how can i help", 0.4)
    feed.said(BOB, "what is the price of the new plan", 0.0, at=3.0)
    feed.insight("question", "What is the price of the new plan?", BOB)
    feed.insight("action_item", "Can you send me the invoice by Friday?", ALICE)
    feed.send(shapes.topic_response([{"phrases": "new plan", "score": 1.0},
                                     {"phrases": "price", "score": 0.8}]))
    feed.send(shapes.tracker_response(1, {"Pricing": [shapes.tracker_match("price", [], [])]}))
    view = summary.to_json()

    assert view["conversationId"] == "c1" and view["meetingTitle"] == "Billing"
    assert view["state"] == "live" and view["startTime"] == "2026-11-21T07:47:43.000Z"
    assert [(p["name"], p["present"]) for p in view["participants"]] == [("Alice", True),
                                                                        ("Bob", True)]
    assert view["participants"][0]["userId"] == "alice@example.com"
    assert view["latestLine"]["from"]["name"] == "Bob"
    assert view["latestLine"]["text"] == "What is the price of the new plan."
    assert view["latestLine"]["time"] == "2026-11-21T07:47:46.000Z"
    assert view["messages"] == 2
    assert view["questions"] == {"count": 1, "latest": [
        {"text": "What is the price of the new plan?", "from": BOB.to_json()}]}
    assert view["actionItems"]["count"] == 1 and view["followUps"]["count"] == 0
    assert view["topics"] == ["new plan", "price"]
    assert view["trackers"] == [{"name": "Pricing", "matches": 1}]
    assert view["sentiment"]["recent"] == [0.4, 0.0]
    json.dumps(view)  # what the API sends is plain JSON

    feed.life("participant_left", participant=BOB.to_json(), reason="dropped",
              at="2026-11-21T07:48:00.000Z")
    bob = summary.to_json()["participants"][1]
    assert bob["present"] is False and bob["leftAt"] == "2026-11-21T07:48:00.000Z"
    assert bob["leftReason"] == "dropped"  # the connection was lost, as opposed to "left"
    feed.life("conversation_ended", endTime="2026-11-21T07:48:05.000Z")
    ended = summary.to_json()
    assert ended["state"] == "ended" and ended["endTime"] == "2026-11-21T07:48:05.000Z"
    assert not any(p["present"] for p in ended["participants"])
    assert summary.replay() == []  # the replay is dropped; the summary stays


def test_partials_and_analytics_do_not_change_what_a_list_shows() -> None:
    summary = ConversationSummary("c1")
    feed = Feed(summary)
    feed.joined(ALICE)
    version, view = summary.version, summary.to_json()
    for text in ("can", "can you", "can you hear"):
        changed = feed.send(messages.recognition_result(
            transcript=text, punctuated=text, is_final=False, speaker=ALICE),
            origin=ALICE.id, audience="participant")
        assert changed is False
    assert feed.send(shapes.analytics_response({"metrics": [], "members": []})) is False
    assert feed.send(lifecycle.recognition_started("c1"), origin=ALICE.id,
                     audience="participant") is False
    assert summary.version == version and summary.to_json() is view  # built once per version


def test_sentiment_trend_from_the_last_lines() -> None:
    summary = ConversationSummary("c1")
    feed = Feed(summary)
    assert summary.to_json()["sentiment"] == {"current": None, "trend": "steady",
                                              "average": None, "recent": []}
    for score in (-0.6, -0.5, -0.7, -0.4):
        feed.said(ALICE, "this is not working", score)
    assert summary.content.sentiment()["current"] == "negative"
    for score in (0.5, 0.6, 0.7, 0.4):
        feed.said(ALICE, "great that fixed it", score)
    sentiment = summary.content.sentiment()
    assert sentiment["current"] == "positive" and sentiment["trend"] == "improving"
    assert sentiment["average"] == 0.0
    for score in (-0.5, -0.5, -0.5, -0.5):
        feed.said(ALICE, "oh no it broke again", score)
    assert summary.content.sentiment()["trend"] == "worsening"
    for _ in range(100):
        feed.said(ALICE, "fine", 0.1)
    assert summary.content.sentiment()["trend"] == "steady"
    assert len(summary.content.sentiment()["recent"]) == 24


def test_participant_state_in_every_shape_it_may_take() -> None:
    summary = ConversationSummary("c1")
    feed = Feed(summary)
    feed.joined(ALICE)
    assert feed.life("participant_state", participant=ALICE.to_json(), muted=True)
    assert summary.participants["p-alice"]["state"] == {"muted": True}
    assert feed.life("participant_state", participant=ALICE.to_json(),
                     state={"muted": False, "speaking": True})
    assert summary.participants["p-alice"]["state"] == {"muted": False, "speaking": True}
    assert feed.life("participant_state", participant=ALICE.to_json(), state="reconnecting")
    assert summary.participants["p-alice"]["state"]["state"] == "reconnecting"
    # Repeating a state is no change; unknown people and odd values are ignored.
    assert not feed.life("participant_state", participant=ALICE.to_json(), state="reconnecting")
    assert not feed.life("participant_state", participant={"id": "nobody"}, muted=True)
    assert not feed.life("participant_state", participant=ALICE.to_json(),
                         state={"nested": {"x": 1}, "list": [1, 2]})
    feed.life("participant_left", participant=ALICE.to_json())
    assert summary.participants["p-alice"]["state"] == {}


@pytest.mark.parametrize("body", [
    {"type": "message_response", "messages": "not a list"},
    {"type": "message_response", "messages": [None, 3, {"payload": 7, "from": "x",
                                                        "sentiment": {"polarity": "high"}}]},
    {"type": "insight_response", "insights": [{"type": "question", "payload": None}, "x"]},
    {"type": "topic_response", "topics": [{"phrases": None}, 5]},
    {"type": "tracker_response", "trackers": [{"name": None}, {"name": "T", "matches": 3}]},
])
def test_odd_bodies_are_read_without_raising(body: dict[str, Any]) -> None:
    summary = ConversationSummary("c1")
    Feed(summary).send(body)
    json.dumps(summary.to_json())


def test_memory_is_bounded_however_long_the_call() -> None:
    summary = ConversationSummary("c1")
    feed = Feed(summary)
    for n in range(100):  # people come and go: the roster forgets those who left first
        speaker = Speaker(name=f"P{n}", id=f"p{n}")
        feed.joined(speaker)
        if n % 10:
            feed.life("participant_left", participant=speaker.to_json())
    assert len(summary.participants) == 32
    present = [k for k, p in summary.participants.items() if p["present"]]
    assert present == [f"p{n}" for n in range(0, 100, 10)]  # nobody present is forgotten
    assert "p99" in summary.participants and "p1" not in summary.participants
    for n in range(1000):
        feed.said(ALICE, f"line number {n} " + "word " * 70, 0.1, at=float(n))
        feed.insight("question", f"question {n}?", ALICE)
        feed.send(shapes.tracker_response(n, {f"T{n % 40}": [{"value": "x"}]}))
        feed.send(shapes.analytics_response({"metrics": [], "members": []}))
    view = summary.to_json()
    assert len(view["latestLine"]["text"]) <= 280
    assert len(view["questions"]["latest"]) == 3 and view["questions"]["count"] == 1000
    assert len(view["trackers"]) == 20
    replay = summary.replay()
    kinds = [r["type"] for r in replay]
    assert kinds.count("message_response") == 200 and kinds.count("insight_response") == 100
    assert kinds.count("tracker_response") == 50 and kinds.count("analytics_response") == 1
    # The replay keeps publish order, so a late console renders it like a live one.
    last = replay[-4:]
    assert [r["type"] for r in last] == ["message_response", "insight_response",
                                         "tracker_response", "analytics_response"]


class Watcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def notify(self, summary: ConversationSummary) -> None:
        self.seen.append((summary.id, "ended" if summary.ended else "live"))


async def test_the_board_moves_ended_calls_to_a_bounded_recent_list() -> None:
    board = ConversationBoard(RecentInMemory(capacity=3))
    watcher = Watcher()
    board.watch(watcher)
    make = summary_sink_factory(board)
    sinks = [make(ConversationInfo(f"c{n}")) for n in range(5)]
    assert [s.id for s in board.live()] == ["c4", "c3", "c2", "c1", "c0"]
    for n, sink in enumerate(sinks):
        feed = Feed(sink, f"c{n}")  # type: ignore[arg-type]
        feed.joined(ALICE)
        feed.said(ALICE, "hello there")
        feed.send(messages.recognition_result(transcript="x", punctuated="x", is_final=False,
                                              speaker=ALICE))  # no notification for this
        feed.life("conversation_ended", endTime=f"2026-11-21T08:00:0{n}.000Z")
        await sink.close()  # the bus closes it after the end: not a second move
    assert board.live() == []
    recent = await board.recent(10)
    assert [r["conversationId"] for r in recent] == ["c4", "c3", "c2"]
    assert all(r["state"] == "ended" for r in recent)
    assert watcher.seen[:5] == [(f"c{n}", "live") for n in range(5)]
    assert watcher.seen.count(("c0", "ended")) == 1
    assert watcher.seen.count(("c0", "live")) == 3  # started, joined, said
    board.unwatch(watcher)


async def test_a_new_call_under_an_ended_id_is_a_new_entry() -> None:
    board = ConversationBoard()
    make = summary_sink_factory(board)
    first = make(ConversationInfo("room"))
    second = make(ConversationInfo("room"))  # created while the first is still finishing
    await first.close()  # the old one's end must not remove the new one
    assert board.get("room") is second.summary  # type: ignore[attr-defined]
    await second.close()
    assert [r["conversationId"] for r in await board.recent()] == ["room", "room"]


def test_a_broken_watcher_or_body_never_reaches_the_publisher() -> None:
    board = ConversationBoard()

    class Broken:
        def notify(self, summary: ConversationSummary) -> None:
            raise RuntimeError("boom")

    board.watch(Broken())
    sink = SummarySink(board, ConversationInfo("c1"))
    feed = Feed(sink)
    feed.joined(ALICE)  # the watcher raises: logged, not raised
    sink.send(Result("c1", {"type": "message_response", "messages": [{}]}, "{}", 99))
    assert sink.summary.content.messages == 1
