"""Write a :class:`~gateway.store.rows.Batch` in one transaction; delete and purge conversations.

Runs in the store's single writer thread (blocking SQLAlchemy calls), so every change to
the database is serialised: a delete can never interleave with a batch that still writes
to the conversation being deleted.

Inserts are idempotent (``ON CONFLICT DO NOTHING`` on the ids the results carry), which
both databases spell the same way through SQLAlchemy's dialect ``insert``; that is the one
place the code looks at which database it talks to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .rows import Batch, Row
from .schema import (
    CHILD_TABLES,
    analytics,
    conversations,
    deletion_log,
    insights,
    messages,
    participants,
    topics,
    tracker_hits,
)


def _insert(connection: Connection, table: Table) -> Any:
    dialect: Callable[[Table], Any] = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)
    return dialect(table)


def _many(connection: Connection, statement: Any, rows: Sequence[Row]) -> None:
    if rows:
        connection.execute(statement, list(rows))


def write_batch(connection: Connection, batch: Batch) -> None:
    """Apply ``batch``; the caller owns the transaction."""
    _conversations_first(connection, batch)
    joined = _insert(connection, participants)
    _many(connection, joined.on_conflict_do_update(
        index_elements=["conversation_id", "id"],
        set_={"user_id": func.coalesce(joined.excluded.user_id, participants.c.user_id),
              "name": func.coalesce(joined.excluded.name, participants.c.name),
              "joined_ms": func.coalesce(participants.c.joined_ms, joined.excluded.joined_ms),
              "left_ms": None,
              # members are listed in order of joining, even if heard of before
              "seq": case((participants.c.seq < joined.excluded.seq, participants.c.seq),
                          else_=joined.excluded.seq)}), batch.members_joined)
    seen = _insert(connection, participants)
    _many(connection, seen.on_conflict_do_nothing(), batch.members_seen)
    left = _insert(connection, participants)
    _many(connection, left.on_conflict_do_update(
        index_elements=["conversation_id", "id"],
        set_={"left_ms": left.excluded.left_ms}), batch.members_left)
    for table, rows in ((messages, batch.messages), (insights, batch.insights),
                        (tracker_hits, batch.tracker_hits), (analytics, batch.analytics)):
        _many(connection, _insert(connection, table).on_conflict_do_nothing(), rows)
    for cid, (_seq, rows) in batch.topics.items():
        # A topic_response is the whole current list: it replaces the previous one.
        connection.execute(delete(topics).where(topics.c.conversation_id == cid))
        _many(connection, _insert(connection, topics).on_conflict_do_nothing(), rows)
    _conversations_last(connection, batch)


def _conversations_first(connection: Connection, batch: Batch) -> None:
    """Every conversation of the batch exists before its rows (foreign keys)."""
    fresh: list[Row] = [{"id": cid, "tenant": None, "name": None, "type": "meeting",
              "connection_id": None,
              "start_ms": change.first_ms, "end_ms": None, "updated_ms": change.last_ms,
              "last_seq": 0, "meta": {}}
             for cid, change in batch.conversations.items()]
    _many(connection, _insert(connection, conversations).on_conflict_do_nothing(), fresh)
    started = [{"id": cid, "type": "meeting", "end_ms": None, "updated_ms": change.last_ms,
                "last_seq": 0, **change.started}
               for cid, change in batch.conversations.items() if change.started is not None]
    upsert = _insert(connection, conversations)
    _many(connection, upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            # A conversation id used again (a new call under the same id) continues the
            # same conversation: the earliest start stays, the first tenant stays.
            "start_ms": case((conversations.c.start_ms < upsert.excluded.start_ms,
                              conversations.c.start_ms), else_=upsert.excluded.start_ms),
            "name": func.coalesce(upsert.excluded.name, conversations.c.name),
            "tenant": func.coalesce(conversations.c.tenant, upsert.excluded.tenant),
            "connection_id": func.coalesce(upsert.excluded.connection_id,
                                           conversations.c.connection_id),
            "meta": upsert.excluded.meta,
            "end_ms": None,
        }), started)


def _conversations_last(connection: Connection, batch: Batch) -> None:
    for cid, change in batch.conversations.items():
        values: dict[str, Any] = {
            "updated_ms": case((conversations.c.updated_ms < change.last_ms, change.last_ms),
                               else_=conversations.c.updated_ms),
            "last_seq": case((conversations.c.last_seq < change.last_seq, change.last_seq),
                             else_=conversations.c.last_seq),
        }
        if change.ended_ms is not None:
            values["end_ms"] = change.ended_ms
        connection.execute(update(conversations).where(conversations.c.id == cid).values(values))


def delete_conversation(connection: Connection, conversation_id: str, *, reason: str,
                        actor: str | None) -> dict[str, int] | None:
    """Remove a conversation and everything stored under it, and log the deletion.

    Returns rows removed per table, or ``None`` when there was no such conversation (then
    nothing is logged). The caller owns the transaction.
    """
    tenant = connection.execute(select(conversations.c.tenant).where(
        conversations.c.id == conversation_id)).first()
    if tenant is None:
        return None
    removed: dict[str, int] = {}
    for table in CHILD_TABLES:
        done = connection.execute(delete(table).where(table.c.conversation_id == conversation_id))
        removed[table.name] = done.rowcount
    connection.execute(delete(conversations).where(conversations.c.id == conversation_id))
    removed["conversations"] = 1
    connection.execute(_insert(connection, deletion_log).values(
        conversation_id=conversation_id, tenant=tenant[0], deleted_ms=int(time.time() * 1000),
        reason=reason, actor=actor, removed=removed))
    return removed


def expired_conversations(connection: Connection, cutoff_ms: int, limit: int) -> list[str]:
    """Ids of conversations whose last activity is older than ``cutoff_ms``.

    Last activity is the end time, or the last write for a conversation that never
    ended (its gateway died): a live conversation keeps writing and is never purged.
    """
    last = func.coalesce(conversations.c.end_ms, conversations.c.updated_ms)
    query = (select(conversations.c.id)
             .where(conversations.c.updated_ms < cutoff_ms, last < cutoff_ms)
             .order_by(conversations.c.updated_ms).limit(limit))
    return [row[0] for row in connection.execute(query)]
