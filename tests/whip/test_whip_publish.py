"""A WHIP client publishes to a real gateway (scripted recogniser, real aiortc peers on
loopback): the results reach the conversation's outputs, DELETE ends it cleanly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.observability.live import LIVE_KEY
from gateway.transports.whip.routes import WHIP_KEY
from tests.conftest import RunningGateway, StartGateway
from tests.ops.scrape import scrape, value

from .client import SDP, SDPFRAG, WhipClient

SCRIPT = [ScriptedPhrase("hello from an encoder", 0.2, 1.0)]


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))


async def watch(gateway: RunningGateway, conversation_id: str,
                http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(gateway.url.replace("http", "ws", 1)
                               + f"/subscribe/{conversation_id}")
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "subscribed"
    return ws


async def until(ws: aiohttp.ClientWebSocketResponse, kind: str,
                timeout: float = 15) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended before {kind}: {seen}")
            seen.append(json.loads(msg.data))
            if seen[-1].get("type") == kind:
                return seen


@pytest.mark.parametrize("trickle", [False, True])
async def test_publish_results_reach_the_console_and_delete_ends(
        gateway: RunningGateway, trickle: bool) -> None:
    client = WhipClient(f"{gateway.url}/whip?conversationId=enc-1&name=Encoder&userId=u1")
    before = await scrape(gateway.url)
    async with aiohttp.ClientSession() as http:
        console = await watch(gateway, "enc-1", http)
        try:
            published = await client.publish(trickle=trickle)
            assert published.headers["Content-Type"].startswith(SDP)
            assert published.location.startswith(f"{gateway.url}/whip/")
            assert published.etag and published.etag.startswith('"')
            assert published.headers["Conversation-Id"] == "enc-1"
            assert published.headers["Accept-Patch"] == SDPFRAG
            assert "a=recvonly" in published.answer  # RFC 9725 section 4.2
            assert "a=candidate:" in published.answer  # all of ours, gathered before the 201
            seen = await until(console, "message_response")
            finals = [m for m in seen if m.get("type") == "message_response"]
            message = finals[0]["messages"][0]
            assert message["payload"]["content"].lower().startswith("hello from an encoder")
            assert message["from"]["name"] == "Encoder"
            assert message["from"]["userId"] == "u1"
            session = gateway.app[WHIP_KEY].sessions[published.location.rsplit("/", 1)[1]]
            if trickle:  # the PATCHed candidates reached the ICE agent
                assert session.candidates > 0
            assert session.connected_at is not None
            during = await scrape(gateway.url)
            assert value(during, "gateway_sessions", transport="whip", state="connected") == 1
            assert value(during, "gateway_audio_received_seconds_total", transport="whip") > \
                value(before, "gateway_audio_received_seconds_total", transport="whip")
            assert await client.delete() == 200
            await until(console, "conversation_ended")
            assert not gateway.app[WHIP_KEY].sessions
            assert gateway.app[LIVE_KEY].count() == 0
            assert await client.delete() == 404  # gone
        finally:
            await console.close()
            await client.close()


async def test_a_client_with_an_insights_data_channel_gets_its_own_results(
        gateway: RunningGateway) -> None:
    """Not part of WHIP: a client that opens the /ws clients' "insights" channel before its
    offer receives its own results there too, in the same shapes."""
    client = WhipClient(f"{gateway.url}/whip")
    try:
        await client.publish(data_channel=True)
        await client.wait_result(lambda m: m.get("type") == "message_response")
        started = client.results[0]
        assert started["type"] == "message"
        assert started["message"]["type"] == "conversation_created"  # Symbl's order
        assert client.results[1]["message"]["type"] == "recognition_started"
        assert await client.delete() == 200
    finally:
        await client.close()
