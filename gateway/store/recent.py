"""The console's recent list, read from the store: ended calls survive a restart.

``StoreRecent`` implements ``gateway.outputs.board.RecentConversations``. It keeps nothing
itself: the store already receives every result of every conversation, so ``remember`` has
nothing to do, and ``recent`` rebuilds the summaries a console lists (the same JSON shape as
``ConversationSummary.to_json``) from the stored rows of the most recently ended
conversations the asker may see. A fixed number of queries per call, whatever the limit:
the conversations, their members, and per-conversation aggregates cut down in SQL with
window functions (the last lines, the newest insights of each kind, the top topics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, select

from gateway.outputs.summary_content import (
    INSIGHT_KINDS,
    LATEST_INSIGHTS,
    LINE_CHARS,
    MAX_TOPICS,
    MAX_TRACKERS,
    SENTIMENT_POINTS,
    cut,
    person,
    sentiment_view,
)

from . import queries
from .access import Principal
from .schema import conversations, insights, messages, topics, tracker_hits
from .views import iso

if TYPE_CHECKING:
    from gateway.auth.policy import ConversationFilter

    from .store import Store

Row = dict[str, Any]


class StoreRecent:
    """Recently ended conversations, newest end first, from the conversation store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, summary: Mapping[str, Any]) -> None:
        """Nothing to keep: the store wrote the conversation's results as they happened."""

    async def recent(self, limit: int,
                     visible: ConversationFilter | None = None) -> list[Mapping[str, Any]]:
        principal = Principal(subject="console") if visible is None else Principal(
            subject="console", tenant=visible.tenant, conversation_ids=visible.ids)
        return await self.store.read(recent_summaries, principal, limit)


def recent_summaries(connection: Connection, principal: Principal,
                     limit: int) -> list[Mapping[str, Any]]:
    c = conversations.c
    ended = queries._rows(connection, select(conversations).where(
        principal.visible(), c.end_ms.is_not(None))
        .order_by(c.end_ms.desc(), c.id.desc()).limit(limit))
    ids = [row["id"] for row in ended]
    if not ids:
        return []
    members = queries.members_of(connection, ids)
    lines = _last_lines(connection, ids)
    scores = _last_scores(connection, ids)
    counts = _message_stats(connection, ids)
    tallies = _insight_tallies(connection, ids)
    top = _top_topics(connection, ids)
    hits = _tracker_counts(connection, ids)
    out: list[Mapping[str, Any]] = [
        _summary(row, members.get(row["id"], []), lines.get(row["id"]), scores.get(row["id"], []),
                 counts.get(row["id"], (0, None)), tallies.get(row["id"], {}),
                 top.get(row["id"], []), hits.get(row["id"], []))
        for row in ended]
    return out


def _ranked(table: Any, columns: Sequence[Any], ids: Sequence[str], order: Sequence[Any],
            keep: int, partition: Sequence[Any] = ()) -> Any:
    """``columns`` of the first ``keep`` rows of each conversation (and ``partition``) in
    ``order``. Only the columns a summary shows: the words of a line are the bulk of a row,
    and decoding them for nothing was most of the cost."""
    rank = func.row_number().over(partition_by=[table.c.conversation_id, *partition],
                                  order_by=list(order)).label("rank_")
    inner = select(table.c.conversation_id, *columns, rank).where(
        table.c.conversation_id.in_(list(ids))).subquery()
    return select(inner).where(inner.c.rank_ <= keep)


def _last_lines(connection: Connection, ids: Sequence[str]) -> dict[str, Row]:
    """Each conversation's latest line (with who said it)."""
    m = messages.c
    query = _ranked(messages, (m.text, m.sender, m.start_ms), ids,
                    (m.seq.desc(), m.position.desc()), 1)
    return {row["conversation_id"]: row for row in queries._rows(connection, query)}


def _last_scores(connection: Connection, ids: Sequence[str]) -> dict[str, list[float]]:
    """Each conversation's last sentiment scores, oldest first (the trend's points)."""
    m = messages.c
    query = _ranked(messages, (m.sentiment_score,), ids, (m.seq.desc(), m.position.desc()),
                    SENTIMENT_POINTS)
    out: dict[str, list[tuple[int, float]]] = {}
    for row in queries._rows(connection, query):
        if row["sentiment_score"] is not None:
            out.setdefault(row["conversation_id"], []).append(
                (row["rank_"], row["sentiment_score"]))
    return {cid: [score for _, score in sorted(points, reverse=True)]
            for cid, points in out.items()}


