"""Results -> table rows: a pure translation, so it is tested without a database.

The store keeps what Symbl's Conversation API serves: conversations, members, final
messages (words, speaker, sentiment), insights, topics, tracker hits and analytics.
Partial transcripts and ``recognition_*`` messages are transient (each participant's own
live view; Symbl did not serve them after the call either) and are skipped, as are result
types this version does not know. A malformed result is rejected on its own: it never
costs the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.outputs.result import Result

Row = dict[str, Any]
MAX_ID = 128
STORED_TYPES = frozenset({"message_response", "insight_response", "topic_response",
                          "tracker_response", "analytics_response"})


class BadResult(ValueError):
    """A result whose body does not have the documented shape; the message names the field."""


def iso_ms(value: Any, where: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 time with an offset or ``Z``."""
    if not isinstance(value, str):
        raise BadResult(f"{where}: expected an ISO-8601 time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadResult(f"{where}: not an ISO-8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise BadResult(f"{where}: time without a UTC offset: {value[:40]!r}")
    return round(moment.timestamp() * 1000)


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise BadResult(f"{where}: expected an id string of 1-{MAX_ID} characters")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadResult(f"{where}: expected a string")
    return value.replace("\x00", "")  # PostgreSQL text cannot hold NUL; SQLite alike


def _opt_str(value: Any, limit: int | None = None) -> str | None:
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "")[:limit]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tenant(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise BadResult(f"tenantId: expected a string of 1-{MAX_ID} characters")
    return value


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadResult(f"{where}: expected an object")
    return value


def _optional_obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadResult(f"{where}: expected an array")
    return value


def _person(value: Any) -> Row | None:
    """A ``{id, userId, name}`` object reduced to its string fields (JSON-safe, bounded)."""
    if not isinstance(value, Mapping):
        return None
    return {k: value[k].replace("\x00", "") for k in ("id", "userId", "name")
            if isinstance(value.get(k), str)}


@dataclass
class ConversationChange:
    """What one batch does to a conversation row."""

    first_ms: int                       # earliest result time: start if never started
    last_ms: int = 0
    last_seq: int = 0
    started: Row | None = None          # conversation_started: name, tenant, start, meta
    ended_ms: int | None = None         # conversation_ended (unless started again after)


@dataclass
class Batch:
    """Rows for one transaction, grouped by statement so each runs as one executemany."""

    conversations: dict[str, ConversationChange] = field(default_factory=dict)
    members_seen: list[Row] = field(default_factory=list)     # insert if absent
    members_joined: list[Row] = field(default_factory=list)   # upsert: name, joined
    members_left: list[Row] = field(default_factory=list)     # upsert: left
    messages: list[Row] = field(default_factory=list)
    insights: list[Row] = field(default_factory=list)
    topics: dict[str, tuple[int, list[Row]]] = field(default_factory=dict)  # latest list
    tracker_hits: list[Row] = field(default_factory=list)
    analytics: list[Row] = field(default_factory=list)
    stored: int = 0
    skipped: int = 0
    rejected: list[tuple[Result, str]] = field(default_factory=list)


def build_batch(results: Iterable[Result]) -> Batch:
    batch = Batch()
    for result in results:
        try:
            _add(batch, result)
        except BadResult as exc:
            batch.rejected.append((result, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one odd body must not cost its batch
            batch.rejected.append((result, f"{type(exc).__name__}: {exc}"))
    return batch


def _add(batch: Batch, result: Result) -> None:
    body = result.body
    kind = body.get("type") if isinstance(body, Mapping) else None
    if result.kind == "symbl" and kind not in STORED_TYPES:
        batch.skipped += 1
        return
    cid = _id(result.conversation_id, "conversation_id")
    at_ms = round(result.at * 1000)
    rows: list[tuple[list[Row], Row]] = []  # validated fully before anything is added
    change = batch.conversations.get(cid)
    pending = ConversationChange(first_ms=at_ms) if change is None else None
    target = change or pending
    assert target is not None
    lifecycle: Row | None = None
    if result.kind == "lifecycle":
        lifecycle = _lifecycle(batch, rows, cid, body, result.seq, at_ms)
        if lifecycle is None:
            batch.skipped += 1
            return
    else:
        _symbl(batch, rows, cid, body, result.seq, at_ms)
    if pending is not None:
        batch.conversations[cid] = pending
    if lifecycle is not None:
        if "started" in lifecycle:
            target.started, target.ended_ms = lifecycle["started"], None
        if "ended_ms" in lifecycle:
            target.ended_ms = lifecycle["ended_ms"]
    target.first_ms = min(target.first_ms, at_ms)
    target.last_ms = max(target.last_ms, at_ms)
    target.last_seq = max(target.last_seq, result.seq)
    for table, row in rows:
        table.append(row)
    batch.stored += 1


def _lifecycle(batch: Batch, rows: list[tuple[list[Row], Row]], cid: str,
               body: Mapping[str, Any], seq: int, at_ms: int) -> Row | None:
    kind = body.get("type")
    if kind == "conversation_started":
        start = body.get("startTime")
        meta = body.get("metadata")
        return {"started": {
            "name": _opt_str(body.get("meetingTitle")),
            "tenant": _tenant(body.get("tenantId")),
            "connection_id": _id(body["connectionId"], "connectionId")
            if body.get("connectionId") is not None else None,
            "start_ms": iso_ms(start, "startTime") if start is not None else at_ms,
            "meta": dict(meta) if isinstance(meta, Mapping) else {},
        }}
    if kind == "conversation_ended":
        end = body.get("endTime")
        return {"ended_ms": iso_ms(end, "endTime") if end is not None else at_ms}
    if kind in ("participant_joined", "participant_left"):
        person = _obj(body.get("participant"), "participant")
        when = body.get("at")
        when_ms = iso_ms(when, "at") if when is not None else at_ms
        row = {"conversation_id": cid, "id": _id(person.get("id"), "participant.id"),
               "user_id": _opt_str(person.get("userId")), "name": _opt_str(person.get("name")),
               "seq": seq}
        if kind == "participant_joined":
            rows.append((batch.members_joined, {**row, "joined_ms": when_ms, "left_ms": None}))
        else:
            rows.append((batch.members_left, {**row, "joined_ms": None, "left_ms": when_ms}))
        return {}
    return None


def _symbl(batch: Batch, rows: list[tuple[list[Row], Row]], cid: str,
           body: Mapping[str, Any], seq: int, at_ms: int) -> None:
    kind = body["type"]
    if kind == "message_response":
        for i, message in enumerate(_list(body.get("messages"), "messages")):
            _message(batch, rows, cid, _obj(message, f"messages[{i}]"), seq, i)
    elif kind == "insight_response":
        for i, insight in enumerate(_list(body.get("insights"), "insights")):
            rows.append((batch.insights, _insight(cid, _obj(insight, f"insights[{i}]"), seq, i)))
    elif kind == "topic_response":
        topics = [_topic(cid, _obj(t, f"topics[{i}]"), seq, i, f"topics[{i}]")
                  for i, t in enumerate(_list(body.get("topics"), "topics"))]
        previous = batch.topics.get(cid)
        if previous is None or previous[0] < seq:
            batch.topics[cid] = (seq, topics)
    elif kind == "tracker_response":
        position = 0
        for i, tracker in enumerate(_list(body.get("trackers"), "trackers")):
            tracker = _obj(tracker, f"trackers[{i}]")
            name = _text(tracker.get("name"), f"trackers[{i}].name")
            for j, match in enumerate(_list(tracker.get("matches"), f"trackers[{i}].matches")):
                match = _obj(match, f"trackers[{i}].matches[{j}]")
                rows.append((batch.tracker_hits, {
                    "conversation_id": cid, "seq": seq, "position": position,
                    "sequence_number": body.get("sequenceNumber")
                    if isinstance(body.get("sequenceNumber"), int) else None,
                    "tracker": name, "type": _opt_str(match.get("type"), 32) or "vocabulary",
                    "value": _text(match.get("value"), f"trackers[{i}].matches[{j}].value"),
                    "message_refs": list(match.get("messageRefs") or []),
                    "insight_refs": list(match.get("insightRefs") or []),
                }))
                position += 1
    elif kind == "analytics_response":
        rows.append((batch.analytics, {
            "conversation_id": cid, "seq": seq, "at_ms": at_ms,
            "metrics": _list(body.get("metrics", []), "metrics"),
            "members": _list(body.get("members", []), "members"),
        }))


def _message(batch: Batch, rows: list[tuple[list[Row], Row]], cid: str,
             message: Mapping[str, Any], seq: int, position: int) -> None:
    where = f"messages[{position}]"
    sender = _person(message.get("from")) or {}
    duration = _obj(message.get("duration"), f"{where}.duration")
    metadata = _optional_obj(message.get("metadata"))
    sentiment = _optional_obj(message.get("sentiment"))
    polarity = _optional_obj(sentiment.get("polarity"))
    participant = sender.get("id")
    if participant is not None and not 0 < len(participant) <= MAX_ID:
        participant = None
    rows.append((batch.messages, {
        "conversation_id": cid, "id": _id(message.get("id"), f"{where}.id"), "seq": seq,
        "position": position, "participant_id": participant,
        "sender": sender,
        "text": _text(_obj(message.get("payload"), f"{where}.payload").get("content"),
                      f"{where}.payload.content"),
        "original_text": _opt_str(metadata.get("originalContent")),
        "start_ms": iso_ms(duration.get("startTime"), f"{where}.duration.startTime"),
        "end_ms": iso_ms(duration.get("endTime"), f"{where}.duration.endTime"),
        "words": [w for w in metadata.get("words") or [] if isinstance(w, Mapping)],
        "sentiment_score": _number(polarity.get("score")),
        "sentiment_suggested": _opt_str(sentiment.get("suggested"), 16),
    }))
    if participant is not None:
        rows.append((batch.members_seen, {
            "conversation_id": cid, "id": participant, "user_id": sender.get("userId"),
            "name": sender.get("name"), "seq": seq, "joined_ms": None, "left_ms": None}))


def _insight(cid: str, insight: Mapping[str, Any], seq: int, position: int) -> Row:
    where = f"insights[{position}]"
    payload = _obj(insight.get("payload"), f"{where}.payload")
    reference = insight.get("messageReference")
    due = insight.get("dueBy")
    return {
        "conversation_id": cid, "id": _id(insight.get("id"), f"{where}.id"), "seq": seq,
        "position": position, "type": _id(insight.get("type"), f"{where}.type")[:32],
        "text": _text(payload.get("content"), f"{where}.payload.content"),
        "confidence": _number(insight.get("confidence")),
        "message_id": _opt_str(reference.get("id")) if isinstance(reference, Mapping) else None,
        "sender": _person(insight.get("from")),
        "assignee": _person(insight.get("assignee")),
        "due_by": _opt_str(due.get("value"), 40) if isinstance(due, Mapping) else None,
        "tags": [t for t in insight.get("tags") or [] if isinstance(t, Mapping)],
    }


def _topic(cid: str, topic: Mapping[str, Any], seq: int, rank: int, where: str) -> Row:
    refs = topic.get("messageReferences") or []
    return {
        "conversation_id": cid, "id": _id(topic.get("id"), f"{where}.id"), "seq": seq,
        "rank": rank, "text": _text(topic.get("phrases"), f"{where}.phrases"),
        "score": _number(topic.get("score")),
        "message_ids": [r["id"] for r in refs if isinstance(r, Mapping)
                        and isinstance(r.get("id"), str)],
    }
