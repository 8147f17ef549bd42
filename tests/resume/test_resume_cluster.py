"""Resume in a cluster: a client that comes back through the load balancer to a node that
does not have its session is redirected to the one that has (``session_elsewhere``).

Two real nodes on one real redis-server (``tests/cluster`` fixtures), real aiortc clients.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.cluster.locate import lookup_session_owner
from tests.cluster.conftest import StartNode
from tests.rtc_client import GatewayClient, ResumeRefused, WavTrack

FEATURES = ["presence", "peer", "mute", "resume"]


@pytest.mark.parametrize("carrier", ["websocket", "http"])
async def test_a_resume_on_the_wrong_node_is_redirected(nodes: StartNode, carrier: str) -> None:
    a = await nodes("a")
    b = await nodes("b")
    kim = GatewayClient(b.url, carrier=carrier)
    await kim.connect()
    track = WavTrack(np.zeros(48_000 * 8, dtype=np.int16), tail_silence=0.3, live=True)
    kim.peer(track)
    await kim.offer({"conversationId": "standup", "speaker": {"name": "Kim"}},
                    features=FEATURES)
    await asyncio.wait_for(kim.connected.wait(), 10)
    session_id = kim.session_id
    assert session_id is not None
    for _ in range(100):  # the session's record reaches Redis with b's next heartbeat
        owner = await lookup_session_owner(a.cluster, session_id)
        if owner is not None:
            break
        await asyncio.sleep(0.05)
    assert owner is not None and owner.id == "b"

    # The network blips; the load balancer sends Kim's new connection to node a.
    kim.base_url = a.url
    with pytest.raises(ResumeRefused) as refused:
        await kim.resume()
    redirect = refused.value.reply
    assert redirect["type"] == "redirect" and redirect["reason"] == "session_elsewhere"
    assert redirect["nodeId"] == "b" and redirect["conversationId"] == "standup"
    error = await kim.error()
    assert error["code"] == "redirected" and redirect["url"] in error["message"]

    reply = await kim.resume(ws_url=redirect["url"])
    assert reply["sessionId"] == session_id and reply["conversationId"] == "standup"
    await asyncio.wait_for(track.finished.wait(), 15)
    await kim.bye()
    await kim.close()
    assert kim.duplicates == []
    assert "the quarterly numbers look good" in kim.final_text()
