"""What has been said in a conversation, as a console's list shows it.

The latest line, the sentiment trend, tallies of questions, action items and follow-ups with
the newest few, the top topics and tracker counts: read from Symbl-shaped results (data a
client's speech produced, so every field is checked and cut to size), bounded however long
the call runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LINE_CHARS = 280  # the latest line, cut: a list shows a glimpse, not a monologue
SENTIMENT_POINTS = 24  # the trend's last scores (a sparkline's worth)
TREND_WINDOW = 4  # compare the last few scores with the few before them
TREND_STEP = 0.15  # a change in mean score smaller than this is "steady"
POSITIVE_ABOVE, NEGATIVE_BELOW = 0.3, -0.3  # Symbl's suggested-label cut-offs
LATEST_INSIGHTS = 3  # per kind, newest last
MAX_TOPICS = 5
MAX_TRACKERS = 20
INSIGHT_KINDS = {"question": "questions", "action_item": "actionItems", "follow_up": "followUps"}


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def person(value: Any) -> dict[str, str]:
    """``{id, userId, name}`` as given, strings only, each cut to 128 characters."""
    value = mapping(value)
    return {k: str(value[k])[:128] for k in ("id", "userId", "name") if value.get(k) is not None}


def cut(text: Any, limit: int = LINE_CHARS) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Tally:
    """How many insights of one kind so far, and the newest few."""

    count: int = 0
    latest: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=LATEST_INSIGHTS))


class SpokenContent:
    """The said-so-far part of a summary; ``apply`` says whether it changed."""

    def __init__(self) -> None:
        self.latest_line: dict[str, Any] | None = None
        self.messages = 0
        self.scores: deque[float] = deque(maxlen=SENTIMENT_POINTS)
        self.score_sum = 0.0
        self.score_count = 0
        self.insights = {kind: Tally() for kind in INSIGHT_KINDS.values()}
        self.topics: list[str] = []
        self.trackers: dict[str, int] = {}

    def apply(self, kind: str, body: Mapping[str, Any]) -> bool:
        if kind == "message_response":
            return self._messages(body)
        if kind == "insight_response":
            return self._insights(body)
        if kind == "topic_response":
            return self._topics(body)
        if kind == "tracker_response":
            return self._trackers(body)
        return False  # partials, analytics, start/stop: nothing a list shows

    def _messages(self, body: Mapping[str, Any]) -> bool:
        changed = False
        for message in body.get("messages") or ():
            if not isinstance(message, Mapping):
                continue
            self.messages += 1
            self.latest_line = {
                "from": person(message.get("from")),
                "text": cut(mapping(message.get("payload")).get("content")),
                "time": str(mapping(message.get("duration")).get("startTime") or ""),
            }
            score = mapping(mapping(message.get("sentiment")).get("polarity")).get("score")
            if isinstance(score, int | float) and not isinstance(score, bool):
                score = max(-1.0, min(1.0, float(score)))
                self.scores.append(score)
                self.score_sum += score
                self.score_count += 1
            changed = True
        return changed

    def _insights(self, body: Mapping[str, Any]) -> bool:
        changed = False
        for insight in body.get("insights") or ():
            if not isinstance(insight, Mapping):
                continue
            key = INSIGHT_KINDS.get(str(insight.get("type")))
            if key is None:
                continue
            text = insight.get("text") or mapping(insight.get("payload")).get("content")
            item: dict[str, Any] = {"text": cut(text), "from": person(insight.get("from"))}
            if insight.get("assignee"):
                item["assignee"] = person(insight.get("assignee"))
            tally = self.insights[key]
            tally.count += 1
            tally.latest.append(item)
            changed = True
        return changed

    def _topics(self, body: Mapping[str, Any]) -> bool:
        topics = [cut(t.get("phrases"), 80) for t in body.get("topics") or ()
                  if isinstance(t, Mapping) and t.get("phrases")][:MAX_TOPICS]
        if topics == self.topics:
            return False
        self.topics = topics
        return True

    def _trackers(self, body: Mapping[str, Any]) -> bool:
        changed = False
        for tracker in body.get("trackers") or ():
            if not isinstance(tracker, Mapping) or not tracker.get("name"):
                continue
            name = cut(tracker["name"], 64)
            if name not in self.trackers and len(self.trackers) >= MAX_TRACKERS:
                continue
            matches = tracker.get("matches")
            self.trackers[name] = self.trackers.get(name, 0) + (
                len(matches) if isinstance(matches, list) else 1)
            changed = True
        return changed

    def sentiment(self) -> dict[str, Any]:
        """The mood now (mean of the last few lines), where it is heading, the points."""
        average = self.score_sum / self.score_count if self.score_count else None
        return sentiment_view(list(self.scores), average)

    def to_json(self) -> dict[str, Any]:
        return {
            "latestLine": dict(self.latest_line) if self.latest_line else None,
            "messages": self.messages,
            "sentiment": self.sentiment(),
            **{key: {"count": tally.count, "latest": list(tally.latest)}
               for key, tally in self.insights.items()},
            "topics": list(self.topics),
            "trackers": [{"name": k, "matches": v} for k, v in self.trackers.items()],
        }


def sentiment_view(recent: list[float], average: float | None) -> dict[str, Any]:
    """A summary's ``sentiment``: ``recent`` are the last scores (oldest first), ``average``
    the mean of all. Shared by live summaries and those rebuilt from the store."""
    recent = recent[-SENTIMENT_POINTS:]
    last = recent[-TREND_WINDOW:]
    before = recent[-2 * TREND_WINDOW:-TREND_WINDOW]
    trend = "steady"
    if last and before:
        delta = sum(last) / len(last) - sum(before) / len(before)
        if delta > TREND_STEP:
            trend = "improving"
        elif delta < -TREND_STEP:
            trend = "worsening"
    label = None
    if last:
        current = sum(last) / len(last)
        label = ("positive" if current > POSITIVE_ABOVE else
                 "negative" if current < NEGATIVE_BELOW else "neutral")
    return {"current": label, "trend": trend,
            "average": None if average is None else round(average, 3),
            "recent": [round(s, 3) for s in recent]}
