"""One function per Conversation API answer: visibility check, queries and shaping together.

Each runs in one reader thread on one connection, so an answer is built from a single
snapshot of a live conversation (the writer commits alongside). ``None`` means "no such
conversation for this principal" and becomes a 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from . import queries, views
from .access import Principal
from .listing import ListQuery

JSON = dict[str, Any]
INSIGHT_TYPES = ("question", "action_item", "follow_up")


def conversations_page(connection: Connection, principal: Principal, query: ListQuery) -> JSON:
    page = queries.list_conversations(connection, principal, query)
    return {"conversations": [views.conversation(row) for row in page]}


def conversation(connection: Connection, principal: Principal, cid: str) -> JSON | None:
    row = queries.get_conversation(connection, principal, cid)
    return views.conversation(row) if row is not None else None


def _visible(connection: Connection, principal: Principal, cid: str) -> bool:
    return queries.get_conversation(connection, principal, cid) is not None


def messages(connection: Connection, principal: Principal, cid: str, *,
             sentiment: bool, verbose: bool) -> JSON | None:
    if not _visible(connection, principal, cid):
        return None
    rows = queries.conversation_messages(connection, cid)
    origin = min((row["start_ms"] for row in rows), default=0)
    return {"messages": [views.message(row, origin_ms=origin, sentiment=sentiment,
                                       verbose=verbose) for row in rows]}


def insights(connection: Connection, principal: Principal, cid: str, *,
             key: str = "insights", types: Sequence[str] = INSIGHT_TYPES) -> JSON | None:
    if not _visible(connection, principal, cid):
        return None
    rows = queries.conversation_insights(connection, cid, types)
    return {key: [views.insight(row) for row in rows]}


def topics(connection: Connection, principal: Principal, cid: str, *,
           sentiment: bool, parent_refs: bool) -> JSON | None:
    if not _visible(connection, principal, cid):
        return None
    scores = queries.message_sentiments(connection, cid) if sentiment else None
    return {"topics": [views.topic(row, sentiments=scores, parent_refs=parent_refs)
                       for row in queries.conversation_topics(connection, cid)]}


def trackers(connection: Connection, principal: Principal, cid: str) -> list[JSON] | None:
    if not _visible(connection, principal, cid):
        return None
    rows = queries.conversation_trackers(connection, cid)
    types = queries.insight_types(connection, cid) if rows else {}
    return views.trackers(rows, types)


def analytics(connection: Connection, principal: Principal, cid: str) -> JSON | None:
    if not _visible(connection, principal, cid):
        return None
    return views.analytics(queries.latest_analytics(connection, cid))


def members(connection: Connection, principal: Principal, cid: str) -> JSON | None:
    row = queries.get_conversation(connection, principal, cid)
    if row is None:
        return None
    return {"members": [views.person(m) for m in row["members"]]}
