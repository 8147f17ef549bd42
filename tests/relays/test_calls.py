"""Calls through the real gateway (real aiortc client, signaling, Opus, data channel) whose
audio is relayed to real servers of each protocol on loopback; their answers come back on
the participant's data channel and to consoles. Local recognition is scripted (it is not
what these tests are about); the downstreams recognise with the real Vosk model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from gateway.asr.scripted import ScriptedRecognizer
from gateway.config import GatewayConfig
from gateway.relays.config import RelayConfig
from gateway.relays.targets import Target
from tests.conftest import StartGateway
from tests.relays.wiring import wire_webrtc
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.receivers import (
    Connection,
    JambonzReceiver,
    SymblReceiver,
    TwilioReceiver,
    correlation,
)
from tests.support.speech import require_pocketsphinx_corpus, resample
from tests.support.vosk_server import VoskServer, load_model
from tests.support.wer import wer

pytestmark = pytest.mark.slow


def relays(*targets: Target, **kwargs: Any) -> GatewayConfig:
    return GatewayConfig(insights=False, relays=RelayConfig(downstreams=targets, **kwargs))


async def call(url: str, wav: Path, config: dict[str, Any], *,
               after: float = 0.0) -> GatewayClient:
    """One participant plays ``wav`` and says bye; returns the client (its results)."""
    client = GatewayClient(url)
    await client.connect()
    track = WavTrack(read_wav_48k(wav), tail_silence=1.0)
    client.peer(track)
    try:
        await client.offer(config)
        await asyncio.wait_for(track.finished.wait(), track.duration + 30)
        await asyncio.sleep(after)
        await client.bye()
    finally:
        await client.close()
    return client


async def watch(url: str, conversation_id: str) -> tuple[aiohttp.ClientSession,
                                                         aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession()
    console = await http.ws_connect(url.replace("http", "ws", 1) + f"/subscribe/{conversation_id}")
    assert (await console.receive_json(timeout=5))["type"] == "subscribed"
    return http, console


async def watched(http: aiohttp.ClientSession,
                  console: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    seen = [json.loads(msg.data) async for msg in console]
    await http.close()
    return seen


def answers(results: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """What downstream ``label`` sent (the messages inside their envelopes)."""
    return [r["message"] for r in results
            if r.get("type") == "downstream_message" and r["downstream"] == label]


def statuses(results: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [r for r in results if r.get("type") == "downstream_status" and r["status"] == status]


async def test_each_protocol_gets_the_call_intact_and_answers_come_back(
        start_gateway: StartGateway, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    utterance = require_pocketsphinx_corpus()[0]  # 7 s of LibriVox speech

    async def twilio_talks(conn: Connection) -> None:
        await conn.wait_frames(10)
        await conn.send({"event": "mark", "streamSid": conn.state["streamSid"],
                         "mark": {"name": "greeting"}})
        await conn.send({"event": "insight", "text": "customer sounds calm"})

    async def jambonz_talks(conn: Connection) -> None:
        await conn.wait_frames(10)
        await conn.send({"type": "json", "data": {"sentiment": "neutral"}})
        await conn.send(bytes(640))  # audio for the caller: counted, never forwarded

    model = load_model(model_path)
    async with VoskServer(model_path) as vosk_server, TwilioReceiver(script=twilio_talks) as tw, \
            JambonzReceiver(script=jambonz_talks) as jb, SymblReceiver(model=model) as sy:
        gw = await start_gateway(relays(
            Target("asr", "vosk", vosk_server.url + "/{participantId}"),
            Target("crm", "twilio", tw.url),
            Target("fork", "jambonz", jb.url, {"metadata": {"tenant": "acme"}}),
            Target("peer", "symbl", sy.url + "/v1/streaming/{streamId}")),
            recognizer=ScriptedRecognizer([]))
        wired = wire_webrtc(monkeypatch, gw)
        http, console = await watch(gw.url, "relayed")
        client = await call(gw.url, utterance.path, {
            "conversationId": "relayed", "speaker": {"name": "Ann", "userId": "ann@x.org"},
            "insightTypes": ["question"]})
        seen = await watched(http, console)

    (pid,) = wired.recorders
    sent = wired.recorders[pid].samples()
    assert len(sent) >= 16000 * 7
    # vosk-server: every sample, in one connection at 16 kHz; its transcript back.
    (session,) = vosk_server.sessions
    assert session.config["sample_rate"] == 16000 and session.audio_bytes == 2 * len(sent)
    assert session.texts[-1] == '{"eof" : 1}'
    finals = [m["text"] for m in answers(client.results, "asr") if "text" in m]
    assert wer(utterance.transcript, " ".join(finals)) <= 0.3
    # jambonz: bit-exact at 16 kHz, metadata as configured, answers back, binary counted.
    (jconn,) = jb.connections
    assert jconn.violations == [] and jconn.state["metadata"]["tenant"] == "acme"
    assert np.array_equal(jb.audio(jconn)[:, 0], sent)
    assert {"type": "json", "data": {"sentiment": "neutral"}} in answers(client.results, "fork")
    assert wired.link("fork").protocol.binary_replies == 1
    # Twilio: 8 kHz mu-law in 20 ms media, strictly by the spec; marks echoed.
    (tconn,) = tw.connections
    assert tconn.violations == [] and tconn.state["stage"] == "stopped"
    assert correlation(resample(sent, 16000, 8000), tw.audio(tconn)) > 0.97
    assert "greeting" in tconn.state["marks"]
    assert {"event": "insight", "text": "customer sounds calm"} in answers(client.results, "crm")
    # Symbl: the client's start_request, LINEAR16 bit-exact, the service's messages back.
    (sconn,) = sy.connections
    assert sconn.violations == [] and sconn.state["stopped"]
    assert sconn.state["start"]["insightTypes"] == ["question"]
    assert sconn.state["start"]["speaker"] == {"name": "Ann", "userId": "ann@x.org"}
    assert np.frombuffer(bytes(sconn.state["audio"]), "<i2").tolist() == sent.tolist()
    contents = [m["payload"]["content"] for a in answers(client.results, "peer")
                if a.get("type") == "message_response" for m in a["messages"]]
    assert wer(utterance.transcript, " ".join(contents)) <= 0.3
    # Every answer names its origin; consoles got them too; nothing was lost.
    for reply in (r for r in client.results if r.get("type") == "downstream_message"):
        assert (reply["conversationId"], reply["participantId"]) == ("relayed", pid)
    relayed = [r for r in seen if r.get("type") == "downstream_message"]
    assert relayed == [r for r in client.results if r.get("type") == "downstream_message"]
    closed = statuses(client.results, "closed")
    assert sorted(r["downstream"] for r in closed) == ["asr", "crm", "fork", "peer"]
    assert all(r["lostSeconds"] == 0 and r["connections"] == 1 for r in closed)
