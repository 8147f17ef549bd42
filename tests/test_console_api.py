"""The console's endpoints on a real gateway: the conversation list, its live feed, and the
subscribe socket's additions (presence, snapshot).

Calls are real: aiortc clients over WebRTC into the gateway, with a scripted recogniser
(exact transcripts in seconds, no model); the real Vosk path is pinned in
tests/e2e/test_console.py.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.auth import Role
from gateway.http.keys import BOARD_KEY
from tests.access.support import Apps, TokenClient, token
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient, WavTrack

# Each speaker's phrases on their own stream clock (seconds of audio sent).
SCRIPTS = {
    "Alice": [ScriptedPhrase("hello thanks for calling support", 0.3, 1.4),
              ScriptedPhrase("can you send me the invoice by friday", 2.6, 3.6)],
    "Bob": [ScriptedPhrase("what is the price of the new plan", 1.5, 2.4),
            ScriptedPhrase("great that sounds wonderful thank you", 3.8, 4.8)],
}


def scripted_gateway(start_gateway: StartGateway, **overrides: Any) -> Any:
    return start_gateway(recognizer=ScriptedRecognizer([], per_speaker=SCRIPTS), **overrides)


@dataclass
class Caller:
    name: str
    client: GatewayClient
    track: WavTrack

    async def hang_up(self) -> None:
        try:
            await self.client.bye()
        finally:
            await self.client.close()


_open: list[Caller] = []


async def close_callers() -> None:
    """Close every caller ``join`` made (a failing test must not leak peers)."""
    while _open:
        await _open.pop().client.close()


@pytest.fixture(autouse=True)
async def _hang_up_everyone() -> AsyncIterator[None]:
    yield
    await close_callers()


async def join(gw: RunningGateway, name: str, conversation: str, seconds: float,
               title: str | None = None, *, samples: np.ndarray | None = None,
               access_token: str | None = None, **config: Any) -> Caller:
    """A participant who sends ``seconds`` of silence (or ``samples``, 48 kHz) into
    ``conversation``; ``config`` adds start-config fields (``trackers``…); ``access_token``
    is presented on ``/ws`` (a gateway with access control)."""
    client = GatewayClient(gw.url) if access_token is None else TokenClient(gw.url,
                                                                              access_token)
    await client.connect()
    audio = samples if samples is not None else np.zeros(int(48_000 * seconds), dtype=np.int16)
    track = WavTrack(audio, tail_silence=0.2 if samples is None else 1.5)
    client.peer(track)
    config.update(conversationId=conversation,
                  speaker={"name": name, "userId": f"{name.split()[0].lower()}@example.com"})
    if title:
        config["meetingTitle"] = title
    caller = Caller(name, client, track)
    _open.append(caller)
    await client.offer(config)
    return caller


def ws_url(gw: RunningGateway, path: str) -> str:
    return gw.url.replace("http", "ws", 1) + path


async def listing(http: aiohttp.ClientSession, gw: RunningGateway, state: str = "live",
                  **headers: str) -> dict[str, Any]:
    async with http.get(f"{gw.url}/api/conversations?state={state}", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        body: dict[str, Any] = await r.json()
        return body


async def until(predicate: Any, timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Poll a predicate (plain or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_call_is_listed_live_with_its_summary_then_recent(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    assert (await listing(http, gw)) == {"state": "live", "access": "open", "conversations": []}
    alice = await join(gw, "Alice", "support-1", 6, title="Billing question")
    bob = await join(gw, "Bob", "support-1", 6)

    async def summarised() -> dict[str, Any] | None:
        (conv,) = (await listing(http, gw))["conversations"] or [None]
        return conv if conv and conv["questions"]["count"] and conv["actionItems"]["count"] \
            else None

    conv = await until(summarised)
    assert conv["conversationId"] == "support-1" and conv["state"] == "live"
    assert conv["meetingTitle"] == "Billing question"
    assert {p["name"] for p in conv["participants"]} == {"Alice", "Bob"}
    assert all(p["present"] and p["id"] for p in conv["participants"])
    assert conv["questions"]["latest"][0]["text"] == "What is the price of the new plan?"
    assert conv["questions"]["latest"][0]["from"]["name"] == "Bob"
    assert conv["actionItems"]["latest"][0]["text"].startswith("Can you send me the invoice")
    assert conv["latestLine"]["from"]["name"] in ("Alice", "Bob") and conv["latestLine"]["text"]
    assert conv["startTime"].endswith("Z") and conv["endTime"] is None

    await asyncio.wait_for(asyncio.gather(alice.track.finished.wait(),
                                          bob.track.finished.wait()), 20)
    await alice.hang_up()
    conv = (await listing(http, gw))["conversations"][0]
    assert [p["present"] for p in conv["participants"] if p["name"] == "Alice"] == [False]
    await bob.hang_up()

    assert (await listing(http, gw))["conversations"] == []
    (ended,) = (await listing(http, gw, "recent"))["conversations"]
    assert ended["conversationId"] == "support-1" and ended["state"] == "ended"
    assert ended["endTime"] and ended["messages"] == 4
    assert ended["latestLine"]["text"] == "Great that sounds wonderful thank you."
    assert ended["sentiment"]["current"] == "positive"
    assert not gw.sessions and not gw.bus.conversations()


async def test_the_list_refuses_bad_parameters_and_missing_tokens(
    start_gateway: StartGateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    apps = Apps.create(tmp_path)
    agent = await apps.add(Role.AGENT)
    gw = await scripted_gateway(start_gateway, auth=apps.config().auth)
    async with http.get(f"{gw.url}/api/conversations") as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await r.json())["code"] == "missing_token"
    async with http.get(f"{gw.url}/api/conversations?access_token=nope") as r:
        assert r.status == 401 and (await r.json())["code"] == "malformed_token"
    secret = await token(http, gw.url, agent)
    good = {"Authorization": f"Bearer {secret}"}
    assert (await listing(http, gw, **good))["access"] == "token"
    async with http.get(f"{gw.url}/api/conversations?state=recent&access_token={secret}") as r:
        assert r.status == 200
    for query, field in (("state=all", "state"), ("limit=0", "limit"), ("limit=x", "limit"),
                         ("limit=201", "limit"), ("limit=%C2%B2", "limit"),
                         ("limit=99999999999", "limit")):
        async with http.get(f"{gw.url}/api/conversations?{query}", headers=good) as r:
            assert r.status == 400
            error = await r.json()
            assert error["code"] == "invalid_parameter" and error["message"].startswith(field)


async def feed_messages(ws: aiohttp.ClientWebSocketResponse,
                        into: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            into.append(json.loads(msg.data))


async def test_the_feed_sends_a_snapshot_then_each_change_then_the_end(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    # A call that ended before the console opened is in the snapshot's recent list.
    early = await join(gw, "Alice", "early", 1)
    await early.track.finished.wait()
    await early.hang_up()

    ws = await http.ws_connect(ws_url(gw, "/api/console/feed"))
    seen: list[dict[str, Any]] = []
    reader = asyncio.ensure_future(feed_messages(ws, seen))
    await until(lambda: seen)
    snapshot = seen[0]
    assert snapshot["type"] == "snapshot" and snapshot["access"] == "open"
    assert snapshot["live"] == [] and snapshot["recentLimit"] == 50
    assert [c["conversationId"] for c in snapshot["recent"]] == ["early"]

    alice = await join(gw, "Alice", "feed-1", 5)
    bob = await join(gw, "Bob", "feed-1", 5)
    await asyncio.gather(alice.track.finished.wait(), bob.track.finished.wait())
    await alice.hang_up()
    await bob.hang_up()
    await until(lambda: any(m["type"] == "ended" for m in seen))
    await ws.close()
    await reader

    updates = [m for m in seen[1:] if m["conversation"]["conversationId"] == "feed-1"]
    assert updates[-1]["type"] == "ended" and updates[-1]["conversation"]["state"] == "ended"
    assert all(m["type"] == "update" for m in updates[:-1])
    names = {p["name"] for m in updates for p in m["conversation"]["participants"]}
    assert names == {"Alice", "Bob"}
    assert max(m["conversation"]["questions"]["count"] for m in updates) == 1
    # At most one batch a second: a ~6 s call produced about 10 visible changes (joins,
    # four lines, insights, topics, leaves), far fewer updates may reach the console.
    assert len(updates) <= 10
    await until(lambda: gw.app[BOARD_KEY].watchers == 0)
    async with http.get(f"{gw.url}/api/conversations?state=recent&limit=1") as r:
        assert [c["conversationId"] for c in (await r.json())["conversations"]] == ["feed-1"]
    async with http.get(f"{gw.url}/api/conversations?state=recent") as r:
        assert [c["conversationId"] for c in (await r.json())["conversations"]] == [
            "feed-1", "early"]


async def test_a_flood_of_results_reaches_a_feed_at_most_once_a_second(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    # Zed has no script: no line of the call itself can land after the flood's last one
    # (Alice's own finals did on a loaded machine).
    caller = await join(gw, "Zed", "flood", 8)
    conversation = gw.directory.get("flood")
    assert conversation is not None
    ws = await http.ws_connect(ws_url(gw, "/api/console/feed"))
    seen: list[dict[str, Any]] = []
    reader = asyncio.ensure_future(feed_messages(ws, seen))
    await until(lambda: seen)
    started = asyncio.get_running_loop().time()
    for n in range(2000):  # 2000 visible changes in 2 s, published the way members do
        conversation.publish({"type": "message_response", "messages": [{
            "id": f"m{n}", "from": {"name": "Alice"}, "payload": {"content": f"line {n}"}}]})
        if n % 100 == 0:
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    # Everything the feed sent from the first change to now, at one batch a second at most
    # (plus the batch in flight at each end), however slowly this machine ran the loop.
    elapsed = asyncio.get_running_loop().time() - started
    updates = [m for m in seen[1:] if m["conversation"]["conversationId"] == "flood"]
    assert len(updates) <= elapsed + 2, (len(updates), elapsed)
    assert updates[-1]["conversation"]["latestLine"]["text"] == "line 1999"  # coalesced, not lost
    await caller.hang_up()
    await ws.close()
    await reader


async def test_the_feed_refuses_on_an_open_socket(
    start_gateway: StartGateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A browser cannot read a refused handshake's status, so the refusal is a message."""
    apps = Apps.create(tmp_path)
    agent = await apps.add(Role.AGENT)
    gw = await scripted_gateway(start_gateway, auth=apps.config().auth)
    ws = await http.ws_connect(ws_url(gw, "/api/console/feed?access_token=wrong"))
    assert (await ws.receive_json(timeout=5))["code"] == "malformed_token"
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1008
    secret = await token(http, gw.url, agent)
    ws = await http.ws_connect(ws_url(gw, f"/api/console/feed?access_token={secret}"))
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot" and first["access"] == "token"
    await ws.close()


