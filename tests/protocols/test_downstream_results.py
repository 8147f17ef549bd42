"""The results relay as a downstream protocol: envelope on every connection, results as is."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.protocols.downstream import ResultsRelay, StreamInfo, make_protocol
from tests.support.receivers import JsonReceiver

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass(frozen=True)
class FakeResultShape:
    """A result as gateway.outputs.result.Result carries it (body, text, kind)."""

    body: dict[str, Any]
    kind: str = "symbl"

    @property
    def text(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


RESULTS = [
    FakeResultShape({"type": "conversation_started", "conversationId": "c5"}, "lifecycle"),
    FakeResultShape({"type": "message", "message": {"type": "recognition_started"}}),
    FakeResultShape({"type": "participant_joined", "conversationId": "c5",
                     "participant": {"id": "p1"}}, "lifecycle"),
    FakeResultShape({"type": "message_response", "messages": [{"payload": {"content": "hi"}}]}),
    FakeResultShape({"type": "conversation_ended", "conversationId": "c5"}, "lifecycle"),
]


async def _send(url: str, relay: ResultsRelay) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for frame in relay.opening() + [f for r in RESULTS for f in relay.result(r)] + \
                relay.closing():
            assert isinstance(frame, str)
            await ws.send_str(frame)


async def test_every_connection_is_framed_by_the_envelope() -> None:
    relay = make_protocol("results", StreamInfo("c5", meeting_title="Standup",
                                                started_at=1_700_000_000.25))
    assert isinstance(relay, ResultsRelay) and relay.mixes
    async with JsonReceiver() as receiver:
        await _send(receiver.url, relay)
        await _send(receiver.url, relay)  # a reconnect starts again with the envelope
        for conn in receiver.connections:
            await asyncio.wait_for(conn.closed.wait(), 5)
    for conn in receiver.connections:
        messages = conn.state["messages"]
        assert conn.violations == []
        assert messages[0] == {"type": "conversation_started", "conversationId": "c5",
                               "meetingTitle": "Standup",
                               "startTime": "2023-11-14T22:13:20.250Z"}
        assert [m["type"] for m in messages[1:-1]] == \
            ["message", "participant_joined", "message_response"]
        assert messages[-1]["type"] == "conversation_ended"
        assert ISO.match(messages[-1]["endTime"])
    assert relay.audio(None) == []  # type: ignore[arg-type]


def test_downstream_answers_are_tagged_with_their_origin() -> None:
    relay = ResultsRelay(StreamInfo("c5"), label="crm")
    tagged = relay.reply('{"type": "ack", "seq": 3}')
    assert tagged == {"type": "downstream_message", "protocol": "results", "downstream": "crm",
                      "conversationId": "c5", "participantId": None,
                      "message": {"type": "ack", "seq": 3}}
    assert relay.reply(b"\x00\x01") is None and relay.binary_replies == 1
    assert relay.reply("plain words")["message"] == {"text": "plain words"}  # type: ignore[index]


def test_unknown_protocols_and_options_are_clear_errors() -> None:
    import pytest

    from gateway.protocols.downstream import ProtocolConfigError

    with pytest.raises(ProtocolConfigError, match="unknown downstream protocol 'rtmp'"):
        make_protocol("rtmp", StreamInfo("c"))
    with pytest.raises(ProtocolConfigError, match="twilio"):
        make_protocol("twilio", StreamInfo("c"), mix_type="stereo")
