"""Sockets that end without ``stop_request``, ``noConnectionTimeout``, and listen-only
subscribers (``/v1/subscribe/{connectionId}`` and the console socket)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from gateway.auth import Role
from tests.access.support import Apps, token
from tests.support.symbl_client import Socket, finals, kind_of, kinds, silence, start_request
from tests.symbl.conftest import SCRIPT, StartSymbl, SymblGateway, eventually


def contents(items: list[Any]) -> list[str]:
    return [m["payload"]["content"] for r in items if isinstance(r, dict)
            and r.get("type") == "message_response" for m in r["messages"]]


async def console(url: str, conversation_id: str) -> Socket:
    sub = await Socket.open(url, conversation_id, path="/subscribe")
    assert (await sub.next())["type"] == "subscribed"
    return sub


async def test_a_closed_tab_still_delivers_its_last_phrase_to_consoles(
        symbl: SymblGateway) -> None:
    """Close 1001 mid-phrase: the phrase is finalised and both kinds of subscriber get it,
    then ``conversation_ended``; nothing is left behind."""
    early = await Socket.open(symbl.url, "tab", path="/v1/subscribe")  # before the stream
    ws = await Socket.open(symbl.url, "tab")
    await ws.send(start_request())
    cid = await ws.conversation_id()
    late = await console(symbl.url, cid)
    for frame in silence(2.5):  # the second phrase is still being spoken
        await ws.send(frame)
    await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    await ws.close(code=1001)
    for sub in (early, late):
        got = await sub.rest()
        await sub.close()
        assert contents(got)[-2:] == ["Good morning everyone.", "Can you send me the report?"]
        assert got[-1] == {"type": "conversation_ended", "conversationId": cid}
        assert sub.close_code == 1000
    assert early.received[0] == {"type": "subscribed", "conversationId": cid}
    await eventually(lambda: not symbl.transport.sessions)
    assert not symbl.gw.directory.conversations and not symbl.gw.bus.conversations()


async def test_a_reconnect_within_no_connection_timeout_continues_the_conversation(
        symbl: SymblGateway) -> None:
    """The socket drops mid-phrase; the same connectionId reconnects 1 s later: the same
    conversation, participant and stream go on, on one clock, and a console watching
    throughout sees one conversation with every phrase."""
    sub = await Socket.open(symbl.url, "flaky", path="/v1/subscribe")
    first = await Socket.open(symbl.url, "flaky")
    await first.send(start_request(noConnectionTimeout=30,
                                   speaker={"userId": "u1", "name": "Kim"}))
    cid = await first.conversation_id()
    for frame in silence(2.5):  # in real time, as a microphone would
        await first.send(frame)
        await asyncio.sleep(len(frame) / 32000)
    await first.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    await first.close(code=1001)
    session = symbl.transport.sessions["flaky"]
    await eventually(lambda: session.state.value == "detached")
    # The pending phrase was finalised for the console at once, conversation still live.
    await sub.until(lambda m: "Can you send me the report?" in contents([m]))
    assert symbl.gw.directory.get(cid) is not None
    await asyncio.sleep(1.0)

    second = await Socket.open(symbl.url, "flaky")
    await second.send(start_request())  # a reconnecting SDK repeats its start_request
    greeting = [await second.next() for _ in range(3)]
    assert kinds(greeting) == ["started_listening", "conversation_created",
                               "recognition_started"]
    assert {g["message"]["data"]["conversationId"] for g in greeting[1:]} == {cid}
    for frame in silence(3.0):
        await second.send(frame)
    await second.send({"type": "stop_request"})
    got = await second.rest()
    await second.close()
    assert finals(got) == [SCRIPT[2].text]
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    assert got[-2]["message"]["conversationId"] == cid
    final = next(m for m in got if kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    assert final["message"]["user"] == {"id": session.id, "userId": "u1", "name": "Kim"}

    watched = await sub.rest()
    await sub.close()
    assert contents(sub.received) == ["Good morning everyone.", "Can you send me the report?",
                                      "The budget looks fine."]
    assert kinds(watched).count("conversation_ended") == 1 and watched[-1]["conversationId"] == cid
    # One stream throughout, its clock jumped over the gap (~1 s of wall time).
    (stream,) = symbl.recognizer.streams
    gaps = [b.offset - (a.offset + a.samples)
            for a, b in zip(stream.chunks, stream.chunks[1:], strict=False)]
    assert max(gaps) >= 0.8 * 16000 and sorted(gaps)[-2] == 0
    # message_response times move forward on the conversation's clock.
    starts = [m["duration"]["startTime"] for r in sub.received if isinstance(r, dict)
              and r.get("type") == "message_response" for m in r["messages"]]
    assert starts == sorted(starts)
    await eventually(lambda: not symbl.transport.sessions)


async def test_a_reconnect_before_the_old_socket_was_seen_closing_takes_over(
        symbl: SymblGateway) -> None:
    """A client back from a network loss reconnects while the gateway still holds its old
    socket (it would notice only at its next heartbeat): with noConnectionTimeout the new
    socket takes over, the old one is told why and closed; the conversation goes on."""
    old = await Socket.open(symbl.url, "takeover")
    await old.send(start_request(noConnectionTimeout=60))
    cid = await old.conversation_id()
    for frame in silence(1.3):
        await old.send(frame)
    await old.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    told_later = asyncio.ensure_future(old.rest())  # the old client still reads
    new = await Socket.open(symbl.url, "takeover")
    told = await told_later
    assert [m["code"] for m in told if m.get("type") == "error"] == ["connection_replaced"]
    assert old.close_code == 1008
    await old.close()
    await new.send(start_request())
    created = await new.notice("conversation_created")
    assert created["message"]["data"]["conversationId"] == cid
    for frame in silence(3.0):
        await new.send(frame)
    await new.send({"type": "stop_request"})
    got = await new.rest()
    await new.close()
    assert finals(got)[0] == SCRIPT[1].text
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    await eventually(lambda: not symbl.transport.sessions)


async def test_without_a_reconnect_the_conversation_ends_after_the_timeout(
        symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url, "gone")
    await ws.send(start_request(noConnectionTimeout=0.5))
    cid = await ws.conversation_id()
    sub = await console(symbl.url, cid)
    for frame in silence(1.3):
        await ws.send(frame)
    await ws.close(code=1001)
    got = await sub.rest(timeout=5)
    await sub.close()
    assert contents(got) == ["Good morning everyone."]
    assert got[-1]["type"] == "conversation_ended"
    await eventually(lambda: not symbl.transport.sessions)
    again = await Socket.open(symbl.url, "gone")  # the id is free again: a new conversation
    await again.send(start_request())
    created = await again.notice("conversation_created")
    await again.close()
    assert created["message"]["data"]["conversationId"] != cid


async def test_a_reconnect_that_never_starts_does_not_keep_the_session(
        symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url, "idle-reconnect")
    await ws.send(start_request(noConnectionTimeout=1))
    await ws.notice("recognition_started")
    await ws.close(code=1001)
    session = symbl.transport.sessions["idle-reconnect"]
    await eventually(lambda: session.state.value == "detached")
    second = await Socket.open(symbl.url, "idle-reconnect")
    await second.close()  # no start_request
    await eventually(lambda: not symbl.transport.sessions, timeout=5)
    assert session.state.value == "ended"


async def test_subscribe_by_live_connection_id_or_by_conversation_id(
        symbl: SymblGateway) -> None:
    """``/v1/subscribe/{id}`` takes the connectionId of a live connection, or the id of any
    live conversation (a WebRTC call's, or the conversationId a Symbl client was given)."""
    ws = await Socket.open(symbl.url, "live")
    await ws.send(start_request())
    cid = await ws.conversation_id()
    for frame in silence(1.3):
        await ws.send(frame)
    await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    by_connection = await Socket.open(symbl.url, "live", path="/v1/subscribe")
    by_conversation = await Socket.open(symbl.url, cid, path="/v1/subscribe")
    for sub in (by_connection, by_conversation):
        assert await sub.next() == {"type": "subscribed", "conversationId": cid}
    for frame in silence(2.0):
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    await ws.rest()
    await ws.close()
    for sub in (by_connection, by_conversation):
        got = await sub.rest()
        await sub.close()
        assert contents(got) == ["Can you send me the report by Friday?"]
        assert got[-1]["type"] == "conversation_ended"


async def test_a_dropped_socket_s_last_phrase_reaches_the_store(
        start_symbl: StartSymbl, tmp_path: Path) -> None:
    symbl = await start_symbl(database=str(tmp_path / "conversations.db"))
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(speaker={"userId": "kim@example.com", "name": "Kim"}))
    cid = await ws.conversation_id()
    for frame in silence(2.5):
        await ws.send(frame)
    await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    await ws.close(code=1001)
    await eventually(lambda: not symbl.transport.sessions)
    async with aiohttp.ClientSession() as http:
        async def texts() -> list[str]:
            async with http.get(f"{symbl.url}/v1/conversations/{cid}/messages") as response:
                if response.status != 200:
                    return []
                return [m["text"] for m in (await response.json())["messages"]]

        for _ in range(100):  # the store commits in the background
            if len(found := await texts()) == 2:
                break
            await asyncio.sleep(0.05)
    assert found == ["Good morning everyone.", "Can you send me the report?"]


