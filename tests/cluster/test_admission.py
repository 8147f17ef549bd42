"""Admission across nodes: a full node sends new callers to one with room; a cluster at its
total limit refuses everywhere; readiness says so for the load balancer."""

from __future__ import annotations

from gateway.cluster.readiness import readiness
from tests.cluster.calls import Participant
from tests.cluster.conftest import StartNode, eventually
from tests.rtc_client import GatewayClient


async def test_a_full_node_redirects_to_one_with_room(nodes: StartNode) -> None:
    a = await nodes("a", max_sessions=1)
    b = await nodes("b", max_sessions=3)
    await eventually(lambda: len(a.cluster.nodes()) == 2, what="b in a's view")
    first = Participant(a.url, "Kim", "first")
    await first.join()
    assert readiness(a.admission).reason == "at_capacity"
    assert readiness(b.admission).ready

    second = Participant(a.url, "Lee", "second")
    await second.join()
    (redirect,) = second.redirects
    assert redirect["reason"] == "node_busy" and redirect["nodeId"] == "b"
    assert [c.id for c in b.directory.live()] == ["second"]
    assert a.admission.refusals["server_busy"] == 1
    for p in (first, second):
        assert p.client is not None
        await p.client.close()


async def test_a_cluster_at_its_total_limit_refuses_everywhere(nodes: StartNode) -> None:
    a = await nodes("a", max_sessions=5, cluster_max=2)
    b = await nodes("b", max_sessions=5, cluster_max=2)
    await eventually(lambda: len(b.cluster.nodes()) == 2, what="a in b's view")
    clients = []
    for name in ("Kim", "Lee"):
        p = Participant(a.url, name, f"talk-{name}")
        clients.append(await p.join())
    # b learns from a's heartbeat that the cluster is full, and stops being ready.
    await eventually(lambda: b.admission.cluster_in_use() == 2, what="b sees a's sessions")
    state = readiness(b.admission)
    assert not state.ready and state.reason == "cluster_at_capacity"
    third = GatewayClient(b.url)
    error = await third.connect()  # refused before its hello
    assert error["type"] == "error" and error["code"] == "server_busy"
    assert "cluster" in error["message"]
    await third.close()
    # A session ends: the cluster has room again, on every node.
    await clients[0].close()
    await eventually(lambda: readiness(b.admission).ready, what="room again")
    await clients[1].close()


async def test_readiness_of_the_in_memory_admission() -> None:
    from gateway.conversation.admission import LocalAdmission

    admission = LocalAdmission(1)
    assert readiness(admission).ready and readiness(admission).degraded is None
    ticket = admission.admit("webrtc")
    assert readiness(admission).reason == "at_capacity"
    ticket.release()
    admission.drain()
    assert readiness(admission).reason == "draining"
