"""Every kind of entrance (join socket, watch socket, HTTP API) with real tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
import jwt
import pytest

from gateway.auth import Role
from gateway.auth import errors as e
from tests.auth.conftest import Server, StartServer, add_app

Outcome = tuple[int, str | None]  # HTTP status or WS close code, and the error code


async def ws_outcome(http: aiohttp.ClientSession, url: str, *,
                     headers: Mapping[str, str] | None = None,
                     protocols: tuple[str, ...] = ()) -> Outcome:
    """200 and None when the socket is usable; else its close code and error code."""
    async with http.ws_connect(url, headers=headers, protocols=protocols) as ws:
        first = await ws.receive_json(timeout=5)
        if first["type"] == "ready":
            return 200, None
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        return int(ws.close_code or 0), first["code"]


async def http_outcome(http: aiohttp.ClientSession, method: str, url: str, *,
                       headers: Mapping[str, str] | None = None) -> Outcome:
    async with http.request(method, url, headers=headers) as r:
        body = await r.json()
        return r.status, body.get("code") if r.status >= 400 else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def join(http: aiohttp.ClientSession, s: Server, cid: str, token: str) -> Outcome:
    return await ws_outcome(http, f"{s.ws_url}/ws/{cid}?access_token={token}")


async def watch(http: aiohttp.ClientSession, s: Server, cid: str, token: str) -> Outcome:
    return await ws_outcome(http, f"{s.ws_url}/subscribe/{cid}", headers={"x-api-key": token})


async def read(http: aiohttp.ClientSession, s: Server, cid: str, token: str) -> Outcome:
    return await http_outcome(http, "GET", f"{s.url}/v1/conversations/{cid}/messages",
                              headers=bearer(token))


async def test_caller_of_a_cannot_join_watch_or_read_b(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server()
    caller_a = await s.token(http, service, role="caller", conversationIds=["A"])
    assert await join(http, s, "A", caller_a) == (200, None)
    assert await watch(http, s, "A", caller_a) == (200, None)
    assert await read(http, s, "A", caller_a) == (200, None)
    s.conversations["B"] = {"tenant": "default", "messages": ["secret"]}
    refused = (e.WS_POLICY_VIOLATION, e.CONVERSATION_NOT_IN_SCOPE)
    assert await join(http, s, "B", caller_a) == refused
    assert await watch(http, s, "B", caller_a) == refused
    assert await join(http, s, "C", caller_a) == refused  # nor create one it does not name
    assert await read(http, s, "B", caller_a) == (403, e.CONVERSATION_NOT_IN_SCOPE)
    assert await http_outcome(http, "DELETE", f"{s.url}/v1/conversations/A",
                              headers=bearer(caller_a)) == (403, e.FORBIDDEN)
    async with http.get(f"{s.url}/v1/conversations", headers=bearer(caller_a)) as r:
        assert (await r.json())["conversations"] == [{"id": "A"}]


async def test_agent_of_x_cannot_reach_tenant_y(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    agent_x = await add_app(apps_file, Role.AGENT, tenant="X")
    agent_y = await add_app(apps_file, Role.AGENT, tenant="Y")
    s = await start_server()
    tx, ty = await s.token(http, agent_x), await s.token(http, agent_y)
    assert await join(http, s, "x-call", tx) == (200, None)  # created in tenant X
    assert s.conversations["x-call"]["tenant"] == "X"
    assert await read(http, s, "x-call", tx) == (200, None)
    assert await watch(http, s, "x-call", tx) == (200, None)
    other = (e.WS_POLICY_VIOLATION, e.OTHER_TENANT)
    assert await read(http, s, "x-call", ty) == (403, e.OTHER_TENANT)
    assert await watch(http, s, "x-call", ty) == other
    assert await join(http, s, "x-call", ty) == other
    async with http.get(f"{s.url}/v1/conversations", headers=bearer(ty)) as r:
        assert (await r.json())["conversations"] == []
    # A caller token minted by X's agent for Y's conversation id still cannot cross over.
    sneaky = await s.token(http, agent_y, role="caller", conversationIds=["x-call"])
    assert await join(http, s, "x-call", sneaky) == other


async def test_service_reaches_everything(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE, tenant="ops")
    s = await start_server()
    s.conversations.update({"a": {"tenant": "X", "messages": []},
                            "b": {"tenant": "Y", "messages": []}})
    token = await s.token(http, service)
    assert await read(http, s, "a", token) == (200, None)
    assert await watch(http, s, "b", token) == (200, None)
    async with http.get(f"{s.url}/v1/conversations", headers=bearer(token)) as r:
        assert [c["id"] for c in (await r.json())["conversations"]] == ["a", "b"]
    assert await http_outcome(http, "DELETE", f"{s.url}/v1/conversations/a",
                              headers=bearer(token)) == (200, None)
    assert "a" not in s.conversations


def _forge(token: str, **changes: object) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    return jwt.encode(claims, "not-the-gateway-key-but-long-enough!!", algorithm="HS256",
                      headers={"typ": "at+jwt"})


Entrance = Callable[[aiohttp.ClientSession, Server, str, str], Awaitable[Outcome]]


@pytest.mark.parametrize("entrance", [join, watch, read], ids=["join", "watch", "read"])
async def test_bad_tokens_are_refused_on_every_entrance(
        entrance: Entrance, start_server: StartServer, apps_file: Path,
        http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server()
    s.conversations["c1"] = {"tenant": "default", "messages": []}
    good = await s.token(http, service)
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())
    # The real key (made on first start beside the apps file): a properly signed token
    # whose only fault is its age.
    key = (apps_file.parent / "jwt-signing.key").read_bytes().rstrip()
    cases = {
        e.TOKEN_EXPIRED: jwt.encode({**claims, "iat": now - 900, "exp": now - 30}, key,
                                    algorithm="HS256", headers={"typ": "at+jwt"}),
        e.INVALID_SIGNATURE: _forge(good),
        e.UNSUPPORTED_ALGORITHM: jwt.encode(claims, "", algorithm="none",
                                            headers={"typ": "at+jwt"}),
        e.MALFORMED_TOKEN: "not-a-token",
    }
    ws = entrance is not read
    for code, token in cases.items():
        status = e.WS_POLICY_VIOLATION if ws else 401
        assert await entrance(http, s, "c1", token) == (status, code), code
    assert await entrance(http, s, "c1", good) == (200, None)
    # And no token at all.
    if ws:
        url = f"{s.ws_url}/{'ws' if entrance is join else 'subscribe'}/c1"
        assert await ws_outcome(http, url) == (e.WS_POLICY_VIOLATION, e.MISSING_TOKEN)
    else:
        async with http.get(f"{s.url}/v1/conversations/c1/messages") as r:
            assert r.status == 401 and (await r.json())["code"] == e.MISSING_TOKEN
            assert r.headers["WWW-Authenticate"].startswith('Bearer realm="gateway"')


async def test_every_token_source_symbl_clients_use(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server()
    token = await s.token(http, service)
    url = f"{s.ws_url}/ws/room"
    assert await ws_outcome(http, f"{url}?access_token={token}") == (200, None)
    assert await ws_outcome(http, url, headers={"x-api-key": token}) == (200, None)
    assert await ws_outcome(http, url, headers={"X-API-KEY": token}) == (200, None)
    assert await ws_outcome(http, url, headers={"Authorization": f"bearer {token}"}) == (
        200, None)
    # Symbl's JS SDK in a browser: the token is the requested subprotocol, and is echoed.
    async with http.ws_connect(f"{url}?source=web_sdk", protocols=(token,)) as ws:
        assert ws.protocol == token
        assert (await ws.receive_json())["type"] == "ready"
    # A real subprotocol is not a token.
    assert await ws_outcome(http, url, protocols=("json",)) == (
        e.WS_POLICY_VIOLATION, e.MISSING_TOKEN)
    # Two different tokens: refused rather than guessed.
    other = await s.token(http, service)
    assert await http_outcome(http, "GET", f"{s.url}/v1/conversations?access_token={other}",
                              headers=bearer(token)) == (400, e.CONFLICTING_TOKENS)


async def test_revoking_an_app_stops_its_tokens(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    from gateway.auth import AuthConfig
    from gateway.auth.app_file import FileAppRegistry

    agent = await add_app(apps_file, Role.AGENT)
    s = await start_server(config=AuthConfig(reload_interval=0.1))
    token = await s.token(http, agent)
    assert await read(http, s, "none", token) == (404, None)
    await FileAppRegistry.load(apps_file).revoke(agent.app_id)
    await asyncio.sleep(0.5)
    assert await read(http, s, "none", token) == (401, e.APP_REVOKED)


async def test_bad_clients_do_not_harm_a_live_session(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server()
    token = await s.token(http, service)
    async with http.ws_connect(f"{s.ws_url}/ws/live?access_token={token}") as live:
        assert (await live.receive_json())["type"] == "ready"
        garbage = ["x", token[:-2], _forge(token), token + "."]
        attempts = [join(http, s, "live", g) for g in garbage * 10]
        results = await asyncio.gather(*attempts)
        assert all(status == e.WS_POLICY_VIOLATION for status, _ in results)
        await live.send_str("still here")
        assert (await live.receive(timeout=5)).data == "still here"
    assert s.conversations["live"]["messages"] == ["still here"]
