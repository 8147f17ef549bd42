"""The call messages on ``/ws``: parsing what clients send, and the documented shapes of what
the server sends (the JSON examples of docs/protocol.md's *Calls between participants*)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from signaling import calls, protocol
from signaling.protocol import Mute, Peer, ProtocolError

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def code_of(text: str) -> str:
    with pytest.raises(ProtocolError) as err:
        protocol.parse(text)
    return err.value.code


def test_peer_and_mute_parse() -> None:
    data = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
    assert protocol.parse(json.dumps({"type": "peer", "to": "p-1", "data": data})) == \
        Peer("p-1", data)
    assert protocol.parse('{"type":"mute","muted":true}') == Mute(True)
    assert protocol.parse('{"type":"mute","muted":false}') == Mute(False)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type":"peer","data":{}}', "missing_field"),
        ('{"type":"peer","to":"x"}', "missing_field"),
        ('{"type":"peer","to":"x","data":[]}', "invalid_field"),
        ('{"type":"peer","to":"x","data":null}', "invalid_field"),
        ('{"type":"peer","to":"","data":{}}', "invalid_field"),
        ('{"type":"peer","to":"' + "x" * 129 + '","data":{}}', "invalid_field"),
        ('{"type":"peer","to":true,"data":{}}', "invalid_field"),
        ('{"type":"mute"}', "missing_field"),
        ('{"type":"mute","muted":1}', "invalid_field"),
        ('{"type":"mute","muted":"true"}', "invalid_field"),
    ],
)
def test_bad_peer_and_mute(text: str, code: str) -> None:
    assert code_of(text) == code


def test_peer_data_limit_counts_compact_utf8() -> None:
    limit = protocol.MAX_PEER_DATA_BYTES
    overhead = len('{"s":""}')
    fits = {"s": "a" * (limit - overhead)}
    assert isinstance(protocol.parse(json.dumps({"type": "peer", "to": "x", "data": fits})), Peer)
    over = {"s": "é" * ((limit - overhead) // 2 + 1)}  # two bytes each in UTF-8
    assert code_of(json.dumps({"type": "peer", "to": "x", "data": over},
                              ensure_ascii=False)) == "peer_data_too_large"


def test_hello_lists_features_and_errors_may_carry_facts() -> None:
    assert protocol.hello("s", [])["features"] == ["presence", "peer", "mute", "resume"]
    offer = protocol.parse('{"type":"offer","sdp":"v=0","features":["peer","video","presence"]}')
    assert isinstance(offer, protocol.Offer) and offer.features == {"peer", "presence"}
    assert protocol.parse('{"type":"offer","sdp":"v=0"}') == protocol.Offer("v=0", {})
    for bad in ('"peer"', "[1]", "[" + ",".join(['"x"'] * 33) + "]"):
        assert code_of('{"type":"offer","sdp":"v=0","features":' + bad + "}") == \
            "invalid_field"
    assert protocol.error("conversation_full", "full", {"maxParticipants": 2}) == {
        "type": "error", "code": "conversation_full", "message": "full", "maxParticipants": 2}
    # Facts never override the error's own fields.
    assert protocol.error("x", "y", {"type": "z", "code": "w"})["code"] == "x"


def documented() -> dict[str, dict[str, Any]]:
    """The JSON examples of the calls section, by message type."""
    text = DOC.read_text()
    section = text[text.index("## Calls between participants"):text.index("## Watching")]
    examples = {}
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        message = json.loads(block)
        examples[message["type"]] = message
    return examples


def test_documented_server_messages_match_the_builders() -> None:
    doc = documented()
    who = {"id": "a", "userId": "u", "name": "n", "muted": False, "acceptsPeer": True}
    built = {
        "participants": calls.participants("c", who, [who], 2),
        "participant_joined": calls.participant_joined("c", who, "t"),
        "participant_left": calls.participant_left("c", who, "left", "t"),
        "participant_state": calls.participant_state("c", who, "t"),
    }
    for kind, message in built.items():
        assert set(doc[kind]) == set(message), kind
        participant = doc[kind].get("participant") or doc[kind]["you"]
        assert set(participant) == set(who), kind
    assert set(doc["peer"]) in ({"type", "from", "data"}, {"type", "to", "data"})


def test_documented_client_peer_message_parses() -> None:
    text = DOC.read_text()
    section = text[text.index("### Client → server", text.index("## Calls between")):]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    assert isinstance(protocol.parse(block.group(1)), Peer)