async def test_too_many_subscribers_waiting_for_one_connection(symbl: SymblGateway) -> None:
    waiting = [await Socket.open(symbl.url, "crowded", path="/v1/subscribe")
               for _ in range(symbl.transport.max_subscribers)]
    extra = await Socket.open(symbl.url, "crowded", path="/v1/subscribe")
    got = await extra.rest()
    await extra.close()
    assert [m["code"] for m in got] == ["too_many_subscribers"] and extra.close_code == 1013
    for sub in waiting:
        await sub.close()
    await eventually(lambda: not symbl.transport._waiting)


async def test_a_token_guards_v1_subscribe_too(start_symbl: StartSymbl,
                                               tmp_path: Path) -> None:
    """With access control on, Symbl's subscribe path needs a token that may watch, like
    ``/subscribe/{id}`` (docs/access-control.md)."""
    apps = Apps.create(tmp_path)
    agent = await apps.add(Role.AGENT)
    symbl = await start_symbl(auth=apps.config().auth)
    refused = await Socket.open(symbl.url, "guarded", path="/v1/subscribe")
    got = await refused.rest()
    await refused.close()
    assert [m["code"] for m in got] == ["missing_token"] and refused.close_code == 1008
    async with aiohttp.ClientSession() as http:
        secret = await token(http, symbl.url, agent)
    admitted = await Socket.open(symbl.url, "guarded", path="/v1/subscribe",
                                 query=f"access_token={secret}")
    ws = await Socket.open(symbl.url, "guarded", query=f"access_token={secret}")
    await ws.send(start_request())
    await ws.notice("recognition_started")
    assert (await admitted.next())["type"] == "subscribed"
    await ws.close()
    await admitted.close()

