"""The live signaling endpoint: every bad input gets a clear error and harms nobody else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from signaling.protocol import MAX_MESSAGE_BYTES
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k, stream_wav
from tests.support.speech import espeak_wav, require_espeak
from tests.support.wer import wer

SENTENCE = "the quarterly revenue grew by twelve percent which was better than we expected"


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_espeak()
    return espeak_wav(SENTENCE, tmp_path_factory.mktemp("speech") / "revenue.wav", pad=0.3)


async def connected(gw: RunningGateway) -> GatewayClient:
    client = GatewayClient(gw.url)
    await client.connect()
    return client


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_hello_comes_first(gateway: RunningGateway) -> None:
    client = await connected(gateway)
    try:
        assert client.hello["type"] == "hello"
        assert isinstance(client.hello["sessionId"], str) and len(client.hello["sessionId"]) >= 16
        assert client.hello["iceServers"] == []  # none configured: offline
        assert client.hello["protocolVersion"] == 1
    finally:
        await client.close()


async def test_healthz(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + "/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok" and body["sessions"] == 0 and body["maxSessions"] >= 1
    # The documented shape (docs/protocol.md), pinned.
    assert set(body) == {"status", "version", "uptimeSeconds", "sessions", "maxSessions",
                         "load", "recognitionWorkers", "language", "insights"}
    assert set(body["load"]) == {"inUse", "capacity", "utilisation", "limit", "accepting",
                                 "saturated", "costPerSession", "poolBusy", "cores"}
    assert body["load"]["capacity"] == body["maxSessions"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("this is not json", "bad_json"),
        ('{"type": "shout"}', "unknown_type"),
        ('["offer"]', "bad_message"),
        ('{"type": "offer"}', "missing_field"),
        ('{"type": "offer", "sdp": 1234}', "invalid_field"),
        ('{"type": "offer", "sdp": "v=0", "config": []}', "invalid_field"),
        ('{"type": "offer", "sdp": "definitely not sdp"}', "invalid_sdp"),
        ('{"type": "candidate", "candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host", '
         '"sdpMid": "0"}', "no_session"),
        (json.dumps({"type": "offer", "sdp": "v=0\r\n" + "a" * MAX_MESSAGE_BYTES}),
         "message_too_large"),
    ],
)
async def test_bad_messages_get_errors_and_the_connection_stays(
    gateway: RunningGateway, payload: str, code: str
) -> None:
    client = await connected(gateway)
    try:
        await client.send(payload)
        err = await client.error()
        assert err["code"] == code and err["message"]
        await client.send({"type": "ping"})  # still usable afterwards
        assert (await client.next_signal(lambda m: m["type"] == "pong"))["type"] == "pong"
    finally:
        await client.close()


async def test_binary_frames_are_refused(gateway: RunningGateway) -> None:
    client = await connected(gateway)
    try:
        assert client.ws is not None
        await client.ws.send_bytes(b"\x00\x01" * 100)
        assert (await client.error())["code"] == "unsupported_binary"
    finally:
        await client.close()


async def test_frames_beyond_the_hard_limit_close_with_1009(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gateway.url.replace("http", "ws") + "/ws")
        await ws.receive_json()
        await ws.send_str("x" * (1024 * 1024))
        msg = await ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await wait_until(lambda: not gateway.sessions)


async def test_offer_without_audio(gateway: RunningGateway) -> None:
    client = await connected(gateway)
    try:
        client.peer(None)  # data channel only
        with pytest.raises(RuntimeError, match="no_audio"):
            await client.offer()
    finally:
        await client.close()


async def test_offer_without_data_channel(gateway: RunningGateway, speech_wav: Path) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)), data_channel=False)
        with pytest.raises(RuntimeError, match="no_data_channel"):
            await client.offer()
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"speaker": "bob"}, "config.speaker"),
        ({"speaker": {"name": 42}}, "config.speaker.name"),
        ({"insightTypes": "question"}, "insightTypes"),
        ({"insightTypes": ["gossip"]}, "insightTypes"),
        ({"config": {"confidenceThreshold": 3}}, "confidenceThreshold"),
        ({"trackers": [{"vocabulary": ["x"]}]}, "trackers"),
    ],
)
async def test_bad_config_is_rejected_and_can_be_corrected(
    gateway: RunningGateway, speech_wav: Path, config: dict, field: str
) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)))
        with pytest.raises(RuntimeError) as err:
            await client.offer(config)
        assert "invalid_config" in str(err.value) and field in str(err.value)
        # Nothing was set up, so the same connection may offer again, correctly.
        await client.offer({"speaker": {"name": "Bob"}})
    finally:
        await client.close()


async def test_unsupported_language(gateway: RunningGateway, speech_wav: Path) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)))
        with pytest.raises(RuntimeError, match="unsupported_language"):
            await client.offer({"languageCode": "de-DE"})
    finally:
        await client.close()


async def test_second_offer_is_refused(gateway: RunningGateway, speech_wav: Path) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)))
        await client.offer()
        assert client.pc is not None
        await client.send({"type": "offer", "sdp": client.pc.localDescription.sdp})
        assert (await client.error())["code"] == "already_started"
    finally:
        await client.close()


async def test_garbage_candidate_after_offer(gateway: RunningGateway, speech_wav: Path) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)))
        await client.offer()
        await client.send({"type": "candidate", "candidate": "candidate:nonsense",
                           "sdpMid": "0", "sdpMLineIndex": 0})
        assert (await client.error())["code"] == "invalid_candidate"
        # An mDNS candidate is ignored silently rather than stalling on resolution.
        await client.send({"type": "candidate", "sdpMid": "0", "sdpMLineIndex": 0,
                           "candidate": "candidate:1 1 udp 2122260223 "
                           "6f1c8d5e-0b39-4d5c-9a62-3f4f0b1c2d3e.local 50000 typ host"})
        await client.send({"type": "ping"})
        await client.next_signal(lambda m: m["type"] == "pong")
        assert not [s for s in client.signals if s.get("type") == "error"]
    finally:
        await client.close()


async def test_server_busy_when_full(start_gateway: StartGateway) -> None:
    gw = await start_gateway(max_sessions=1)
    first = await connected(gw)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(gw.url.replace("http", "ws") + "/ws")
            msg = await ws.receive_json(timeout=5)
            assert msg["type"] == "error" and msg["code"] == "server_busy"
            await ws.receive(timeout=5)
            assert ws.closed
    finally:
        await first.close()


@pytest.mark.slow
async def test_vanished_client_frees_everything(gateway: RunningGateway,
                                                speech_wav: Path) -> None:
    client = await connected(gateway)
    client.peer(WavTrack(read_wav_48k(speech_wav)))
    await client.offer()
    await client.wait_result(lambda m: m.get("message", {}).get("type") == "recognition_result")
    session = next(iter(gateway.sessions.values()))
    # Vanish: no bye, the socket and the peer simply go away.
    await client.close()
    await wait_until(lambda: not gateway.sessions, timeout=15)
    assert session.pc is not None and session.pc.connectionState == "closed"
    assert not session._tasks  # reader, recognizer and analytics tasks all gone


@pytest.mark.slow
async def test_peer_gone_but_signaling_open(gateway: RunningGateway, speech_wav: Path) -> None:
    client = await connected(gateway)
    try:
        client.peer(WavTrack(read_wav_48k(speech_wav)))
        await client.offer()
        await client.wait_result(lambda m: m.get("message", {}).get("type") ==
                                 "recognition_started")
        assert client.pc is not None
        await client.pc.close()
        err = await client.error(timeout=40)
        assert err["code"] in ("peer_closed", "ice_failed")
        await wait_until(lambda: not gateway.sessions, timeout=15)
    finally:
        await client.close()


@pytest.mark.slow
async def test_good_session_unharmed_by_a_misbehaving_one(gateway: RunningGateway,
                                                          speech_wav: Path) -> None:
    good = asyncio.ensure_future(stream_wav(gateway.url, speech_wav, {"speaker": {"name": "G"}}))

    async def misbehave() -> None:
        for payload in ["{", '{"type":"offer","sdp":"nope"}', '{"type":"x"}',
                        json.dumps({"type": "offer", "sdp": "v=0" + "x" * 70_000})]:
            bad = await connected(gateway)
            await bad.send(payload)
            await bad.error()
            await bad.close()
        vanisher = await connected(gateway)
        vanisher.peer(WavTrack(read_wav_48k(speech_wav)))
        await vanisher.offer()
        await asyncio.sleep(1.0)
        await vanisher.close()

    await misbehave()
    client = await good
    # 0.35: the bound of the other espeak tests. Alone this sentence comes back at 0-0.15;
    # one CI run heard its first three words wrong (0.31) while the vanishing peer's DTLS
    # handshake shared the event loop with the good call's first packets: aiortc does that
    # handshake on the loop, so a burst of new peers costs a running call a few packets.
    assert wer(SENTENCE, client.final_text()) <= 0.35
    assert client.of_type("recognition_stopped")