async def test_subscribers_that_ask_get_presence_and_a_snapshot(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    streams: dict[str, list[dict[str, Any]]] = {"plain": [], "waiting": [], "late": []}
    sockets = {"plain": await http.ws_connect(ws_url(gw, "/subscribe/pres-1")),
               "waiting": await http.ws_connect(
                   ws_url(gw, "/subscribe/pres-1?presence=1&snapshot=1"))}
    readers = [asyncio.ensure_future(feed_messages(ws, streams[n])) for n, ws in sockets.items()]
    await until(lambda: len(streams["waiting"]) == 2)
    assert streams["waiting"] == [
        {"type": "subscribed", "conversationId": "pres-1"},
        {"type": "snapshot", "conversationId": "pres-1", "conversation": None, "results": []}]

    alice = await join(gw, "Alice", "pres-1", 6)
    bob = await join(gw, "Bob", "pres-1", 6)
    await alice.client.wait_result(lambda m: m.get("type") == "insight_response", 20)
    # A console opening midway: the snapshot holds the call so far, then it goes on live.
    sockets["late"] = await http.ws_connect(
        ws_url(gw, "/subscribe/pres-1?snapshot=1&presence=true"))
    readers.append(asyncio.ensure_future(feed_messages(sockets["late"], streams["late"])))
    await until(lambda: len(streams["late"]) >= 2)
    assert streams["late"][0]["type"] == "subscribed"
    snap = streams["late"][1]
    assert snap["type"] == "snapshot" and snap["conversation"]["state"] == "live"
    assert {p["name"] for p in snap["conversation"]["participants"]} == {"Alice", "Bob"}
    kinds = [r["type"] for r in snap["results"]]
    assert "message_response" in kinds and "insight_response" in kinds
    assert "message" not in kinds  # no stale partials
    said_before = [m["messages"][0]["id"] for m in snap["results"]
                   if m["type"] == "message_response"]

    await asyncio.gather(alice.track.finished.wait(), bob.track.finished.wait())
    await alice.hang_up()
    await bob.hang_up()
    await asyncio.wait_for(asyncio.gather(*readers), 10)
    for ws in sockets.values():
        assert ws.close_code == 1000
    kinds_of = {n: [m.get("message", {}).get("type") or m["type"] for m in s]
                for n, s in streams.items()}
    # Today's contract is unchanged for those who did not ask.
    assert not {"participant_joined", "participant_left", "snapshot"} & set(kinds_of["plain"])
    assert kinds_of["plain"][0] == "subscribed" and kinds_of["plain"][-1] == "conversation_ended"
    waiting_life = [m for m in streams["waiting"] if m["type"].startswith(("participant",
                                                                           "conversation_"))]
    assert [m["type"] for m in waiting_life] == [
        "conversation_started", "participant_joined", "participant_joined",
        "participant_left", "participant_left", "conversation_ended"]
    joined = waiting_life[1]
    assert joined["conversationId"] == "pres-1" and joined["participant"]["name"] == "Alice"
    assert joined["participant"]["id"] and joined["at"].endswith("Z")
    # Apart from presence, a console that asked sees what a plain subscriber sees.
    assert [m for m in streams["waiting"][2:] if m not in waiting_life[:-1]] == \
        streams["plain"][1:]
    # Nothing the late console saw in its snapshot came again, and nothing was missed.
    said_after = [m["messages"][0]["id"] for m in streams["late"]
                  if m["type"] == "message_response"]
    all_said = [m["messages"][0]["id"] for m in streams["plain"]
                if m["type"] == "message_response"]
    assert said_before + said_after == all_said and len(all_said) == 4


async def test_subscribe_refuses_an_unknown_flag_value(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(gw, "/subscribe/x?presence=maybe"))
    assert refused.value.status == 400


async def test_the_console_page_is_served(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gw = await scripted_gateway(start_gateway)
    async with http.get(f"{gw.url}/console") as r:
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]
        policy = r.headers["Content-Security-Policy"]
        page = await r.text()
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "/static/console.js" in page and "/static/console.css" in page
    assert "/static/base.css" in page
    for asset in ("console.js", "base.css", "console.css"):
        async with http.get(f"{gw.url}/static/{asset}") as r:
            assert r.status == 200
    async with http.get(f"{gw.url}/console/", allow_redirects=False) as r:
        assert r.status == 308 and r.headers["Location"] == "/console"


async def test_shutdown_tells_open_feeds_at_once(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    """An open feed must not hold the gateway's shutdown up (aiohttp would wait for it)."""
    gw = await scripted_gateway(start_gateway)
    ws = await http.ws_connect(ws_url(gw, "/api/console/feed"))
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    began = asyncio.get_running_loop().time()
    await gw.runner.cleanup()
    assert asyncio.get_running_loop().time() - began < 5
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001


async def test_a_feed_is_bounded_per_watcher_and_per_gateway(
    start_gateway: StartGateway, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watcher holds one entry per conversation; one that falls 1000 conversations behind
    is closed (1013) rather than allowed to grow; beyond the feed limit, a refusal."""
    from gateway.http import conversations_live
    from gateway.outputs.base import ConversationInfo
    from gateway.outputs.summary import summary_sink_factory

    gw = await scripted_gateway(start_gateway)
    board = gw.app[BOARD_KEY]
    ws = await http.ws_connect(ws_url(gw, "/api/console/feed"))
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    monkeypatch.setattr(conversations_live, "MAX_WATCHERS", 1)
    refused = await http.ws_connect(ws_url(gw, "/api/console/feed"))
    assert (await refused.receive_json(timeout=5))["code"] == "too_many_watchers"
    assert (await refused.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert refused.close_code == 1013

    make = summary_sink_factory(board)
    for n in range(conversations_live.MAX_PENDING + 1):  # in one burst, before any send
        make(ConversationInfo(f"burst-{n}"))
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1013
    await until(lambda: board.watchers == 0)
    assert not gw.app[conversations_live.FEEDS_KEY]
