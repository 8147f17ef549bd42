"""The Redis parts on their own, against the real server: result streams (ids, retries,
gaps, catch-up), session and conversation look-ups, and the embedded default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.app import create_app
from gateway.asr.scripted import ScriptedRecognizer
from gateway.cluster import locate
from gateway.cluster.bus import RedisBus
from gateway.cluster.cluster import Cluster
from gateway.cluster.config import ClusterConfig
from gateway.cluster.redirect import resume_redirect
from gateway.cluster.stream_writer import Pending
from gateway.config import GatewayConfig
from gateway.conversation.admission import LocalAdmission
from gateway.conversation.directory import LocalDirectory
from gateway.http.keys import ADMISSION_KEY, BUS_KEY
from gateway.outputs.bus import LocalBus
from gateway.outputs.result import Result
from tests.cluster.conftest import eventually
from tests.outputs.recording import RecordingSink
from tests.support.redis import RedisServer


def config(redis: RedisServer, prefix: str, node_id: str, **kw: float) -> ClusterConfig:
    return ClusterConfig(redis_url=redis.url, node_id=node_id, prefix=prefix,
                         node_url=f"https://gw.example.com/?node={node_id}",
                         heartbeat=0.2, node_ttl=1.5, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def pair(redis_up: RedisServer, prefix: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two nodes' buses (no app): ``a`` publishes, ``b`` follows."""
    buses = []
    for node_id in ("a", "b"):
        cluster = Cluster(config(redis_up, prefix, node_id))
        bus = RedisBus(cluster)
        bus.start()
        await cluster.start()
        buses.append(bus)
    yield buses[0], buses[1]
    for bus in buses:
        await bus.stop()
        await bus._cluster.stop()


def result(cid: str, seq: int, kind: str = "message_response") -> Result:
    return Result.of(cid, {"type": kind, "n": seq}, seq)


def ended(cid: str, seq: int) -> Result:
    return Result.of(cid, {"type": "conversation_ended", "conversationId": cid}, seq,
                     kind="lifecycle")


async def test_results_reach_another_node_in_order_once_with_their_ids(
        pair: tuple[RedisBus, RedisBus]) -> None:
    a, b = pair
    console = RecordingSink("subscriber")
    b.attach("c1", console)  # before the conversation exists anywhere
    await eventually(lambda: b.reader._follows["c1"].last_id is not None, what="follow")
    local = RecordingSink()
    a.attach("c1", local, participant="p1")
    for seq in range(1, 6):
        a.publish(result("c1", seq))
    a.publish(ended("c1", 6))
    await eventually(lambda: console.closed, what="console finished by the remote end")
    assert [r.seq for r in console.results] == [1, 2, 3, 4, 5, 6]
    assert [r.text for r in console.results] == [r.text for r in local.results]
    entries: Any = await a._cluster.link.client.xrange(a._cluster.keys.stream("c1"))
    generation = entries[0][0].split("-")[0]
    assert [e[0] for e in entries] == [f"{generation}-{s}" for s in range(1, 7)]
    ttl = await a._cluster.link.client.pttl(a._cluster.keys.stream("c1"))
    assert 0 < ttl <= 3600_000
    assert not b.reader.following("c1")


async def test_a_retried_write_is_not_published_twice(pair: tuple[RedisBus, RedisBus]) -> None:
    a, _ = pair
    for seq in (1, 2, 3):
        a.publish(result("c2", seq))
    assert await a.writer.flush(5)
    last = a.writer.last_id("c2")
    assert last is not None
    generation = int(last.split("-")[0])
    # The same entries again, as after a reply lost with the connection: refused, counted.
    for seq in (2, 3):
        a.writer._queue.append(Pending(result("c2", seq), generation))
    a.writer._event.set()
    a.writer._idle.clear()
    assert await a.writer.flush(5)
    assert a.writer.duplicates == 2
    assert await a._cluster.link.client.xlen(a._cluster.keys.stream("c2")) == 3


async def test_a_new_instance_of_a_conversation_gets_a_later_generation(
        pair: tuple[RedisBus, RedisBus]) -> None:
    a, b = pair
    console = RecordingSink("subscriber")
    b.attach("c3", console)
    await eventually(lambda: b.reader._follows["c3"].last_id is not None, what="follow")
    a.publish(result("c3", 1))
    a.publish(result("c3", 2))
    first = a.writer.last_id("c3")
    # The conversation restarts (same id, seq from 1 again, e.g. taken over elsewhere).
    a.publish(result("c3", 1))
    second = a.writer.last_id("c3")
    assert first is not None and second is not None
    assert int(second.split("-")[0]) > int(first.split("-")[0])
    await eventually(lambda: len(console.results) == 3, what="all three")
    assert [r.seq for r in console.results] == [1, 2, 1]
    assert "messages_missed" not in console.types()


