"""WHIP under access control: real closed gateways, real tokens from the token endpoint,
real aiortc WHIP publishers on loopback (scripted recogniser: who may publish is under test,
not what is heard).

POST authenticates and joins like ``/ws`` (caller scope, tenants, the conversation carries
the publisher's tenant), holds a session slot for the resource's life; PATCH/DELETE are
for the token that created the resource (or a service); every refusal is WHIP's problem
document with the refusal's code.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from gateway.auth import Role
from gateway.auth.config import MIN_TOKEN_TTL
from gateway.auth.keys import load_or_create_key
from gateway.auth.tokens import LEEWAY_SECONDS, Grant, TokenCodec
from gateway.transports.whip.routes import WHIP_KEY
from tests.access.conftest import Gateway, StartGateway
from tests.access.support import Apps, bearer, claims, tampered, token, ws_url
from tests.symbl.conftest import eventually
from tests.whip.client import SDP, Published, WhipClient, WhipError

pytestmark = pytest.mark.usefixtures("apps")


def whip(gw: Gateway, query: str = "", access_token: str | None = None) -> WhipClient:
    return WhipClient(f"{gw.url}/whip{query}", token=access_token)


async def refused(client: WhipClient, status: int, code: str) -> WhipError:
    with pytest.raises(WhipError) as caught:
        await client.publish()
    error = caught.value
    assert error.status == status, error.body
    assert error.headers["Content-Type"].startswith("application/problem+json")
    assert isinstance(error.body, dict)
    assert (error.body["status"], error.body["code"]) == (status, code), error.body
    assert error.body["title"] and error.body["detail"]
    return error


def resource_id(published: Published) -> str:
    return published.location.rsplit("/", 1)[1]


async def first_final(gw: Gateway, conversation_id: str, access_token: str) -> list[str]:
    """Watch ``conversation_id`` with the token: the transcript of its first final."""
    async with aiohttp.ClientSession() as http, http.ws_connect(
            ws_url(gw.url, f"/subscribe/{conversation_id}", access_token)) as ws:
        async with asyncio.timeout(15):
            async for msg in ws:
                body = json.loads(msg.data)
                texts = [m["payload"]["content"] for m in body.get("messages", [])]
                if texts:
                    return texts
    raise AssertionError("the watcher saw no final")


async def watch_refused(gw: Gateway, conversation_id: str, access_token: str) -> str:
    """The refusal code a watcher of ``conversation_id`` gets with the token."""
    async with aiohttp.ClientSession() as http, http.ws_connect(
            ws_url(gw.url, f"/subscribe/{conversation_id}", access_token)) as ws:
        body = json.loads((await ws.receive(timeout=5)).data)
        assert body["type"] == "error", body
        return str(body["code"])


async def test_publishing_needs_a_token_and_joins_within_its_scope_and_tenant(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    service = await apps.add(Role.SERVICE, tenant="ops")
    gw = await gateways()
    agent_x = await token(http, gw.url, app_x)
    agent_y = await token(http, gw.url, app_y)
    caller = await token(http, gw.url, service, role="caller", conversationIds=["studio-a"])

    clients: list[WhipClient] = []
    try:
        # No token, a damaged one: 401 with the RFC 6750 challenge, no session, no ticket.
        for access_token, code in ((None, "missing_token"),
                                   (tampered(agent_x, tenant="y"), "invalid_signature")):
            clients.append(client := whip(gw, "?conversationId=x-studio", access_token))
            error = await refused(client, 401, code)
            assert error.headers["WWW-Authenticate"].startswith('Bearer realm="gateway"')
        assert not gw.app[WHIP_KEY].sessions and gw.app[WHIP_KEY].admission.in_use == 0

        # Agent X publishes: the conversation is X's; an X console hears the encoder, a Y
        # console is refused.
        watching = asyncio.ensure_future(first_final(gw, "x-studio", agent_x))
        # The console is waiting for the call before it starts.
        await eventually(lambda: "x-studio" in gw.bus.conversations())
        clients.append(x_pub := whip(gw, "?conversationId=x-studio&name=Alice", agent_x))
        await x_pub.publish()
        assert gw.directory.get("x-studio").tenant == "x"
        assert await watch_refused(gw, "x-studio", agent_y) == "conversation_of_other_tenant"
        texts = await watching
        assert texts == ["Hello thanks for calling support."]

        # Agent Y may neither add speech to X's conversation nor reach it by another route.
        clients.append(y_pub := whip(gw, "?conversationId=x-studio&name=Bob", agent_y))
        await refused(y_pub, 403, "conversation_of_other_tenant")
        # Y's own new conversation (no id named) is Y's.
        clients.append(y_new := whip(gw, "?name=Bob", agent_y))
        published = await y_new.publish()
        y_cid = published.headers["Conversation-Id"]
        assert y_cid and gw.directory.get(y_cid).tenant == "y"

        # A caller token naming one conversation publishes into it when it names none,
        # and nowhere else.
        clients.append(c_pub := whip(gw, "?name=Carol", caller))
        published = await c_pub.publish()
        assert published.headers["Conversation-Id"] == "studio-a"
        assert gw.directory.get("studio-a").tenant == "ops"  # the minting app's tenant
        clients.append(c_other := whip(gw, "?conversationId=studio-b&name=Carol", caller))
        await refused(c_other, 403, "conversation_not_in_scope")
        assert "studio-b" not in gw.directory.conversations

        # Nothing refused disturbed X's publisher, nor left a session behind.
        x_session = gw.app[WHIP_KEY].sessions[resource_id(x_pub.published)]  # type: ignore[arg-type]
        assert not x_session._stopping
        assert len(gw.app[WHIP_KEY].sessions) == 3
        assert gw.app[WHIP_KEY].admission.in_use == 3
    finally:
        for client in clients:
            await client.close()


async def test_only_the_publishing_token_or_a_service_changes_a_resource(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    service = await apps.add(Role.SERVICE, tenant="ops")
    gw = await gateways()
    agent_x = await token(http, gw.url, app_x)
    agent_x_again = await token(http, gw.url, app_x)  # same app, another token
    agent_y = await token(http, gw.url, app_y)
    ops = await token(http, gw.url, service)
    assert claims(agent_x)["jti"] != claims(agent_x_again)["jti"]

    owner = whip(gw, "?conversationId=x-owned&name=Alice", agent_x)
    try:
        published = await owner.publish(trickle=True)  # the trickle PATCH: the owner's
        sessions = gw.app[WHIP_KEY].sessions
        session = sessions[resource_id(published)]
        location, etag = published.location, published.etag
        assert etag is not None
        fragment = "a=end-of-candidates\r\n"

        for intruder, status, code in ((None, 401, "missing_token"),
                                       (agent_y, 403, "forbidden"),
                                       (agent_x_again, 403, "forbidden")):
            headers = bearer(intruder) if intruder else {}
            async with http.delete(location, headers=headers) as r:
                body = await r.json(content_type=None)
                assert (r.status, body["code"]) == (status, code), body
                assert r.headers["Content-Type"].startswith("application/problem+json")
            async with http.patch(location, data=fragment, headers={
                    **headers, "Content-Type": "application/trickle-ice-sdpfrag",
                    "If-Match": etag}) as r:
                body = await r.json(content_type=None)
                assert (r.status, body["code"]) == (status, code), body
        # An unknown resource is 404 to a token, but 401 to no token (nothing is looked up).
        async with http.delete(f"{gw.url}/whip/nope", headers=bearer(agent_y)) as r:
            assert r.status == 404
        async with http.delete(f"{gw.url}/whip/nope") as r:
            assert r.status == 401

        assert session.id in sessions and not session._stopping  # untouched by all that
        status, _ = await owner.patch(fragment, if_match=etag)
        assert status == 204
        # A service may end anyone's session (an operator's backend).
        async with http.delete(location, headers=bearer(ops)) as r:
            assert r.status == 200
        assert session.id not in sessions
        assert await owner.delete() == 404
    finally:
        await owner.close()


async def test_a_resource_holds_a_session_slot_of_its_token_until_it_ends(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    limited = await apps.add(Role.AGENT, tenant="x", session_limit=1)
    gw = await gateways()
    agent = await token(http, gw.url, limited)
    key = f"token:{claims(agent)['jti']}"
    first = whip(gw, "?conversationId=slot-1", agent)
    second = whip(gw, "?conversationId=slot-2", agent)
    try:
        await first.publish()
        assert gw.access.sessions.open(key) == 1
        error = await refused(second, 429, "too_many_sessions")
        assert int(error.headers["Retry-After"]) >= 1
        assert gw.app[WHIP_KEY].admission.in_use == 1 and gw.access.sessions.open(key) == 1
        assert await first.delete() == 200
        assert gw.access.sessions.open(key) == 0
        await second.close()
        second = whip(gw, "?conversationId=slot-2", agent)  # a fresh peer for the retry
        await second.publish()
        assert gw.access.sessions.open(key) == 1
        # A resource that ends by itself (the peer hangs up) gives its slot back too.
        await asyncio.wait_for(second.connected.wait(), 10)
        await second.close()
        await eventually(lambda: not gw.access.sessions.open(key), timeout=15)
        assert not gw.app[WHIP_KEY].sessions
    finally:
        await first.close()
        await second.close()


async def test_open_mode_publishes_without_a_token_and_foreign_pages_are_refused(
        gateways: StartGateway, http: aiohttp.ClientSession) -> None:
    """Open mode keeps WHIP as it was (anyone who reaches it may publish, PATCH, DELETE),
    but the Origin allow-list protects it from web pages of other sites, as it protects
    every other entrance."""
    gw = await gateways(open_mode=True)
    client = whip(gw, "?conversationId=open-studio&name=Alice")
    foreign = whip(gw)
    try:
        published = await client.publish(trickle=True)
        assert gw.directory.get("open-studio").tenant == "default"
        async with http.post(f"{gw.url}/whip", data=await foreign.offer(), headers={
                "Content-Type": SDP, "Origin": "https://evil.example"}) as r:
            body = await r.json(content_type=None)
            assert (r.status, body["code"]) == (403, "origin_not_allowed")
        assert len(gw.app[WHIP_KEY].sessions) == 1
        assert await client.delete(published.location) == 200
    finally:
        await client.close()
        await foreign.close()


async def test_the_publishing_token_may_still_end_its_session_after_it_expired(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    """A session outlives its token (nothing is re-checked while media flows): the exact
    token that created it may still DELETE it once expired, for nothing else, and no other
    expired token may. The tokens are signed with the gateway's key by a codec whose clock
    runs ten minutes late (the shortest lifetime the endpoint issues), so they expire, past
    the verifier's leeway, about two seconds into the test."""
    app_x = await apps.add(Role.AGENT, tenant="x")
    gw = await gateways()
    key = load_or_create_key(apps.path.parent / "jwt-signing.key")  # the gateway made it
    late = TokenCodec(key, clock=lambda: time.time() - MIN_TOKEN_TTL - LEEWAY_SECONDS + 2)
    grant = Grant(subject=app_x.app_id, role=Role.AGENT, tenant="x")
    agent_x = late.issue(grant, MIN_TOKEN_TTL).token
    other = late.issue(grant, MIN_TOKEN_TTL).token
    owner = whip(gw, "?conversationId=long-show", agent_x)
    try:
        published = await owner.publish()
        expires = claims(agent_x)["exp"] + LEEWAY_SECONDS
        await asyncio.sleep(max(0.0, expires - time.time()) + 1.1)
        for presented, method in ((other, "DELETE"), (agent_x, "PATCH")):
            async with http.request(method, published.location, data="a=end-of-candidates\r\n",
                                    headers={**bearer(presented), "If-Match": "*",
                                             "Content-Type": "application/trickle-ice-sdpfrag"}
                                    ) as r:
                body = await r.json(content_type=None)
                assert (r.status, body["code"]) == (401, "token_expired"), (method, body)
        assert len(gw.app[WHIP_KEY].sessions) == 1
        assert await owner.delete() == 200
        assert not gw.app[WHIP_KEY].sessions
    finally:
        await owner.close()


