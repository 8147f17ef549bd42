"""A real aiohttp server on loopback with access control and entrances shaped like the
gateway's: a WebSocket that joins (``/ws/{id}``), one that watches (``/subscribe/{id}``),
and the conversation API (``/v1/conversations...``). Each entrance does what the lead's
wiring does: authenticate, authorize against the conversation's tenant, hold a session
slot for a socket's lifetime. Conversations live in a dict: the store is not under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from gateway.auth import (
    ACCESS_KEY,
    AccessControl,
    Action,
    AuthConfig,
    AuthError,
    Role,
    creation_tenant,
    list_filter,
    refuse_websocket,
    setup_access,
    websocket_response,
)
from gateway.auth.app_file import FileAppRegistry
from gateway.auth.apps import App, new_app_id, new_app_secret, utc_now_iso
from gateway.auth.hashing import SecretHasher

CONVERSATIONS = web.AppKey("conversations", dict)


@dataclass
class Credentials:
    app_id: str
    secret: str


async def add_app(apps_file: Path, role: Role, *, tenant: str = "default",
                  conversations: tuple[str, ...] = (), **extra: Any) -> Credentials:
    """Register an app in the file as the CLI does (real argon2 hash)."""
    registry = FileAppRegistry.load(apps_file, must_exist=False)
    app_id, secret = new_app_id(), new_app_secret()
    await registry.add(App(app_id=app_id, secret_hash=SecretHasher().hash(secret), role=role,
                           tenant=tenant, conversations=frozenset(conversations),
                           created=utc_now_iso(), **extra))
    return Credentials(app_id, secret)


async def _read(request: web.Request) -> web.Response:
    access = request.app[ACCESS_KEY]
    principal = await access.authenticate(request)
    cid = request.match_info["cid"]
    conv = request.app[CONVERSATIONS].get(cid)
    access.authorize(principal, Action.READ, cid, conv["tenant"] if conv else None)
    if conv is None:
        return web.json_response({"message": "not found"}, status=404)
    return web.json_response({"conversationId": cid, "messages": conv["messages"]})


async def _list(request: web.Request) -> web.Response:
    principal = await request.app[ACCESS_KEY].authenticate(request)
    flt = list_filter(principal)
    ids = sorted(cid for cid, c in request.app[CONVERSATIONS].items()
                 if flt.admits(cid, c["tenant"]))
    return web.json_response({"conversations": [{"id": i} for i in ids]})


async def _delete(request: web.Request) -> web.Response:
    access = request.app[ACCESS_KEY]
    principal = await access.authenticate(request)
    cid = request.match_info["cid"]
    conv = request.app[CONVERSATIONS].get(cid)
    access.authorize(principal, Action.DELETE, cid, conv["tenant"] if conv else None)
    request.app[CONVERSATIONS].pop(cid, None)
    return web.json_response({"deleted": cid})


def _socket(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        access = request.app[ACCESS_KEY]
        cid = request.match_info["cid"]
        principal = await access.authenticate_ws(request)
        if isinstance(principal, AuthError):
            return await refuse_websocket(request, principal)
        conversations = request.app[CONVERSATIONS]
        conv = conversations.get(cid)
        try:
            access.authorize(principal, action, cid, conv["tenant"] if conv else None)
            lease = access.open_session(principal)
        except AuthError as exc:
            return await refuse_websocket(request, exc)
        try:
            if conv is None and action is Action.JOIN:
                conversations[cid] = {"tenant": creation_tenant(principal), "messages": []}
            ws = websocket_response(request)
            await ws.prepare(request)
            await ws.send_json({"type": "ready", "conversationId": cid,
                                "role": principal.role.value})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if action is Action.JOIN:
                        conversations[cid]["messages"].append(msg.data)
                    await ws.send_str(msg.data)
            return ws
        finally:
            lease.release()

    return handler


@dataclass
class Server:
    url: str
    app: web.Application
    apps_file: Path | None
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def access(self) -> AccessControl:
        return self.app[ACCESS_KEY]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    async def token(self, http: aiohttp.ClientSession, creds: Credentials,
                    **extra: Any) -> str:
        body = {"type": "application", "appId": creds.app_id, "appSecret": creds.secret,
                **extra}
        async with http.post(f"{self.url}/oauth2/token:generate", json=body) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["accessToken"])


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    runners: list[web.AppRunner] = []

    async def start(config: AuthConfig | None = None, *, open_mode: bool = False,
                    **overrides: Any) -> Server:
        cfg = replace(config or AuthConfig(), **overrides)
        if not open_mode and cfg.apps_file is None:
            apps_file = tmp_path / "apps.json"
            if not apps_file.exists():
                apps_file.write_text('{"version": 1, "apps": []}\n')
            cfg = replace(cfg, apps_file=apps_file)
        access = await asyncio.to_thread(AccessControl.from_config, cfg)
        app = web.Application()
        app[CONVERSATIONS] = {}
        setup_access(app, access)
        app.router.add_get("/ws/{cid}", _socket(Action.JOIN))
        app.router.add_get("/subscribe/{cid}", _socket(Action.WATCH))
        app.router.add_get("/v1/conversations", _list)
        app.router.add_get("/v1/conversations/{cid}/messages", _read)
        app.router.add_delete("/v1/conversations/{cid}", _delete)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return Server(f"http://127.0.0.1:{port}", app, cfg.apps_file, app[CONVERSATIONS])

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def apps_file(tmp_path: Path) -> Path:
    path = tmp_path / "apps.json"
    path.write_text('{"version": 1, "apps": []}\n')
    return path
