"""Two nodes, one conversation: the participant who lands on the other node is sent to the
owning node and the call is one conversation, with both speakers and shared insights; a
console on the other node watches it from before it starts to after it ends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.cluster.calls import Participant
from tests.cluster.conftest import StartNode, eventually


def finals(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(speaker name, text) of every message_response, in order."""
    out = []
    for m in messages:
        inner = m.get("message", m) if m.get("type") == "message" else m
        if inner.get("type") == "message_response":
            out += [(msg["from"]["name"], msg["payload"]["content"]) for msg in inner["messages"]]
    return out


def insights(messages: list[dict[str, Any]]) -> list[str]:
    return [i["type"] for m in messages if m.get("type") == "insight_response"
            for i in m["insights"]]


async def watch(url: str, conversation_id: str, into: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as http:
        ws_url = url.replace("http", "ws", 1) + f"/subscribe/{conversation_id}"
        async with http.ws_connect(ws_url) as console:
            async for msg in console:
                into.append(json.loads(msg.data))


async def test_participants_on_two_nodes_share_one_conversation(nodes: StartNode) -> None:
    a = await nodes("a")
    b = await nodes("b")
    await eventually(lambda: len(a.cluster.nodes()) == 2 and len(b.cluster.nodes()) == 2,
                     what="both nodes in each view")
    watched: list[dict[str, Any]] = []
    console = asyncio.ensure_future(watch(b.url, "deal-1", watched))
    await eventually(lambda: bool(watched), what="subscribed")

    kim = Participant(a.url, "Kim", "deal-1")
    lee = Participant(b.url, "Lee", "deal-1")
    await kim.join()
    await lee.join()
    assert kim.redirects == []
    (redirect,) = lee.redirects
    assert redirect["reason"] == "conversation_elsewhere"
    assert redirect["nodeId"] == "a" and redirect["url"] == a.url.replace("http", "ws") + "/ws"
    assert redirect["conversationId"] == "deal-1"
    # One conversation, on node a, with both participants; none on node b.
    (conversation,) = a.directory.live()
    assert sorted(m.speaker.name or "" for m in conversation.members.values()) == ["Kim", "Lee"]
    assert not b.directory.live()

    kim_client, lee_client = await asyncio.gather(kim.finish(), lee.finish())
    await asyncio.wait_for(console, 20)

    expected = [("Kim", "The quarterly numbers look good."),
                ("Lee", "Can you send me the report by Friday?"),
                ("Kim", "We should ship the release next week."),
                ("Lee", "Thanks that sounds great.")]
    # Both participants got every speaker's finals, on one clock, in order of speech.
    assert finals(kim_client.results) == expected
    assert finals(lee_client.results) == expected
    # Insights are shared: Lee's request is an action item both of them received.
    assert "action_item" in insights(kim_client.results)
    assert insights(kim_client.results) == insights(lee_client.results)
    # The console on node b saw the conversation on node a from start to end.
    assert watched[0]["type"] == "subscribed"
    assert finals(watched) == expected
    assert insights(watched) == insights(kim_client.results)
    assert watched[-1]["type"] == "conversation_ended"
    # It ended everywhere: no lease left, nothing followed.
    await eventually(lambda: not a.directory.live(), what="conversation over")
    assert not b.bus.reader.following("deal-1")
    assert await a.cluster.link.client.exists(a.cluster.keys.conversation("deal-1")) == 0
