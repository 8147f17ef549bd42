"""The relays as transports and the directory use them: a real directory, bus, member and
MediaStream built with ``taps=relays.open_participant_taps(member, start)``, downstreams on
loopback. No WebRTC: milliseconds, and exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from gateway.asr.scripted import ScriptedRecognizer
from gateway.conversation.directory import LocalDirectory
from gateway.conversation.member import Member
from gateway.conversation.start_config import parse_start_config
from gateway.outputs.bus import LocalBus
from gateway.pipeline.stream import MediaStream
from gateway.relays.allow import AllowList
from gateway.relays.config import RelayConfig
from gateway.relays.link import DownstreamLink
from gateway.relays.manager import Relays
from gateway.relays.targets import Target
from gateway.transcript import Speaker
from tests.outputs.recording import RecordingSink
from tests.relays.support import FAST, until
from tests.support.receivers import JambonzReceiver, JsonReceiver, TwilioReceiver, pcm_chunks


async def run(fn: Any, *args: Any) -> Any:
    return fn(*args)


class World:
    """A bus, a directory with the relays' conversation output, and helpers to join."""

    def __init__(self, config: RelayConfig) -> None:
        self.bus = LocalBus()
        self.relays = Relays(config, bus=self.bus, settings=FAST)
        self.links: list[DownstreamLink] = []
        self.relays.observer = self.links.append
        self.directory = LocalDirectory(bus=self.bus, run=run,
                                        outputs=[self.relays.conversation_output])

    async def join(self, raw: dict[str, Any], pid: str,
                   own: RecordingSink | None = None) -> tuple[Member, MediaStream]:
        start = parse_start_config(raw, downstreams=self.relays.policy)
        member = self.directory.join(replace(start.speaker, id=pid), start, None)
        if own is not None:
            self.bus.attach(member.conversation.id, own, participant=pid)
        recognizer = await ScriptedRecognizer([]).open_stream(member.speaker)
        taps = self.relays.open_participant_taps(member, start)
        return member, MediaStream(recognizer, member, label=pid, taps=taps)

    async def aclose(self) -> None:
        await self.bus.aclose()
        await self.relays.aclose()


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[JambonzReceiver, TwilioReceiver, JsonReceiver]]:
    async with JambonzReceiver() as jb, TwilioReceiver() as tw, JsonReceiver() as js:
        yield jb, tw, js


def noise(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 2000
            ).astype(np.int16)


async def test_participant_and_conversation_streams_follow_the_call(
        receivers: tuple[JambonzReceiver, TwilioReceiver, JsonReceiver]) -> None:
    jb, tw, js = receivers
    world = World(RelayConfig(downstreams=(
        Target("fork", "jambonz", jb.url), Target("both", "twilio", tw.url, {"tracks": "both"}),
        Target("ana", "results", js.url, select="request"))))
    own = RecordingSink()
    try:
        ann, ann_stream = await world.join({"conversationId": "c", "downstreams": ["fork", "both",
                                                                                 "ana"]},
                                           "ann", own)
        bob, bob_stream = await world.join({"conversationId": "c"}, "bob")
        a, b = noise(2, 1), noise(2, 2)
        for ca, cb in zip(pcm_chunks(a), pcm_chunks(b), strict=True):
            ann_stream.push(ca)
            bob_stream.push(cb)
            await asyncio.sleep(0.01)
        for member, stream in ((bob, bob_stream), (ann, ann_stream)):
            await stream.finish(5)
            await world.relays.close_participant_taps(member)  # the transport's optional line
            await member.leave()
        await until(lambda: all(c.closed.is_set() for r in (jb, tw, js) for c in r.connections))
    finally:
        await world.aclose()
    # One jambonz stream per participant, bit-exact; one Twilio stream for both.
    assert sorted(c.state["metadata"]["participantId"] for c in jb.connections) == ["ann", "bob"]
    for conn in jb.connections:
        sent = a if conn.state["metadata"]["participantId"] == "ann" else b
        assert np.array_equal(jb.audio(conn)[:, 0], sent) and conn.close_code == 1000
    (tconn,) = tw.connections
    assert tconn.violations == [] and tconn.state["stage"] == "stopped"
    assert len(tconn.state["media"]["inbound"]) == len(tconn.state["media"]["outbound"]) >= 95
    # The results relay (Ann's choice) saw the conversation, from its start to its end.
    (rconn,) = js.connections
    kinds = [m["type"] for m in rconn.state["messages"]]
    assert kinds[0] == "conversation_started" and kinds[-1] == "conversation_ended"
    assert "participant_left" in kinds
    # Ann's own outputs got her streams' news, addressed to her; nothing was lost.
    mine = [r.body for r in own.results if r.type == "downstream_status"]
    assert {(m["downstream"], m["status"]) for m in mine} >= {
        ("fork", "connected"), ("fork", "closed"), ("both", "connected"), ("ana", "closed")}
    assert all(m["lostSeconds"] == 0 for m in mine if m["status"] == "closed"
               and "lostSeconds" in m)
    assert not world.relays.conversations
    assert all(link.buffer.total_cost == 0 for link in world.links)


async def test_streams_close_when_the_participant_leaves_without_being_told(
        receivers: tuple[JambonzReceiver, TwilioReceiver, JsonReceiver]) -> None:
    jb, _, _ = receivers
    world = World(RelayConfig(downstreams=(Target("fork", "jambonz", jb.url),)))
    try:
        ann, ann_stream = await world.join({"conversationId": "c"}, "ann")
        bob, bob_stream = await world.join({"conversationId": "c"}, "bob")
        for chunk in pcm_chunks(noise(1, 3)):
            ann_stream.push(chunk)
            bob_stream.push(chunk)
        await ann_stream.finish(5)
        await ann.leave()  # participant_left on the bus closes Ann's stream; Bob's goes on
        await until(lambda: any(c.closed.is_set() for c in jb.connections))
        (gone,) = [c for c in jb.connections if c.closed.is_set()]
        assert gone.state["metadata"]["participantId"] == "ann" and gone.close_code == 1000
        assert len(jb.audio(gone)) == 16000
        await bob_stream.finish(5)
        await bob.leave()
        await until(lambda: all(c.closed.is_set() for c in jb.connections))
    finally:
        await world.aclose()


async def test_choices_that_cannot_be_honoured_are_reported_not_raised() -> None:
    world = World(RelayConfig(downstreams=(Target("x", "vosk", "ws://127.0.0.1:9/"),),
                              allow=("ws://127.0.0.1:*",)))
    own = RecordingSink()
    try:
        start = parse_start_config({"conversationId": "c", "downstreams": ["nope"]})  # no policy
        member = world.directory.join(Speaker(id="p"), start, None)
        world.bus.attach("c", own, participant="p")
        assert world.relays.open_participant_taps(member, start) == []
        await asyncio.sleep(0)
        (refused,) = [r.body for r in own.results if r.type == "downstream_status"]
        assert refused["status"] == "refused" and "nope" in refused["reason"]
        nothing = parse_start_config({"conversationId": "c", "downstreams": []},
                                     downstreams=world.relays.policy)
        assert world.relays.open_participant_taps(member, nothing) == []
        await member.leave()
    finally:
        await world.aclose()


def test_an_inactive_gateway_adds_no_output() -> None:
    relays = Relays(RelayConfig(), bus=LocalBus())
    assert not relays.active and "none" in relays.startup_line()
    active = Relays(RelayConfig(allow=("wss://*.example.org",)), bus=LocalBus())
    assert active.active and isinstance(active.policy.allow, AllowList)
