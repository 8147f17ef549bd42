"""Secrets and tokens never reach logs or refusal bodies; a refusal is never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from gateway.auth import Role
from tests.auth.conftest import Credentials, StartServer, add_app


async def test_no_secret_or_token_in_logs_or_answers(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture) -> None:
    creds = await add_app(apps_file, Role.AGENT, tenant="acme")
    caplog.set_level(logging.DEBUG)
    s = await start_server()
    stored = (await s.access.registry.get(creds.app_id)) if s.access.registry else None
    assert stored is not None
    hash_text = stored.secret_hash
    answers: list[str] = []

    async def call(method: str, url: str, **kwargs: object) -> None:
        async with http.request(method, url, **kwargs) as r:  # type: ignore[arg-type]
            text = await r.text()
            answers.append(text)
            assert "Traceback" not in text

    token = await s.token(http, creds)
    wrong_secret = creds.secret[:-4] + "0000"
    await call("POST", f"{s.url}/oauth2/token:generate",
               json={"type": "application", "appId": creds.app_id, "appSecret": wrong_secret})
    await call("POST", f"{s.url}/oauth2/token:generate",
               json={"type": "application", "appId": creds.app_id, "appSecret": creds.secret,
                     "role": "service"})
    await call("GET", f"{s.url}/v1/conversations?access_token={token}")
    await call("GET", f"{s.url}/v1/conversations/other/messages?access_token={token}x")
    await call("DELETE", f"{s.url}/v1/conversations/x", headers={"x-api-key": token})
    async with http.ws_connect(f"{s.ws_url}/ws/c?access_token={token[:-3]}") as ws:
        answers.append(str(await ws.receive()))
    await s.token(http, Credentials(creds.app_id, creds.secret))  # the cached path too

    logged = caplog.text
    assert "token issued" in logged and "refused" in logged  # logging did happen
    for secret in (creds.secret, wrong_secret, token, token[:-3], hash_text):
        assert secret not in logged
        assert all(secret not in a for a in answers)
