"""Who reaches what, on a real gateway with access control: callers, agents, tenants.

Real calls (aiortc clients over WebRTC, scripted recogniser), real tokens from the gateway's
``token:generate``, a real store (SQLite) behind ``/v1/conversations``. Every entrance the
gateway has is tried: ``/ws`` (join), ``/subscribe/{id}`` (watch), the console's list and
feed, the Conversation API, ``/api/ice-servers``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from gateway.auth import Role
from gateway.auth.keys import load_or_create_key
from tests.access.calls import Calls, http_outcome, refused_join, socket_outcome
from tests.access.conftest import StartGateway
from tests.access.support import (
    Apps,
    bearer,
    claims,
    expired,
    tampered,
    token,
    unsigned,
    ws_url,
)


@pytest.fixture
async def calls() -> AsyncIterator[Calls]:
    made = Calls()
    yield made
    await made.close()


async def listed(http: aiohttp.ClientSession, url: str, secret: str,
                 path: str = "/v1/conversations") -> list[str]:
    async with http.get(url + path, headers=bearer(secret)) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    return [c.get("id") or c.get("conversationId") for c in body["conversations"]]


async def feed_snapshot(http: aiohttp.ClientSession, url: str, secret: str) -> dict[str, Any]:
    async with http.ws_connect(ws_url(url, "/api/console/feed", secret)) as ws:
        first: dict[str, Any] = await ws.receive_json(timeout=10)
    assert first["type"] == "snapshot"
    return first


async def test_a_caller_of_a_reaches_a_and_nothing_else(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    service = await apps.add(Role.SERVICE)
    gw = await gateways(database=f"sqlite:///{tmp_path / 'store.db'}")
    caller_a = await token(http, gw.url, service, role="caller", conversationIds=["call-a"])
    caller_b = await token(http, gw.url, service, role="caller", conversationIds=["call-b"])
    # A one-conversation caller token joins its conversation without naming it.
    alice = await calls.join(gw.url, caller_a, "Alice", None, 5, title="Billing")
    assert alice.conversation_id == "call-a"
    bob = await calls.join(gw.url, caller_b, "Bob", "call-b", 5)
    await alice.client.wait_result(lambda m: m.get("type") == "message_response", 20)
    await bob.client.wait_result(lambda m: m.get("type") == "message_response", 20)

    # Not B: not joining, not watching, not reading, not listing, not the console.
    assert await refused_join(gw.url, caller_a, "call-b") == "conversation_not_in_scope"
    assert await refused_join(gw.url, caller_a, "call-new") == "conversation_not_in_scope"
    assert await socket_outcome(http, gw.url, "/subscribe/call-b", caller_a) == (
        1008, "conversation_not_in_scope")
    for route in ("", "/messages", "/insights", "/members", "/analytics"):
        assert await http_outcome(http, "GET", f"{gw.url}/v1/conversations/call-b{route}",
                                  bearer(caller_a)) == (403, "conversation_not_in_scope")
    assert await http_outcome(http, "DELETE", f"{gw.url}/v1/conversations/call-a",
                              bearer(caller_a)) == (403, "forbidden")
    # A: watching and reading; the lists show A only.
    assert await socket_outcome(http, gw.url, "/subscribe/call-a", caller_a) == (
        0, "subscribed")
    assert await http_outcome(http, "GET", f"{gw.url}/v1/conversations/call-a/messages",
                              bearer(caller_a)) == (200, None)
    assert await listed(http, gw.url, caller_a) == ["call-a"]
    assert await listed(http, gw.url, caller_a, "/api/conversations") == ["call-a"]
    snapshot = await feed_snapshot(http, gw.url, caller_a)
    assert [c["conversationId"] for c in snapshot["live"]] == ["call-a"]
    # A token naming several conversations must say which one it joins.
    both = await token(http, gw.url, service, role="caller",
                       conversationIds=["call-a", "call-b"])
    assert await refused_join(gw.url, both, None) == "conversation_not_in_scope"
    await alice.hang_up()
    await bob.hang_up()


async def test_an_agent_of_x_cannot_reach_tenant_y_live_or_stored(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    gw = await gateways(database=f"sqlite:///{tmp_path / 'store.db'}")
    agent_x, agent_y = await token(http, gw.url, app_x), await token(http, gw.url, app_y)
    carol = await calls.join(gw.url, agent_x, "Carol", "x-call", 6)
    await carol.client.wait_result(lambda m: m.get("type") == "message_response", 20)
    # Y: the same id is not theirs, live ...
    assert await refused_join(gw.url, agent_y, "x-call") == "conversation_of_other_tenant"
    sneaky = await token(http, gw.url, app_y, role="caller", conversationIds=["x-call"])
    assert await refused_join(gw.url, sneaky, "x-call") == "conversation_of_other_tenant"
    assert await socket_outcome(http, gw.url, "/subscribe/x-call", agent_y) == (
        1008, "conversation_of_other_tenant")
    assert await http_outcome(http, "GET", f"{gw.url}/v1/conversations/x-call/messages",
                              bearer(agent_y)) == (404, "not_found")
    assert await listed(http, gw.url, agent_y) == []
    assert await listed(http, gw.url, agent_y, "/api/conversations") == []
    assert (await feed_snapshot(http, gw.url, agent_y))["live"] == []
    # ... while X sees it everywhere.
    assert await listed(http, gw.url, agent_x, "/api/conversations") == ["x-call"]
    assert await socket_outcome(http, gw.url, "/subscribe/x-call", agent_x) == (
        0, "subscribed")
    await carol.hang_up()
    await gw.store.sink.drain(5)
    # ... and stored: after the call, Y cannot reopen the id (the store keeps its tenant).
    assert await refused_join(gw.url, agent_y, "x-call") == "conversation_of_other_tenant"
    assert await listed(http, gw.url, agent_y, "/api/conversations?state=recent") == []
    assert await listed(http, gw.url, agent_x, "/api/conversations?state=recent") == [
        "x-call"]
    assert await listed(http, gw.url, agent_x) == ["x-call"]
    assert await http_outcome(http, "DELETE", f"{gw.url}/v1/conversations/x-call",
                              bearer(agent_x)) == (403, "forbidden")
    # A new call by Y under a fresh id is Y's, and X does not see it.
    dan = await calls.join(gw.url, agent_y, "Dan", "y-call", 3)
    assert await listed(http, gw.url, agent_x, "/api/conversations") == []
    await dan.hang_up()


async def test_a_subscriber_waiting_for_an_id_is_dropped_when_another_tenant_starts_it(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    gw = await gateways()
    agent_x, agent_y = await token(http, gw.url, app_x), await token(http, gw.url, app_y)
    spy = await http.ws_connect(ws_url(gw.url, "/subscribe/later?presence=1", agent_y))
    own = await http.ws_connect(ws_url(gw.url, "/subscribe/later?presence=1", agent_x))
    for ws in (spy, own):
        assert (await ws.receive_json(timeout=10))["type"] == "subscribed"
    carol = await calls.join(gw.url, agent_x, "Carol", "later", 5)
    refusal = await spy.receive_json(timeout=10)
    assert refusal == {"type": "error", "code": "conversation_of_other_tenant",
                       "message": "conversation later belongs to another tenant"}
    closing = await spy.receive(timeout=10)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1008)
    await carol.hang_up()
    seen = []
    async for msg in own:
        seen.append(msg.json())
    kinds = [m.get("type") for m in seen]
    assert kinds[0] == "conversation_started" and seen[0]["tenantId"] == "x"
    assert "message_response" in kinds and kinds[-1] == "conversation_ended"


async def test_every_entrance_refuses_bad_and_missing_tokens_and_harms_no_other_session(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    service = await apps.add(Role.SERVICE)
    gw = await gateways(database=f"sqlite:///{tmp_path / 'store.db'}")
    good = await token(http, gw.url, service)
    caller = await token(http, gw.url, service, role="caller", conversationIds=["live-1"])
    key = load_or_create_key(apps.path.parent / "jwt-signing.key")  # the gateway made it
    alice = await calls.join(gw.url, caller, "Alice", "live-1", 6)
    watcher = await http.ws_connect(ws_url(gw.url, "/subscribe/live-1", good))
    assert (await watcher.receive_json(timeout=10))["type"] == "subscribed"

    bad = {
        "missing": (None, "missing_token"),
        "garbage": ("not-a-token", "malformed_token"),
        "tampered": (tampered(caller, role="service", scope="*"), "invalid_signature"),
        "none": (unsigned(good), "unsupported_algorithm"),
        "other key": (tampered_with_key(good, b"k" * 48), "invalid_signature"),
        "expired": (expired(good, key), "token_expired"),
    }
    for label, (value, code) in bad.items():
        headers = bearer(value) if value else {}
        for method, path in (("GET", "/v1/conversations"),
                             ("GET", "/v1/conversations/live-1/messages"),
                             ("DELETE", "/v1/conversations/live-1"),
                             ("GET", "/api/conversations"), ("GET", "/api/ice-servers")):
            assert await http_outcome(http, method, gw.url + path, headers) == (401, code), \
                (label, path)
        for path in ("/subscribe/live-1", "/api/console/feed"):
            assert await socket_outcome(http, gw.url, path, value) == (1008, code), (label, path)
        assert await refused_join(gw.url, value, "live-1") == code, label
    # None of that touched the call in progress or its watcher.
    await alice.client.wait_result(lambda m: m.get("type") == "message_response", 20)
    await alice.hang_up()
    kinds = []
    async for msg in watcher:
        kinds.append(msg.json()["type"])
    assert "message_response" in kinds and kinds[-1] == "conversation_ended"
    assert await http_outcome(http, "DELETE", f"{gw.url}/v1/conversations/live-1",
                              bearer(good)) == (200, None)


def tampered_with_key(value: str, key: bytes) -> str:
    """The same claims signed with a key that is not the gateway's."""
    return jwt.encode(claims(value), key, algorithm="HS256", headers={"typ": "at+jwt"})


