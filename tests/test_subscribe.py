"""Consoles watching live conversations through GET /subscribe/{conversationId}."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.auth import Role
from gateway.outputs.result import Result
from gateway.outputs.subscriber import SubscriberSink
from tests.access.support import Apps, token
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k, stream_wav
from tests.support.speech import espeak_wav, require_espeak


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_espeak()
    return espeak_wav("what is the price of the new plan", tmp_path_factory.mktemp("s") /
                      "q.wav", pad=0.5)


def ws_url(gw: RunningGateway, path: str) -> str:
    return gw.url.replace("http", "ws", 1) + path


async def collect(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            into.append(json.loads(msg.data))


@pytest.mark.slow
async def test_console_subscribed_before_the_call_sees_all_of_it(
    start_gateway: StartGateway, question_wav: Path
) -> None:
    gw = await start_gateway()
    seen: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url(gw, "/subscribe/support-42"))
        reader = asyncio.ensure_future(collect(ws, seen))
        client = await stream_wav(gw.url, question_wav, {"conversationId": "support-42",
                                                          "speaker": {"name": "Caller"}})
        await asyncio.wait_for(reader, 10)  # the gateway closes the socket at the end
        assert ws.close_code == 1000
    assert seen[0] == {"type": "subscribed", "conversationId": "support-42"}
    assert seen[-1] == {"type": "conversation_ended", "conversationId": "support-42"}
    # The console sees exactly what the participant saw, in the same order.
    assert seen[1:-1] == client.results
    kinds = {m.get("message", {}).get("type") or m["type"] for m in seen}
    assert {"recognition_result", "message_response", "insight_response"} <= kinds


@pytest.mark.slow
async def test_console_joining_mid_call_and_leaving_early_harms_nothing(
    start_gateway: StartGateway, question_wav: Path
) -> None:
    gw = await start_gateway()
    client = GatewayClient(gw.url)
    await client.connect()
    track = WavTrack(read_wav_48k(question_wav))
    client.peer(track)
    await client.offer({"conversationId": "live-1"})
    await client.wait_result(lambda m: m.get("message", {}).get("type") == "recognition_started")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url(gw, "/subscribe/live-1"))
        first = await ws.receive_json(timeout=5)
        assert first == {"type": "subscribed", "conversationId": "live-1"}
        finals = []
        async for msg in ws:
            data = json.loads(msg.data)
            if data["type"] == "message_response":
                finals.append(data)
                break
        await ws.close()  # the console leaves before the call ends
    assert finals
    await track.finished.wait()
    await client.bye()
    await client.close()
    assert client.of_type("recognition_stopped")
    assert not gw.directory.conversations and not gw.bus.conversations()


async def test_token_limits_and_bad_ids(start_gateway: StartGateway, tmp_path: Path) -> None:
    """Watching needs a token that may watch; refusals are an error frame and close 1008
    (a browser cannot read a refused handshake's status); more in tests/access."""
    apps = Apps.create(tmp_path)
    agent = await apps.add(Role.AGENT)
    gw = await start_gateway(auth=apps.config().auth)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            refused = await http.ws_connect(ws_url(gw, "/subscribe/room"), headers=headers)
            error = await refused.receive_json(timeout=5)
            assert error["type"] == "error"
            assert error["code"] in ("missing_token", "malformed_token")
            assert (await refused.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
            assert refused.close_code == 1008
        secret = await token(http, gw.url, agent)
        with pytest.raises(aiohttp.WSServerHandshakeError) as bad_id:
            await http.ws_connect(ws_url(gw, f"/subscribe/has%20space?access_token={secret}"))
        assert bad_id.value.status == 400

        gw.subscriptions.max_per_conversation = 1
        one = await http.ws_connect(ws_url(gw, "/subscribe/room"),
                                    headers={"Authorization": f"Bearer {secret}"})
        assert (await one.receive_json(timeout=5))["type"] == "subscribed"
        two = await http.ws_connect(ws_url(gw, f"/subscribe/room?access_token={secret}"))
        error = await two.receive_json(timeout=5)
        assert error["code"] == "too_many_subscribers"
        await one.close()
        await asyncio.sleep(0.1)
        assert not gw.bus.conversations(), "a console that leaves is forgotten"


async def test_a_console_that_stops_reading_cannot_hold_up_the_gateway(
    gateway: RunningGateway,
) -> None:
    """A real socket that never reads: the writer blocks, the backlog stays bounded."""
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /subscribe/slow HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(0.1)
    (sink,) = gateway.bus.outputs("slow")
    assert isinstance(sink, SubscriberSink)
    big = {"type": "message_response", "messages": [{"payload": {"content": "x" * 4000}}]}
    for n in range(5000):  # ~20 MB: far more than the socket buffers hold
        sink.send(Result.of("slow", big, n + 1))
    tick = asyncio.get_running_loop().time()
    await asyncio.sleep(0.01)
    assert asyncio.get_running_loop().time() - tick < 0.5, "the event loop stays responsive"
    await asyncio.sleep(0.5)
    assert sink.dropped > 0 and sink.sent < 5000
    close = asyncio.ensure_future(sink.close())
    await asyncio.wait_for(close, 8)  # bounded, although the peer never reads
    writer.close()


async def test_presence_subscribers_get_participant_state_as_published(
    start_gateway: StartGateway,
) -> None:
    """``participant_state`` (mute and the like, published by the conversation as a
    lifecycle event) reaches subscribers that asked for presence, verbatim, and the
    conversation list; plain subscribers never see it."""
    from gateway.asr.scripted import ScriptedRecognizer
    from tests.test_console_api import join

    gw = await start_gateway(recognizer=ScriptedRecognizer([]))
    async with aiohttp.ClientSession() as http:
        plain = await http.ws_connect(ws_url(gw, "/subscribe/mute-1"))
        console = await http.ws_connect(ws_url(gw, "/subscribe/mute-1?presence=1"))
        caller = await join(gw, "Alex", "mute-1", 3)
        conversation = gw.directory.get("mute-1")
        assert conversation is not None
        (member,) = conversation.members.values()
        body = {"type": "participant_state", "conversationId": "mute-1",
                "participant": member.speaker.to_json(), "muted": True,
                "at": "2026-11-30T15:45:11.002Z"}
        conversation.publish(body, kind="lifecycle")
        async with http.get(f"{gw.url}/api/conversations") as r:
            (listed,) = (await r.json())["conversations"]
        assert listed["participants"][0]["state"] == {"muted": True}
        await caller.track.finished.wait()
        await caller.hang_up()
        plain_seen: list[dict[str, Any]] = []
        console_seen: list[dict[str, Any]] = []
        await asyncio.wait_for(asyncio.gather(collect(plain, plain_seen),
                                              collect(console, console_seen)), 10)
    assert body in console_seen
    assert [m["type"] for m in console_seen if m["type"].startswith("participant")] == [
        "participant_joined", "participant_state", "participant_left"]
    assert not [m for m in plain_seen if m["type"].startswith(("participant", "snapshot"))]
    assert plain_seen[-1]["type"] == console_seen[-1]["type"] == "conversation_ended"
