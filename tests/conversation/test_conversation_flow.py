"""Conversations end to end in milliseconds: scripted recognition, real insights engine,
real bus, recording outputs. What each participant, and each console, receives."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.conversation.conversation import ConversationFull
from gateway.conversation.directory import LocalDirectory
from gateway.conversation.insights import DefaultInsightsProvider
from gateway.conversation.start_config import parse_start_config
from gateway.outputs.base import ConversationInfo
from gateway.outputs.bus import LocalBus
from gateway.pipeline.pcm import PcmChunk
from gateway.pipeline.stream import MediaStream
from gateway.transcript import Speaker
from tests.outputs.recording import RecordingSink


async def run_inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


SCRIPTS = {
    "Alex": [ScriptedPhrase("can you send me the contract by friday", 0.2, 2.2)],
    "Sam": [ScriptedPhrase("i will send it tomorrow morning", 0.5, 2.0)],
}


def chunks(seconds: float) -> list[PcmChunk]:
    return [PcmChunk(b"\0\0" * 1600, i * 1600) for i in range(round(seconds * 10))]


@pytest.fixture
def world() -> tuple[LocalBus, LocalDirectory, list[RecordingSink]]:
    bus = LocalBus()
    relays: list[RecordingSink] = []

    def relay(info: ConversationInfo) -> RecordingSink:
        sink = RecordingSink("relay")
        relays.append(sink)
        return sink

    directory = LocalDirectory(bus=bus, run=run_inline, outputs=[relay],
                               analytics_interval=60, max_participants=2)
    return bus, directory, relays


async def join(directory: LocalDirectory, bus: LocalBus, name: str, room: str
               ) -> tuple[MediaStream, RecordingSink]:
    start = parse_start_config({"conversationId": room, "speaker": {"name": name}})
    speaker = dataclasses.replace(start.speaker, id=f"id-{name}")
    member = directory.join(speaker, start, DefaultInsightsProvider().prepare(start))
    recognizer = ScriptedRecognizer([], per_speaker=SCRIPTS)
    stream = MediaStream(await recognizer.open_stream(speaker), member, label=name)
    own = RecordingSink("datachannel")
    bus.attach(room, own, participant=member.id)
    return stream, own


async def test_two_participants_one_conversation(
        world: tuple[LocalBus, LocalDirectory, list[RecordingSink]]) -> None:
    bus, directory, relays = world
    console = RecordingSink("subscriber")
    bus.attach("room", console)  # subscribed before the call
    (alex, alex_out), (sam, sam_out) = [await join(directory, bus, n, "room")
                                        for n in ("Alex", "Sam")]
    for stream in (alex, sam):
        for c in chunks(2.5):
            stream.push(c)
    await asyncio.gather(alex.finish(5), sam.finish(5))
    for stream in (alex, sam):
        await stream.listener.leave()  # type: ignore[attr-defined]

    # Each participant: both speakers' messages, only its own live transcript.
    for out, me in ((alex_out, "Alex"), (sam_out, "Sam")):
        senders = {m["messages"][0]["from"]["name"] for m in out.bodies("message_response")}
        assert senders == {"Alex", "Sam"}
        assert {r.body["message"]["user"]["name"] for r in out.results
                if r.type == "recognition_result"} == {me}
        own = [t for t in out.types() if t.startswith("recognition_")]
        assert own[0] == "recognition_started" and own[-1] == "recognition_stopped"
        assert own.count("recognition_started") == own.count("recognition_stopped") == 1
        assert "conversation_started" not in out.types()  # lifecycle is for consoles
    # The console and the relay see everything once, in one order, with lifecycle events.
    assert [r.seq for r in console.results] == sorted(r.seq for r in console.results)
    assert console.types()[0] == "conversation_started"
    assert console.types().count("participant_joined") == 2
    assert console.types()[-1] == "conversation_ended"
    (relay,) = relays
    assert [r.seq for r in relay.results] == [r.seq for r in console.results]
    assert relay.closed and console.closed, "conversation outputs are finished at the end"
    # The request is assigned to the other participant; the last one out got closing topics.
    insight = next(i for m in alex_out.bodies("insight_response") for i in m["insights"]
                   if i["from"]["name"] == "Alex")
    assert insight["assignee"]["name"] == "Sam"
    assert "topic_response" in sam_out.types()
    assert not directory.conversations


async def test_capacity_and_a_fresh_conversation_after_the_end(
        world: tuple[LocalBus, LocalDirectory, list[RecordingSink]]) -> None:
    bus, directory, relays = world
    a, _ = await join(directory, bus, "Alex", "room")
    await join(directory, bus, "Sam", "room")
    with pytest.raises(ConversationFull):
        await join(directory, bus, "Third", "room")
    for member in list(directory.conversations["room"].members.values()):
        await member.leave()
    assert not directory.conversations and relays[0].closed
    await join(directory, bus, "Alex", "room")  # the id can be used again
    assert len(relays) == 2 and not relays[1].closed


async def test_private_conversations_get_their_own_ids(
        world: tuple[LocalBus, LocalDirectory, list[RecordingSink]]) -> None:
    _, directory, _ = world
    ids = set()
    for name in ("A", "B"):
        start = parse_start_config({})
        member = directory.join(Speaker(name=name, id=name), start, None)
        ids.add(member.conversation.id)
    assert len(ids) == 2 and all(len(i) >= 16 for i in ids)
