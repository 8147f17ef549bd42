"""Stored rows -> the JSON shapes of Symbl's Conversation API (``/v1/conversations…``).

Field names and nesting follow Symbl's API reference (symblai/symbl-docs,
``docs/conversation-api/api-reference/*.md``); every difference is listed in
docs/conversation-api.md. Person objects (``from``, ``assignee``, ``members``) carry what
the gateway knows: ``id`` (participant id), ``name``, ``userId``, and ``email`` when the
userId is an e-mail address (Symbl's recommended userId, which its API echoed as ``email``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.insights.sentiment import suggested

from .queries import Row

JSON = dict[str, Any]
TRACKER_NAMESPACE = uuid.UUID("0f4f2b7e-6f0a-5c1e-9d61-2b3c7c1f9a10")


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as Symbl wrote times: ISO 8601 UTC, milliseconds, ``Z``."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def person(value: Mapping[str, Any] | None) -> JSON:
    """A stored ``{id, userId, name}`` (or participant row) as a Symbl person object."""
    if not value:
        return {}
    user_id = value.get("userId", value.get("user_id"))
    out: JSON = {}
    if value.get("id") is not None:
        out["id"] = value["id"]
    if value.get("name") is not None:
        out["name"] = value["name"]
    if user_id is not None:
        out["userId"] = user_id
        if "@" in user_id and " " not in user_id:
            out["email"] = user_id
    return out


def conversation(row: Row) -> JSON:
    """``GET /v1/conversations/{id}`` (and one entry of the list)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "name": row["name"] if row["name"] is not None else row["id"],
        "startTime": iso(row["start_ms"]),
        "endTime": iso(row["end_ms"]),  # null while the conversation is live
        "members": [person(m) for m in row.get("members", [])],
        "metadata": row["meta"] or {},
    }


def _seconds(ms: int) -> float:
    return round(ms / 1000, 2)


def message(row: Row, *, origin_ms: int, sentiment: bool, verbose: bool) -> JSON:
    """One entry of ``/messages``; word and Labs fields as Symbl's ``verbose=true`` gave them."""
    out: JSON = {
        "id": row["id"],
        "text": row["text"],
        "from": person(row["sender"]),
        "startTime": iso(row["start_ms"]),
        "endTime": iso(row["end_ms"]),
        "conversationId": row["conversation_id"],
        "phrases": [],
    }
    if verbose:
        out["timeOffset"] = _seconds(row["start_ms"] - origin_ms)
        out["duration"] = _seconds(row["end_ms"] - row["start_ms"])
    if sentiment and row["sentiment_score"] is not None:
        out["sentiment"] = {"polarity": {"score": row["sentiment_score"]},
                            "suggested": row["sentiment_suggested"]}
    out["words"] = _words(row, origin_ms, verbose)
    return out


def _words(row: Row, origin_ms: int, verbose: bool) -> list[JSON]:
    # Stored word times are seconds from the participant's stream start; the message's
    # startTime is the first word's, so each word is placed relative to it.
    words: list[Mapping[str, Any]] = row["words"] or []
    if not words:
        return []
    first = float(words[0].get("startTime", 0.0))
    out = []
    for word in words:
        start_ms = row["start_ms"] + round((float(word.get("startTime", first)) - first) * 1000)
        end_ms = row["start_ms"] + round((float(word.get("endTime", first)) - first) * 1000)
        item: JSON = {"word": word.get("word", ""), "startTime": iso(start_ms),
                      "endTime": iso(end_ms)}
        if verbose:
            if word.get("confidence") is not None:
                item["score"] = word["confidence"]
            item["timeOffset"] = _seconds(start_ms - origin_ms)
            item["duration"] = _seconds(end_ms - start_ms)
        out.append(item)
    return out


def _entity(tag: Mapping[str, Any]) -> JSON:
    """A real-time insight tag as a Conversation API entity."""
    value = tag.get("value", {})
    inner = value.get("value", value) if isinstance(value, Mapping) else value
    entity: JSON = {"type": tag.get("type"), "text": tag.get("text"),
                    "offset": tag.get("beginOffset", tag.get("offset"))}
    if tag.get("type") == "date" and isinstance(inner, Mapping) and "datetime" in inner:
        entity["value"] = inner["datetime"]
    else:
        entity["value"] = inner
    return entity


def due_by_utc(value: str | None) -> str | None:
    """``dueBy`` as the Conversation API gave it: the due moment in UTC (``…Z``)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return iso(round(moment.timestamp() * 1000))


def insight(row: Row) -> JSON:
    """One question, action item or follow-up, as in ``/insights`` and the typed routes."""
    out: JSON = {
        "id": row["id"],
        "text": row["text"],
        "type": row["type"],
        "score": row["confidence"],
        "messageIds": [row["message_id"]] if row["message_id"] else [],
        "entities": [_entity(t) for t in row["tags"] or []],
        "phrases": [],
        "from": person(row["sender"]),
    }
    if row["assignee"]:
        out["assignee"] = person(row["assignee"])
    due = due_by_utc(row["due_by"])
    if due is not None:
        out["dueBy"] = due
    return out


def topic(row: Row, *, sentiments: Mapping[str, float] | None,
          parent_refs: bool) -> JSON:
    out: JSON = {"id": row["id"], "text": row["text"], "type": "topic",
                 "score": row["score"], "messageIds": list(row["message_ids"] or [])}
    if sentiments is not None:
        # Symbl: a topic's sentiment is that of the messages it was talked about in.
        scores = [sentiments[m] for m in out["messageIds"] if m in sentiments]
        score = round(sum(scores) / len(scores), 4) if scores else 0.0
        out["sentiment"] = {"polarity": {"score": score}, "suggested": suggested(score)}
    if parent_refs:
        out["parentRefs"] = []  # no topic hierarchy is computed
    return out


def trackers(rows: Sequence[Row], insight_types: Mapping[str, str]) -> list[JSON]:
    """``/trackers-detected``: one entry per tracker, matches merged per vocabulary value."""
    by_tracker: dict[str, dict[tuple[str, str], JSON]] = {}
    for row in rows:
        matches = by_tracker.setdefault(row["tracker"], {})
        match = matches.setdefault((row["type"], row["value"]), {
            "type": row["type"], "value": row["value"], "messageRefs": [], "insightRefs": []})
        for ref in row["message_refs"] or []:
            if ref not in match["messageRefs"]:
                match["messageRefs"].append(ref)
        for ref in row["insight_refs"] or []:
            typed = {**ref, "type": insight_types.get(ref.get("id", ""), ref.get("type"))}
            if typed not in match["insightRefs"]:
                match["insightRefs"].append(typed)
    return [{"id": str(uuid.uuid5(TRACKER_NAMESPACE, name)), "name": name,
             "matches": list(matches.values())} for name, matches in by_tracker.items()]


def analytics(row: Row | None) -> JSON:
    """``/analytics``: the latest snapshot (the final one once the conversation ended)."""
    if row is None:
        return {"metrics": [], "members": []}
    return {"metrics": row["metrics"], "members": row["members"]}
