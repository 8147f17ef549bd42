"""The pure parts: results -> rows, list parameters, database URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.outputs.result import Result
from gateway.store.config import StoreConfig, StoreConfigError, describe, sqlalchemy_url
from gateway.store.listing import DEFAULT_WINDOW_MS, InvalidParameter, parse_list_query
from gateway.store.rows import build_batch, iso_ms
from gateway.store.views import due_by_utc, iso
from tests.store.stream import build_conversation

STARTED = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)


def test_a_call_becomes_rows_and_transient_messages_are_skipped() -> None:
    call = build_conversation("rows-1", started=STARTED, lines=10)
    batch = build_batch(call.results)
    assert not batch.rejected
    transient = sum(r.body.get("type") == "message" for r in call.results)
    assert batch.skipped == transient == 20
    assert batch.stored == len(call.results) - transient
    assert len(batch.messages) == 10 and len(batch.members_joined) == 2
    assert len(batch.members_left) == 2 and len(batch.members_seen) == 10
    change = batch.conversations["rows-1"]
    assert change.started is not None and change.started["name"] == "Renewal"
    assert change.started["start_ms"] == iso_ms(call.bodies("conversation_started")[0]
                                                ["startTime"], "t")
    assert change.ended_ms is not None and change.last_seq == call.results[-1].seq
    seq, topics = batch.topics["rows-1"]
    assert [t["id"] for t in topics] == [t["id"] for t in
                                         call.bodies("topic_response")[-1]["topics"]]
    first = batch.messages[0]
    assert first["sentiment_suggested"] in ("positive", "neutral", "negative")
    assert first["words"][0]["word"] == "hi" and first["participant_id"] == call.speakers[0].id


def test_started_after_ended_reopens_the_conversation() -> None:
    ended = Result.of("c", {"type": "conversation_ended", "endTime": "2026-01-01T00:00:01.000Z"},
                      5, kind="lifecycle", at=1.0)
    started = Result.of("c", {"type": "conversation_started", "startTime":
                              "2026-01-01T00:01:00.000Z", "tenantId": "t1"}, 6,
                        kind="lifecycle", at=2.0)
    batch = build_batch([ended, started])
    change = batch.conversations["c"]
    assert change.ended_ms is None and change.started is not None
    assert change.started["tenant"] == "t1"


@pytest.mark.parametrize("body", [
    {"type": "message_response", "messages": [{"id": "m", "payload": {"content": "x"},
                                               "duration": {"startTime": "2026-01-01T00:00:00",
                                                            "endTime": "2026-01-01T00:00:01"}}]},
    {"type": "message_response", "messages": [{"id": 5}]},
    {"type": "insight_response", "insights": [{"id": "i", "type": "question"}]},
    {"type": "tracker_response", "trackers": [{"name": "T", "matches": [{"value": 3}]}]},
    {"type": "topic_response", "topics": [{"id": "t"}]},
    {"type": "analytics_response", "metrics": {}},
])
def test_malformed_bodies_are_rejected_with_the_field_named(body: dict[str, object]) -> None:
    batch = build_batch([Result.of("c", body, 1)])
    assert batch.stored == 0 and len(batch.rejected) == 1 and batch.rejected[0][1]
    assert "c" not in batch.conversations


def test_list_defaults_follow_symbl() -> None:
    query = parse_list_query({}, now_ms=10 * DEFAULT_WINDOW_MS)
    assert (query.limit, query.offset, query.order, query.sort) == (20, 0, "asc", "start_ms")
    assert query.end_ms - query.start_ms == DEFAULT_WINDOW_MS
    with pytest.raises(InvalidParameter) as bad:
        parse_list_query({"limit": "-3"})
    assert bad.value.parameter == "limit"


def test_times_are_symbl_iso_and_due_dates_utc() -> None:
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert due_by_utc("2026-11-20T00:00:00-08:00") == "2026-11-20T08:00:00.000Z"
    assert due_by_utc(None) is None


def test_database_urls() -> None:
    assert sqlalchemy_url("postgresql://u:pw@db:5432/calls").drivername == "postgresql+psycopg"
    assert sqlalchemy_url("/var/lib/gw/calls.db").drivername == "sqlite"
    assert "pw" not in describe("postgresql://u:pw@db/calls")
    for bad in ("", "sqlite://", "mysql://x/y"):
        with pytest.raises(StoreConfigError):
            StoreConfig(bad)
    with pytest.raises(StoreConfigError):
        StoreConfig("x.db", retention_days=0)
