"""Read queries behind the Conversation API, each narrowed to what a principal may see.

Every function takes a SQLAlchemy connection (run in the store's reader threads) and
returns plain rows (dicts); ``views.py`` turns them into Symbl's JSON shapes. A
conversation the principal may not see is reported exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from .access import Principal
from .listing import ListQuery
from .schema import (
    analytics,
    conversations,
    insights,
    messages,
    participants,
    topics,
    tracker_hits,
)

Row = dict[str, Any]


def _rows(connection: Connection, query: Any) -> list[Row]:
    return [dict(row._mapping) for row in connection.execute(query)]


def list_conversations(connection: Connection, principal: Principal,
                       query: ListQuery) -> list[Row]:
    """One page of conversations, each with its ``members``."""
    c = conversations.c
    in_window = and_(
        c.start_ms >= query.start_ms,
        or_(and_(c.end_ms.is_not(None), c.end_ms <= query.end_ms),
            and_(c.end_ms.is_(None), c.start_ms <= query.end_ms)))
    statement = select(conversations).where(principal.visible(), in_window)
    if query.participant is not None:
        p = participants.c
        statement = statement.where(exists().where(
            p.conversation_id == c.id,
            or_(p.id == query.participant, p.user_id == query.participant)))
    # Sorted as shown: a conversation without a title is listed under its id; live ones
    # (no end time yet) come last on both databases (their NULL defaults differ).
    key = func.coalesce(c.name, c.id) if query.sort == "name" else getattr(c, query.sort)
    if query.order == "desc":
        ordering = [key.desc().nulls_last(), c.id.desc()]
    else:
        ordering = [key.asc().nulls_last(), c.id.asc()]
    statement = statement.order_by(*ordering).limit(query.limit).offset(query.offset)
    page = _rows(connection, statement) if query.limit else []
    members = members_of(connection, [row["id"] for row in page])
    for row in page:
        row["members"] = members.get(row["id"], [])
    return page


def get_conversation(connection: Connection, principal: Principal,
                     conversation_id: str) -> Row | None:
    """The conversation with its ``members``, or None if absent or not visible."""
    found = _rows(connection, select(conversations).where(
        conversations.c.id == conversation_id, principal.visible()))
    if not found:
        return None
    row = found[0]
    row["members"] = members_of(connection, [conversation_id]).get(conversation_id, [])
    return row


def tenant_of(connection: Connection, conversation_id: str) -> tuple[bool, str | None]:
    """(stored at all, its tenant): what access checks need before a join or a watch."""
    found = connection.execute(select(conversations.c.tenant).where(
        conversations.c.id == conversation_id)).first()
    return (False, None) if found is None else (True, found[0])


def connection_of(connection: Connection, conversation_id: str) -> str | None:
    """The Symbl ``connectionId`` the conversation was opened under (None: none, or unknown)."""
    found = connection.execute(select(conversations.c.connection_id).where(
        conversations.c.id == conversation_id)).first()
    return None if found is None else found[0]


def members_of(connection: Connection, ids: Sequence[str]) -> dict[str, list[Row]]:
    if not ids:
        return {}
    out: dict[str, list[Row]] = {}
    statement = (select(participants).where(participants.c.conversation_id.in_(list(ids)))
                 .order_by(participants.c.conversation_id, participants.c.seq,
                           participants.c.id))
    for row in _rows(connection, statement):
        out.setdefault(row["conversation_id"], []).append(row)
    return out


def conversation_messages(connection: Connection, conversation_id: str) -> list[Row]:
    m = messages.c
    return _rows(connection, select(messages).where(m.conversation_id == conversation_id)
                 .order_by(m.seq, m.position))


def conversation_insights(connection: Connection, conversation_id: str,
                          types: Sequence[str] | None = None) -> list[Row]:
    i = insights.c
    statement = select(insights).where(i.conversation_id == conversation_id)
    if types is not None:
        statement = statement.where(i.type.in_(list(types)))
    return _rows(connection, statement.order_by(i.seq, i.position))


def conversation_topics(connection: Connection, conversation_id: str) -> list[Row]:
    return _rows(connection, select(topics).where(topics.c.conversation_id == conversation_id)
                 .order_by(topics.c.rank))


def message_sentiments(connection: Connection, conversation_id: str) -> dict[str, float]:
    """Sentiment score per message id (for topic sentiment)."""
    m = messages.c
    query = select(m.id, m.sentiment_score).where(
        m.conversation_id == conversation_id, m.sentiment_score.is_not(None))
    return {row[0]: row[1] for row in connection.execute(query)}


def conversation_trackers(connection: Connection, conversation_id: str) -> list[Row]:
    t = tracker_hits.c
    return _rows(connection, select(tracker_hits).where(t.conversation_id == conversation_id)
                 .order_by(t.seq, t.position))


def insight_types(connection: Connection, conversation_id: str) -> dict[str, str]:
    query = select(insights.c.id, insights.c.type).where(
        insights.c.conversation_id == conversation_id)
    return {row[0]: row[1] for row in connection.execute(query)}


def latest_analytics(connection: Connection, conversation_id: str) -> Row | None:
    a = analytics.c
    found = _rows(connection, select(analytics).where(a.conversation_id == conversation_id)
                  .order_by(a.seq.desc()).limit(1))
    return found[0] if found else None
