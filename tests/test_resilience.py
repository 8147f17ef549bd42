"""Failures inside the gateway cost as little as possible and never leak.

Regression tests for defects a review proved against the real gateway. Where a failure
cannot be provoked from outside (a bug in the insights engine), it is injected with
monkeypatch into the real component; everything else is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from gateway.config import SessionSettings
from gateway.insights import InsightsEngine
from gateway.outputs.relay import RelaySink
from gateway.transports.webrtc.ice import IceProvider
from signaling import protocol
from signaling.protocol import ProtocolError
from tests.conftest import StartGateway
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.speech import espeak_wav, require_espeak

FIRST = "the quarterly revenue grew by twelve percent which was better than we expected"
SECOND = "can you send me the contract by friday please"


@pytest.fixture(scope="module")
def two_phrases(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    require_espeak()
    folder = tmp_path_factory.mktemp("two")
    gap = np.zeros(48_000 * 2, dtype=np.int16)
    return np.concatenate([read_wav_48k(espeak_wav(FIRST, folder / "a.wav", pad=0.3)), gap,
                           read_wav_48k(espeak_wav(SECOND, folder / "b.wav", pad=0.3))])


def finals(client: GatewayClient) -> list[dict[str, Any]]:
    return [r for r in client.of_type("recognition_result") if r["isFinal"]]


@pytest.mark.slow
async def test_an_insights_failure_costs_one_phrase_its_insights_not_the_call(
    start_gateway: StartGateway, two_phrases: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = InsightsEngine.feed
    calls = {"n": 0}

    def failing_once(self: InsightsEngine, phrase: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected insights failure")
        return original(self, phrase)

    monkeypatch.setattr(InsightsEngine, "feed", failing_once)
    gw = await start_gateway()
    client = GatewayClient(gw.url)
    await client.connect()
    track = WavTrack(two_phrases)
    client.peer(track)
    try:
        await client.offer()
        await track.finished.wait()
        await client.bye()
    finally:
        await client.close()
    texts = [f["payload"]["raw"]["alternatives"][0]["transcript"] for f in finals(client)]
    assert len(texts) == 2, "both phrases were transcribed"
    assert texts[0] == client.of_type("message_response")[0]["messages"][0]["payload"]["content"]
    assert client.of_type("insight_response"), "the second phrase still got its insight"
    assert client.of_type("recognition_stopped")


@pytest.mark.slow
async def test_relay_is_closed_even_when_the_flush_runs_out_of_time(
    start_gateway: StartGateway, two_phrases: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await reader.read()  # accepts TCP, never answers the WebSocket handshake
        writer.close()

    blackhole = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = blackhole.sockets[0].getsockname()[1]
    made: list[RelaySink] = []
    original_init = RelaySink.__init__

    def record(self: RelaySink, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(RelaySink, "__init__", record)
    gw = await start_gateway(settings=SessionSettings(stop_timeout=1.0),
                             relay_url=f"ws://127.0.0.1:{port}/ingest")
    client = GatewayClient(gw.url)
    await client.connect()
    track = WavTrack(two_phrases[: 48_000 * 4])
    client.peer(track)
    try:
        await client.offer()
        await track.finished.wait()
        await client.bye(timeout=20)
    finally:
        await client.close()
        blackhole.close()
    (relay,) = made
    for _ in range(100):
        if relay.closed:
            break
        await asyncio.sleep(0.1)
    assert relay.closed, "the relay connection attempts ended with the conversation"


async def test_sockets_that_never_offer_give_back_their_slot(start_gateway: StartGateway) -> None:
    gw = await start_gateway(max_sessions=1, settings=SessionSettings(offer_timeout=0.5))
    idle = GatewayClient(gw.url)
    await idle.connect()
    error = await idle.error(timeout=5)
    assert error["code"] == "offer_timeout"
    await idle.close()
    for _ in range(50):
        if not gw.sessions:
            break
        await asyncio.sleep(0.05)
    fresh = GatewayClient(gw.url)
    hello = await fresh.connect()
    assert hello["type"] == "hello", "the slot is free again"
    await fresh.close()


@pytest.mark.slow
async def test_session_ending_by_itself_closes_its_socket(
    start_gateway: StartGateway, two_phrases: np.ndarray
) -> None:
    gw = await start_gateway()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.url.replace("http", "ws") + "/ws")
        await ws.receive_json()
        client = GatewayClient(gw.url)
        client.peer(WavTrack(two_phrases))
        assert client.pc is not None
        await client.pc.setLocalDescription(await client.pc.createOffer())
        await ws.send_json({"type": "offer", "sdp": client.pc.localDescription.sdp})
        answer = await ws.receive_json(timeout=10)
        from aiortc import RTCSessionDescription

        await client.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.sleep(1.0)
        await client.pc.close()  # the peer goes; the signaling socket stays
        error = await ws.receive_json(timeout=40)
        assert error["code"] in ("peer_closed", "ice_failed")
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.OK


async def test_video_and_extra_audio_are_answered_inactive(
    start_gateway: StartGateway, two_phrases: np.ndarray
) -> None:
    gw = await start_gateway(insights=False)
    client = GatewayClient(gw.url)
    await client.connect()
    pc = client.peer(WavTrack(two_phrases))
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    try:
        answer = await client.offer()
    finally:
        await client.close()
    sections = answer.split("m=")[1:]
    kinds = [(section.split()[0], _direction(section)) for section in sections]
    assert kinds == [("audio", "recvonly"), ("audio", "inactive"), ("video", "inactive"),
                     ("application", None)]


def _direction(section: str) -> str | None:
    for direction in ("sendrecv", "sendonly", "recvonly", "inactive"):
        if f"a={direction}" in section:
            return direction
    return None


async def test_shutdown_during_an_offer_answers_with_an_error(
    start_gateway: StartGateway, two_phrases: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()

    async def slow_gathering_check(self: Any, local_sdp: str, user: str) -> None:
        gate.set()
        await asyncio.sleep(1.0)  # a TURN diagnosis takes this long on a real network

    monkeypatch.setattr(IceProvider, "gathering_error", slow_gathering_check)
    gw = await start_gateway()
    client = GatewayClient(gw.url)
    await client.connect()
    client.peer(WavTrack(two_phrases))
    offering = asyncio.ensure_future(client.offer())
    await asyncio.wait_for(gate.wait(), 10)
    await gw.webrtc.close_all()
    with pytest.raises(RuntimeError, match="session_closed"):
        await offering
    await client.close()
    assert not gw.sessions and not gw.directory.conversations


def test_valid_json_python_refuses_is_bad_json() -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.parse(json.dumps({"type": "ping"})[:-1] + ', "x": ' + "1" * 5000 + "}")
    assert err.value.code == "bad_json"
