"""Redis goes away mid-call and comes back: the call goes on, consoles catch up.

The participant's own client never depends on Redis (local fan-out); results published
while Redis is away wait in the node's outbox and reach the console on the other node, in
order and once each, when it is back. Where results are lost for good (the outbox
overflowed), consoles are told how many they missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.cluster.calls import Participant
from tests.cluster.conftest import StartNode, eventually
from tests.cluster.test_one_conversation import finals, watch
from tests.support.redis import RedisServer


async def test_redis_restarted_mid_call(nodes: StartNode, redis_up: RedisServer,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.cluster")
    a = await nodes("a")
    b = await nodes("b")
    watched: list[dict[str, Any]] = []
    console = asyncio.ensure_future(watch(a.url, "outage", watched))
    await eventually(lambda: bool(watched), what="subscribed")
    kim = Participant(b.url, "Kim", "outage", seconds=6.0)
    client = await kim.join()
    # The first phrase (ends at 1.6 s) reaches the console through Redis...
    await eventually(lambda: len(finals(watched)) == 1, what="first final on the console")
    await asyncio.to_thread(redis_up.stop)
    # ...the second (ends at 5.2 s) is spoken while Redis is away.
    await eventually(lambda: len(finals(client.results)) == 2, timeout=15,
                     what="second final on the participant's own client")
    assert len(finals(watched)) == 1
    assert not b.cluster.link.up or not a.cluster.link.up
    await asyncio.to_thread(redis_up.start)
    done = await kim.finish()
    await asyncio.wait_for(console, 30)

    expected = [("Kim", "The quarterly numbers look good."),
                ("Kim", "We should ship the release next week.")]
    assert finals(done.results) == expected  # the call went on
    # The console caught up: everything the participant saw, in order, once each.
    assert watched[1:-1] == done.results
    assert watched[-1]["type"] == "conversation_ended"
    # One line when Redis went away and one when it came back, per node.
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in line for line in lines) == 2
    assert sum("is back" in line for line in lines) == 2
    # The nodes put their records back by themselves.
    await eventually(lambda: a.cluster.link.up and b.cluster.link.up, what="links up")
    keys = a.cluster.keys
    await eventually(lambda: len(a.cluster.nodes()) == 2, what="both nodes registered again")
    assert await a.cluster.link.client.exists(keys.node("a"), keys.node("b")) == 2
