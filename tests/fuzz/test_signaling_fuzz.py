"""Hostile signaling clients against one real gateway, a healthy call running beside them.

Each example opens its own ``/ws`` connection and sends generated frames (garbage, wrong
types, out-of-order messages, huge or deeply nested JSON, binary), or offers a mutated real
SDP that aiortc itself must digest. Every refusal must be an ``error`` with a stable code,
the connection must survive anything that is not fatal, and nothing may fail inside the
gateway (an ``internal_error`` reply or an ERROR log is a finding).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import RunningGateway, StartGateway

from .healthy import HealthyCall, steady_recognizer
from .strategies import (
    fuzz_settings,
    mutated,
    server_errors,
    signaling_frames,
)

# Codes a signaling client may legitimately be sent (docs/protocol.md).
CODES = {"bad_json", "bad_message", "unknown_type", "missing_field", "invalid_field",
         "message_too_large", "unsupported_binary", "already_started", "no_session",
         "too_many_candidates", "invalid_sdp", "no_audio", "no_data_channel",
         "invalid_config", "unsupported_language", "conversation_full", "invalid_candidate",
         "session_closed"}
FATAL = {"invalid_sdp", "session_closed"}  # end the connection by design


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=steady_recognizer(), max_sessions=200)


@pytest.fixture
async def healthy(gateway: RunningGateway) -> AsyncIterator[HealthyCall]:
    call = HealthyCall(gateway.url)
    await call.start()
    yield call
    await call.finish()


async def real_offer_lines() -> list[str]:
    pc = RTCPeerConnection()
    pc.createDataChannel("insights")
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    lines = str(pc.localDescription.sdp).splitlines()
    await pc.close()
    return lines


async def exchange(url: str, frames: list[str | bytes], *,
                   http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    """Send ``frames`` on a fresh /ws, then a ping; return what came back. The ping's pong
    proves the connection is still served (unless a reply said it would end)."""
    replies: list[dict[str, Any]] = []
    async with http.ws_connect(url.replace("http", "ws", 1) + "/ws", max_msg_size=0) as ws:
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello"
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await ws.send_str('{"type": "ping"}')
        ended = False
        while True:
            msg = await ws.receive(timeout=15)
            if msg.type != aiohttp.WSMsgType.TEXT:
                ended = True
                break
            reply = json.loads(msg.data)
            replies.append(reply)
            if reply["type"] == "pong":
                break
        if ended:
            # Only a bye or a fatal error may end the connection.
            assert any(r["type"] == "bye" or r.get("code") in FATAL for r in replies) or \
                any(_is_bye(f) for f in frames), replies
    return replies


def _is_bye(frame: str | bytes) -> bool:
    try:
        return isinstance(frame, str) and json.loads(frame).get("type") == "bye"
    except (ValueError, AttributeError, RecursionError):
        return False


def check(replies: list[dict[str, Any]]) -> None:
    for reply in replies:
        assert reply["type"] in {"error", "answer", "pong", "bye"}, reply
        if reply["type"] == "error":
            assert reply["code"] in CODES, reply
            assert isinstance(reply["message"], str) and reply["message"]


@fuzz_settings(40, network=True)
@given(frames=st.lists(signaling_frames | st.binary(max_size=64), min_size=1, max_size=6))
async def test_garbage_frames(gateway: RunningGateway, healthy: HealthyCall,
                              frames: list[str | bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        check(await exchange(gateway.url, frames, http=http))


@fuzz_settings(25, network=True)
@given(sdp=st.data())
async def test_mutated_offers_through_aiortc(gateway: RunningGateway, healthy: HealthyCall,
                                             sdp: st.DataObject) -> None:
    offer = sdp.draw(mutated(await real_offer_lines()))
    async with aiohttp.ClientSession() as http:
        check(await exchange(gateway.url, [json.dumps({"type": "offer", "sdp": offer})],
                             http=http))


async def test_the_healthy_call_outlives_the_fuzzing(
        gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    """Both fuzzers in one gateway's life, then the healthy call's own checks: fresh finals
    after the hostile clients, a clean bye, only its session left, no errors logged."""
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    lines = await real_offer_lines()
    async with aiohttp.ClientSession() as http:

        @fuzz_settings(20, network=True)
        @given(frames=st.lists(signaling_frames | st.binary(max_size=64), max_size=4),
               offer=mutated(lines))
        def run(frames: list[str | bytes], offer: str) -> None:
            examples.append((frames, offer))

        examples: list[tuple[list[str | bytes], str]] = []
        run()
        for frames, offer in examples:
            check(await exchange(gateway.url, frames, http=http))
            check(await exchange(
                gateway.url, [json.dumps({"type": "offer", "sdp": offer})], http=http))
    # The fuzzed sessions' sockets are closed: all of them go (a peer connection aiortc
    # cannot close cleanly takes up to its bounded close, 3 s).
    for _ in range(100):
        if len(gateway.sessions) == 1:
            break
        await asyncio.sleep(0.1)
    assert len(gateway.sessions) == 1
    await healthy.finish()
    assert not server_errors(caplog.records)