async def test_turn_credentials_on_options_only_for_a_token(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    """A non-preflight ``OPTIONS /whip`` may carry the ICE servers (TURN credentials with
    them): on a closed gateway only for a valid token, or the TURN server would relay for
    anyone, as ``/api/ice-servers`` decides. The TURN URL answers nothing (only its
    credentials are under test)."""
    caller_app = await apps.add(Role.CALLER, conversations=("c1",))
    ice = {"turn_urls": ("turn:127.0.0.1:9?transport=udp",), "turn_secret": "s3cret"}
    closed = await gateways(**ice)
    opened = await gateways(open_mode=True, **ice)
    caller = await token(http, closed.url, caller_app)

    async def links(gw: Gateway, headers: dict[str, str]) -> list[str]:
        async with http.options(f"{gw.url}/whip", headers=headers) as r:
            assert r.status == 200 and r.headers["Accept-Post"] == SDP
            return r.headers.getall("Link", [])

    assert await links(closed, {}) == []
    assert await links(closed, bearer("not-a-token")) == []
    preflight = {"Origin": "https://studio.example", "Access-Control-Request-Method": "POST"}
    assert await links(closed, {**preflight, **bearer(caller)}) == []
    for gw, headers in ((closed, bearer(caller)), (opened, {})):
        (link,) = await links(gw, headers)
        assert link.startswith('<turn:127.0.0.1:9?transport=udp>; rel="ice-server"; '
                               'username="')
        assert 'credential-type="password"' in link
