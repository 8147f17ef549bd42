"""The streaming socket's rules, its server notices, and what its handshake carries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocols.symbl import lifecycle
from gateway.protocols.symbl.audio_format import AudioFormat
from gateway.protocols.symbl.connection import (
    MAX_CONTAINER_FRAME_BYTES,
    ConnectionRules,
    Phase,
    StopPlan,
)
from gateway.protocols.symbl.endpoint import (
    offered_subprotocol,
    parse_connection_id,
    token_from_request,
)
from gateway.protocols.symbl.errors import RealtimeError
from gateway.protocols.symbl.realtime import (
    MAX_AUDIO_FRAME_BYTES,
    ModifyRequest,
    StartRequest,
    parse_client_text,
)


def start(**fields: Any) -> StartRequest:
    message = parse_client_text(json.dumps({"type": "start_request", **fields}))
    assert isinstance(message, StartRequest)
    return message


def test_audio_before_start_is_ignored_and_told_once() -> None:
    rules = ConnectionRules()
    first = rules.on_audio(3200)
    assert not first.accept and first.error is not None
    assert first.error.code == "audio_before_start" and not first.error.fatal
    again = rules.on_audio(3200)
    assert not again.accept and again.error is None  # no flood of errors


def test_second_start_request_is_refused_and_the_first_stands() -> None:
    rules = ConnectionRules()
    first = start(config={"speechRecognition": {"sampleRateHertz": 44100}})
    assert rules.on_start(first) is False
    with pytest.raises(RealtimeError) as info:
        rules.on_start(start())
    assert info.value.code == "already_started" and not info.value.fatal
    assert rules.audio == AudioFormat("LINEAR16", 44100)
    assert rules.on_audio(MAX_AUDIO_FRAME_BYTES).accept


def test_stop_closes_by_default() -> None:
    rules = ConnectionRules()
    rules.on_start(start())
    assert rules.on_stop() == StopPlan(close=True, idle_timeout=0.0)
    assert rules.phase is Phase.STOPPED
    assert not rules.on_audio(100).accept  # audio after stop is not processed


def test_stop_then_resume_when_asked_to_stay_connected() -> None:
    rules = ConnectionRules()
    rules.on_start(start(disconnectOnStopRequest=False, disconnectOnStopRequestTimeout=600))
    assert rules.on_stop() == StopPlan(close=False, idle_timeout=600.0)
    assert rules.on_start(start()) is True  # resumes the same conversation
    assert rules.starts == 2


def test_zero_timeout_drops_the_socket_at_stop() -> None:
    rules = ConnectionRules()
    rules.on_start(start(disconnectOnStopRequest=False, disconnectOnStopRequestTimeout=0))
    assert rules.on_stop().close


def test_stop_and_modify_need_a_start() -> None:
    rules = ConnectionRules()
    for call in (rules.on_stop, lambda: rules.on_modify(ModifyRequest(None, 8000))):
        with pytest.raises(RealtimeError) as info:
            call()
        assert info.value.code == "not_started"


def test_frame_limits_follow_the_encoding() -> None:
    rules = ConnectionRules()
    rules.on_start(start())
    assert rules.on_audio(MAX_AUDIO_FRAME_BYTES).accept
    over = rules.on_audio(MAX_AUDIO_FRAME_BYTES + 1)
    assert not over.accept and over.error is not None and over.error.code == "frame_too_large"
    # MediaRecorder picks its chunk size: containers get a larger limit.
    assert rules.on_modify(ModifyRequest("audio/webm;codecs=opus", 48000)) == \
        AudioFormat("OPUS", 48000)
    assert rules.on_audio(MAX_CONTAINER_FRAME_BYTES).accept
    assert not rules.on_audio(MAX_CONTAINER_FRAME_BYTES + 1).accept


def test_modify_to_an_unsupported_format_keeps_the_old_one() -> None:
    rules = ConnectionRules()
    rules.on_start(start())
    with pytest.raises(RealtimeError) as info:
        rules.on_modify(ModifyRequest("AMR", None))
    assert info.value.code == "unsupported_audio"
    assert rules.audio == AudioFormat("LINEAR16", 16000)


def test_notices_are_exactly_symbls() -> None:
    assert lifecycle.started_listening() == {
        "type": "message", "message": {"type": "started_listening"}}
    assert lifecycle.conversation_created("5093011103940608") == {
        "type": "message", "message": {"type": "conversation_created",
                                       "data": {"conversationId": "5093011103940608"}}}
    assert lifecycle.recognition_started("c1") == {
        "type": "message", "message": {"type": "recognition_started",
                                       "data": {"conversationId": "c1"}}}
    assert lifecycle.recognition_stopped() == {
        "type": "message", "message": {"type": "recognition_stopped"}}
    completed = lifecycle.conversation_completed("c1", summary_url="https://gw/c/c1")
    assert completed["type"] == "message"
    assert completed["message"]["type"] == "conversation_completed"
    assert completed["message"]["conversationId"] == "c1"  # web SDK's documented place
    assert completed["message"]["data"] == {"conversationId": "c1"}  # Go SDK's
    assert completed["message"]["summaryUrl"] == "https://gw/c/c1"
    assert "summaryUrl" not in lifecycle.conversation_completed("c1")["message"]
    modified = lifecycle.session_modified(AudioFormat("LINEAR16", 8000))
    assert modified["message"]["data"]["speechRecognition"]["sampleRateHertz"] == 8000


@pytest.mark.parametrize(("raw", "ok"), [
    ("dXNlckBleGFtcGxlLmNvbQ==", True),  # btoa("user@example.com"), Symbl's tutorials
    ("6f1c9a6e-0d7b-4b8a-9a55-2b0c1a6c3f10", True), ("QUJDREVGR0hJSktM", True),
    ("a+b=c", True), ("", False), ("a/b", False), ("a b", False), ("x" * 129, False),
    ("caf\u00e9", False)])
def test_connection_ids(raw: str, ok: bool) -> None:
    assert (parse_connection_id(raw) == raw) is ok


def test_token_forms() -> None:
    query = token_from_request({"access_token": "q"}, {"X-API-KEY": "h"})
    assert query is not None and (query.token, query.source) == ("q", "query")
    found = token_from_request({}, {"x-api-key": "k"})
    assert found is not None and (found.token, found.source) == ("k", "x-api-key")
    bearer = token_from_request({}, {"Authorization": "Bearer abc.def.ghi"})
    assert bearer is not None and (bearer.token, bearer.source) == ("abc.def.ghi", "bearer")
    # The JS SDK: new W3CWebSocket(url, accessToken, ...) → the token is the subprotocol.
    headers = {"Sec-WebSocket-Protocol": "eyJhbGciOi.eyJleHAiOjF9.sig"}
    proto = token_from_request({}, headers)
    assert proto is not None and proto.source == "subprotocol"
    assert offered_subprotocol(headers) == proto.token
    assert token_from_request({"access_token": ""}, {"Authorization": "Basic x"}) is None
    assert offered_subprotocol({}) is None
