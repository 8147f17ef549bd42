"""Nodes in their own processes: a console on one node watches a call on another from
before it starts to after it ends; a node killed mid-call loses its conversation to the
node its next participant lands on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.cluster.keys import Keys
from tests.cluster.calls import Participant
from tests.cluster.conftest import SpawnNode
from tests.cluster.nodes import NODE_TTL
from tests.cluster.test_one_conversation import finals, watch
from tests.support.redis import RedisServer

pytestmark = pytest.mark.slow


async def test_console_on_one_process_watches_a_call_on_another(processes: SpawnNode) -> None:
    a = await processes("a")
    b = await processes("b")
    watched: list[dict[str, Any]] = []
    console = asyncio.ensure_future(watch(a.url, "standup", watched))
    for _ in range(100):
        if watched:
            break
        await asyncio.sleep(0.05)
    assert watched == [{"type": "subscribed", "conversationId": "standup"}]

    kim = Participant(b.url, "Kim", "standup", seconds=5.5)
    await kim.join()
    client = await kim.finish()
    await asyncio.wait_for(console, 20)

    # Everything the participant received on node b, the console on node a received too,
    # in the same order, once each; then the end of the conversation.
    assert watched[1:-1] == client.results
    assert finals(watched) == [("Kim", "The quarterly numbers look good."),
                               ("Kim", "We should ship the release next week.")]
    assert watched[-1] == {"type": "conversation_ended", "conversationId": "standup"}
    assert await b.terminate() == 0 and await a.terminate() == 0


async def test_a_dead_nodes_conversation_is_taken_over(processes: SpawnNode,
                                                       redis_up: RedisServer,
                                                       prefix: str) -> None:
    a = await processes("a")
    b = await processes("b")
    kim = Participant(a.url, "Kim", "handover", seconds=30)
    await kim.join()
    keys = Keys(prefix)
    client = aioredis.Redis.from_url(redis_up.url, decode_responses=True)
    try:
        assert await client.hget(keys.conversation("handover"), "node") == "a"
        # While a is alive, a participant landing on b is sent to a.
        probe = Participant(b.url, "Lee", "handover")
        await probe.join()
        assert [r["nodeId"] for r in probe.redirects] == ["a"]

        await a.kill()  # no goodbye: its records must lapse by themselves
        for gone in (kim.client, probe.client):
            assert gone is not None
            await gone.close()
        for _ in range(int(NODE_TTL * 20) + 40):
            if not await client.exists(keys.node("a"), keys.conversation("handover")):
                break
            await asyncio.sleep(0.1)
        assert not await client.exists(keys.node("a"))
        assert not await client.exists(keys.conversation("handover"))
        # The next participant lands on b and b takes the conversation: no redirect.
        lee = Participant(b.url, "Lee", "handover", seconds=3.5)
        await lee.join()
        assert lee.redirects == []
        assert await client.hget(keys.conversation("handover"), "node") == "b"
        done = await lee.finish()
        assert ("Lee", "Can you send me the report by Friday?") in finals(done.results)
    finally:
        await client.aclose()


async def test_a_console_hears_the_end_when_the_calls_node_dies(processes: SpawnNode) -> None:
    a = await processes("a")
    b = await processes("b")
    watched: list[dict[str, Any]] = []
    console = asyncio.ensure_future(watch(a.url, "doomed", watched))
    kim = Participant(b.url, "Kim", "doomed", seconds=30)
    await kim.join()
    for _ in range(200):  # the first phrase (ends at 1.6 s) arrives through Redis
        if finals(watched):
            break
        await asyncio.sleep(0.05)
    assert finals(watched) == [("Kim", "The quarterly numbers look good.")]
    await b.kill()
    # Within the node TTL and a heartbeat the console is told the conversation is over.
    await asyncio.wait_for(console, NODE_TTL + 10)
    assert watched[-1] == {"type": "conversation_ended", "conversationId": "doomed"}
    assert any("its node b is gone" in line for line in a.output)
    assert kim.client is not None
    await kim.client.close()
