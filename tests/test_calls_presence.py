"""Presence, peer relay and mute at the conversation level: what each participant's listener
hears, what consoles see on the bus, and capacity counted in present participants only.
Milliseconds: no network, scripted recognition where audio is needed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.conversation.conversation import ConversationFull
from gateway.conversation.directory import LocalDirectory
from gateway.conversation.member import Member
from gateway.conversation.presence import PeerUnsupported, PresenceEvent, UnknownParticipant
from gateway.conversation.start_config import parse_start_config
from gateway.outputs.bus import LocalBus
from gateway.pipeline.pcm import PcmChunk
from gateway.pipeline.stream import MediaStream
from gateway.transcript import Speaker
from gateway.transports.webrtc.admission import full_message
from tests.outputs.recording import RecordingSink


async def run_inline(fn: Any, *args: Any) -> Any:
    return fn(*args)


class Listener:
    """A MemberListener that records what it hears."""

    def __init__(self) -> None:
        self.events: list[PresenceEvent] = []
        self.messages: list[tuple[str, Mapping[str, Any]]] = []

    def presence(self, event: PresenceEvent) -> None:
        self.events.append(event)

    def peer_message(self, sender: str, data: Mapping[str, Any]) -> None:
        self.messages.append((sender, data))

    def seen(self) -> list[tuple[str, str, bool, str | None]]:
        return [(e.kind, e.participant.id, e.participant.muted, e.reason) for e in self.events]


def make_directory(max_participants: int = 2) -> tuple[LocalDirectory, LocalBus]:
    bus = LocalBus()
    return LocalDirectory(bus=bus, run=run_inline, max_participants=max_participants,
                          analytics_interval=60), bus


def enter(directory: LocalDirectory, name: str, room: str = "room", *, accepts_peer: bool = True
          ) -> tuple[Member, Listener, list[str]]:
    start = parse_start_config({"conversationId": room,
                                "speaker": {"name": name, "userId": f"{name}@example.com"}})
    member = directory.join(Speaker(start.speaker.user_id, name, f"id-{name}"), start, None,
                            accepts_peer=accepts_peer)
    listener = Listener()
    already = [p.id for p in member.listen(listener)]
    return member, listener, already


async def test_joins_leaves_and_reasons_reach_the_others_only() -> None:
    directory, bus = make_directory(max_participants=3)
    console = RecordingSink("subscriber")
    bus.attach("room", console)
    alex, alex_hears, alex_found = enter(directory, "Alex")
    sam, sam_hears, sam_found = enter(directory, "Sam")
    kim, kim_hears, kim_found = enter(directory, "Kim")
    assert (alex_found, sam_found, kim_found) == ([], ["id-Alex"], ["id-Alex", "id-Sam"])
    assert alex_hears.seen() == [("joined", "id-Sam", False, None),
                                 ("joined", "id-Kim", False, None)]
    assert sam_hears.seen() == [("joined", "id-Kim", False, None)]
    assert kim_hears.seen() == []

    # Sam hangs up: the others hear it at once, before Sam's last results are flushed.
    sam.depart("left")
    assert alex_hears.seen()[-1] == ("left", "id-Sam", False, "left")
    assert kim_hears.seen()[-1] == ("left", "id-Sam", False, "left")
    assert "participant_left" not in console.types()  # consoles: after Sam's last lines
    await sam.leave("left")
    assert len(alex_hears.events) == 3, "departure is announced once"
    # Kim's connection drops.
    await kim.leave("dropped")
    assert alex_hears.seen()[-1] == ("left", "id-Kim", False, "dropped")
    assert sam_hears.seen() == [("joined", "id-Kim", False, None)], "Sam is gone: told nothing"
    left = [(b["participant"]["name"], b["reason"]) for b in console.bodies("participant_left")]
    assert left == [("Sam", "left"), ("Kim", "dropped")]
    await alex.leave()
    assert console.types()[-1] == "conversation_ended"


async def test_mute_is_acknowledged_and_told_to_others_and_consoles_once() -> None:
    directory, bus = make_directory()
    console = RecordingSink("subscriber")
    bus.attach("room", console)
    alex, alex_hears, _ = enter(directory, "Alex")
    sam, sam_hears, _ = enter(directory, "Sam")
    alex.conversation.set_muted(alex, True)
    alex.conversation.set_muted(alex, True)  # no change: acknowledged to Alex alone
    assert alex_hears.seen()[-2:] == [("state", "id-Alex", True, None)] * 2
    assert sam_hears.seen()[-1] == ("state", "id-Alex", True, None)
    assert len(sam_hears.events) == 1
    states = console.bodies("participant_state")
    assert [(s["participant"]["id"], s["muted"]) for s in states] == [("id-Alex", True)]
    # A newcomer's roster says who is muted.
    await sam.leave()
    _, _, _ = enter(directory, "Kim")
    assert [p.muted for p in alex.conversation.roster.participants()] == [True, False]


async def test_peer_messages_go_to_present_others_only() -> None:
    directory, _ = make_directory()
    alex, alex_hears, _ = enter(directory, "Alex")
    sam, sam_hears, _ = enter(directory, "Sam")
    offer = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
    alex.conversation.relay(alex, "id-Sam", offer)
    assert sam_hears.messages == [("id-Alex", offer)] and alex_hears.messages == []
    for to in ("id-Alex", "id-Nobody"):
        with pytest.raises(UnknownParticipant):
            alex.conversation.relay(alex, to, offer)
    await sam.leave()
    kim, kim_hears, _ = enter(directory, "Kim", accepts_peer=False)  # transcript only
    with pytest.raises(PeerUnsupported):
        alex.conversation.relay(alex, "id-Kim", offer)
    assert kim_hears.messages == []
    assert [p.accepts_peer for p in alex.conversation.roster.participants()] == [True, False]
    await kim.leave()
    sam, sam_hears, _ = enter(directory, "Sam")
    sam.depart("left")
    with pytest.raises(UnknownParticipant):  # departing: no more negotiation either way
        alex.conversation.relay(alex, "id-Sam", offer)
    with pytest.raises(UnknownParticipant):
        sam.conversation.relay(sam, "id-Alex", offer)


async def test_capacity_counts_present_participants_and_says_how_to_raise_it() -> None:
    directory, _ = make_directory()
    alex, _, _ = enter(directory, "Alex")
    sam, _, _ = enter(directory, "Sam")
    with pytest.raises(ConversationFull) as full:
        enter(directory, "Kim")
    message = full_message(full.value)
    assert "two-person call" in message and "--max-participants" in message
    assert "GATEWAY_MAX_PARTICIPANTS" in message
    # Sam reloads the page: the old session is still flushing when the new one joins.
    sam.depart("left")
    again, again_hears, found = enter(directory, "Sam2")
    assert found == ["id-Alex"] and again.conversation is alex.conversation
    await sam.leave("left")
    assert again_hears.seen() == [], "the old session's departure was before the new join"
    three, _ = make_directory(max_participants=3)
    for name in ("A", "B", "C"):
        enter(three, name)
    with pytest.raises(ConversationFull) as bigger:
        enter(three, "D")
    assert "maximum of 3 callers" in full_message(bigger.value)


def chunk_run(start: float, seconds: float) -> list[PcmChunk]:
    first = round(start * 10)
    return [PcmChunk(b"\0\0" * 1600, (first + i) * 1600) for i in range(round(seconds * 10))]


async def test_muted_audio_never_reaches_the_recogniser_and_the_clock_goes_on() -> None:
    """Mute ends the phrase in progress with what was said before it; audio while muted is
    dropped; after unmuting the recogniser sees the stream skip ahead on the same clock."""
    directory, bus = make_directory()
    alex, _, _ = enter(directory, "Alex")
    own = RecordingSink("datachannel")
    bus.attach("room", own, participant=alex.id)
    recognizer = ScriptedRecognizer([ScriptedPhrase("one two three four", 0.5, 2.5),
                                     ScriptedPhrase("five six", 6.0, 7.0)])
    stream = MediaStream(await recognizer.open_stream(alex.speaker), alex, label="alex")
    for c in chunk_run(0.0, 1.5):
        stream.push(c)
    stream.set_muted(True)
    for c in chunk_run(1.5, 4.0):  # spoken while muted
        stream.push(c)
    stream.set_muted(False)
    for c in chunk_run(5.5, 2.0):
        stream.push(c)
    await stream.finish(5)
    (scripted,) = recognizer.streams
    offsets = [c.offset / 16000 for c in scripted.chunks]
    assert max(o for o in offsets if o < 5.5) < 1.5 and min(o for o in offsets if o > 1.4) == 5.5
    assert stream.muted_chunks == 40 and stream.chunks_in == 75
    finals = [b["message"]["payload"]["raw"]["alternatives"][0]["transcript"]
              for b in own.bodies("recognition_result") if b["message"]["isFinal"]]
    assert finals == ["one two", "five six"]
    await alex.leave()
    await asyncio.sleep(0)
