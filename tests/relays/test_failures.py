"""Calls through the real gateway while downstreams fail: restarted, gone for longer than
the buffer, never reading, never answering the handshake; a client naming a URL outside
the allow-list. Local recognition is scripted, so the call's own transcript is exact."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.config import GatewayConfig
from gateway.relays.config import RelayConfig
from gateway.relays.manager import RELAYS_KEY
from gateway.relays.settings import LinkSettings
from gateway.relays.targets import Target
from tests.conftest import RunningGateway, StartGateway
from tests.relays.support import coverage, until
from tests.relays.wiring import Wired, wire_webrtc
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.receivers import Connection, JambonzReceiver, TwilioReceiver
from tests.support.speech import require_pocketsphinx_corpus
from tests.support.vosk_server import SilentServer

pytestmark = pytest.mark.slow
SCRIPT = [ScriptedPhrase("first phrase", 0.5, 1.5), ScriptedPhrase("second phrase", 4.0, 5.0),
          ScriptedPhrase("third phrase", 6.0, 6.8)]
QUICK = LinkSettings(backoff_initial=0.2, backoff_max=1.0, confirm_interval=0.2,
                     pong_timeout=1.5, close_timeout=1.0, goodbye_limit=5.0,
                     report_interval=0.5)


async def gateway(start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch,
                  *targets: Target, settings: LinkSettings = QUICK,
                  **relays: Any) -> tuple[RunningGateway, Wired]:
    gw = await start_gateway(GatewayConfig(insights=False, relays=RelayConfig(
        downstreams=targets, **relays)), recognizer=ScriptedRecognizer(SCRIPT))
    gw.app[RELAYS_KEY].settings = settings
    return gw, wire_webrtc(monkeypatch, gw)


async def call(url: str, config: dict[str, Any], *,
               during: Callable[[], Awaitable[None]] | None = None,
               before_bye: Callable[[], Awaitable[None]] | None = None) -> GatewayClient:
    """7 s of LibriVox speech as a browser would send it; ``during`` runs alongside."""
    client = GatewayClient(url)
    await client.connect()
    track = WavTrack(read_wav_48k(require_pocketsphinx_corpus()[0].path), tail_silence=1.0)
    client.peer(track)
    try:
        await client.offer(config)
        side = asyncio.ensure_future(during()) if during else None
        await asyncio.wait_for(track.finished.wait(), track.duration + 30)
        if side is not None:
            await side
        if before_bye is not None:
            await before_bye()
        await client.bye()
    finally:
        await client.close()
    return client


def statuses(client: GatewayClient, label: str, status: str) -> list[dict[str, Any]]:
    return [r for r in client.results if r.get("type") == "downstream_status"
            and r["downstream"] == label and r["status"] == status]


def finals(client: GatewayClient) -> list[str]:
    return [m["payload"]["content"] for r in client.of_type("message_response")
            for m in r["messages"]]


def twilio_coverage(conns: list[Connection], seconds: float) -> np.ndarray:
    """Milliseconds of the stream that arrived, placed by the media timestamps (which run on
    the participant's clock across reconnects)."""
    covered = np.zeros(int(seconds * 1000) + 100, bool)
    for conn in conns:
        for stamp, _ in conn.state.get("media", {}).get("inbound", []):
            covered[stamp: stamp + 20] = True
    return covered


async def test_downstreams_restarted_mid_call_within_and_beyond_the_buffer(
        start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async with JambonzReceiver() as jb, TwilioReceiver() as tw:
        settings = dataclasses.replace(QUICK, buffer_seconds=3.0)
        gw, wired = await gateway(start_gateway, monkeypatch, Target("fork", "jambonz", jb.url),
                                  Target("crm", "twilio", tw.url), settings=settings)

        async def outages() -> None:
            await until(lambda: len(jb.connections) == 1 and len(jb.connections[0].frames) > 80)
            await jb.kill()
            await tw.kill()
            await asyncio.sleep(1.0)  # within the 3 s buffer
            await jb.start()
            await asyncio.sleep(4.5)  # beyond it
            await tw.start()

        async def reconnected() -> None:
            await until(lambda: len(jb.connections) == 2 and len(tw.connections) == 2)

        client = await call(gw.url, {"conversationId": "restarts"}, during=outages,
                            before_bye=reconnected)
        await until(lambda: all(c.closed.is_set() for r in (jb, tw) for c in r.connections))
    (pid, recorder), = wired.recorders.items()
    sent = recorder.samples()
    # The call went on as if nothing happened.
    assert finals(client) == ["first phrase", "second phrase", "third phrase"]
    # jambonz, down 1 s: every sample arrived, exactly; the unconfirmed tail came twice.
    covered, twice = coverage(sent, [jb.audio(c)[:, 0] for c in jb.connections])
    assert covered.all() and twice <= 0.5 * 16000
    assert [c.violations for c in jb.connections] == [[], []]
    fork = wired.link("fork")
    assert fork.lost == 0 and statuses(client, "fork", "disconnected")
    assert statuses(client, "fork", "connected")[1]["replayedSeconds"] >= 1.0
    # Twilio, down 5.5 s with a 3 s buffer: over 2 s lost, reported, and that much missing.
    crm = wired.link("crm")
    assert 2.0 <= crm.lost <= 4.5
    ms = twilio_coverage(tw.connections, len(sent) / 16000)[: len(sent) // 16]
    missing = (~ms).sum() / 1000
    assert crm.lost - crm.buffer.unconfirmed_cost - 0.05 <= missing <= crm.lost + 0.05
    assert ms[-1000:].all()  # the audio after the outage arrived
    drops = statuses(client, "crm", "audio_dropped")
    assert sum(d["droppedSeconds"] for d in drops) == pytest.approx(crm.lost, abs=0.01)
    assert [c.violations for c in tw.connections] == [[], []]
    second = tw.connections[1].state
    assert second["sequence"] >= 2 and second["streamSid"] == tw.connections[0].state["streamSid"]
    assert pid == crm.protocol.info.participant_id


async def test_downstreams_that_never_read_or_never_answer_harm_no_call(
        start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()

    async def never_read(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await release.wait()
        return ws

    app = web.Application()
    app.router.add_get("/", never_read)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stall_url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with SilentServer() as mute, JambonzReceiver() as ok:
            gw, wired = await gateway(
                start_gateway, monkeypatch,
                Target("stall", "symbl", stall_url, select="request"),
                Target("mute", "vosk", mute.url, select="request"),
                Target("ok", "jambonz", ok.url, select="request"),
                connect_timeout=0.5, settings=dataclasses.replace(QUICK, buffer_seconds=2.0))
            wired.relays.settings = dataclasses.replace(
                wired.relays.settings, connect_timeout=0.5)
            peak = {"buffer": 0.0, "transport": 0}

            async def watch() -> None:
                await until(lambda: len(wired.links) == 3)
                for _ in range(60):
                    for link in wired.links:
                        peak["buffer"] = max(peak["buffer"], link.buffer.total_cost)
                        conn = link._conn
                        transport = getattr(getattr(conn and conn.ws, "_conn", None),
                                            "transport", None)
                        if transport is not None:
                            peak["transport"] = max(peak["transport"],
                                                    transport.get_write_buffer_size())
                    await asyncio.sleep(0.1)

            started = time.monotonic()
            bad, good = await asyncio.gather(
                call(gw.url, {"conversationId": "bad", "downstreams": ["stall", "mute"]},
                     during=watch),
                call(gw.url, {"conversationId": "good", "downstreams": ["ok"]}))
            elapsed = time.monotonic() - started
            await until(lambda: all(c.closed.is_set() for c in ok.connections))
            good_pid = wired.link("ok").protocol.info.participant_id
            assert good_pid is not None
            (oconn,) = ok.connections
            assert np.array_equal(ok.audio(oconn)[:, 0], wired.recorders[good_pid].samples())
    finally:
        release.set()
        await runner.cleanup()
    # Both calls complete: transcripts, and their ends, in normal time.
    for client in (bad, good):
        assert finals(client) == ["first phrase", "second phrase", "third phrase"]
        assert client.of_type("recognition_stopped")
    assert elapsed < 8.1 + 15  # the call, plus bounded goodbyes
    # The bad ones cost bounded memory, were retried, reported and counted.
    assert peak["buffer"] <= 2.0 and peak["transport"] <= 64 * 1024 + 8192
    assert mute.accepted >= 2
    assert "timed out" in statuses(bad, "mute", "disconnected")[0]["reason"]
    assert statuses(bad, "mute", "audio_dropped")
    assert "no answer to a ping" in statuses(bad, "stall", "disconnected")[0]["reason"]
    assert wired.link("mute").lost >= 5.0 and wired.link("mute").connections == 0
    assert not [r for r in good.results if r.get("type") == "downstream_status"
                and r["status"] in ("disconnected", "audio_dropped")]


async def test_a_client_url_outside_the_allow_list_is_a_clear_error(
        start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async with JambonzReceiver() as receiver:
        gw, wired = await gateway(start_gateway, monkeypatch,
                                  allow=(f"ws://127.0.0.1:{receiver.port}/calls",))
        refused = GatewayClient(gw.url)
        await refused.connect()
        refused.peer(WavTrack(np.zeros(48_000, np.int16)))
        try:
            with pytest.raises(RuntimeError) as info:
                await refused.offer({"downstreams": [
                    {"url": "ws://169.254.169.254/latest", "protocol": "jambonz"}]})
        finally:
            await refused.close()
        assert "invalid_config" in str(info.value)
        assert "config.downstreams[0].url" in str(info.value)
        assert "not allowed by this gateway's downstream allow-list" in str(info.value)
        assert not wired.links and not gw.sessions
        client = await call(gw.url, {"downstreams": [
            {"url": receiver.url.replace("/stream", "/calls/{participantId}"),
             "protocol": "jambonz", "name": "mine", "options": {"sampleRate": 8000}}]})
        await until(lambda: all(c.closed.is_set() for c in receiver.connections))
    (conn,) = receiver.connections
    (pid,) = wired.recorders
    assert conn.path == f"/calls/{pid}" and conn.state["metadata"]["sampleRate"] == 8000
    assert conn.violations == [] and len(receiver.audio(conn)) >= 8000 * 7
    assert [r["downstream"] for r in client.results if r.get("status") == "closed"] == ["mine"]
