"""Calls between participants through the real gateway: presence, peer relay, mute, capacity
and leave reasons on ``/ws``, pinned as docs/protocol.md describes them.

Real signaling, real aiortc peers on loopback, scripted recognition (no model): seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from signaling.protocol import MAX_PEER_DATA_BYTES
from signaling.rate import TokenBucket
from signaling.server import RELAY_BURST
from tests.conftest import RunningGateway, StartGateway
from tests.outputs.recording import RecordingSink
from tests.rtc_client import GatewayClient, WavTrack

Join = Callable[..., Any]
CALLS = ["presence", "peer", "mute"]


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == kind


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


@pytest.fixture
async def call(start_gateway: StartGateway) -> AsyncIterator[tuple[RunningGateway, Join]]:
    """A gateway (scripted recognition) and ``join(name, room)`` for clients; all closed
    after the test, and the gateway must then hold nothing of them."""
    recognizer = ScriptedRecognizer([ScriptedPhrase("hello there", 0.2, 0.8)])
    gw = await start_gateway(recognizer=recognizer, insights=False)
    clients: list[GatewayClient] = []

    async def join(name: str, room: str | None = "room", *, offer: bool = True,
                   seconds: float = 30.0, features: list[str] | None = CALLS) -> GatewayClient:
        client = GatewayClient(gw.url)
        clients.append(client)
        await client.connect()
        client.peer(WavTrack(np.zeros(int(48_000 * seconds), dtype=np.int16)))
        if offer:
            config: dict[str, Any] = {"speaker": {"name": name, "userId": f"{name}@x.org"}}
            if room is not None:
                config["conversationId"] = room
            await client.offer(config, features=features)
        return client

    yield gw, join
    for client in clients:
        await client.close()
    await wait_until(lambda: not gw.sessions and not gw.directory.conversations, 15)
    assert not gw.bus.conversations()


async def test_hello_announces_the_call_features(call: tuple[RunningGateway, Join]) -> None:
    _, join = call
    alex = await join("Alex", offer=False)
    assert alex.hello["protocolVersion"] == 1
    assert alex.hello["features"] == ["presence", "peer", "mute", "resume"]


async def test_roster_follows_the_answer_and_joins_are_announced(
        call: tuple[RunningGateway, Join]) -> None:
    _, join = call
    alex = await join("Alex")
    roster = await alex.next_signal(of_type("participants"))
    alex_id = alex.hello["sessionId"]
    assert roster == {"type": "participants", "conversationId": "room",
                      "you": {"id": alex_id, "userId": "Alex@x.org", "name": "Alex",
                              "muted": False, "acceptsPeer": True},
                      "participants": [], "maxParticipants": 2}
    sam = await join("Sam")
    sam_id = sam.hello["sessionId"]
    # Sam: the answer, then who is already here; nothing about the others before the answer.
    assert sam.signal_types[:2] == ["answer", "participants"]  # hello is read apart
    sam_roster = await sam.next_signal(of_type("participants"))
    assert [p["id"] for p in sam_roster["participants"]] == [alex_id]
    assert sam_roster["participants"][0] == {"id": alex_id, "userId": "Alex@x.org",
                                             "name": "Alex", "muted": False,
                                             "acceptsPeer": True}
    joined = await alex.next_signal(of_type("participant_joined"))
    assert joined["participant"] == {"id": sam_id, "userId": "Sam@x.org", "name": "Sam",
                                     "muted": False, "acceptsPeer": True}
    assert joined["conversationId"] == "room" and joined["at"].endswith("Z")


async def test_clients_that_do_not_ask_hear_nothing_new(
        call: tuple[RunningGateway, Join]) -> None:
    """A version-1.0 client (no ``features`` in its offer) gets exactly what it always got;
    the others see it as a participant for the transcript only, and cannot message it."""
    _, join = call
    old = await join("Old", features=None)
    alex = await join("Alex")
    roster = await alex.next_signal(of_type("participants"))
    assert [(p["name"], p["acceptsPeer"]) for p in roster["participants"]] == [("Old", False)]
    await alex.send({"type": "peer", "to": old.hello["sessionId"], "data": {"x": 1}})
    err = await alex.error()
    assert err["code"] == "peer_unsupported" and "transcript only" in err["message"]
    await alex.send({"type": "mute", "muted": True})
    await alex.next_signal(of_type("participant_state"))
    await alex.bye()
    await old.send({"type": "ping"})
    await old.next_signal(of_type("pong"))
    assert old.signal_types == ["answer", "pong"], old.signal_types


async def test_peer_messages_are_relayed_exactly(call: tuple[RunningGateway, Join]) -> None:
    _, join = call
    alex, sam = await join("Alex"), await join("Sam")
    alex_id, sam_id = alex.hello["sessionId"], sam.hello["sessionId"]
    data = {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
            "note": "ünïcødé"}
    await alex.send({"type": "peer", "to": sam_id, "data": data})
    got = await sam.next_signal(of_type("peer"))
    assert got == {"type": "peer", "from": alex_id, "data": data}
    candidate = {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                               "sdpMid": "0", "sdpMLineIndex": 0}}
    await sam.send({"type": "peer", "to": alex_id, "data": candidate})
    assert (await alex.next_signal(of_type("peer")))["data"] == candidate


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "peer", "data": {}}, "missing_field"),
        ({"type": "peer", "to": 7, "data": {}}, "invalid_field"),
        ({"type": "peer", "to": "", "data": {}}, "invalid_field"),
        ({"type": "peer", "to": "x", "data": "sdp"}, "invalid_field"),
        ({"type": "peer", "to": "x", "data": {"sdp": "a" * MAX_PEER_DATA_BYTES}},
         "peer_data_too_large"),
        ({"type": "peer", "to": "nobody", "data": {}}, "unknown_participant"),
        ({"type": "mute"}, "missing_field"),
        ({"type": "mute", "muted": "yes"}, "invalid_field"),
    ],
)
async def test_bad_peer_and_mute_messages_get_errors_and_harm_nobody(
        call: tuple[RunningGateway, Join], message: dict[str, Any], code: str) -> None:
    _, join = call
    alex, sam = await join("Alex"), await join("Sam")
    await alex.send(message)
    err = await alex.error()
    assert err["code"] == code and err["message"], err
    # Still usable, and the other participant heard nothing of it.
    await alex.send({"type": "peer", "to": sam.hello["sessionId"], "data": {"ok": 1}})
    assert (await sam.next_signal(of_type("peer")))["data"] == {"ok": 1}
    assert not [s for s in sam.signals if s["type"] == "error"]


async def test_peer_to_oneself_and_before_the_answer_are_refused(
        call: tuple[RunningGateway, Join]) -> None:
    _, join = call
    early = await join("Early", offer=False)
    for message in ({"type": "peer", "to": "x", "data": {}}, {"type": "mute", "muted": True}):
        await early.send(message)
        assert (await early.error())["code"] == "no_session"
    alex = await join("Alex")
    await alex.send({"type": "peer", "to": alex.hello["sessionId"], "data": {}})
    err = await alex.error()
    assert err["code"] == "unknown_participant"


async def test_a_flooding_client_is_rate_limited(call: tuple[RunningGateway, Join]) -> None:
    _, join = call
    alex, sam = await join("Alex"), await join("Sam")
    total = RELAY_BURST + 40
    frames = [json.dumps({"type": "peer", "to": sam.hello["sessionId"], "data": {"n": i}})
              for i in range(total)]
    for frame in frames:
        await alex.send(frame)
    await alex.send({"type": "ping"})
    await alex.next_signal(of_type("pong"))
    limited = [s for s in alex.signals if s.get("code") == "rate_limited"]
    assert limited and "per second" in limited[0]["message"]
    await wait_until(lambda: len([s for s in sam.signals if s["type"] == "peer"])
                     == total - len(limited))
    relayed = [s["data"]["n"] for s in sam.signals if s["type"] == "peer"]
    assert relayed == sorted(relayed) and len(relayed) >= RELAY_BURST


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(3, 2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst


async def test_mute_is_acknowledged_told_to_the_other_and_to_consoles(
        call: tuple[RunningGateway, Join]) -> None:
    gw, join = call
    console = RecordingSink("subscriber")
    gw.bus.attach("room", console)
    alex, sam = await join("Alex"), await join("Sam")
    alex_id = alex.hello["sessionId"]
    await alex.send({"type": "mute", "muted": True})
    ack = await alex.next_signal(of_type("participant_state"))
    assert ack["participant"]["id"] == alex_id and ack["participant"]["muted"] is True
    told = await sam.next_signal(of_type("participant_state"))
    assert told["participant"] == {**ack["participant"]} and told["conversationId"] == "room"
    session = gw.sessions[alex_id]
    assert session.stream is not None and session.stream.muted
    assert [(b["participant"]["id"], b["muted"]) for b in console.bodies("participant_state")] \
        == [(alex_id, True)]
    # The muted participant's audio stops reaching the recogniser; the clock goes on.
    await wait_until(lambda: session.stream is not None and session.stream.muted_chunks > 5)
    await alex.send({"type": "mute", "muted": False})
    assert (await sam.next_signal(of_type("participant_state")))["participant"]["muted"] is False
    gw.bus.detach("room", console)


async def test_leave_reasons_hung_up_and_dropped(call: tuple[RunningGateway, Join]) -> None:
    gw, join = call
    console = RecordingSink("subscriber")
    gw.bus.attach("room", console)
    alex, sam = await join("Alex"), await join("Sam")
    await sam.bye()
    left = await alex.next_signal(of_type("participant_left"))
    assert (left["participant"]["name"], left["reason"]) == ("Sam", "left")
    kim = await join("Kim")  # the free place is taken again
    kim_roster = await kim.next_signal(of_type("participants"))
    assert [p["name"] for p in kim_roster["participants"]] == ["Alex"]
    await kim.close()  # the tab crashed: no bye, the socket and the peer just go away
    dropped = await alex.next_signal(of_type("participant_left"))
    assert (dropped["participant"]["name"], dropped["reason"]) == ("Kim", "dropped")
    await wait_until(lambda: len(console.bodies("participant_left")) == 2)
    assert [(b["participant"]["name"], b["reason"]) for b in console.bodies("participant_left")] \
        == [("Sam", "left"), ("Kim", "dropped")]
    gw.bus.detach("room", console)


async def test_a_third_caller_is_refused_clearly_and_may_go_elsewhere(
        call: tuple[RunningGateway, Join]) -> None:
    gw, join = call
    await join("Alex")
    await join("Sam")
    kim = await join("Kim", offer=False)
    with pytest.raises(RuntimeError) as refused:
        await kim.offer({"conversationId": "room", "speaker": {"name": "Kim"}})
    text = str(refused.value)
    assert "conversation_full" in text and "two-person call" in text
    assert "--max-participants" in text
    await kim.offer({"conversationId": "another-room"})  # the connection is still usable
    assert set(gw.directory.conversations) == {"room", "another-room"}


async def test_more_callers_with_a_higher_limit(start_gateway: StartGateway) -> None:
    gw = await start_gateway(recognizer=ScriptedRecognizer([]), insights=False,
                             max_participants=3)
    clients = []
    try:
        for name in ("A", "B", "C"):
            client = GatewayClient(gw.url)
            clients.append(client)
            await client.connect()
            client.peer(WavTrack(np.zeros(48_000 * 10, dtype=np.int16)))
            await client.offer({"conversationId": "mesh", "speaker": {"name": name}},
                               features=CALLS)
        roster = await clients[2].next_signal(of_type("participants"))
        assert [p["name"] for p in roster["participants"]] == ["A", "B"]
        assert roster["maxParticipants"] == 3
        for client, expected in ((clients[0], ["B", "C"]), (clients[1], ["C"])):
            joined = [(await client.next_signal(of_type("participant_joined")))
                      ["participant"]["name"] for _ in expected]
            assert joined == expected
    finally:
        for client in clients:
            await client.close()
