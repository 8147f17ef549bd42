"""The parts of resume on their own: the resume message, the grace timer, the result history
a replay comes from, the outbox a resumed connection inherits, the HTTP event queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from gateway.outputs.result import Audience, Result
from gateway.protocols.symbl import messages
from gateway.transcript import Speaker
from gateway.transports.webrtc.delivery import ResumableChannelSink, is_partial, with_seq
from gateway.transports.webrtc.outbox import Outbox
from gateway.transports.webrtc.presence import is_presence
from gateway.transports.webrtc.resume import Absence, new_token, token_matches
from signaling import protocol
from signaling.events import EventQueue
from signaling.protocol import ProtocolError, Resume

ADA = Speaker(user_id="ada", name="Ada", id="p1")


def test_resume_messages_parse_and_bad_ones_say_why() -> None:
    message = protocol.parse(json.dumps({"type": "resume", "sessionId": "s1",
                                         "resumeToken": "t", "lastSeq": 41, "sdp": "v=0"}))
    assert message == Resume("s1", "t", 41, "v=0")
    assert protocol.parse('{"type":"resume","sessionId":"s","resumeToken":"t"}') == \
        Resume("s", "t", 0, None)
    for bad, field in [('{"type":"resume","resumeToken":"t"}', "sessionId"),
                       ('{"type":"resume","sessionId":"s"}', "resumeToken"),
                       ('{"type":"resume","sessionId":"","resumeToken":"t"}', "sessionId"),
                       ('{"type":"resume","sessionId":"s","resumeToken":"t","lastSeq":true}',
                        "lastSeq"),
                       ('{"type":"resume","sessionId":"s","resumeToken":"t","lastSeq":1.5}',
                        "lastSeq"),
                       ('{"type":"resume","sessionId":"s","resumeToken":"t","sdp":" "}', "sdp"),
                       ('{"type":"resume","sessionId":"s","resumeToken":"' + "x" * 300 + '"}',
                        "resumeToken")]:
        with pytest.raises(ProtocolError) as refused:
            protocol.parse(bad)
        assert refused.value.code in ("missing_field", "invalid_field")
        assert field in refused.value.message


def test_tokens_are_long_random_and_compared_whole() -> None:
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 43
    assert token_matches(a, a)
    assert not token_matches(a, b) and not token_matches(a, a[:-1]) and not token_matches(a, "")
    assert not token_matches(a, "é" * 43)  # non-ASCII input is refused, not an exception


async def test_the_grace_period_runs_while_anything_is_away() -> None:
    changes: list[bool] = []
    expired = asyncio.Event()
    absence = Absence(0.3, on_change=changes.append, on_expired=expired.set)
    absence.away("signaling")
    absence.away("media")
    absence.back("signaling")
    assert changes == [True] and absence.any and "media" in absence
    absence.back("media")
    assert changes == [True, False] and not absence.any
    absence.away("signaling")  # a new absence gets a whole new grace period
    assert absence.remaining > 0.25
    await asyncio.wait_for(expired.wait(), 2)
    assert absence.expired and changes == [True, False, True]
    absence.away("media")  # nothing restarts an expired absence
    assert "media" not in absence


def _result(seq: int, body: dict[str, Any], *, audience: Audience = "conversation") -> Result:
    return Result.of("c1", body, seq, origin="p1", audience=audience)


def _final(seq: int) -> Result:
    return _result(seq, {"type": "message_response", "messages": [{"id": f"m{seq}"}]})


def _partial(seq: int) -> Result:
    return _result(seq, messages.recognition_result(
        transcript="hello", punctuated="Hello", is_final=False, speaker=ADA),
        audience="participant")


def test_results_carry_their_seq() -> None:
    assert json.loads(with_seq('{"type":"x","a":[1]}', 7)) == {"type": "x", "a": [1], "seq": 7}
    assert json.loads(with_seq("{}", 3)) == {"seq": 3}
    assert is_partial(_partial(1))
    assert not is_partial(_final(2))


async def test_a_replay_sends_what_came_after_last_seq_and_counts_what_is_gone() -> None:
    first, second = RTCPeerConnection(), RTCPeerConnection()
    sink = ResumableChannelSink(first, "p1", history=5)
    try:
        for seq in range(1, 9):
            sink.send(_final(seq))
            sink.send(_partial(100 + seq))  # no channel: partials are not even queued
        assert sink.partials_skipped == 8 and sink.queued == 8
        replayed, missed = sink.rebind(second, last_seq=2)
        # History holds seq 4..8 (5 items); 3 fell out of it, and the client lacks it.
        assert (replayed, missed) == (5, 1)
        assert [json.loads(str(item))["seq"] for _, item in sink._queue._items] == \
            [4, 5, 6, 7, 8]
        assert sink.rebind(second, last_seq=8) == (0, 0)
        await sink.drain(1.0)  # no channel to deliver to: returns at once
    finally:
        await sink.close()
        await first.close()
        await second.close()


async def test_a_resumed_outbox_keeps_peer_messages_after_a_fresh_snapshot() -> None:
    sent: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []

    async def first(message: dict[str, Any]) -> None:
        sent.append(message)

    async def second(message: dict[str, Any]) -> None:
        later.append(message)

    outbox = Outbox(first, "p1", backlog=4)
    outbox.open()
    outbox.put({"type": "participants", "n": 1})
    await asyncio.sleep(0)
    outbox.pause()
    away: list[dict[str, Any]] = [{"type": "participant_joined"}, {"type": "peer", "n": 1},
                                  {"type": "participant_state"}, {"type": "peer", "n": 2},
                                  {"type": "peer", "n": 3}]
    for message in away:
        outbox.put(message)
    assert outbox.dropped == 1  # bounded while away: the oldest went
    outbox.rebind(second, keep=lambda m: not is_presence(m),
                  first=[{"type": "participants", "n": 2}])
    await asyncio.sleep(0.01)
    assert later == []  # nothing before the connection's own reply
    outbox.open()
    await outbox.drain(1.0)
    assert sent == [{"type": "participants", "n": 1}]
    assert later == [{"type": "participants", "n": 2}, {"type": "peer", "n": 1},
                     {"type": "peer", "n": 2}, {"type": "peer", "n": 3}]
    await outbox.close()


async def test_the_event_queue_is_bounded_and_keeps_a_little_for_a_replay() -> None:
    events = EventQueue(backlog=3, keep=2)
    assert all(events.put({"n": n}) for n in range(3))
    assert not events.put({"n": 3})  # three undelivered: the fourth is refused
    assert [i for i, _ in events.since(0) or []] == [1, 2, 3]
    events.ack(3)
    assert events.since(1) == [(2, {"n": 1}), (3, {"n": 2})]  # the last two kept
    assert events.since(0) is None  # event 1 is gone: the client must start over
    assert events.put({"n": 4})
    assert await events.wait_after(3, 0.01)
    assert not await events.wait_after(4, 0.01)
