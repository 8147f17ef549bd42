"""Signaling message validation (pure; the live server is covered in test_signaling)."""

from __future__ import annotations

import json

import pytest

from signaling import protocol
from signaling.protocol import Bye, Candidate, Offer, ProtocolError


def code_of(text: str) -> str:
    with pytest.raises(ProtocolError) as err:
        protocol.parse(text)
    return err.value.code


def test_offer() -> None:
    msg = protocol.parse(json.dumps({"type": "offer", "sdp": "v=0", "config": {"a": 1}}))
    assert isinstance(msg, Offer) and msg.config == {"a": 1}
    assert protocol.parse('{"type":"offer","sdp":"v=0"}') == Offer("v=0", {})


def test_candidate_and_end_of_candidates() -> None:
    msg = protocol.parse(json.dumps({"type": "candidate", "candidate": "candidate:1 1 udp 1 "
                                     "1.2.3.4 5 typ host", "sdpMid": "0", "sdpMLineIndex": 0}))
    assert isinstance(msg, Candidate) and msg.candidate.sdp_mid == "0"
    end = protocol.parse('{"type":"candidate","candidate":null}')
    assert isinstance(end, Candidate) and end.candidate.candidate is None
    empty = protocol.parse('{"type":"candidate","candidate":"","sdpMid":"0"}')
    assert isinstance(empty, Candidate) and empty.candidate.candidate is None


def test_bye() -> None:
    assert isinstance(protocol.parse('{"type":"bye"}'), Bye)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        ("[1,2]", "bad_message"),
        ('"offer"', "bad_message"),
        ('{"sdp":"v=0"}', "bad_message"),
        ('{"type":5}', "bad_message"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"offer"}', "missing_field"),
        ('{"type":"offer","sdp":42}', "invalid_field"),
        ('{"type":"offer","sdp":"  "}', "invalid_field"),
        ('{"type":"offer","sdp":"v=0","config":"fast"}', "invalid_field"),
        ('{"type":"candidate"}', "missing_field"),
        ('{"type":"candidate","candidate":7,"sdpMid":"0"}', "invalid_field"),
        ('{"type":"candidate","candidate":"candidate:1","sdpMid":0}', "invalid_field"),
        ('{"type":"candidate","candidate":"candidate:1","sdpMLineIndex":"0"}', "invalid_field"),
        ('{"type":"candidate","candidate":"candidate:1","sdpMLineIndex":true}', "invalid_field"),
        ('{"type":"candidate","candidate":"candidate:1"}', "missing_field"),
        ("[" * 100_000 + "]" * 100_000, "message_too_large"),
    ],
)
def test_rejections(text: str, code: str) -> None:
    assert code_of(text) == code


def test_size_limit_is_in_bytes() -> None:
    big = json.dumps({"type": "offer", "sdp": "é" * (protocol.MAX_MESSAGE_BYTES // 2)})
    assert code_of(big) == "message_too_large"


def test_deep_nesting_is_bad_json_not_a_crash() -> None:
    assert code_of("[" * 5000 + "]" * 5000) in ("bad_json", "bad_message")


def test_answer_names_its_conversation() -> None:
    from signaling.interface import Answer

    assert protocol.answer(Answer("v=0", "room")) == {
        "type": "answer", "sdp": "v=0", "conversationId": "room"}
    assert protocol.answer(Answer("v=0")) == {"type": "answer", "sdp": "v=0"}