def _message_stats(connection: Connection,
                   ids: Sequence[str]) -> dict[str, tuple[int, float | None]]:
    m = messages.c
    query = select(m.conversation_id, func.count(), func.avg(m.sentiment_score)).where(
        m.conversation_id.in_(list(ids))).group_by(m.conversation_id)
    return {cid: (int(count), None if mean is None else float(mean))
            for cid, count, mean in connection.execute(query)}


def _insight_tallies(connection: Connection,
                     ids: Sequence[str]) -> dict[str, dict[str, tuple[int, list[Row]]]]:
    i = insights.c
    counts: dict[str, dict[str, int]] = {}
    for cid, kind, count in connection.execute(
            select(i.conversation_id, i.type, func.count()).where(
                i.conversation_id.in_(list(ids))).group_by(i.conversation_id, i.type)):
        counts.setdefault(cid, {})[kind] = int(count)
    latest: dict[str, dict[str, list[Row]]] = {}
    query = _ranked(insights, (i.type, i.text, i.sender, i.assignee), ids,
                    (i.seq.desc(), i.position.desc()), LATEST_INSIGHTS, partition=(i.type,))
    for row in queries._rows(connection, query):
        latest.setdefault(row["conversation_id"], {}).setdefault(row["type"], []).append(row)
    out: dict[str, dict[str, tuple[int, list[Row]]]] = {}
    for cid, kinds in counts.items():
        out[cid] = {kind: (count, sorted(latest.get(cid, {}).get(kind, []),
                                         key=lambda r: -r["rank_"]))
                    for kind, count in kinds.items()}
    return out


def _top_topics(connection: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    t = topics.c
    out: dict[str, list[str]] = {}
    query = select(t.conversation_id, t.text).where(
        and_(t.conversation_id.in_(list(ids)), t.rank < MAX_TOPICS)).order_by(
        t.conversation_id, t.rank)
    for cid, text in connection.execute(query):
        out.setdefault(cid, []).append(cut(text, 80))
    return out


def _tracker_counts(connection: Connection, ids: Sequence[str]) -> dict[str, list[Row]]:
    h = tracker_hits.c
    out: dict[str, list[Row]] = {}
    query = select(h.conversation_id, h.tracker, func.count(), func.min(h.seq)).where(
        h.conversation_id.in_(list(ids))).group_by(h.conversation_id, h.tracker).order_by(
        h.conversation_id, func.min(h.seq))
    for cid, name, count, _first in connection.execute(query):
        kept = out.setdefault(cid, [])
        if len(kept) < MAX_TRACKERS:
            kept.append({"name": cut(name, 64), "matches": int(count)})
    return out


def _summary(row: Row, members: list[Row], latest: Row | None, scores: list[float],
             stats: tuple[int, float | None],
             tallies: Mapping[str, tuple[int, list[Row]]], top: list[str],
             hits: list[Row]) -> Row:
    """One stored conversation in ``ConversationSummary.to_json``'s shape (ended)."""
    end = iso(row["end_ms"])
    return {
        "conversationId": row["id"],
        "tenantId": row["tenant"],
        "meetingTitle": row["name"],
        "state": "ended",
        "startTime": iso(row["start_ms"]),
        "endTime": end,
        "updatedAt": end,
        "participants": [{**person({"id": m["id"], "userId": m["user_id"], "name": m["name"]}),
                          "joinedAt": iso(m["joined_ms"]), "leftAt": iso(m["left_ms"]) or end,
                          "leftReason": None, "present": False, "state": {}}
                         for m in members],
        "latestLine": None if latest is None else {
            "from": person(latest["sender"]), "text": cut(latest["text"], LINE_CHARS),
            "time": iso(latest["start_ms"])},
        "messages": stats[0],
        "sentiment": sentiment_view(scores, stats[1]),
        **{key: _tally(tallies.get(kind)) for kind, key in INSIGHT_KINDS.items()},
        "topics": top,
        "trackers": hits,
        "stored": True,
    }


def _tally(found: tuple[int, list[Row]] | None) -> Row:
    if found is None:
        return {"count": 0, "latest": []}
    count, rows = found
    latest = []
    for r in rows:
        item: Row = {"text": cut(r["text"]), "from": person(r["sender"])}
        if r["assignee"]:
            item["assignee"] = person(r["assignee"])
        latest.append(item)
    return {"count": count, "latest": latest}
