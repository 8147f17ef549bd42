"""Fixtures for the access tests: real gateways with access control, restartable on one
database, the same database on SQLite and on a real PostgreSQL (tests/store's fixtures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.auth import ACCESS_KEY, AccessControl
from gateway.config import GatewayConfig, SessionSettings
from gateway.http.keys import BOARD_KEY, BUS_KEY, DIRECTORY_KEY
from gateway.store import STORE_KEY, Store
from tests.access.support import Apps
from tests.store.conftest import database, pg_cluster  # noqa: F401 - fixtures used here

SETTINGS = SessionSettings(analytics_interval=2.0, connect_timeout=15.0)

# Who says what (the scripted recogniser picks by speaker name), on each speaker's own
# stream clock: short calls with questions, action items and tracker words.
SCRIPTS = {
    "Alice": [ScriptedPhrase("hello thanks for calling support", 0.3, 1.4),
              ScriptedPhrase("can you send me the invoice by friday", 2.6, 3.6)],
    "Bob": [ScriptedPhrase("what is the price of the new plan", 1.5, 2.4),
            ScriptedPhrase("great that sounds wonderful thank you", 3.8, 4.8)],
    "Carol": [ScriptedPhrase("we use sales force but the renewal price is too high", 0.4, 2.0),
              ScriptedPhrase("let's schedule a follow up call next week", 3.0, 4.4)],
    "Dan": [ScriptedPhrase("why was the discount removed this month", 2.2, 3.4),
            ScriptedPhrase("i will send the contract tomorrow morning", 4.6, 5.8)],
}


def scripted() -> ScriptedRecognizer:
    return ScriptedRecognizer([], per_speaker=SCRIPTS)


@dataclass
class Gateway:
    """A gateway running in this test's loop; ``stop`` is a graceful shutdown."""

    url: str
    app: web.Application
    runner: web.AppRunner
    stopped: bool = False

    @property
    def access(self) -> AccessControl:
        return self.app[ACCESS_KEY]

    @property
    def store(self) -> Store:
        return self.app[STORE_KEY]

    @property
    def bus(self) -> Any:
        return self.app[BUS_KEY]

    @property
    def directory(self) -> Any:
        return self.app[DIRECTORY_KEY]

    @property
    def board(self) -> Any:
        return self.app[BOARD_KEY]

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def apps(tmp_path: Path) -> Apps:
    return Apps.create(tmp_path)


@pytest.fixture
async def gateways(apps: Apps) -> AsyncIterator[StartGateway]:
    """Start closed gateways (the ``apps`` file) with a scripted recogniser unless told
    otherwise; every one still running is stopped after the test."""
    started: list[Gateway] = []

    async def start(*, recognizer: Any = None, model: Path | None = None,
                    settings: SessionSettings = SETTINGS, open_mode: bool = False,
                    auth: dict[str, Any] | None = None, **config: Any) -> Gateway:
        cfg = replace(GatewayConfig(), **{"database": None, **config})
        if not open_mode:
            cfg = apps.config(cfg, **(auth or {}))
        if recognizer is None and model is None:
            recognizer = scripted()
        app = create_app(cfg, model, session_settings=settings, recognizer=recognizer)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        gateway = Gateway(f"http://127.0.0.1:{runner.addresses[0][1]}", app, runner)
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        await gateway.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
