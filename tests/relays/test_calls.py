"""Calls through the real gateway (real aiortc client, signaling, Opus, data channel) whose
audio is relayed to real servers of each protocol on loopback; their answers come back on
the participant's data channel and to consoles. Local recognition is scripted (it is not
what these tests are about); the downstreams recognise with the real Vosk model."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.config import GatewayConfig
from gateway.relays.config import RelayConfig
from gateway.relays.manager import RELAYS_KEY
from gateway.relays.targets import Target
from tests.conftest import StartGateway
from tests.relays.support import locate, until
from tests.relays.wiring import Recorder, wire_webrtc
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.receivers import (
    Connection,
    JambonzReceiver,
    JsonReceiver,
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


def placement(channel: np.ndarray, recorder: Recorder) -> tuple[float, int, int]:
    """How much of a participant's audio is in ``channel`` exactly, at one offset (the
    mixer drops audio that arrives later than its lag allows): (fraction of its non-silent
    chunks found in place, chunks not found, the offset)."""
    offsets = []
    for chunk in recorder.chunks:
        samples = np.frombuffer(chunk.data, "<i2")
        if np.count_nonzero(samples) > len(samples) // 2:
            at = locate(channel, samples)
            offsets.append(at - chunk.offset if at >= 0 else None)
    found = [o for o in offsets if o is not None]
    best = max(set(found), key=found.count)
    return found.count(best) / len(offsets), len(offsets) - found.count(best), best


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
        # Two real recognisers on a shared, busy machine: let them take their time at the end.
        relays_ = gw.app[RELAYS_KEY]
        relays_.settings = dataclasses.replace(relays_.settings, close_timeout=15.0,
                                               goodbye_limit=60.0)
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


async def test_mixing_protocols_carry_the_whole_conversation_on_one_connection(
        start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = require_pocketsphinx_corpus()
    script = ScriptedRecognizer([ScriptedPhrase("the numbers look good", 0.5, 1.5)])
    async with JambonzReceiver() as jb, TwilioReceiver() as tw, JsonReceiver() as results:
        gw = await start_gateway(relays(
            Target("stereo", "jambonz", jb.url, {"mixType": "stereo"}),
            Target("both", "twilio", tw.url, {"tracks": "both"}),
            Target("ana", "results", results.url)), recognizer=script)
        wired = wire_webrtc(monkeypatch, gw)
        config = {"conversationId": "mix", "speaker": {"name": "Ann"}}
        first = asyncio.ensure_future(call(gw.url, corpus[0].path, config))
        await until(lambda: len(wired.recorders) == 1)
        mix = wired.shared("stereo").mixer
        await asyncio.sleep(1.0)
        second = await call(gw.url, corpus[2].path, {**config, "speaker": {"name": "Bob"}})
        client = await first
        await until(lambda: all(c.closed.is_set() for r in (jb, tw, results)
                                for c in r.connections))
    (a, ra), (b, rb) = wired.recorders.items()
    (jconn,) = jb.connections  # one connection for the conversation
    assert jconn.violations == [] and jconn.state["metadata"]["mixType"] == "stereo"
    assert "participantId" not in jconn.state["metadata"]
    stereo = jb.audio(jconn)
    assert mix is not None
    offsets = []
    for channel, recorder in ((0, ra), (1, rb)):  # first in: left, as a caller
        placed, late, offset = placement(stereo[:, channel], recorder)
        # What is not in place was dropped by the mixer as too late (counted), if anything.
        assert placed >= 0.8 and late <= -(-mix.late_samples // 1600) + 2
        offsets.append(offset)
    assert offsets[0] == 0 and offsets[1] >= 16000  # Bob joined a second or more later
    assert not stereo[:, 0][len(ra.samples()):].any()  # nothing else on the left
    (tconn,) = tw.connections
    assert tconn.violations == [] and tconn.state["tracks"] == ["inbound", "outbound"]
    for track, recorder, offset in (("inbound", ra, 0), ("outbound", rb, offsets[1])):
        audio = resample(recorder.samples(), 16000, 8000)
        heard = tw.audio(tconn, track)[offset // 2:]  # same conversation clock as jambonz
        assert correlation(audio, heard) > 0.95
    (rconn,) = results.connections
    kinds = [m["type"] for m in rconn.state["messages"]]
    assert kinds[0] == "conversation_started" and kinds[-1] == "conversation_ended"
    assert kinds.count("message_response") == 2 and "participant_joined" in kinds
    assert not {"downstream_message", "downstream_status"} & set(kinds)  # no echo loops
    # Conversation-level streams report to the conversation (here: Ann, there throughout).
    for status in ("connected", "closed"):
        assert {s["downstream"] for s in statuses(client.results, status)} == \
            {"stereo", "both", "ana"}
    assert all(s["participantId"] is None for s in statuses(client.results, "closed"))
    assert not [r for r in second.results if r.get("type") == "downstream_message"]
    assert a != b
