"""Shared fixtures: the real Vosk model, a real gateway on a free loopback port.

The model comes from ``VOSK_MODEL`` (CI points it at an offline copy); without it, the
product's own fetcher is used, exactly as for a user.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.asr.base import Recognizer
from gateway.config import GatewayConfig, SessionSettings
from gateway.conversation.directory import LocalDirectory
from gateway.http.keys import BUS_KEY, DIRECTORY_KEY, SUBSCRIPTIONS_KEY, WEBRTC_KEY
from gateway.http.subscriptions import Subscriptions
from gateway.model import ModelUnavailableError, resolve_model
from gateway.outputs.bus import LocalBus
from gateway.transports.webrtc.session import WebRtcSession
from gateway.transports.webrtc.transport import WebRtcTransport


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real model; without one the run stops at once with one line saying what to do
    (instead of every model test failing with a download error of its own)."""
    try:
        return resolve_model(os.environ.get("VOSK_MODEL") or None)
    except ModelUnavailableError as exc:
        pytest.exit(f"no Vosk model for the tests: {exc}", returncode=2)


@dataclass
class RunningGateway:
    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def webrtc(self) -> WebRtcTransport:
        return self.app[WEBRTC_KEY]

    @property
    def sessions(self) -> dict[str, WebRtcSession]:
        return self.webrtc.sessions

    @property
    def directory(self) -> LocalDirectory:
        return self.app[DIRECTORY_KEY]

    @property
    def bus(self) -> LocalBus:
        return self.app[BUS_KEY]

    @property
    def subscriptions(self) -> Subscriptions:
        return self.app[SUBSCRIPTIONS_KEY]


StartGateway = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def start_gateway(request: pytest.FixtureRequest) -> AsyncIterator[StartGateway]:
    """Start gateways with chosen config/settings; all are shut down after the test.

    With a ``recognizer`` (e.g. a scripted one) the real model is not needed at all.
    """
    runners: list[web.AppRunner] = []

    async def start(config: GatewayConfig | None = None,
                    settings: SessionSettings | None = None,
                    recognizer: Recognizer | None = None, **overrides: Any) -> RunningGateway:
        cfg = replace(config or GatewayConfig(), **overrides)
        model = None if recognizer is not None else request.getfixturevalue("model_path")
        app = create_app(cfg, model, session_settings=settings, recognizer=recognizer)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return RunningGateway(f"http://127.0.0.1:{port}", app, runner)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """A gateway with default settings (insights on, no ICE servers: offline)."""
    return await start_gateway()
