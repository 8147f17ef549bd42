"""Write real result streams into the store, read every route back over HTTP, compare.

Each test runs on SQLite and on a real PostgreSQL. "Compare" means: every final message,
insight, tracker hit, the last topics and analytics and every member the conversation
published is served, once, in publish order, with its fields intact.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.protocols.symbl.messages import iso
from tests.store.conftest import Api, OpenStore, StartApi
from tests.store.stream import Conversation, build_conversation

NOW = datetime.now(UTC).replace(microsecond=0)


def expected_messages(c: Conversation) -> list[dict[str, Any]]:
    return [m for body in c.bodies("message_response") for m in body["messages"]]


def expected_insights(c: Conversation) -> list[dict[str, Any]]:
    return [i for body in c.bodies("insight_response") for i in body["insights"]]


def expected_tracker_hits(c: Conversation) -> Counter[tuple[str, str, str]]:
    return Counter((t["name"], m["value"], ref["id"])
                   for body in c.bodies("tracker_response") for t in body["trackers"]
                   for m in t["matches"] for ref in m["messageRefs"])


async def check_everything(api: Api, c: Conversation) -> None:
    """Every route of conversation ``c`` against what ``c`` published."""
    status, conv = await api.get(f"/v1/conversations/{c.id}")
    assert status == 200
    assert conv["id"] == c.id and conv["type"] == "meeting" and conv["name"] == c.title
    assert conv["startTime"] == iso(c.started)
    ended = c.bodies("conversation_ended")
    assert conv["endTime"] == (ended[-1]["endTime"] if ended else None)
    assert [m["id"] for m in conv["members"]] == [s.id for s in c.speakers]

    status, body = await api.get(f"/v1/conversations/{c.id}/messages",
                                 sentiment="true", verbose="true")
    assert status == 200
    want = expected_messages(c)
    got = body["messages"]
    assert [m["id"] for m in got] == [m["id"] for m in want]  # none missing, none doubled
    for g, w in zip(got, want, strict=True):
        assert g["text"] == w["payload"]["content"]
        assert g["conversationId"] == c.id
        assert g["from"]["id"] == w["from"]["id"] and g["from"]["name"] == w["from"]["name"]
        assert g["from"]["userId"] == g["from"]["email"] == w["from"]["userId"]
        assert g["startTime"] == w["duration"]["startTime"]
        assert g["endTime"] == w["duration"]["endTime"]
        assert g["sentiment"] == w["sentiment"]
        assert [x["word"] for x in g["words"]] == [x["word"] for x in w["metadata"]["words"]]
        assert [x["score"] for x in g["words"]] == [x["confidence"] for x in w["metadata"]["words"]]
        assert g["words"][0]["startTime"] == g["startTime"]
        assert g["duration"] >= 0 and g["timeOffset"] >= 0
    # Offsets count from the earliest message; with several speakers that need not be the
    # first one published (a phrase started earlier may be finalised later).
    assert min(m["timeOffset"] for m in got) == 0.0

    status, plain = await api.get(f"/v1/conversations/{c.id}/messages")
    assert status == 200
    assert all("sentiment" not in m and "timeOffset" not in m and "score" not in m["words"][0]
               for m in plain["messages"])

    status, body = await api.get(f"/v1/conversations/{c.id}/insights")
    assert status == 200
    want_insights = expected_insights(c)
    assert [(i["id"], i["type"], i["text"]) for i in body["insights"]] == [
        (i["id"], i["type"], i["payload"]["content"]) for i in want_insights]
    for g, w in zip(body["insights"], want_insights, strict=True):
        assert g["messageIds"] == [w["messageReference"]["id"]]
        assert g["score"] == w["confidence"]
        assert ("assignee" in g) == ("assignee" in w)
        assert ("dueBy" in g) == ("dueBy" in w)
        assert [e["text"] for e in g["entities"]] == [t["text"] for t in w["tags"]]
    for route, key, kind in (("questions", "questions", "question"),
                             ("action-items", "actionItems", "action_item"),
                             ("follow-ups", "followUps", "follow_up")):
        status, typed = await api.get(f"/v1/conversations/{c.id}/{route}")
        assert status == 200
        assert [i["id"] for i in typed[key]] == [i["id"] for i in want_insights
                                                 if i["type"] == kind]

    status, body = await api.get(f"/v1/conversations/{c.id}/topics", sentiment="true")
    last_topics = c.bodies("topic_response")[-1]["topics"]
    assert [(t["id"], t["text"], t["score"]) for t in body["topics"]] == [
        (t["id"], t["phrases"], t["score"]) for t in last_topics]
    assert all(t["sentiment"]["suggested"] in ("positive", "neutral", "negative")
               for t in body["topics"])

    status, trackers = await api.get(f"/v1/conversations/{c.id}/trackers-detected")
    assert status == 200 and isinstance(trackers, list)
    got_hits = Counter((t["name"], m["value"], ref["id"])
                       for t in trackers for m in t["matches"] for ref in m["messageRefs"])
    assert got_hits == expected_tracker_hits(c)

    status, analytics = await api.get(f"/v1/conversations/{c.id}/analytics")
    last = c.bodies("analytics_response")[-1]
    assert analytics == {"metrics": last["metrics"], "members": last["members"]}

    status, members = await api.get(f"/v1/conversations/{c.id}/members")
    assert [(m["id"], m["name"], m["email"]) for m in members["members"]] == [
        (s.id, s.name, s.user_id) for s in c.speakers]


async def write(store: Any, *conversations: Conversation) -> None:
    for c in conversations:
        for result in c.results:
            store.sink.send(result)
    await store.sink.drain(10)


async def test_two_calls_every_route_and_after_restart(open_store: OpenStore,
                                                       start_api: StartApi) -> None:
    a = build_conversation("call-a", started=NOW - timedelta(hours=2))
    b = build_conversation("call-b", started=NOW - timedelta(hours=1), title="Support",
                           lines=7)
    store = await open_store()
    await write(store, a, b)
    assert store.sink.stats.rejected == 0 and store.sink.stats.dropped == 0
    api = await start_api(store)
    await check_everything(api, a)
    await check_everything(api, b)
    status, listing = await api.get("/v1/conversations")
    assert [c["id"] for c in listing["conversations"]] == ["call-a", "call-b"]

    await store.close()
    reopened = await open_store()
    api2 = await start_api(reopened)
    await check_everything(api2, a)
    await check_everything(api2, b)
    # Replaying the same results (a resent batch) doubles nothing.
    await write(reopened, a)
    await check_everything(api2, a)


async def test_live_conversation_answers_what_it_has(open_store: OpenStore,
                                                     start_api: StartApi) -> None:
    full = build_conversation("live-1", started=NOW - timedelta(minutes=5))
    cut = next(i for i, r in enumerate(full.results)
               if r.body.get("type") == "message_response") + 1
    store = await open_store()
    for result in full.results[:cut]:
        store.sink.send(result)
    await store.sink.drain(10)
    api = await start_api(store)
    status, conv = await api.get("/v1/conversations/live-1")
    assert status == 200 and conv["endTime"] is None
    status, body = await api.get("/v1/conversations/live-1/messages")
    assert [m["id"] for m in body["messages"]] == [expected_messages(full)[0]["id"]]
    status, analytics = await api.get("/v1/conversations/live-1/analytics")
    assert analytics == {"metrics": [], "members": []}
    status, listing = await api.get("/v1/conversations")
    assert [c["id"] for c in listing["conversations"]] == ["live-1"]
    for result in full.results[cut:]:
        store.sink.send(result)
    await store.sink.drain(10)
    await check_everything(api, full)


async def test_list_paging_order_window_and_participant(open_store: OpenStore,
                                                        start_api: StartApi) -> None:
    from tests.store.stream import with_id

    template = build_conversation("tpl", started=NOW - timedelta(days=1), lines=2)
    calls = [with_id(template, f"c-{n:02d}", started=NOW - timedelta(hours=30 - n))
             for n in range(12)]
    old = with_id(template, "old-call", started=NOW - timedelta(days=20))
    store = await open_store()
    await write(store, *calls, old)
    api = await start_api(store)

    seen: list[str] = []
    for offset in range(0, 15, 5):
        status, page = await api.get("/v1/conversations", limit="5", offset=str(offset))
        assert status == 200
        seen += [c["id"] for c in page["conversations"]]
    assert seen == [c.id for c in calls]  # default: last 7 days, oldest first
    status, page = await api.get("/v1/conversations", order="desc", limit="3")
    assert [c["id"] for c in page["conversations"]] == ["c-11", "c-10", "c-09"]
    status, page = await api.get("/v1/conversations", limit="0")
    assert page == {"conversations": []}
    status, page = await api.get("/v1/conversations", startTime=iso(NOW - timedelta(days=30)),
                                 limit="100")
    assert [c["id"] for c in page["conversations"]][0] == "old-call"
    status, page = await api.get("/v1/conversations",
                                 startTime=iso(NOW - timedelta(hours=21, minutes=30)),
                                 endTime=iso(NOW - timedelta(hours=20, minutes=30)))
    assert [c["id"] for c in page["conversations"]] == ["c-09"]  # started and ended inside
    status, page = await api.get("/v1/conversations", sort="conversation.name", order="desc",
                                 limit="1")
    assert page["conversations"][0]["id"] == "c-11"
    # Every copy has the same speakers' user ids but its own participant ids.
    status, page = await api.get("/v1/conversations", participant="alex@example.com",
                                 limit="100")
    assert len(page["conversations"]) == 12
    status, page = await api.get("/v1/conversations", participant="nobody@example.com")
    assert page == {"conversations": []}


async def test_sorting_by_end_time_and_name(open_store: OpenStore, start_api: StartApi) -> None:
    from tests.store.stream import with_id

    untitled = build_conversation("zz-untitled", started=NOW - timedelta(hours=3), lines=2,
                                  title=None)
    early = with_id(untitled, "a-early", started=NOW - timedelta(hours=2))
    live = with_id(untitled, "m-live", started=NOW - timedelta(hours=1))
    live.results = [r for r in live.results if r.body.get("type") != "conversation_ended"]
    store = await open_store()
    await write(store, untitled, early, live)
    api = await start_api(store)
    ids = {}
    for order in ("asc", "desc"):
        for sort in ("conversation.endTime", "conversation.name"):
            status, page = await api.get("/v1/conversations", sort=sort, order=order)
            assert status == 200
            ids[sort, order] = [c["id"] for c in page["conversations"]]
    assert ids["conversation.endTime", "asc"] == ["zz-untitled", "a-early", "m-live"]
    assert ids["conversation.endTime", "desc"] == ["a-early", "zz-untitled", "m-live"]
    assert ids["conversation.name", "asc"] == ["a-early", "m-live", "zz-untitled"]
    assert ids["conversation.name", "desc"] == ["zz-untitled", "m-live", "a-early"]
    status, conv = await api.get("/v1/conversations/m-live")
    assert conv["name"] == "m-live" and conv["endTime"] is None
