"""Result messages keep Symbl's real-time API shapes."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.protocols.symbl import lifecycle, messages
from gateway.transcript import Phrase, Speaker, Word

START = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
JANE = Speaker(user_id="jane@example.com", name="Jane", id="p1")


def test_iso_timestamps() -> None:
    assert messages.iso(START) == "2026-01-02T03:04:05.678Z"
    assert messages.iso(START, 1.5) == "2026-01-02T03:04:07.178Z"


def test_recognition_started_and_stopped() -> None:
    assert lifecycle.recognition_started("c1") == {
        "type": "message",
        "message": {"type": "recognition_started", "data": {"conversationId": "c1"}}}
    assert lifecycle.conversation_created("c1")["message"] == {
        "type": "conversation_created", "data": {"conversationId": "c1"}}
    assert lifecycle.recognition_stopped() == {
        "type": "message", "message": {"type": "recognition_stopped"}}


def test_partial_recognition_result() -> None:
    msg = messages.recognition_result(transcript="hello there", punctuated="Hello there",
                                      is_final=False, speaker=JANE)
    inner = msg["message"]
    assert msg["type"] == "message" and inner["type"] == "recognition_result"
    assert inner["isFinal"] is False
    assert inner["punctuated"] == {"transcript": "Hello there"}
    alt = inner["payload"]["raw"]["alternatives"][0]
    assert alt["transcript"] == "hello there" and isinstance(alt["confidence"], float)
    assert inner["user"] == {"userId": "jane@example.com", "name": "Jane", "id": "p1"}


def test_final_recognition_result_words_use_symbl_time() -> None:
    words = (Word("hello", 3.8, 4.2, 0.9),)
    msg = messages.recognition_result(transcript="hello", punctuated="Hello.", is_final=True,
                                      speaker=JANE, confidence=0.9,
                                      words=words)
    w = msg["message"]["payload"]["raw"]["alternatives"][0]["words"][0]
    assert w == {"word": "hello", "startTime": {"seconds": "3", "nanos": "800000000"},
                 "endTime": {"seconds": "4", "nanos": "200000000"}}


def test_message_response() -> None:
    phrase = Phrase(id="m1", text="send the report", speaker=JANE, start=1.0, end=2.25,
                    words=(Word("send", 1.0, 1.3, 1.0), Word("the", 1.3, 1.5, 0.8),
                           Word("report", 1.5, 2.25, 0.95)), confidence=0.92)
    sentiment = {"polarity": {"score": 0.0}, "suggested": "neutral"}
    msg = messages.message_response(phrase, content="Send the report.",
                                    stream_start=START, sentiment=sentiment)
    assert msg["type"] == "message_response" and len(msg["messages"]) == 1
    m = msg["messages"][0]
    assert m["id"] == "m1"
    assert m["from"] == {"userId": "jane@example.com", "name": "Jane", "id": "p1"}
    assert m["payload"] == {"content": "Send the report.", "contentType": "text/plain"}
    assert m["duration"] == {"startTime": "2026-01-02T03:04:06.678Z",
                             "endTime": "2026-01-02T03:04:07.928Z"}
    assert m["metadata"]["words"][2] == {"word": "report", "startTime": 1.5, "endTime": 2.25,
                                         "confidence": 0.95}
    assert m["metadata"]["originalContent"] == "send the report"
    assert m["sentiment"] == sentiment
