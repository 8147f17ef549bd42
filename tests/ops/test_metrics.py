"""``/metrics`` tells an operator what is happening: a real call on a real gateway
(scripted recogniser, aiortc peers on loopback) moves the series it should."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.http.keys import ADMISSION_KEY
from gateway.observability.metrics import count_error
from gateway.store import Store, StoreConfig
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient
from tests.store.stream import build_conversation

from .scrape import scrape, total, value

SCRIPT = [ScriptedPhrase("metrics are counted here", 0.2, 1.2)]


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))


async def test_an_idle_gateway_reports_its_status_and_process(gateway: RunningGateway) -> None:
    samples = await scrape(gateway.url)
    assert value(samples, "gateway_ready") == 1
    assert value(samples, "gateway_draining") == 0
    # The measured capacity by default (a fresh gateway: from the prior cost).
    assert value(samples, "gateway_admission_capacity") == gateway.app[ADMISSION_KEY].capacity
    assert value(samples, "gateway_admission_saturated") == 0
    assert 0 < value(samples, "gateway_session_cost_cpu_seconds") < 1
    assert value(samples, "gateway_worker_pool_busy_ratio") == 0
    assert value(samples, "gateway_worker_pool_jobs_total") >= 0
    assert total(samples, "gateway_info", recognizer="scripted", language="en-US") == 1
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert value(samples, "process_open_fds") > 3
    assert value(samples, "gateway_asyncio_tasks") >= 1
    assert value(samples, "gateway_threads") >= 1
    assert total(samples, "gateway_sessions") == 0
    assert ("gateway_turn_healthy", frozenset()) not in samples  # no TURN configured


async def test_openmetrics_when_asked(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{gateway.url}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await r.text()).rstrip().endswith("# EOF")


async def test_a_call_moves_the_session_audio_latency_and_output_series(
        gateway: RunningGateway) -> None:
    before = await scrape(gateway.url)
    client = GatewayClient(gateway.url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": "metered"})
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=15)
        during = await scrape(gateway.url)
        assert value(during, "gateway_sessions", transport="webrtc", state="connected") == 1
        assert value(during, "gateway_conversations", state="active") == 1
        assert value(during, "gateway_participants") == 1
        assert value(during, "gateway_outputs", output="datachannel") == 1
        assert value(during, "gateway_admission_in_use", transport="webrtc") == 1
        assert value(during, "gateway_audio_queued_chunks", transport="webrtc") >= 0
        await client.bye()
    finally:
        await client.close()
    await asyncio.sleep(0.2)
    after = await scrape(gateway.url)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("gateway_audio_received_seconds_total", transport="unknown") + grew(
        "gateway_audio_received_seconds_total", transport="webrtc") >= 1.0
    recognised = grew("gateway_audio_recognised_seconds_total")
    assert recognised >= 1.0
    assert grew("gateway_recognition_seconds_total") > 0
    assert grew("gateway_recognition_realtime_factor_count") >= 10  # one per 100 ms chunk
    assert grew("gateway_result_latency_seconds_count", kind="partial") >= 1
    assert grew("gateway_result_latency_seconds_count", kind="final") >= 1
    # Scripted recognition is instant: every final within a second of its audio.
    assert grew("gateway_result_latency_seconds_bucket", kind="final", le="1.0") == grew(
        "gateway_result_latency_seconds_count", kind="final")
    assert grew("gateway_output_sent_total", output="datachannel") >= 3
    assert grew("gateway_results_published_total", kind="symbl") >= 3
    assert grew("gateway_results_published_total", kind="lifecycle") == 4
    assert grew("gateway_sessions_admitted_total", transport="webrtc") == 1
    assert grew("gateway_sessions_ended_total", transport="webrtc") == 1
    assert total(after, "gateway_sessions") == 0
    assert total(after, "gateway_conversations") == 0


async def test_admission_refusals_and_capacity(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(SCRIPT), max_sessions=1)
    before = await scrape(gateway.url)
    first, second = GatewayClient(gateway.url), GatewayClient(gateway.url)
    try:
        await first.connect()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gateway.url}/readyz") as r:
                assert r.status == 503
                assert (await r.json())["reason"] == "at_capacity"
            ws = await http.ws_connect(gateway.url.replace("http", "ws", 1) + "/ws")
            refusal = await ws.receive_json(timeout=5)
            assert refusal["code"] == "server_busy"
            await ws.close()
        after = await scrape(gateway.url)
        assert value(after, "gateway_ready") == 0
        assert value(after, "gateway_admission_refusals_total", transport="webrtc",
                     code="server_busy") - value(
            before, "gateway_admission_refusals_total", transport="webrtc",
            code="server_busy") == 1
        assert value(after, "gateway_sessions", transport="webrtc", state="signaling") == 1
    finally:
        await first.close()
        await second.close()


async def test_error_codes_are_label_safe(gateway: RunningGateway) -> None:
    count_error("signaling", "bad_json")
    count_error("signaling", "Not A Code {with} \"quotes\"")
    samples = await scrape(gateway.url)
    assert value(samples, "gateway_errors_total", source="signaling", code="bad_json") >= 1
    assert value(samples, "gateway_errors_total", source="signaling", code="other") >= 1


async def test_the_store_series(start_gateway: StartGateway, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'store.db'}"
    # A conversation a killed gateway left open an hour ago: the new gateway closes it.
    store = await Store.open(StoreConfig(database))
    for result in build_conversation("left-open", started=datetime.now(UTC) - timedelta(hours=1),
                                     lines=2, ended=False).results:
        store.sink.send(result)
    await store.close()
    gw = await start_gateway(recognizer=ScriptedRecognizer(SCRIPT), database=database)
    client = GatewayClient(gw.url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": "stored-call"})
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=15)
        await client.bye()
    finally:
        await client.close()
    for _ in range(50):  # committed within ~200 ms
        samples = await scrape(gw.url)
        if value(samples, "gateway_store_pending") == 0 and total(
                samples, "gateway_store_results_total", outcome="stored") >= 6:
            break
        await asyncio.sleep(0.1)
    assert value(samples, "gateway_store_pending") == 0
    assert total(samples, "gateway_store_results_total", outcome="stored") >= 6
    assert total(samples, "gateway_store_results_total", outcome="dropped") == 0
    assert total(samples, "gateway_store_commits_total", result="ok") >= 1
    assert total(samples, "gateway_store_commits_total", result="failed") == 0
    assert value(samples, "gateway_store_abandoned_closed_total") == 1
