"""The downstream relay sink against real aiohttp WebSocket servers on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import WSMsgType, web

from gateway.outputs.base import ConversationInfo, Sink
from gateway.outputs.reconnect import backoff_delay
from gateway.outputs.relay import RelaySink, conversation_url, relay_sink_factory
from gateway.outputs.result import Result, to_json
from tests.conftest import StartGateway
from tests.rtc_client import stream_wav
from tests.support.speech import espeak_wav, require_espeak


def encode(message: Result) -> str:
    """What the data channel carries for ``message`` (one serialisation for every output)."""
    return to_json(message.body)


def result(n: int, pad: int = 0) -> Result:
    return Result.of("conv-1", {"type": "message", "message": {
        "type": "recognition_result", "isFinal": True, "n": n,
        "punctuated": {"transcript": f"Phrase {n}, café ☕" + "x" * pad}}}, n + 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    texts: list[str] = field(default_factory=list)
    close_code: int | None = None
    done: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(t) for t in self.texts]

    @property
    def results(self) -> list[int]:
        """The ``n`` of every result message, envelope messages left out."""
        return [m["message"]["n"] for m in self.messages if m.get("type") == "message"]


Behaviour = Callable[[web.Request, web.WebSocketResponse, Connection], Awaitable[None]]


async def record(request: web.Request, ws: web.WebSocketResponse, conn: Connection) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            conn.texts.append(msg.data)


class Downstream:
    """A downstream analytics service: a real aiohttp WebSocket server on 127.0.0.1."""

    def __init__(self, behaviour: Behaviour = record, *, status: int | None = None) -> None:
        self.behaviour = behaviour
        self.status = status  # answer the handshake with this HTTP status instead
        self.connections: list[Connection] = []
        self.attempts = 0
        self.port = 0
        self.stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []

    def url(self, path: str = "/ingest") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self, port: int = 0) -> Downstream:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self.stopping.set()
        for ws in self._sockets:
            if not ws.closed:
                try:
                    await asyncio.wait_for(ws.close(), 0.5)
                except (TimeoutError, ConnectionError):
                    pass
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        if self.status is not None:
            return web.Response(status=self.status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        conn = Connection(request.path, dict(request.query), dict(request.headers))
        self.connections.append(conn)
        try:
            await self.behaviour(request, ws, conn)
        finally:
            conn.close_code = ws.close_code
            conn.done = True
        return ws

    def all_results(self) -> list[int]:
        return [n for c in self.connections for n in c.results]


@pytest.fixture
async def downstreams() -> AsyncIterator[Callable[..., Downstream]]:
    made: list[Downstream] = []

    def make(behaviour: Behaviour = record, **kwargs: Any) -> Downstream:
        d = Downstream(behaviour, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        await d.stop()


@pytest.fixture
async def sinks() -> AsyncIterator[Callable[..., RelaySink]]:
    made: list[RelaySink] = []

    def make(url: str, conversation: ConversationInfo | None = None, **kwargs: Any) -> RelaySink:
        sink = RelaySink(conversation or ConversationInfo("conv-1", "Weekly sync"), url, **kwargs)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        await sink.close()


STARTED = {"type": "conversation_started", "conversationId": "conv-1",
           "meetingTitle": "Weekly sync"}
ENDED = {"type": "conversation_ended", "conversationId": "conv-1"}


# -- pure parts ----------------------------------------------------------------------------

def test_conversation_url_forms() -> None:
    assert conversation_url("wss://a.example/c/{conversationId}/in?t=1", "abc") == \
        "wss://a.example/c/abc/in?t=1"
    assert conversation_url("ws://a.example/c/{conversationId}", "a b/c") == \
        "ws://a.example/c/a%20b%2Fc"
    assert conversation_url("ws://a.example/in", "abc") == "ws://a.example/in?conversationId=abc"
    assert conversation_url("ws://a.example/in?tenant=acme&empty=&conversationId=old", "x y") == \
        "ws://a.example/in?tenant=acme&empty=&conversationId=x+y"


def test_backoff_doubles_to_cap_with_jitter() -> None:
    nominal = [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert [backoff_delay(i, rand=lambda: 1.0) for i in range(8)] == nominal
    assert [backoff_delay(i, rand=lambda: 0.0) for i in range(8)] == [d / 2 for d in nominal]
    assert backoff_delay(10_000) <= 10


def test_factory_validates_and_builds_sinks() -> None:
    with pytest.raises(ValueError, match="ws://"):
        relay_sink_factory("http://a.example/", token=None)
    with pytest.raises(ValueError, match="backlog"):
        relay_sink_factory("ws://a.example/", token=None, backlog=0)
    make = relay_sink_factory("ws://a.example/in?x=1", token="t")
    sink: Sink = make(ConversationInfo("c-9"))
    assert isinstance(sink, RelaySink) and sink.name == "relay"
    assert sink.url == "ws://a.example/in?x=1&conversationId=c-9"


async def test_send_never_raises_and_close_without_messages_connects_nowhere(
        downstreams: Callable[..., Downstream]) -> None:
    down = await downstreams().start()
    sink = relay_sink_factory(down.url(), token=None)(ConversationInfo("c"))
    assert isinstance(sink, RelaySink)
    sink.send(cast(Result, {"bad": {1, 2}}))  # not a result: skipped and counted
    assert sink.discarded == 1 and sink.queued == 0
    await sink.drain(1)
    await sink.close()
    sink.send(result(1))  # after close: counted, not queued
    assert sink.discarded == 2
    await asyncio.sleep(0.1)
    assert down.attempts == 0


# -- delivery ------------------------------------------------------------------------------

async def test_messages_in_order_between_started_and_ended(
        downstreams: Callable[..., Downstream]) -> None:
    down = await downstreams().start()
    sink = relay_sink_factory(down.url(), token=None)(ConversationInfo("conv-1", "Weekly sync"))
    await asyncio.sleep(0.05)
    assert down.attempts == 0  # connects lazily, on the first message
    messages = [result(i) for i in range(300)]
    for m in messages:
        sink.send(m)
    await sink.drain(5)
    await sink.close()
    await until(lambda: len(down.connections) == 1 and down.connections[0].done)
    conn = down.connections[0]
    assert json.loads(conn.texts[0]) == STARTED
    assert conn.texts[1:-1] == [encode(m) for m in messages]  # byte-for-byte the channel's
    assert json.loads(conn.texts[-1]) == ENDED
    assert conn.close_code == 1000
    assert isinstance(sink, RelaySink)
    assert (sink.sent, sink.dropped, sink.discarded, sink.connections) == (300, 0, 0, 1)


@pytest.mark.parametrize("path, expected_path, expected_query", [
    ("/conversations/{conversationId}/results?tenant=acme",
     "/conversations/conv-1/results", {"tenant": "acme"}),
    ("/ingest?tenant=acme&region=eu", "/ingest",
     {"tenant": "acme", "region": "eu", "conversationId": "conv-1"}),
    ("/ingest", "/ingest", {"conversationId": "conv-1"}),
])
async def test_url_forms_reach_the_downstream(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink],
        path: str, expected_path: str, expected_query: dict[str, str]) -> None:
    down = await downstreams().start()
    sink = sinks(down.url(path))
    sink.send(result(0))
    await until(lambda: bool(down.connections) and len(down.connections[0].texts) == 2)
    conn = down.connections[0]
    assert conn.path == expected_path and conn.query == expected_query


@pytest.mark.parametrize("token", ["s3cret-token", None])
async def test_bearer_token_header(downstreams: Callable[..., Downstream],
                                   sinks: Callable[..., RelaySink], token: str | None) -> None:
    down = await downstreams().start()
    sink = sinks(down.url(), token=token)
    sink.send(result(0))
    await until(lambda: bool(down.connections))
    headers = down.connections[0].headers
    if token is None:
        assert "Authorization" not in headers
    else:
        assert headers["Authorization"] == "Bearer s3cret-token"


async def test_downstream_started_late_gets_everything_queued(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink]) -> None:
    port = free_port()
    sink = sinks(f"ws://127.0.0.1:{port}/ingest")  # default backoff: 0.5 s doubling
    for i in range(50):
        sink.send(result(i))
    await asyncio.sleep(0.3)  # at least one refused attempt
    assert sink.queued == 50 and not sink.connected
    down = await downstreams().start(port)
    await until(lambda: down.all_results() == list(range(50)), timeout=5)
    for i in range(50, 60):
        sink.send(result(i))
    await sink.drain(5)
    await until(lambda: down.all_results() == list(range(60)))
    assert len(down.connections) == 1 and json.loads(down.connections[0].texts[0]) == STARTED
    assert sink.dropped == 0


@pytest.mark.parametrize("how", ["close_1001", "close_1011", "abort"])
async def test_reconnects_after_drop_without_losing_messages(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink],
        how: str) -> None:
    async def drop_after_ten(request: web.Request, ws: web.WebSocketResponse,
                             conn: Connection) -> None:
        if len(down.connections) > 1:
            await record(request, ws, conn)
            return
        async for msg in ws:
            conn.texts.append(msg.data)
            if len(conn.texts) == 11:  # conversation_started + 10 results
                break
        if how == "abort":
            assert request.transport is not None
            request.transport.abort()
        else:
            await ws.close(code=1001 if how == "close_1001" else 1011)

    down = await downstreams(drop_after_ten).start()
    sink = sinks(down.url(), backoff_initial=0.05)
    for i in range(10):
        sink.send(result(i))
    await until(lambda: bool(down.connections) and down.connections[0].done)
    await until(lambda: not sink.connected)
    for i in range(10, 20):  # queued while the downstream is gone
        sink.send(result(i))
    await until(lambda: len(down.connections) == 2)
    for i in range(20, 30):
        sink.send(result(i))
    await sink.drain(5)
    await sink.close()
    await until(lambda: down.connections[1].done)
    first, second = down.connections
    assert first.results == list(range(10))
    assert json.loads(second.texts[0]) == STARTED  # announced again on the new connection
    assert second.results == list(range(10, 30))
    assert json.loads(second.texts[-1]) == ENDED and second.close_code == 1000
    assert sink.connections == 2 and sink.sent == 30 and sink.dropped == 0


async def test_full_backlog_drops_oldest_and_counts(
        downstreams: Callable[..., Downstream], caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    sink = relay_sink_factory(f"ws://127.0.0.1:{port}/", token=None, backlog=10)(
        ConversationInfo("conv-1", "Weekly sync"))
    assert isinstance(sink, RelaySink)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.outputs"):
            for i in range(25):
                sink.send(result(i))
        assert sink.queued == 10 and sink.dropped == 15
        drops = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(drops) == 1  # rate-limited: one warning for the burst
        down = await downstreams().start(port)
        await until(lambda: down.all_results() == list(range(15, 25)))
    finally:
        await sink.close()


async def test_slow_consumer_never_blocks_send_or_the_loop(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink],
        record_property: Callable[[str, object], None]) -> None:
    async def never_read(request: web.Request, ws: web.WebSocketResponse,
                         conn: Connection) -> None:
        await down.stopping.wait()

    down = await downstreams(never_read).start()
    healthy = await downstreams().start()
    slow = sinks(down.url(), close_timeout=0.5)
    other = sinks(healthy.url(), ConversationInfo("conv-2"))
    slow.send(result(-1, pad=4000))
    await until(lambda: slow.connected)

    started = time.perf_counter()
    for i in range(10_000):
        slow.send(result(i, pad=4000))  # ~4 KB each: 40 MB offered, far past TCP buffers
    record_property("send_10000_seconds", time.perf_counter() - started)
    assert slow.queued <= 5000 and slow.dropped >= 5000

    for _ in range(20):  # the writer is stuck on the socket; the loop is not
        await asyncio.wait_for(asyncio.sleep(0.01), 0.5)
    assert 0 < slow.queued <= 5000  # the downstream really is not taking them

    for i in range(100):  # another conversation is unaffected
        other.send(result(i))
    await other.drain(5)
    await until(lambda: healthy.all_results() == list(range(100)))

    started = time.monotonic()
    await slow.close()
    assert time.monotonic() - started < 3  # bounded by close_timeout, not the downstream


@pytest.mark.parametrize("dead", ["refused", "black_hole"])
async def test_close_with_dead_downstream_returns_promptly(
        sinks: Callable[..., RelaySink], dead: str) -> None:
    hold: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        hold.append(writer)  # TCP accepted, the WebSocket handshake never answered

    server = None
    if dead == "refused":
        port = free_port()
    else:
        server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    try:
        sink = sinks(f"ws://127.0.0.1:{port}/")
        for i in range(5):
            sink.send(result(i))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await sink.drain(0.2)  # waits its timeout, no longer
        await sink.close()
        assert time.monotonic() - started < 1.5
        assert not sink.connected and sink.discarded == 5
    finally:
        for w in hold:
            w.close()
        if server is not None:
            server.close()


@pytest.mark.parametrize("code", [1008, 4001, 4403])
async def test_policy_close_stops_retrying(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink],
        caplog: pytest.LogCaptureFixture, code: int) -> None:
    async def refuse(request: web.Request, ws: web.WebSocketResponse, conn: Connection) -> None:
        msg = await ws.receive()
        conn.texts.append(msg.data)
        await ws.close(code=code)

    down = await downstreams(refuse).start()
    sink = sinks(down.url(), backoff_initial=0.05)
    with caplog.at_level(logging.ERROR, logger="gateway.outputs"):
        sink.send(result(0))
        await until(lambda: sink.stopped)
        await asyncio.sleep(0.4)  # several backoff periods: no new attempt
    assert down.attempts == 1
    assert any(r.levelno == logging.ERROR and str(code) in r.getMessage()
               for r in caplog.records)
    sink.send(result(1))
    assert sink.queued == 0
    await sink.drain(5)  # returns at once: nothing will ever be written


async def test_handshake_401_stops_retrying(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink]) -> None:
    down = await downstreams(status=401).start()
    sink = sinks(down.url(), token="wrong", backoff_initial=0.05)
    sink.send(result(0))
    await until(lambda: sink.stopped)
    await asyncio.sleep(0.3)
    assert down.attempts == 1


async def test_other_handshake_errors_are_retried(
        downstreams: Callable[..., Downstream], sinks: Callable[..., RelaySink]) -> None:
    down = await downstreams(status=503).start()
    sink = sinks(down.url(), backoff_initial=0.05, backoff_max=0.1)
    sink.send(result(0))
    await until(lambda: down.attempts >= 3)
    assert not sink.stopped and sink.queued == 1


@pytest.mark.slow
async def test_gateway_relays_a_whole_conversation_downstream(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Through the real gateway: a call's messages reach the downstream service in order."""
    require_espeak()
    wav = espeak_wav("what is the price of the new plan", tmp_path / "q.wav", pad=0.5)
    received: list[dict[str, Any]] = []
    ended = asyncio.Event()

    async def downstream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            received.append(json.loads(msg.data))
            if received[-1]["type"] == "conversation_ended":
                ended.set()
        return ws

    app = web.Application()
    app.router.add_get("/ingest/{cid}", downstream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        gw = await start_gateway(relay_url=f"ws://127.0.0.1:{port}/ingest/{{conversationId}}")
        client = await stream_wav(gw.url, wav, {"conversationId": "relayed-call",
                                                "meetingTitle": "Pricing"})
        await asyncio.wait_for(ended.wait(), 10)
    finally:
        await runner.cleanup()
    kinds = [m.get("message", {}).get("type") or m["type"] for m in received]
    assert received[0] == {"type": "conversation_started", "conversationId": "relayed-call",
                           "meetingTitle": "Pricing"}
    assert kinds[-1] == "conversation_ended"
    # Exactly what the participant got on its data channel, in the same order.
    assert received[1:-1] == client.results
    assert "insight_response" in kinds and "recognition_stopped" in kinds
