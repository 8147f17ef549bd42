"""Faults, each contained to its own session and reported, with a healthy call beside it.

A peer that vanishes (its process killed), a data channel that stops acknowledging, a
recogniser that raises, media that stops arriving (consent freshness), a TURN server that
goes away. Real peers, a real coturn; the recogniser is scripted.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcsctptransport import DataChunk

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.config import SessionSettings
from gateway.http.keys import ICE_KEY
from gateway.outputs import datachannel
from tests.conftest import RunningGateway, StartGateway
from tests.fuzz.healthy import STEADY, HealthyCall
from tests.rtc_client import GatewayClient
from tests.whip.client import WhipClient
from turn.coturn import CoturnProcess
from turn.coturn_binary import turnserver_binary

from .scrape import scrape, total, value

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(STEADY))


@pytest.fixture
async def healthy(gateway: RunningGateway) -> AsyncIterator[HealthyCall]:
    call = HealthyCall(gateway.url)
    await call.start()
    yield call
    await call.finish()


async def wait_for(predicate: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 -- polling the gateway's own state
            await asyncio.sleep(0.05)


async def test_a_peer_that_vanishes(gateway: RunningGateway, healthy: HealthyCall,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="signaling")
    before = await scrape(gateway.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ops.vanishing_client", gateway.url, "vanishing",
        cwd=REPO, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"connected\n"
    assert len(gateway.sessions) == 2
    proc.kill()
    await proc.wait()
    # The kernel closed its TCP socket: the signaling socket ends, the session is flushed
    # (bounded: its data channel is gone) and freed.
    await wait_for(lambda: len(gateway.sessions) == 1, 15)
    assert gateway.directory.get("vanishing") is None
    await healthy.assert_alive()
    after = await scrape(gateway.url)
    assert total(after, "gateway_sessions_ended_total") - total(
        before, "gateway_sessions_ended_total") == 1
    assert value(after, "gateway_sessions", transport="webrtc", state="connected") == 1
    assert any("signaling closed" in r.getMessage() for r in caplog.records)


async def test_a_data_channel_that_stops_acknowledging(
        gateway: RunningGateway, healthy: HealthyCall,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A small SCTP allowance, so a few hundred results fill it (4 MB in production).
    monkeypatch.setattr(datachannel, "MAX_BUFFERED", 8 * 1024)
    before = await scrape(gateway.url)
    deaf = GatewayClient(gateway.url)
    await deaf.connect()
    deaf.peer(AudioStreamTrack())
    try:
        await deaf.offer({"conversationId": "deaf"})
        await deaf.wait_result(lambda m: m.get("type") == "message_response", timeout=10)
        sctp = deaf.pc.sctp if deaf.pc is not None else None
        assert sctp is not None
        receive = sctp._receive_chunk

        async def ignore_data(chunk: Any) -> None:  # no SACK: the gateway's sends never end
            if not isinstance(chunk, DataChunk):
                await receive(chunk)

        sctp._receive_chunk = ignore_data  # type: ignore[method-assign]
        conversation = gateway.directory.get("deaf")
        assert conversation is not None
        for n in range(3000):  # a burst far beyond the data channel's backlog of 1000
            conversation.publish({"type": "flood", "n": n, "pad": "x" * 100})
        await healthy.assert_alive()
        after = await scrape(gateway.url)
        dropped = value(after, "gateway_output_dropped_total", output="datachannel") - value(
            before, "gateway_output_dropped_total", output="datachannel")
        assert dropped >= 1000
        assert value(after, "gateway_output_backlog", output="datachannel") <= 1000 + 50
        started = asyncio.get_running_loop().time()
        await deaf.send({"type": "bye"})
        await wait_for(lambda: len(gateway.sessions) == 1, 20)
        assert asyncio.get_running_loop().time() - started < 15  # bounded goodbye
    finally:
        await deaf.close()


async def test_a_recogniser_that_raises(start_gateway: StartGateway,
                                        caplog: pytest.LogCaptureFixture) -> None:
    script = [ScriptedPhrase("first words", 0.1, 0.5), ScriptedPhrase("broken words", 0.7, 1.1),
              ScriptedPhrase("last words", 1.3, 1.7)]
    gateway = await start_gateway(recognizer=ScriptedRecognizer(
        script, per_speaker={"Calm": STEADY}, fail_on={"broken words"}))
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    before = await scrape(gateway.url)
    client = GatewayClient(gateway.url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": "flaky"})
        await client.wait_result(
            lambda m: m.get("type") == "message_response"
            and "last" in m["messages"][0]["payload"]["content"].lower(), timeout=15)
        texts = " ".join(m["messages"][0]["payload"]["content"].lower()
                         for m in client.of_type("message_response"))
        assert "first words" in texts and "broken" not in texts
        await client.bye()
    finally:
        await client.close()
    after = await scrape(gateway.url)
    assert total(after, "gateway_recognition_failures_total") - total(
        before, "gateway_recognition_failures_total") == 1
    assert any(r.levelno == logging.ERROR and "recognition failed" in r.getMessage()
               for r in caplog.records)
    await healthy.finish()


@pytest.mark.slow
async def test_media_that_stops_arriving_ends_by_consent_freshness(
        start_gateway: StartGateway) -> None:
    """The network drops the peer (no close of any kind; its signaling socket stays up):
    ICE consent expires (RFC 7675, ~30 s in aioice), the session ends and says why."""
    gateway = await start_gateway(recognizer=ScriptedRecognizer(STEADY),
                                  settings=SessionSettings(offer_timeout=120))
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    before = await scrape(gateway.url)
    lost = GatewayClient(gateway.url)
    await lost.connect()
    lost.peer(AudioStreamTrack())
    try:
        await lost.offer({"conversationId": "lost"})
        await asyncio.wait_for(lost.connected.wait(), 10)
        assert lost.pc is not None
        for transceiver in lost.pc.getTransceivers():
            connection = transceiver.sender.transport.transport._connection
            for protocol in connection._protocols:
                protocol.transport.sendto = lambda *args, **kwargs: None  # type: ignore[method-assign]  # a black hole
        started = asyncio.get_running_loop().time()
        error = await lost.error(timeout=60)
        # aiortc closes the DTLS transport before it marks ICE failed, so the peer
        # connection reports "closed": the gateway says peer_closed (ice_failed would be
        # more precise; see NOTES-ops.md).
        assert error["code"] in ("ice_failed", "peer_closed")
        assert asyncio.get_running_loop().time() - started < 45
        await wait_for(lambda: len(gateway.sessions) == 1, 15)
    finally:
        await lost.close()
    await healthy.finish()
    after = await scrape(gateway.url)
    assert total(after, "gateway_sessions_ended_total") - total(
        before, "gateway_sessions_ended_total") == 2


@pytest.fixture
async def coturn() -> AsyncIterator[CoturnProcess]:
    if turnserver_binary() is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    process = CoturnProcess(secret="fault-secret", realm="gateway.test", dev=True)
    await process.start()
    yield process
    process.stop()


@pytest.mark.slow
async def test_a_turn_server_that_goes_away(start_gateway: StartGateway, coturn: CoturnProcess,
                                            caplog: pytest.LogCaptureFixture) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(STEADY),
                                  turn_urls=(coturn.url,), turn_secret="fault-secret")
    samples = await scrape(gateway.url)
    assert value(samples, "gateway_turn_healthy") == 1
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    publisher = WhipClient(f"{gateway.url}/whip?conversationId=relayed")
    try:
        published = await publisher.publish()
        assert "typ relay" in published.answer  # the session holds a TURN allocation
        coturn.stop()
        assert await gateway.app[ICE_KEY].check() is False  # what the minutely monitor does
        after = await scrape(gateway.url)
        assert value(after, "gateway_turn_healthy") == 0
        assert value(after, "gateway_ice_server_checks_total", kind="turn", result="failed") \
            > value(samples, "gateway_ice_server_checks_total", kind="turn", result="failed")
        assert value(after, "gateway_ready") == 1  # policy "all": direct paths still work
        assert any(r.levelno == logging.WARNING and "UNUSABLE" in r.getMessage()
                   for r in caplog.records)
        # Ending a session whose TURN allocation cannot be freed any more stays prompt.
        started = asyncio.get_running_loop().time()
        assert await publisher.delete() == 200
        assert asyncio.get_running_loop().time() - started < 8
    finally:
        await publisher.close()
    # A new call is told, and still connects over host candidates.
    late = GatewayClient(gateway.url)
    await late.connect()
    late.peer(AudioStreamTrack())
    try:
        await late.offer({"conversationId": "late"}, tolerate=("turn_unavailable",))
        assert (await late.error())["code"] == "turn_unavailable"
        await late.wait_result(lambda m: m.get("type") == "message_response", timeout=15)
    finally:
        await late.close()
    await healthy.assert_alive()
    await healthy.client.close()  # its bye would wait for the allocation: see below


@pytest.mark.slow
async def test_bye_after_the_turn_server_went_away_is_prompt(
        start_gateway: StartGateway, coturn: CoturnProcess) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(STEADY),
                                  turn_urls=(coturn.url,), turn_secret="fault-secret")
    call = HealthyCall(gateway.url)
    await call.start()
    coturn.stop()
    try:
        await call.client.bye(timeout=8)
    finally:
        await call.client.close()
