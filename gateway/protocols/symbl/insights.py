"""Symbl real-time API shapes for insights, topics, trackers and analytics.

One place for field names so the shapes can be checked against Symbl's docs (and tested)
without reading the engine's logic; the insights engine builds its messages with them.
"""

from __future__ import annotations

from typing import Any


def insight(
    *,
    insight_id: str,
    insight_type: str,
    content: str,
    confidence: float,
    sender: dict[str, str],
    message_id: str,
    assignee: dict[str, str] | None = None,
    due_by: str | None = None,
    tags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    # ``text`` sits beside ``type`` as in the insight_response example of Symbl's streaming
    # API reference (and its SDK snippets print ``insight.text``); it repeats the content.
    body: dict[str, Any] = {
        "id": insight_id,
        "type": insight_type,
        "text": content,
        "payload": {"content": content, "contentType": "text/plain"},
        "confidence": round(confidence, 3),
        "from": sender,
        "messageReference": {"id": message_id},
        "hints": [],
        "tags": tags or [],
        "dismissed": False,
    }
    if assignee:
        body["assignee"] = assignee
    if due_by:
        body["dueBy"] = {"value": due_by}
    return body


def date_tag(text: str, offset: int, day_iso: str) -> dict[str, Any]:
    return {
        "type": "date",
        "text": text,
        "beginOffset": offset,
        "value": {"value": {"datetime": day_iso}},
    }


def person_tag(text: str, offset: int, person: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "person",
        "text": text,
        "beginOffset": offset,
        "value": {"value": {**person, "assignee": True}},
    }


def insight_response(insights: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "insight_response", "insights": insights}


def topic_response(topics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "topic_response", "topics": topics}


def tracker_match(
    value: str, message_refs: list[dict[str, Any]], insight_refs: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "vocabulary",
        "value": value,
        "messageRefs": message_refs,
        "insightRefs": insight_refs,
    }


def tracker_response(
    sequence_number: int, trackers: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "type": "tracker_response",
        "isFinal": True,
        "sequenceNumber": sequence_number,
        "trackers": [{"name": name, "matches": matches} for name, matches in trackers.items()],
    }


def analytics_response(report: dict[str, Any]) -> dict[str, Any]:
    return {"type": "analytics_response", **report}
