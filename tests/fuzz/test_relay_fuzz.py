"""Hostile downstreams: what a relay target sends back (docs/relay.md says nothing is
expected) must never break the relay, the bus or the call.

A real WebSocket server on loopback answers each relayed message with generated frames:
text, binary, pings, unsolicited closes with any code, or silence. The relay must keep
delivering in order after a reconnect, stop for good on a refusal code, and always finish
(drain and close) within its bounds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from gateway.outputs.base import ConversationInfo
from gateway.outputs.bus import finish_sink
from gateway.outputs.relay import RelaySink
from gateway.outputs.result import Result
from tests.conftest import StartGateway

from .healthy import HealthyCall, steady_recognizer
from .strategies import fuzz_settings, server_errors

CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4000, 4001, 4999]
answers = st.lists(st.one_of(
    st.tuples(st.just("text"), st.text(max_size=200)),
    st.tuples(st.just("bytes"), st.binary(max_size=200)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
    st.tuples(st.just("close"), st.sampled_from(CLOSE_CODES)),
    st.tuples(st.just("silence"), st.none()),
), min_size=1, max_size=8)


class Downstream:
    """A relay target that answers every message with the next scripted action."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, Any]] = []
        self.received: list[str] = []
        self.connections = 0
        self.connections_now = 0  # since the last reset
        self.app = web.Application()
        self.app.router.add_get("/relay", self.handle)
        self.runner = web.AppRunner(self.app, handle_signals=False)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"ws://127.0.0.1:{self.runner.addresses[0][1]}/relay"

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.connections_now += 1
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            self.received.append(msg.data)
            if not self.actions:
                continue
            kind, arg = self.actions.pop(0)
            if kind == "text":
                await ws.send_str(arg)
            elif kind == "bytes":
                await ws.send_bytes(arg)
            elif kind == "ping":
                await ws.ping(arg)
            elif kind == "close":
                await ws.close(code=arg, message=b"fuzz")
                break
        return ws


@pytest.fixture
async def downstream() -> AsyncIterator[Downstream]:
    server = Downstream()
    await server.start()
    yield server
    await server.runner.cleanup()


def results(conversation: str, count: int) -> list[Result]:
    return [Result.of(conversation, {"type": "message_response", "n": n}, n)
            for n in range(1, count + 1)]


@fuzz_settings(40, network=True)
@given(actions=answers)
async def test_any_answer_leaves_the_relay_bounded_and_ordered(
        downstream: Downstream, actions: list[tuple[str, Any]]) -> None:
    downstream.actions = list(actions)
    downstream.received.clear()
    downstream.connections_now = 0
    sink = RelaySink(ConversationInfo("fuzzed", None), downstream.url, backoff_initial=0.01,
                     backoff_max=0.05, connect_timeout=2, close_timeout=1, heartbeat=None)
    for result in results("fuzzed", 10):
        sink.send(result)  # never raises, never blocks
        await asyncio.sleep(0)
    await asyncio.wait_for(finish_sink(sink, timeout=2), 10)
    assert sink.closed
    delivered = [json.loads(t).get("n") for t in downstream.received]
    numbers = [n for n in delivered if n is not None]
    assert numbers == sorted(numbers)  # in order, whatever happened in between
    if not any(kind == "close" for kind, _ in actions):
        # Answers are read and ignored: garbage, binary, pings or silence lose nothing.
        assert numbers == list(range(1, 11)), delivered
        assert downstream.connections_now == 1
    # A close loses what was written after it (docs/relay.md: at most once per
    # connection, no acknowledgements); a refusal code stops the relay for good.


async def test_a_hostile_downstream_does_not_touch_the_call(
        start_gateway: StartGateway, downstream: Downstream,
        caplog: pytest.LogCaptureFixture) -> None:
    """Garbage in every answer and an unsolicited close: the call goes on unharmed."""
    downstream.actions = [("text", "{not json"), ("bytes", b"\x00\xff"), ("ping", b"x"),
                          ("close", 1011)] + [("text", "x" * 1000)] * 200
    gateway = await start_gateway(recognizer=steady_recognizer(),
                                  relay_url=downstream.url)
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    await healthy.assert_alive()
    await healthy.assert_alive()
    await healthy.finish()
    await asyncio.sleep(0.5)
    assert downstream.connections >= 2  # reconnected after the close
    kinds = [json.loads(t).get("type") for t in downstream.received]
    assert kinds[-1] == "conversation_ended"
    assert not server_errors(caplog.records)