async def test_results_lost_for_good_are_reported_as_missed(
        redis_up: RedisServer, prefix: str) -> None:
    a = RedisBus(Cluster(config(redis_up, prefix, "a", outbox=3)))
    b = RedisBus(Cluster(config(redis_up, prefix, "b")))
    for bus in (a, b):
        bus.start()
        await bus._cluster.start()
    try:
        console = RecordingSink("subscriber")
        b.attach("c4", console)
        await eventually(lambda: b.reader._follows["c4"].last_id is not None, what="follow")
        a.publish(result("c4", 1))
        await eventually(lambda: len(console.results) == 1, what="first result")
        await asyncio.to_thread(redis_up.stop)
        for seq in range(2, 10):  # the outbox keeps the newest 3: 7, 8, 9
            a.publish(result("c4", seq))
        assert a.writer.dropped == 5
        await asyncio.to_thread(redis_up.start)
        await eventually(lambda: len(console.results) == 5, timeout=20, what="catch-up")
        notice, *rest = console.results[1:]
        assert notice.type == "messages_missed"
        assert notice.body["missed"] == 5 and notice.body["afterSeq"] == 1
        assert [r.seq for r in rest] == [7, 8, 9]
    finally:
        for bus in (a, b):
            await bus.stop()
            await bus._cluster.stop()


async def test_a_console_catches_up_from_its_last_seen_result(
        pair: tuple[RedisBus, RedisBus]) -> None:
    a, b = pair
    other = RecordingSink("subscriber")
    b.attach("c5", other)
    await eventually(lambda: b.reader._follows["c5"].last_id is not None, what="follow")
    for seq in range(1, 6):
        a.publish(result("c5", seq))
    await eventually(lambda: len(other.results) == 5, what="live results")
    # A console that saw up to seq 2 before its blip comes back and asks for the rest.
    back = RecordingSink("subscriber")
    b.follow("c5", back, after="2")
    await eventually(lambda: len(back.results) == 3, what="replay")
    a.publish(result("c5", 6))
    await eventually(lambda: len(back.results) == 4, what="live again")
    assert [r.seq for r in back.results] == [3, 4, 5, 6]
    assert [r.seq for r in other.results] == [1, 2, 3, 4, 5, 6]  # nobody else saw it twice
    b.detach("c5", back)
    assert b.count("c5") == 1


async def test_session_and_conversation_lookups(redis_up: RedisServer, prefix: str) -> None:
    a = Cluster(config(redis_up, prefix, "a"))
    b = Cluster(config(redis_up, prefix, "b"))
    await a.start()
    await b.start()
    try:
        assert await locate.claim(a, "room") is None  # a owns it now
        owner = await locate.claim(b, "room")
        assert owner is not None and owner.id == "a"
        assert owner.ws_url() == "wss://gw.example.com/ws?node=a"
        a.session_started("s-1", "room")
        await eventually(lambda: a.beats > 2, what="beats")
        await asyncio.sleep(0.3)
        found = await locate.lookup_session_owner(b, "s-1")
        assert found is not None and found.id == "a"
        message = await resume_redirect(b, "s-1")
        assert message == {"type": "redirect", "reason": "session_elsewhere",
                           "url": "wss://gw.example.com/ws?node=a", "nodeId": "a",
                           "conversationId": "room"}
        assert await resume_redirect(a, "s-1") is None  # it is a's own
        assert await locate.lookup_session_owner(b, "unknown") is None
        # a leaves: nothing is sent there any more; b may take the conversation.
        a.session_ended("s-1")
        await a.stop()
        await eventually(lambda: b.node("a") is None, what="a gone from b's view")
        assert await locate.lookup_session_owner(b, "s-1") is None
        assert await locate.claim(b, "room") is None
    finally:
        await b.stop()


async def test_without_redis_url_the_gateway_is_one_process_in_memory() -> None:
    app = create_app(GatewayConfig(database=None), None,
                     recognizer=ScriptedRecognizer([]))
    assert type(app[BUS_KEY]) is LocalBus
    assert type(app[ADMISSION_KEY]) is LocalAdmission
    directory = LocalDirectory(bus=LocalBus(), run=asyncio.sleep)
    await directory.place("anything")  # always here
