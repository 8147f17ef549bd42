"""Structured logs: every record of a session carries its ids, as text or JSON lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack

from gateway import logs
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from tests.conftest import StartGateway
from tests.rtc_client import GatewayClient
from tests.whip.client import WhipClient

SCRIPT = [ScriptedPhrase("logged words", 0.2, 0.8)]


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """A JSON handler on the root logger at INFO for the test, as ``--log-format json``."""
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_text_and_json_lines_carry_bound_ids() -> None:
    text, lines = io.StringIO(), io.StringIO()
    log = logging.getLogger("gateway.test_logs")
    log.setLevel(logging.INFO)
    handlers = [logs.make_handler("text", text), logs.make_handler("json", lines)]
    for h in handlers:
        log.addHandler(h)
    try:
        log.info("before")
        with logs.scope(session_id="s-1", conversation_id="c-1"):
            log.info("inside %d", 1, extra={"chunks": 3})
            with logs.scope(session_id=None):
                log.info("conversation only")
        log.info("after")
    finally:
        for h in handlers:
            log.removeHandler(h)
    out = text.getvalue().splitlines()
    assert out[0].endswith("gateway.test_logs: before")
    assert out[1].endswith("inside 1 [session=s-1 conversation=c-1]")
    assert out[2].endswith("conversation only [conversation=c-1]")
    assert out[3].endswith("after")
    first, second, third, _ = records(lines)
    assert "session_id" not in first and first["message"] == "before"
    assert first["level"] == "INFO" and first["logger"] == "gateway.test_logs"
    assert first["time"].endswith("+00:00")
    assert second["session_id"] == "s-1" and second["conversation_id"] == "c-1"
    assert second["chunks"] == 3
    assert "session_id" not in third and third["conversation_id"] == "c-1"


def test_an_exception_is_one_json_line() -> None:
    lines = io.StringIO()
    log = logging.getLogger("gateway.test_logs.exc")
    handler = logs.make_handler("json", lines)
    log.addHandler(handler)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    finally:
        log.removeHandler(handler)
    (record,) = records(lines)
    assert "RuntimeError: boom" in record["exc_info"]


def test_default_level_keeps_libraries_quiet() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup_logging("info", "json", io.StringIO())
        assert logging.getLogger("aioice").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("aiortc").getEffectiveLevel() == logging.WARNING
        logs.setup_logging("debug", "text", io.StringIO())
        assert logging.getLogger("aioice").getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in logs.CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.NOTSET)
    with pytest.raises(ValueError):
        logs.make_handler("xml")


async def test_a_whip_session_s_records_name_it_and_its_conversation(
        start_gateway: StartGateway, json_lines: io.StringIO) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))
    client = WhipClient(f"{gateway.url}/whip?conversationId=logged")
    try:
        published = await client.publish()
        resource = published.location.rsplit("/", 1)[1]
        await asyncio.wait_for(client.connected.wait(), 10)
        await asyncio.sleep(0.2)  # the server side sees it connected too
        assert await client.delete() == 200
    finally:
        await client.close()
    mine = [r for r in records(json_lines) if r.get("session_id") == resource]
    messages = " | ".join(r["message"] for r in mine)
    assert "publishing to conversation logged" in messages
    assert "peer connection connected" in messages  # from aiortc's callback task
    assert all(r["conversation_id"] == "logged" for r in mine)


async def test_a_webrtc_session_s_records_name_its_conversation(
        start_gateway: StartGateway, json_lines: io.StringIO) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))
    client = GatewayClient(gateway.url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": "logged-too"})
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=10)
        await client.bye()
    finally:
        await client.close()
    state_changes = [r for r in records(json_lines) if "peer connection" in r["message"]
                     and r["logger"].startswith("gateway.transports.webrtc")]
    assert state_changes
    assert all(r.get("conversation_id") == "logged-too" for r in state_changes)
