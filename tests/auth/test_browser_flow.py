"""The documented browser flow, run as written: the example backend from
docs/access-control.md mints a caller token; the "page" joins its call with it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.auth import Role
from gateway.auth import errors as e
from tests.auth.conftest import StartServer, add_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "access-control.md"


def example_backend() -> Any:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- example-backend -->\n```python\n(.*?)```", text, re.S)
    assert match, "the example backend block is missing from docs/access-control.md"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # noqa: S102 -- our own doc
    return namespace["make_backend"]


async def test_page_gets_a_caller_token_from_its_backend_and_joins_only_its_call(
        start_server: StartServer, apps_file: Path, http: aiohttp.ClientSession) -> None:
    backend_app = await add_app(apps_file, Role.AGENT, tenant="acme")
    gateway = await start_server(allowed_origins=("http://shop.example",))
    make_backend = example_backend()
    runner = web.AppRunner(make_backend(gateway.url, backend_app.app_id, backend_app.secret))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    backend = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with http.get(f"{backend}/call-token", params={"conversation": "call-42"}) as r:
            assert r.status == 200
            answer = await r.json()
        token = answer["token"]
        # What Symbl's Web SDK does with a given token: atob the payload, read exp.
        payload = token.split(".")[1]
        claims = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4),
                                             validate=True))
        assert (claims["role"], claims["tenant"], claims["scope"]) == (
            "caller", "acme", "conversation:call-42")
        page = {"Origin": "http://shop.example"}
        async with http.ws_connect(f"{gateway.ws_url}/ws/call-42?access_token={token}",
                                   headers=page) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "ready"
        assert gateway.conversations["call-42"]["tenant"] == "acme"
        async with http.ws_connect(f"{gateway.ws_url}/ws/call-43?access_token={token}",
                                   headers=page) as ws:
            assert (await ws.receive_json(timeout=5))["code"] == e.CONVERSATION_NOT_IN_SCOPE
    finally:
        await runner.cleanup()
