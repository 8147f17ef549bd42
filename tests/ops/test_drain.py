"""Readiness and the graceful drain on a real gateway (scripted recogniser, real peers)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack

from gateway.app import create_app
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.config import GatewayConfig
from gateway.http.keys import ADMISSION_KEY
from gateway.observability.drain import DRAIN_KEY
from gateway.observability.readiness import readiness
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient

SCRIPT = [ScriptedPhrase("one", 0.2, 0.6), ScriptedPhrase("two", 2.0, 2.5)]


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))


async def readyz(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as r:
        assert r.headers["Cache-Control"] == "no-store"
        return r.status, await r.json()


async def call(url: str, conversation_id: str) -> GatewayClient:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    await client.offer({"conversationId": conversation_id})
    return client


async def test_ready_when_it_can_take_a_call(gateway: RunningGateway) -> None:
    status, body = await readyz(gateway.url)
    assert status == 200
    capacity = gateway.app[ADMISSION_KEY].capacity  # measured: from the prior cost and cores
    load: dict[str, Any] = body.pop("load")  # type: ignore[assignment]
    assert body == {"status": "ready", "sessions": 0, "maxSessions": capacity}
    assert load["limit"] == "measured" and load["capacity"] == capacity and load["accepting"]
    assert load["inUse"] == 0 and load["saturated"] is False and load["costPerSession"] > 0


def test_not_ready_before_the_recogniser_is_loaded(tmp_path: Path) -> None:
    app = create_app(GatewayConfig(), tmp_path)  # contexts not run: nothing loaded yet
    state = readiness(app)
    assert not state.ready and state.reason == "starting"


async def test_drain_refuses_new_calls_lets_open_ones_finish(gateway: RunningGateway) -> None:
    client = await call(gateway.url, "draining")
    try:
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=10)
        drain = asyncio.ensure_future(gateway.app[DRAIN_KEY].run(30))
        await asyncio.sleep(0.1)
        status, body = await readyz(gateway.url)
        assert status == 503 and body["reason"] == "draining"
        # A new call is refused with the documented code; the open one goes on.
        refused = GatewayClient(gateway.url)
        try:
            hello = await refused.connect()
            assert hello["type"] == "error" and hello["code"] == "shutting_down"
        finally:
            await refused.close()
        async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/healthz") as r:
            assert r.status == 200  # alive: liveness is not readiness
        await client.wait_result(
            lambda m: m.get("type") == "message_response"
            and m["messages"][0]["payload"]["content"].lower().startswith("two"), timeout=10)
        assert not drain.done()
        await client.bye()  # the page moved on: the drain ends at once
        assert await asyncio.wait_for(drain, 5) == 0
    finally:
        await client.close()


async def test_drain_timeout_leaves_the_rest_to_shutdown(gateway: RunningGateway) -> None:
    client = await call(gateway.url, "stubborn")
    try:
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=10)
        left = await gateway.app[DRAIN_KEY].run(0.3)
        assert left == 1 and len(gateway.sessions) == 1
        await gateway.runner.cleanup()  # the ordinary shutdown flushes and closes it
        await client.wait_result(
            lambda m: m.get("message", {}).get("type") == "recognition_stopped", timeout=10)
        assert not gateway.sessions
    finally:
        await client.close()
