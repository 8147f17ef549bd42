"""The console's recent list rebuilt from the store equals what the live summary showed.

The same published results go into a live ``ConversationSummary`` (what the console showed
while the call ran) and into the store; ``StoreRecent`` must give the ended call the same
summary, per tenant and caller scope, newest end first, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.auth import ConversationFilter
from gateway.outputs.summary import ConversationSummary
from gateway.store.recent import StoreRecent
from tests.store.conftest import OpenStore
from tests.store.stream import Conversation, build_conversation

NOW = datetime.now(UTC).replace(microsecond=0)
SAME = ("conversationId", "tenantId", "meetingTitle", "state", "startTime", "endTime",
        "latestLine", "messages", "sentiment", "questions", "actionItems", "followUps",
        "topics", "trackers")


def live_view(conversation: Conversation) -> dict[str, Any]:
    summary = ConversationSummary(conversation.id, conversation.title)
    for result in conversation.results:
        summary.apply(result)
    return summary.to_json()


async def test_the_recent_list_from_the_store_shows_what_the_live_summary_showed(
        open_store: OpenStore) -> None:
    calls = [build_conversation(f"call-{n}", started=NOW - timedelta(hours=5 - n),
                                tenant=("acme", "globex")[n % 2], lines=4 + 2 * n,
                                title=f"Call {n}")
             for n in range(4)]
    calls.append(build_conversation("still-live", started=NOW, tenant="acme", ended=False))
    store = await open_store()
    for call in calls:
        for result in call.results:
            store.sink.send(result)
    await store.sink.drain(10)
    recent = StoreRecent(store)

    everything = await recent.recent(50)
    assert [s["conversationId"] for s in everything] == ["call-3", "call-2", "call-1", "call-0"]
    for stored, call in zip(everything, reversed(calls[:4]), strict=True):
        live = live_view(call)
        assert {k: stored[k] for k in SAME} == {k: live[k] for k in SAME}, call.id
        assert [(p["id"], p["name"], p["present"]) for p in stored["participants"]] == [
            (p["id"], p["name"], p["present"]) for p in live["participants"]]
        assert stored["stored"] is True
    # Not vacuous: the calls said things worth listing.
    longest = everything[0]
    assert longest["messages"] == 10 and longest["latestLine"]["text"]
    assert longest["questions"]["count"] and longest["actionItems"]["latest"]
    assert longest["topics"] and longest["trackers"] and longest["sentiment"]["recent"]

    acme = await recent.recent(50, ConversationFilter(tenant="acme", ids=None))
    assert [s["conversationId"] for s in acme] == ["call-2", "call-0"]
    one = await recent.recent(50, ConversationFilter(tenant="acme", ids=frozenset({"call-0"})))
    assert [s["conversationId"] for s in one] == ["call-0"]
    assert [s["conversationId"] for s in await recent.recent(1)] == ["call-3"]
