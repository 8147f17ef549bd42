"""Symbl's endpoints under access control, with tenants: real closed gateways, real tokens
from the token endpoint, raw Symbl sockets on loopback (scripted recogniser).

- ``/v1/streaming/{connectionId}``: the conversation a connection creates carries the
  connecting token's tenant; resuming a connection (``noConnectionTimeout``) is for its own
  token (or whoever may join it anyway): an agent of another tenant who learnt the
  connectionId is refused in Symbl's error shape and the stream goes on undisturbed.
- ``/v1/subscribe/{connectionId}``: a subscriber of another tenant is refused (error, close
  1008) when the connection's conversation is known, whether it waited for it or came late,
  and sees nothing of it.
- ``/v1/conversations/{conversationId}``: a caller token that names the connectionId reads
  the conversation that connection opened, as Symbl's clients do after streaming.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from gateway.auth import Role
from gateway.http.keys import SYMBL_KEY
from tests.access.conftest import StartGateway
from tests.access.support import ALICE, Apps, bearer, symbl_stream, symbl_subscriber, token
from tests.support.symbl_client import Socket, finals, kind_of, silence, start_request
from tests.symbl.conftest import eventually

pytestmark = pytest.mark.usefixtures("apps")

async def refusal(socket: Socket) -> tuple[list[str], int | None]:
    """What a refused socket got: the codes of its frames, its close code."""
    got = await socket.rest()
    await socket.close()
    return [str(m.get("code")) for m in got if isinstance(m, dict)], socket.close_code


async def test_a_connection_s_conversation_carries_its_tenant(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    gw = await gateways()
    agent_x, agent_y = await token(http, gw.url, app_x), await token(http, gw.url, app_y)
    ws = await symbl_stream(gw.url, "conn-x", agent_x)
    try:
        await ws.send(start_request(speaker=ALICE))
        cid = await ws.conversation_id()
        assert gw.directory.get(cid).tenant == "x"
        # So a console of tenant Y may not watch it by its conversationId either.
        async with http.ws_connect(
                gw.url.replace("http", "ws", 1) + f"/subscribe/{cid}?access_token={agent_y}"
        ) as console:
            frame = await console.receive_json(timeout=5)
            assert frame["code"] == "conversation_of_other_tenant"
        for frame_bytes in silence(1.6):
            await ws.send(frame_bytes)
        await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
        assert finals(ws.received) == ["hello thanks for calling support"]
    finally:
        await ws.close()


async def test_only_the_connection_s_own_token_resumes_it(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    service = await apps.add(Role.SERVICE, tenant="x")
    gw = await gateways()
    agent_x, agent_y = await token(http, gw.url, app_x), await token(http, gw.url, app_y)
    caller_x = await token(http, gw.url, service, role="caller", conversationIds=["other"])
    transport = gw.app[SYMBL_KEY]

    first = await symbl_stream(gw.url, "resumable", agent_x)
    await first.send(start_request(noConnectionTimeout=30, speaker=ALICE))
    cid = await first.conversation_id()
    session = transport.sessions["resumable"]

    # While the socket is live: an intruder's takeover (which would displace it) is refused
    # before the session is touched.
    for intruder, code in ((agent_y, "conversation_of_other_tenant"),
                           (caller_x, "conversation_not_in_scope")):
        codes, close = await refusal(await symbl_stream(gw.url, "resumable", intruder))
        assert (codes, close) == ([code], 1008)
    for frame_bytes in silence(1.6):
        await first.send(frame_bytes)
    await first.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    assert session.state.value == "streaming" and session.resumes == 0

    # The socket drops; the session waits for its reconnect. Y is refused again, and the
    # session still waits, for its own token.
    await first.close(code=1001)
    await eventually(lambda: session.state.value == "detached")
    codes, close = await refusal(await symbl_stream(gw.url, "resumable", agent_y))
    assert (codes, close) == (["conversation_of_other_tenant"], 1008)
    assert session.state.value == "detached" and session.owner is None
    assert transport.sessions["resumable"] is session

    second = await symbl_stream(gw.url, "resumable", agent_x)
    try:
        await second.send(start_request())
        created = await second.notice("conversation_created")
        assert created["message"]["data"]["conversationId"] == cid
        assert session.resumes == 1
    finally:
        await second.close()


async def test_v1_subscribe_refuses_a_watcher_of_another_tenant(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    app_x = await apps.add(Role.AGENT, tenant="x")
    app_y = await apps.add(Role.AGENT, tenant="y")
    gw = await gateways()
    agent_x, agent_y = await token(http, gw.url, app_x), await token(http, gw.url, app_y)
    transport = gw.app[SYMBL_KEY]

    # Both wait for the connection (its tenant is not known yet).
    own = await symbl_subscriber(gw.url, "conn-sub", agent_x)
    other = await symbl_subscriber(gw.url, "conn-sub", agent_y)
    await eventually(lambda: len(transport._waiting.get("conn-sub", [])) == 2)

    ws = await symbl_stream(gw.url, "conn-sub", agent_x)
    try:
        await ws.send(start_request(speaker=ALICE))
        cid = await ws.conversation_id()
        # Y is refused the moment the connection joins its conversation: nothing else.
        codes, close = await refusal(other)
        assert (codes, close) == (["conversation_of_other_tenant"], 1008)
        assert len(other.received) == 1
        # A Y subscriber coming once the conversation is live is refused at once.
        late = await symbl_subscriber(gw.url, "conn-sub", agent_y)
        assert await refusal(late) == (["conversation_of_other_tenant"], 1008)
        assert len(late.received) == 1

        assert await own.next() == {"type": "subscribed", "conversationId": cid}
        for frame_bytes in silence(1.6):
            await ws.send(frame_bytes)
        await ws.send({"type": "stop_request"})
        await ws.rest()
        got = await own.rest()
        assert got[-1] == {"type": "conversation_ended", "conversationId": cid}
        texts = [m["payload"]["content"] for r in got if isinstance(r, dict)
                 and r.get("type") == "message_response" for m in r["messages"]]
        assert texts == ["Hello thanks for calling support."]
        # Only X's subscriber was ever attached to the conversation's outputs.
        await eventually(lambda: not gw.bus.conversations())
    finally:
        await ws.close()
        await own.close()
    await asyncio.sleep(0)


async def test_a_caller_reads_the_conversation_its_connection_opened(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession, database: str) -> None:
    """Symbl's flow: stream with a token, then read the conversation (by the conversationId
    the socket announced) with the same token. A caller token names the connectionId, which
    the stored conversation remembers; a token naming another connection is refused."""
    service = await apps.add(Role.SERVICE, tenant="x")
    gw = await gateways(database=database)
    caller = await token(http, gw.url, service, role="caller", conversationIds=["conn-read"])
    stranger = await token(http, gw.url, service, role="caller", conversationIds=["conn-other"])
    ws = await symbl_stream(gw.url, "conn-read", caller)
    try:
        await ws.send(start_request(speaker=ALICE))
        cid = await ws.conversation_id()
        assert cid != "conn-read"
        for frame_bytes in silence(1.6):
            await ws.send(frame_bytes)
        await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
        await ws.send({"type": "stop_request"})
        await ws.notice("conversation_completed")
    finally:
        await ws.close()

    async def get(path: str, access_token: str) -> tuple[int, Any]:
        async with http.get(f"{gw.url}/v1/conversations{path}",
                            headers=bearer(access_token)) as r:
            return r.status, await r.json()

    for _ in range(50):  # committed within ~200 ms (the audio went faster than real time)
        status, body = await get(f"/{cid}/messages", caller)
        if status == 200 and body["messages"]:
            break
        await asyncio.sleep(0.1)
    assert status == 200, body
    assert body["messages"][0]["text"].lower().startswith("hello thanks for calling support")
    status, conv = await get(f"/{cid}", caller)
    assert status == 200 and conv["id"] == cid and conv["endTime"] is not None
    status, listing = await get("", caller)
    assert status == 200 and [c["id"] for c in listing["conversations"]] == [cid]

    status, refused = await get(f"/{cid}/messages", stranger)
    assert (status, refused["code"]) == (403, "conversation_not_in_scope")
    status, listing = await get("", stranger)
    assert status == 200 and listing["conversations"] == []
