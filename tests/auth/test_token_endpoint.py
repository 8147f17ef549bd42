"""POST /oauth2/token:generate on a real server: Symbl's shapes, refusals, downscoping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt

from gateway.auth import AuthConfig, Role
from gateway.auth import errors as e
from tests.auth.conftest import Credentials, StartServer, add_app

TOKEN = "/oauth2/token:generate"


async def post(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, dict, dict]:
    async with http.post(url + TOKEN, json=body) as r:
        return r.status, await r.json(), dict(r.headers)


def body(creds: Credentials, **extra: object) -> dict[str, object]:
    return {"type": "application", "appId": creds.app_id, "appSecret": creds.secret, **extra}


async def test_symbl_request_gets_symbls_answer(start_server: StartServer, apps_file: Path,
                                                http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.AGENT, tenant="acme")
    server = await start_server(token_ttl=1800)
    status, answer, headers = await post(http, server.url, body(creds))
    assert status == 200
    assert set(answer) == {"accessToken", "expiresIn"}
    assert answer["expiresIn"] == 1800 and type(answer["expiresIn"]) is int
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"
    claims = jwt.decode(answer["accessToken"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["tenant"]) == (creds.app_id, "agent", "acme")
    assert claims["exp"] - claims["iat"] == 1800 and abs(claims["iat"] - time.time()) < 5


async def test_wrong_secret_and_unknown_app_get_the_same_401(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server()
    wrong = await post(http, server.url, body(Credentials(creds.app_id, "x" * 128)))
    unknown = await post(http, server.url, body(Credentials("f" * 64, creds.secret)))
    for status, answer, headers in (wrong, unknown):
        assert status == 401
        assert answer["code"] == e.INVALID_CREDENTIALS and answer["message"]
        assert "Bearer" in headers["WWW-Authenticate"]
    assert wrong[1] == unknown[1]


async def test_a_body_sent_in_pieces_is_read_whole(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server()
    raw = json.dumps(body(creds)).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]
            await asyncio.sleep(0.005)

    async with http.post(server.url + TOKEN, data=pieces()) as r:
        assert r.status == 200, await r.text()
        assert r.request_info.headers.get("Transfer-Encoding") == "chunked"


async def test_bad_requests_are_400_with_a_reason(start_server: StartServer, apps_file: Path,
                                                  http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server()
    cases: list[tuple[object, str]] = [
        ([1, 2], e.INVALID_REQUEST),
        ({"appId": creds.app_id, "appSecret": creds.secret}, e.UNSUPPORTED_GRANT_TYPE),
        ({"type": "user", "appId": creds.app_id, "appSecret": creds.secret},
         e.UNSUPPORTED_GRANT_TYPE),
        ({"type": "application", "appSecret": creds.secret}, e.INVALID_REQUEST),
        ({"type": "application", "appId": creds.app_id, "appSecret": 5}, e.INVALID_REQUEST),
        (body(creds, role="owner"), e.INVALID_REQUEST),
        (body(creds, role="caller"), e.INVALID_REQUEST),  # caller needs conversationIds
        (body(creds, role="caller", conversationIds=["a b"]), e.INVALID_REQUEST),
        (body(creds, expiresIn=30), e.INVALID_REQUEST),
    ]
    for request, code in cases:
        status, answer, _ = await post(http, server.url, request)
        assert (status, answer["code"]) == (400, code), request
    async with http.post(server.url + TOKEN, data=b"{not json",
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["code"] == e.INVALID_REQUEST
    async with http.post(server.url + TOKEN, data=b"x" * 20000) as r:
        assert r.status == 400 and (await r.json())["code"] == e.INVALID_REQUEST


async def test_apps_may_ask_for_less_never_more(start_server: StartServer, apps_file: Path,
                                                http: aiohttp.ClientSession) -> None:
    service = await add_app(apps_file, Role.SERVICE, tenant="ops")
    agent = await add_app(apps_file, Role.AGENT, tenant="acme")
    caller = await add_app(apps_file, Role.CALLER, tenant="acme", conversations=("A", "B"))
    server = await start_server()

    def claims_of(answer: dict) -> dict:
        return jwt.decode(answer["accessToken"], options={"verify_signature": False})

    status, answer, _ = await post(http, server.url, body(
        service, role="caller", conversationIds=["X"], tenant="beta", expiresIn=900))
    assert status == 200 and answer["expiresIn"] == 900
    c = claims_of(answer)
    assert (c["role"], c["tenant"], c["scope"]) == ("caller", "beta", "conversation:X")

    status, answer, _ = await post(http, server.url, body(agent, role="caller",
                                                          conversationIds=["Q"]))
    assert status == 200 and claims_of(answer)["tenant"] == "acme"
    status, answer, _ = await post(http, server.url, body(agent, role="service"))
    assert (status, answer["code"]) == (403, e.ROLE_NOT_ALLOWED)
    status, answer, _ = await post(http, server.url, body(agent, tenant="other"))
    assert (status, answer["code"]) == (403, e.TENANT_NOT_ALLOWED)

    status, answer, _ = await post(http, server.url, body(caller))
    assert status == 200 and claims_of(answer)["scope"] == "conversation:A conversation:B"
    status, answer, _ = await post(http, server.url, body(caller, conversationIds=["B"]))
    assert status == 200 and claims_of(answer)["scope"] == "conversation:B"
    status, answer, _ = await post(http, server.url, body(caller, conversationIds=["C"]))
    assert (status, answer["code"]) == (403, e.CONVERSATION_NOT_IN_SCOPE)
    status, answer, _ = await post(http, server.url, body(caller, role="agent"))
    assert (status, answer["code"]) == (403, e.ROLE_NOT_ALLOWED)
    # A lifetime over the gateway's is cut to the gateway's.
    status, answer, _ = await post(http, server.url, body(service, expiresIn=10**6))
    assert status == 200 and answer["expiresIn"] == server.access.config.token_ttl


async def test_failed_attempts_are_limited_then_recover(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server(auth_failure_limit="3 per 2 seconds")
    bad = body(Credentials(creds.app_id, "guess"))
    statuses = [(await post(http, server.url, bad))[0] for _ in range(3)]
    assert statuses == [401, 401, 401]
    # The window slides (limits' sliding-window counter): an attempt that straddles a
    # window edge may still be let through, never more than the limit again.
    for _ in range(3):
        status, answer, headers = await post(http, server.url, bad)
        if status == 429:
            break
        assert status == 401
    assert (status, answer["code"]) == (429, e.TOO_MANY_FAILURES)
    assert 1 <= int(headers["Retry-After"]) <= 2 and answer["retryAfter"] >= 1
    # While locked, even the right secret waits (guesses must not get through).
    assert (await post(http, server.url, body(creds)))[0] == 429
    await asyncio.sleep(int(headers["Retry-After"]) + 0.2)
    assert (await post(http, server.url, body(creds)))[0] == 200


async def test_revoked_app_gets_no_token(start_server: StartServer, apps_file: Path,
                                         http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server(config=AuthConfig(reload_interval=0.1))
    assert (await post(http, server.url, body(creds)))[0] == 200
    from gateway.auth.app_file import FileAppRegistry
    await FileAppRegistry.load(apps_file).revoke(creds.app_id)
    await asyncio.sleep(0.5)
    status, answer, _ = await post(http, server.url, body(creds))
    assert (status, answer["code"]) == (401, e.INVALID_CREDENTIALS)


async def test_open_mode_answers_any_credentials_with_a_working_token(
        start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(open_mode=True)
    for request in ({"type": "application", "appId": "whatever", "appSecret": "anything"},
                    {}):
        status, answer, _ = await post(http, server.url, request)
        assert status == 200 and set(answer) == {"accessToken", "expiresIn"}
        token = answer["accessToken"]
        async with http.get(f"{server.url}/v1/conversations",
                            headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
        async with http.ws_connect(f"{server.ws_url}/ws/room?access_token={token}") as ws:
            assert (await ws.receive_json())["type"] == "ready"
    async with http.post(server.url + TOKEN, data=b"[") as r:
        assert r.status == 400


async def test_cors_preflight_and_answer_for_allowed_origins(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    creds = await add_app(apps_file, Role.SERVICE)
    server = await start_server(allowed_origins=("https://app.example.com",))
    preflight = {"Origin": "https://app.example.com",
                 "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    async with http.options(server.url + TOKEN, headers=preflight) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    async with http.options(server.url + TOKEN,
                            headers={**preflight, "Origin": "https://evil.example"}) as r:
        assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
    async with http.post(server.url + TOKEN, json=body(creds),
                         headers={"Origin": "https://app.example.com"}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    async with http.post(server.url + TOKEN, json=body(creds),
                         headers={"Origin": "https://evil.example"}) as r:
        assert r.status == 403 and (await r.json())["code"] == e.ORIGIN_NOT_ALLOWED