async def test_limits_answer_429_and_recover(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession) -> None:
    limited = await apps.add(Role.SERVICE, rate_limit="4/second", session_limit=1)
    gw = await gateways()
    secret = await token(http, gw.url, limited)
    # Sessions: one socket at a time for this token, on every socket entrance.
    first = await http.ws_connect(ws_url(gw.url, "/subscribe/room", secret))
    assert (await first.receive_json(timeout=10))["type"] == "subscribed"
    assert await socket_outcome(http, gw.url, "/api/console/feed", secret) == (
        1013, "too_many_sessions")
    assert await refused_join(gw.url, secret, "room") == "too_many_sessions"
    await first.close()
    await asyncio.sleep(0.2)  # the watch handler ends and gives its slot back
    assert await socket_outcome(http, gw.url, "/api/console/feed", secret) == (0, "snapshot")
    # Requests (a fresh token: its own budget): over the rate, 429 with Retry-After on every
    # kind of entrance; two windows later it works again.
    fresh = await token(http, gw.url, limited)
    statuses = []
    for _ in range(10):
        async with http.get(f"{gw.url}/api/conversations", headers=bearer(fresh)) as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await r.json()
                assert body["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert statuses[:4] == [200] * 4 and 429 in statuses[4:]
    assert await http_outcome(http, "GET", f"{gw.url}/v1/conversations", bearer(fresh)) == (
        429, "rate_limited")
    assert await socket_outcome(http, gw.url, "/subscribe/room", fresh) == (1013, "rate_limited")
    await asyncio.sleep(2.1)
    async with http.get(f"{gw.url}/api/ice-servers", headers=bearer(fresh)) as r:
        assert r.status == 200 and "iceServers" in await r.json()


async def test_browser_entrances_check_the_origin(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    service = await apps.add(Role.SERVICE)
    gw = await gateways(auth={"allowed_origins": ("https://app.example.com",)})
    secret = await token(http, gw.url, service)
    evil = {"Origin": "https://evil.example.com"}
    for path in ("/ws", "/subscribe/x", "/api/console/feed"):
        assert await socket_outcome(http, gw.url, path, secret, headers=evil) == (403, None)
    for path in ("/api/conversations", "/api/ice-servers", "/v1/conversations"):
        assert await http_outcome(http, "GET", gw.url + path, {**bearer(secret), **evil}) == (
            403, "origin_not_allowed")
    fine = {"Origin": "https://app.example.com"}
    assert await socket_outcome(http, gw.url, "/subscribe/x", secret, headers=fine) == (
        0, "subscribed")
    async with http.get(f"{gw.url}/api/ice-servers", headers={**bearer(secret), **fine}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    async with http.options(f"{gw.url}/v1/conversations/x/messages", headers={
            **fine, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"}) as r:
        assert r.status == 204 and "Authorization" in r.headers["Access-Control-Allow-Headers"]
