"""Bad input gets clear JSON errors; the authorisation hook narrows what is seen; DELETE.

On SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from gateway.http.conversations import ApiError
from gateway.store import Principal
from gateway.store.schema import deletion_log
from tests.store.conftest import OpenStore, StartApi
from tests.store.stream import build_conversation, with_id

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(("path", "params", "code", "names"), [
    ("/v1/conversations/bad%20id", {}, "invalid_conversation_id", "conversationId"),
    ("/v1/conversations/" + "x" * 129, {}, "invalid_conversation_id", "conversationId"),
    ("/v1/conversations/a$b/messages", {}, "invalid_conversation_id", "conversationId"),
    ("/v1/conversations", {"limit": "-1"}, "invalid_parameter", "limit"),
    ("/v1/conversations", {"limit": "ten"}, "invalid_parameter", "limit"),
    ("/v1/conversations", {"limit": "65537"}, "invalid_parameter", "limit"),
    ("/v1/conversations", {"offset": "1.5"}, "invalid_parameter", "offset"),
    ("/v1/conversations", {"offset": "9" * 40}, "invalid_parameter", "offset"),
    ("/v1/conversations", {"order": "sideways"}, "invalid_parameter", "order"),
    ("/v1/conversations", {"sort": "conversation.id"}, "invalid_parameter", "sort"),
    ("/v1/conversations", {"startTime": "yesterday"}, "invalid_parameter", "startTime"),
    ("/v1/conversations", {"endTime": "2026-11-21T07:47:43"}, "invalid_parameter", "endTime"),
    ("/v1/conversations", {"startTime": "2026-11-22T00:00:00Z",
                           "endTime": "2026-11-21T00:00:00Z"}, "invalid_parameter", "startTime"),
    ("/v1/conversations", {"filter": "conversation.name==x"}, "unsupported_parameter", "filter"),
    ("/v1/conversations", {"participant": "p" * 200}, "invalid_parameter", "participant"),
    ("/v1/conversations/call-1/messages", {"verbose": "maybe"}, "invalid_parameter", "verbose"),
    ("/v1/conversations/call-1/topics", {"parentRefs": "yes"}, "invalid_parameter", "parentRefs"),
])
async def test_bad_input_answers_400_naming_the_problem(
        open_store: OpenStore, start_api: StartApi, path: str, params: dict[str, str],
        code: str, names: str) -> None:
    store = await open_store()
    api = await start_api(store)
    status, body = await api.get(path, **params)
    assert status == 400
    assert body["code"] == code and names in body["message"]


async def test_unknown_and_method_errors_are_json(open_store: OpenStore,
                                                  start_api: StartApi) -> None:
    store = await open_store()
    api = await start_api(store)
    for route in ("", "/messages", "/insights", "/trackers-detected", "/analytics", "/members"):
        status, body = await api.get("/v1/conversations/no-such-call" + route)
        assert (status, body["code"]) == (404, "not_found"), route
        assert "no-such-call" in body["message"]
    status, body = await api.delete("/v1/conversations/no-such-call")
    assert (status, body) == (404, {"message": "The conversationId is either invalid or does "
                                               "not exist.", "code": "not_found"})
    status, body, headers = await api.request("POST", "/v1/conversations")
    assert (status, body["code"]) == (405, "method_not_allowed") and "GET" in headers["Allow"]
    status, body, _ = await api.request("GET", "/v1/conversations/call-1/summary")
    assert (status, body["code"]) == (404, "not_found")


async def test_tenant_scope_is_applied_in_the_queries(open_store: OpenStore,
                                                      start_api: StartApi) -> None:
    template = build_conversation("tpl", started=NOW - timedelta(hours=3), lines=3)
    x1 = with_id(template, "x-1", started=NOW - timedelta(hours=3), tenant="tenant-x")
    y1 = with_id(template, "y-1", started=NOW - timedelta(hours=2), tenant="tenant-y")
    x2 = with_id(template, "x-2", started=NOW - timedelta(hours=1), tenant="tenant-x")
    store = await open_store()
    for c in (x1, y1, x2):
        for r in c.results:
            store.sink.send(r)
    await store.sink.drain(10)
    calls: list[tuple[str, str | None]] = []

    async def authorize(request: web.Request, action: str, cid: str | None) -> Principal:
        token = request.headers.get("Authorization", "")
        calls.append((action, cid))
        if token == "Bearer agent-x":
            return Principal(subject="agent-x", tenant="tenant-x")
        if token == "Bearer caller-y1":
            return Principal(subject="caller", conversation_ids=frozenset({"y-1"}))
        if token == "Bearer slow":
            raise web.HTTPTooManyRequests(headers={"Retry-After": "7"})
        raise ApiError(401, "unauthorized", "A bearer token is required.",
                       {"WWW-Authenticate": "Bearer"})

    api = await start_api(store, authorize)
    status, body, headers = await api.request("GET", "/v1/conversations")
    assert (status, body["code"]) == (401, "unauthorized") and headers["WWW-Authenticate"]

    api.session.headers["Authorization"] = "Bearer agent-x"
    status, page = await api.get("/v1/conversations", limit="1", offset="1")
    assert [c["id"] for c in page["conversations"]] == ["x-2"]  # paging counts only X's
    status, page = await api.get("/v1/conversations")
    assert [c["id"] for c in page["conversations"]] == ["x-1", "x-2"]
    status, body = await api.get("/v1/conversations/y-1/messages")
    assert (status, body["code"]) == (404, "not_found")  # another tenant's: as if absent
    status, body = await api.delete("/v1/conversations/y-1")
    assert status == 404
    status, body = await api.get("/v1/conversations/x-1/messages")
    assert status == 200 and len(body["messages"]) == 3

    api.session.headers["Authorization"] = "Bearer caller-y1"
    status, page = await api.get("/v1/conversations")
    assert [c["id"] for c in page["conversations"]] == ["y-1"]
    status, _ = await api.get("/v1/conversations/x-2")
    assert status == 404

    api.session.headers["Authorization"] = "Bearer slow"
    status, body, headers = await api.request("GET", "/v1/conversations/x-1")
    assert (status, body["code"], headers["Retry-After"]) == (429, "too_many_requests", "7")
    assert ("list", None) in calls and ("read", "x-1") in calls and ("delete", "y-1") in calls


async def test_delete_removes_everything_and_is_logged(open_store: OpenStore,
                                                       start_api: StartApi) -> None:
    keep = build_conversation("keep-1", started=NOW - timedelta(hours=2), lines=4)
    gone = with_id(keep, "gone-1", started=NOW - timedelta(hours=1))
    store = await open_store()
    for c in (keep, gone):
        for r in c.results:
            store.sink.send(r)
    await store.sink.drain(10)

    async def as_admin(request: web.Request, action: str, cid: str | None) -> Principal:
        return Principal(subject="admin@example.com")

    api = await start_api(store, as_admin)
    status, body = await api.delete("/v1/conversations/gone-1")
    assert (status, body) == (200, {"message": "successfully deleted the conversation"})
    for route in ("", "/messages", "/insights", "/topics", "/trackers-detected", "/analytics",
                  "/members"):
        status, _ = await api.get("/v1/conversations/gone-1" + route)
        assert status == 404, route
    status, page = await api.get("/v1/conversations")
    assert [c["id"] for c in page["conversations"]] == ["keep-1"]
    status, body = await api.get("/v1/conversations/keep-1/messages")
    assert len(body["messages"]) == 4

    def log_rows(connection: object) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in connection.execute(select(deletion_log))]  # type: ignore[attr-defined]

    rows = await store.read(log_rows)
    assert len(rows) == 1
    entry = rows[0]
    assert (entry["conversation_id"], entry["reason"], entry["actor"]) == (
        "gone-1", "api", "admin@example.com")
    trackers = sum(len(t["matches"]) for b in gone.bodies("tracker_response")
                   for t in b["trackers"])
    assert entry["removed"] == {
        "analytics": len(gone.bodies("analytics_response")), "tracker_hits": trackers,
        "topics": len(gone.bodies("topic_response")[-1]["topics"]),
        "insights": sum(len(b["insights"]) for b in gone.bodies("insight_response")),
        "messages": 4, "participants": 2, "conversations": 1}


async def test_deleting_a_live_call_drops_its_later_results(open_store: OpenStore,
                                                            start_api: StartApi) -> None:
    call = build_conversation("live-del", started=NOW - timedelta(minutes=3), lines=4)
    half = len(call.results) // 2
    store = await open_store()
    api = await start_api(store)
    for r in call.results[:half]:
        store.sink.send(r)
    await store.sink.drain(10)
    status, _ = await api.delete("/v1/conversations/live-del")
    assert status == 200
    for r in call.results[half:]:  # the call goes on after the delete
        store.sink.send(r)
    await store.sink.drain(10)
    status, _ = await api.get("/v1/conversations/live-del")
    assert status == 404
    assert store.sink.stats.suppressed == len(call.results) - half
    # The same id starting a new call is stored again.
    again = with_id(call, "live-del", started=NOW)
    for r in again.results:
        store.sink.send(r)
    await store.sink.drain(10)
    status, body = await api.get("/v1/conversations/live-del/messages")
    assert status == 200 and len(body["messages"]) == 4
