"""The HTTP carrier of signaling (``/signal``): the same protocol where WebSockets are blocked.

Same messages, same errors, same rules as ``/ws``, moved by POSTs and server-sent events (or
long polls). Real gateway, real aiortc peers, the scripted recogniser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from gateway.config import SessionSettings
from signaling import http_link
from tests.conftest import RunningGateway
from tests.resume.conftest import MakeProxy
from tests.resume.signal_http import HttpSignal, HttpSignalError
from tests.resume.support import (
    config,
    eventually,
    finals_of,
    join,
    recognizer,
    reconnect,
    script,
    silence,
)
from tests.rtc_client import GatewayClient

Scripted = Callable[..., Awaitable[RunningGateway]]


@pytest.mark.parametrize("carrier", ["http", "poll"])
async def test_a_call_over_http_is_the_same_call(scripted: Scripted, carrier: str) -> None:
    gw = await scripted()
    ada, ada_track = await join(gw.url, "Ada", 6.0, carrier=carrier)
    bo, bo_track = await join(gw.url, "Bo", 4.0)  # over the WebSocket
    assert ada.hello["type"] == "hello" and ada.hello["features"][-1] == "resume"
    assert ada.answer["conversationId"] == "resume-call" and ada.answer["resumeToken"]
    # Presence and relayed messages cross carriers.
    joined = await ada.next_signal(lambda m: m.get("type") == "participant_joined")
    assert joined["participant"]["name"] == "Bo"
    await bo.send({"type": "peer", "to": ada.session_id, "data": {"hi": 1}})
    relayed = await ada.next_signal(lambda m: m.get("type") == "peer")
    assert relayed == {"type": "peer", "from": bo.session_id, "data": {"hi": 1}}
    await asyncio.wait_for(asyncio.gather(ada_track.finished.wait(), bo_track.finished.wait()),
                           20)
    await ada.bye()
    await asyncio.wait_for(ada.signaling_closed.wait(), 5)
    assert ada.signal is not None and ada.signal.closed_with is not None
    assert ada.signal.closed_with["code"] == 1000
    await bo.bye()
    await ada.close()
    await bo.close()
    assert finals_of(ada, "Ada") == script("Ada", until=6.5)  # 0.5 s of tail silence
    assert finals_of(ada, "Bo") == script("Bo", until=4.5)
    assert ada.duplicates == []


async def _opened(gw: RunningGateway, http: aiohttp.ClientSession) -> HttpSignal:
    signal = HttpSignal(http, gw.url)
    await signal.open()
    return signal


async def _next(events: object) -> dict[str, object]:
    assert hasattr(events, "__anext__")
    message: dict[str, object] = await asyncio.wait_for(events.__anext__(), 5)
    return message


async def test_bad_requests_get_the_same_errors_and_the_connection_stays(
        scripted: Scripted) -> None:
    gw = await scripted()
    async with aiohttp.ClientSession() as http:
        signal = await _opened(gw, http)
        events = signal.events()
        assert (await _next(events))["type"] == "hello"
        await signal.post("this is not json")
        assert (await _next(events))["code"] == "bad_json"
        await signal.post({"type": "shout"})
        assert (await _next(events))["code"] == "unknown_type"
        await signal.post([{"type": "ping"}, {"type": "candidate", "candidate": None}])
        assert (await _next(events))["type"] == "pong"
        assert (await _next(events))["code"] == "no_session"
        # HTTP-level refusals carry the protocol's error shape.
        with pytest.raises(HttpSignalError) as big:
            await signal.post("x" * (4 * 64 * 1024 + 10))
        assert big.value.status == 413 and big.value.body["code"] == "message_too_large"
        with pytest.raises(HttpSignalError) as batch:
            await signal.post([{"type": "ping"}] * 65)
        assert batch.value.status == 400 and batch.value.body["code"] == "batch_too_large"
        thief = HttpSignal(http, gw.url)
        thief.connection_id, thief.secret = signal.connection_id, "guess"
        with pytest.raises(HttpSignalError) as forbidden:
            await thief.post({"type": "ping"})
        assert forbidden.value.status == 403 and forbidden.value.body["code"] == "bad_secret"
        thief.connection_id = "nope"
        with pytest.raises(HttpSignalError) as unknown:
            await thief.post({"type": "ping"})
        assert unknown.value.status == 404
        async with http.post(gw.url + "/signal", data="{}") as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "missing_connection"
        await signal.post({"type": "ping"})
        assert (await _next(events))["type"] == "pong"  # still usable
        await signal.close()
        with pytest.raises(StopAsyncIteration):
            await _next(events)
        assert signal.closed_with == {"code": 1000, "reason": "closed by the client"}
        with pytest.raises(HttpSignalError) as gone:
            await signal.post({"type": "ping"})
        assert gone.value.status == 410 and gone.value.body["code"] == "connection_closed"


async def test_a_broken_event_stream_continues_where_it_stopped(scripted: Scripted) -> None:
    gw = await scripted()
    async with aiohttp.ClientSession() as http:
        signal = await _opened(gw, http)
        first = signal.events()
        assert (await _next(first))["type"] == "hello"
        await signal.post({"type": "ping"})
        assert (await _next(first))["type"] == "pong"
        await first.aclose()  # the stream breaks; two messages come meanwhile
        await signal.post([{"type": "ping"}, {"type": "shout"}])
        assert signal.last_event_id == 2
        second = signal.events()  # with Last-Event-ID: 2
        assert (await _next(second))["type"] == "pong"
        assert (await _next(second))["code"] == "unknown_type"
        assert signal.last_event_id == 4
        await second.aclose()
        signal.last_event_id = 0  # a client that lost track gets what is still held
        third = signal.events()
        assert [(await _next(third))["type"] for _ in range(4)] == \
            ["hello", "pong", "pong", "error"]
        await third.aclose()
        await signal.close()


async def test_offer_timeout_and_server_busy_as_on_the_websocket(
        start_gateway: Callable[..., Awaitable[RunningGateway]]) -> None:
    gw = await start_gateway(settings=SessionSettings(offer_timeout=0.5),
                             recognizer=recognizer(), insights=False, max_sessions=1)
    async with aiohttp.ClientSession() as http:
        idle = await _opened(gw, http)
        events = idle.events()
        assert (await _next(events))["type"] == "hello"
        full = await _opened(gw, http)
        busy = full.events()
        assert (await _next(busy))["code"] == "server_busy"
        with pytest.raises(StopAsyncIteration):
            await _next(busy)
        assert full.closed_with is not None and full.closed_with["code"] == 1000
        assert (await _next(events))["code"] == "offer_timeout"
        with pytest.raises(StopAsyncIteration):
            await _next(events)
        assert idle.closed_with == {"code": 1008, "reason": "offer timeout"}
    await eventually(lambda: not gw.sessions, 5, "the slots to be free")


async def test_a_client_that_stops_reading_is_gone_after_the_linger(
        scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_link, "LINGER", 1.0)
    monkeypatch.setattr(http_link, "SWEEP_INTERVAL", 0.1)
    gw = await scripted()
    plain, _ = await join(gw.url, "Bo", 8.0, features=["presence"], carrier="http")
    resumable, _ = await join(gw.url, "Ada", 8.0, carrier="http")
    plain_id, ada_id = plain.session_id, resumable.session_id
    await plain.drop_signaling()  # stops reading events, says nothing
    await resumable.drop_signaling()
    await eventually(lambda: plain_id not in gw.sessions, 5, "the plain session to end")
    session = gw.sessions[str(ada_id)]  # the resumable one waits for its client
    await eventually(lambda: session.client.absence is not None
                     and "signaling" in session.client.absence, 5, "Ada to be away")
    reply, _ = await reconnect(resumable)
    assert reply["sessionId"] == ada_id
    await resumable.close()
    await plain.close()


async def test_resume_over_http_after_the_network_broke(scripted: Scripted,
                                                        proxies: MakeProxy) -> None:
    gw = await scripted()
    proxy = await proxies(gw.url)
    ada, track = await join(proxy.url, "Ada", 10.0, carrier="http")
    await ada.wait_result(lambda m: m.get("type") == "message_response", 10)
    proxy.cut(seconds=2.0)
    reply, attempts = await reconnect(ada)
    assert reply["sessionId"] == ada.session_id and attempts > 1
    await asyncio.wait_for(track.finished.wait(), 15)
    await ada.bye()
    await ada.close()
    assert ada.duplicates == [] and finals_of(ada, "Ada") == script("Ada", until=10.5)


async def test_http_clients_can_use_eventsource_style_query_credentials(
        scripted: Scripted) -> None:
    gw = await scripted()
    client = GatewayClient(gw.url, carrier="http")
    await client.connect()
    assert client.signal is not None
    query = f"connection={client.signal.connection_id}&secret={client.signal.secret}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gw.url}/signal?{query}",
                             data=json.dumps({"type": "ping"})) as resp:
            assert resp.status == 200 and (await resp.json())["received"] == 1
    await client.next_signal(lambda m: m.get("type") == "pong")
    client.peer(silence(1.0))
    await client.offer(config("Ada"))
    await client.close()
