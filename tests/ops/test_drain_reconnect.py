"""The drain tells resumable clients to move (``reconnect``), and every signaling error is
counted: a real gateway on loopback, real aiortc clients, the scripted recogniser."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import AudioStreamTrack

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.observability.drain import DRAIN_KEY
from tests.conftest import RunningGateway, StartGateway
from tests.ops.scrape import scrape, value
from tests.rtc_client import GatewayClient

SCRIPT = [ScriptedPhrase("one", 0.2, 0.6), ScriptedPhrase("two", 2.0, 2.5)]


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))


async def call(url: str, conversation_id: str, features: list[str] | None) -> GatewayClient:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    await client.offer({"conversationId": conversation_id}, features=features)
    return client


def said(text: str) -> object:
    return lambda m: m.get("type") == "message_response" \
        and m["messages"][0]["payload"]["content"].lower().startswith(text)


async def test_draining_tells_resumable_clients_to_reconnect_and_keeps_every_call(
        gateway: RunningGateway) -> None:
    mover = await call(gateway.url, "drained", ["resume"])
    plain = await call(gateway.url, "drained", None)
    try:
        await mover.wait_result(said("one"), timeout=10)  # type: ignore[arg-type]
        drain = asyncio.ensure_future(gateway.app[DRAIN_KEY].run(20))
        notice = await mover.next_signal(lambda m: m.get("type") == "reconnect", 5)
        assert notice["reason"] == "draining"
        assert 19 <= notice["within"] <= 20
        assert "same conversation" in notice["message"]
        # A client that did not ask for resume hears nothing new; both calls go on.
        await mover.wait_result(said("two"), timeout=10)  # type: ignore[arg-type]
        await plain.wait_result(said("two"), timeout=10)  # type: ignore[arg-type]
        assert "reconnect" not in plain.signal_types
        assert mover.signal_types.count("reconnect") == 1
        # The node refuses the move itself (a single node): the old call is kept.
        elsewhere = GatewayClient(gateway.url)
        try:
            refused = await elsewhere.connect()
            assert refused["code"] == "shutting_down"
        finally:
            await elsewhere.close()
        assert not mover.signaling_closed.is_set()
        # The page moved (or hung up): bye as ever; the drain then waits for the other.
        await mover.bye()
        await asyncio.sleep(0.2)
        assert not drain.done() and len(gateway.sessions) == 1
        await plain.bye()
        assert await asyncio.wait_for(drain, 5) == 0
    finally:
        await mover.close()
        await plain.close()


async def test_at_the_drain_timeout_a_told_client_ends_as_before(gateway: RunningGateway) -> None:
    mover = await call(gateway.url, "late", ["resume"])
    try:
        await mover.wait_result(said("one"), timeout=10)  # type: ignore[arg-type]
        assert await gateway.app[DRAIN_KEY].run(0.5) == 1
        assert (await mover.next_signal(lambda m: m.get("type") == "reconnect", 1))["within"] == 0.5
        await gateway.runner.cleanup()  # the ordinary shutdown: last results, then close
        await mover.wait_result(
            lambda m: m.get("message", {}).get("type") == "recognition_stopped", timeout=10)
        await asyncio.wait_for(mover.signaling_closed.wait(), 10)
        assert not gateway.sessions
    finally:
        await mover.close()


async def test_sessions_ending_while_told_are_skipped(gateway: RunningGateway) -> None:
    """A session that is already stopping is not told to move (it is leaving anyway)."""
    mover = await call(gateway.url, "leaving", ["resume"])
    try:
        session = next(iter(gateway.sessions.values()))
        await mover.wait_result(said("one"), timeout=10)  # type: ignore[arg-type]
        ending = asyncio.ensure_future(session.stop())
        await asyncio.sleep(0)
        await session.draining(10)
        await ending
        await asyncio.sleep(0.2)
        assert "reconnect" not in mover.signal_types
    finally:
        await mover.close()


async def test_every_signaling_error_is_counted_once_by_code(gateway: RunningGateway) -> None:
    before = await scrape(gateway.url)
    client = GatewayClient(gateway.url)
    try:
        await client.connect()
        await client.send("{not json")
        assert (await client.error())["code"] == "bad_json"
        await client.send({"type": "dance"})
        assert (await client.error())["code"] == "unknown_type"
        await client.send({"type": "candidate", "candidate": "x", "sdpMid": "0"})
        assert (await client.error())["code"] == "no_session"
    finally:
        await client.close()
    await gateway.app[DRAIN_KEY].run(0)
    refused = GatewayClient(gateway.url)  # a refusal at the door: a session error
    try:
        assert (await refused.connect())["code"] == "shutting_down"
    finally:
        await refused.close()
    after = await scrape(gateway.url)
    for code in ("bad_json", "unknown_type", "no_session", "shutting_down"):
        grew = value(after, "gateway_errors_total", source="signaling", code=code) \
            - value(before, "gateway_errors_total", source="signaling", code=code)
        assert grew == 1, code
