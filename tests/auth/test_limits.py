"""Per-token limits on a real server: 429 with Retry-After, then recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from gateway.auth import Role
from gateway.auth import errors as e
from tests.auth.conftest import StartServer, add_app


async def test_request_rate_answers_429_and_recovers(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server(rate_limit="3 per 2 seconds")
    token, other = await s.token(http, service), await s.token(http, service)
    url = f"{s.url}/v1/conversations"
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        async with http.get(url, headers=auth) as r:
            assert r.status == 200
    # The window slides (limits' sliding-window counter): a request straddling a window
    # edge may still pass, but the limit answers within another limit's worth.
    for _ in range(3):
        async with http.get(url, headers=auth) as r:
            if r.status == 429:
                break
            assert r.status == 200
    async with http.get(url, headers=auth) as r:
        body = await r.json()
        assert r.status == 429 and body["code"] == e.RATE_LIMITED
        assert "3 per 2 seconds" in body["message"]
        retry = int(r.headers["Retry-After"])
        assert 1 <= retry <= 2 and body["retryAfter"] == retry
    # Another token of the same app has its own budget.
    async with http.get(url, headers={"Authorization": f"Bearer {other}"}) as r:
        assert r.status == 200
    # A WebSocket handshake counts too, and is told why on the socket (1013).
    async with http.ws_connect(f"{s.ws_url}/ws/r?access_token={token}") as ws:
        frame = await ws.receive_json(timeout=5)
        assert frame["code"] == e.RATE_LIMITED and frame["retryAfter"] >= 1
        await ws.receive(timeout=5)
        assert ws.close_code == e.WS_TRY_AGAIN_LATER
    await asyncio.sleep(retry + 0.2)
    async with http.get(url, headers=auth) as r:
        assert r.status == 200


async def test_concurrent_sessions_are_limited_and_freed(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE)
    s = await start_server(session_limit=2)
    token = await s.token(http, service)
    url = f"{s.ws_url}/ws/room?access_token={token}"
    first = await http.ws_connect(url)
    second = await http.ws_connect(f"{s.ws_url}/subscribe/room?access_token={token}")
    for ws in (first, second):
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
    async with http.ws_connect(url) as third:
        frame = await third.receive_json(timeout=5)
        assert frame["code"] == e.TOO_MANY_SESSIONS and "limit 2" in frame["message"]
        await third.receive(timeout=5)
        assert third.close_code == e.WS_TRY_AGAIN_LATER
    # Another token is not affected by this one's sessions.
    async with http.ws_connect(f"{s.ws_url}/ws/room?access_token="
                               f"{await s.token(http, service)}") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
    await first.close()
    for _ in range(50):  # the server releases the slot when it sees the close
        if s.access.sessions.open(f"token:{_jti(token)}") < 2:
            break
        await asyncio.sleep(0.02)
    async with http.ws_connect(url) as again:
        assert (await again.receive_json(timeout=5))["type"] == "ready"
    await second.close()


async def test_an_apps_own_limits_override_the_defaults(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    bot = await add_app(apps_file, Role.SERVICE, session_limit=3, rate_limit="100/minute")
    s = await start_server(session_limit=1, rate_limit="2/minute")
    token = await s.token(http, bot)
    sockets = [await http.ws_connect(f"{s.ws_url}/ws/r{i}?access_token={token}")
               for i in range(3)]
    for ws in sockets:
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
    async with http.ws_connect(f"{s.ws_url}/ws/r4?access_token={token}") as fourth:
        assert (await fourth.receive_json(timeout=5))["code"] == e.TOO_MANY_SESSIONS
    for ws in sockets:
        await ws.close()


async def test_open_mode_has_no_per_client_limits(
        start_server: StartServer, http: aiohttp.ClientSession) -> None:
    s = await start_server(open_mode=True, session_limit=1, rate_limit="1/minute")
    sockets = [await http.ws_connect(f"{s.ws_url}/ws/r") for _ in range(3)]
    for ws in sockets:
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
    for _ in range(3):
        async with http.get(f"{s.url}/v1/conversations") as r:
            assert r.status == 200
    for ws in sockets:
        await ws.close()


def _jti(token: str) -> str:
    import jwt
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])
