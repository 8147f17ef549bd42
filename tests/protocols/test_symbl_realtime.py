"""Symbl's streaming-socket messages: every body Symbl's clients sent, every bad input.

The accepted bodies are copied from where they were published (symbl-docs, the JS, Python
and Go SDKs; see NOTES-symbl.md), so a regression here means a real client breaks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.protocols.symbl.audio_format import AudioFormat, normalize_encoding
from gateway.protocols.symbl.errors import RealtimeError
from gateway.protocols.symbl.realtime import (
    MAX_TEXT_FRAME_BYTES,
    ModifyRequest,
    Ping,
    StartRequest,
    StopRequest,
    parse_client_text,
)

# docs/streamingapi/reference/reference.md, "Full Code Example" (comments removed).
REFERENCE_START = {
    "type": "start_request",
    "insightTypes": ["question", "action_item"],
    "config": {
        "confidenceThreshold": 0.9,
        "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 44100},
        "meetingTitle": "Client Meeting",
    },
    "speaker": {"userId": "jane.doe@example.com", "name": "Jane"},
}


def start(body: dict[str, Any]) -> StartRequest:
    message = parse_client_text(json.dumps(body))
    assert isinstance(message, StartRequest)
    return message


def rejected(text: str) -> RealtimeError:
    with pytest.raises(RealtimeError) as info:
        parse_client_text(text)
    return info.value


def test_reference_start_request() -> None:
    request = start(REFERENCE_START)
    assert request.audio == AudioFormat("LINEAR16", 44100)
    assert (request.speaker.user_id, request.speaker.name) == ("jane.doe@example.com", "Jane")
    assert request.meeting_title == "Client Meeting"
    assert request.insights.insight_types == frozenset({"question", "action_item"})
    assert request.insights.confidence_threshold == 0.9
    assert request.language_code == "en-US"
    assert request.disconnect_on_stop is True
    assert request.disconnect_on_stop_timeout == 1800.0
    assert request.no_connection_timeout == 0.0
    assert request.raw["type"] == "start_request"


def test_defaults_are_symbls() -> None:
    request = start({"type": "start_request"})
    assert request.audio == AudioFormat("LINEAR16", 16000)
    # "If not provided, no insights will be returned."
    assert request.insights.insight_types == frozenset()
    assert request.speaker.user_id is None and request.speaker.name is None
    assert request.custom_vocabulary == ()
    assert request.timezone_offset is None


def test_tutorial_start_request_with_top_level_title() -> None:
    # docs/streamingapi/tutorials/get-realtime-transcription.md
    request = start({
        "type": "start_request", "meetingTitle": "Websockets How-to",
        "insightTypes": ["question", "action_item"],
        "config": {"confidenceThreshold": 0.5, "languageCode": "en-US",
                   "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 44100}},
        "speaker": {"userId": "example@symbl.ai", "name": "Example Sample"},
    })
    assert request.meeting_title == "Websockets How-to"
    assert request.audio.sample_rate == 44100


def test_js_sdk_config_level_audio_and_extras() -> None:
    # What the SDK docs show (config.sampleRateHertz), plus keys the SDKs add.
    request = start({
        "type": "start_request", "insightTypes": [],
        "config": {"meetingTitle": "My Test Meeting", "confidenceThreshold": 0.7,
                   "timezoneOffset": 480, "languageCode": "en-US", "sampleRateHertz": 48000,
                   "encoding": "OPUS", "trackers": {"interimResults": True},
                   "sentiment": True},
        "customVocabulary": ["acme", "acme-platform"],
        "trackers": [{"name": "COVID-19", "vocabulary": ["social distancing", "vaccination"]}],
        "noConnectionTimeout": 100, "disconnectOnStopRequest": False,
        "disconnectOnStopRequestTimeout": 0, "reconnectOnError": True,
    })
    assert request.audio == AudioFormat("OPUS", 48000)
    assert request.timezone_offset == 480
    assert request.custom_vocabulary == ("acme", "acme-platform")
    assert request.insights.trackers[0].name == "COVID-19"
    assert request.no_connection_timeout == 100.0
    assert (request.disconnect_on_stop, request.disconnect_on_stop_timeout) == (False, 0.0)


def test_python_sdk_nulls_and_repr_stop() -> None:
    # symbl/streaming_api/StreamingApi.py sends None as null; .stop() sends str(dict).
    request = start({"type": "start_request", "insightTypes": ["question"], "speaker": None,
                     "trackers": None, "config": {
                         "confidenceThreshold": 0.5, "languageCode": "en-US",
                         "speechRecognition": {"encoding": "LINEAR16",
                                               "sampleRateHertz": 44100}}})
    assert request.audio.sample_rate == 44100
    assert isinstance(parse_client_text(str({"type": "stop_request"})), StopRequest)


def test_go_sdk_empty_structs_and_bool_timeout() -> None:
    # pkg/client/interfaces/types-stream.go: zero structs are sent as {}, and
    # noConnectionTimeout is declared bool.
    request = start({"type": "start_request", "insightTypes": ["question", "action_item"],
                     "config": {"speechRecognition": {}, "trackers": {}},
                     "speaker": {"userId": "user@email.com", "name": "Jane Doe"},
                     "noConnectionTimeout": True})
    assert request.audio == AudioFormat("LINEAR16", 16000)
    assert request.no_connection_timeout == 1800.0


@pytest.mark.parametrize(("name", "canonical"), [
    ("LINEAR16", "LINEAR16"), ("linear16", "LINEAR16"), ("MULAW", "MULAW"),
    ("Opus", "OPUS"), ("OPUS", "OPUS"), ("opus", "OPUS"), ("FLAC", "FLAC"),
    ("audio/webm;codecs=opus", "OPUS"), ('audio/webm; codecs="opus"', "OPUS"),
    ("audio/ogg;codecs=opus", "OPUS"), ("audio/webm", "OPUS"), ("WEBM_OPUS", "OPUS"),
    ("audio/webm;codecs=vorbis", None), ("MP3", None), ("", None), ("SPEEX", None)])
def test_encoding_names(name: str, canonical: str | None) -> None:
    assert normalize_encoding(name) == canonical


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 16000.0])
def test_rates_in_range(rate: float) -> None:
    body = {"type": "start_request",
            "config": {"speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": rate}}}
    assert start(body).audio.sample_rate == int(rate)


def test_simple_messages() -> None:
    assert isinstance(parse_client_text('{"type":"stop_request"}'), StopRequest)
    assert isinstance(parse_client_text("__PING__"), Ping)
    modify = parse_client_text(json.dumps(
        {"type": "modify_request", "speechRecognition": {"sampleRateHertz": 8000}}))
    assert modify == ModifyRequest(encoding=None, sample_rate=8000)
    assert modify.apply(AudioFormat("LINEAR16", 44100)) == AudioFormat("LINEAR16", 8000)
    both = parse_client_text(json.dumps({"type": "modify_request", "speechRecognition": {
        "encoding": "MULAW", "sampleRateHertz": 8000}}))
    assert isinstance(both, ModifyRequest)
    assert both.apply(AudioFormat("LINEAR16", 16000)) == AudioFormat("MULAW", 8000)


BAD_INPUTS = [
    # (text, code, field)
    ("hello", "bad_json", None),
    ("{'type': 'start_request', 'x': __import__('os')}", "bad_json", None),
    ("[1, 2]", "bad_message", None),
    ('"start_request"', "bad_message", None),
    ("{}", "bad_message", "type"),
    ('{"type": 5}', "bad_message", "type"),
    ('{"type": "begin_request"}', "unknown_type", "type"),
    ("[" * 100_000, "bad_json", None),
    ('{"type": "modify_request"}', "invalid_modify_request", "speechRecognition"),
    ('{"type": "modify_request", "speechRecognition": {"sampleRateHertz": 96000}}',
     "unsupported_audio", "speechRecognition.sampleRateHertz"),
]


@pytest.mark.parametrize(("text", "code", "field"), BAD_INPUTS)
def test_bad_messages(text: str, code: str, field: str | None) -> None:
    error = rejected(text)
    assert (error.code, error.field, error.fatal) == (code, field, False)
    body = error.body()
    assert body["type"] == "error" and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], str) and body["details"]


BAD_START_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"config": "fast"}, "invalid_start_request", "config"),
    ({"config": {"speechRecognition": []}}, "invalid_start_request", "config.speechRecognition"),
    ({"config": {"speechRecognition": {"sampleRateHertz": "16000"}}}, "invalid_start_request",
     "config.speechRecognition.sampleRateHertz"),
    ({"config": {"speechRecognition": {"sampleRateHertz": True}}}, "invalid_start_request",
     "config.speechRecognition.sampleRateHertz"),
    ({"config": {"speechRecognition": {"encoding": 16}}}, "invalid_start_request",
     "config.speechRecognition.encoding"),
    ({"config": {"speechRecognition": {"encoding": "MP3"}}}, "unsupported_audio",
     "config.speechRecognition.encoding"),
    ({"config": {"speechRecognition": {"sampleRateHertz": 4000}}}, "unsupported_audio",
     "config.speechRecognition.sampleRateHertz"),
    ({"config": {"speechRecognition": {"sampleRateHertz": 96000}}}, "unsupported_audio",
     "config.speechRecognition.sampleRateHertz"),
    ({"config": {"speechRecognition": {"sampleRateHertz": 44100.5}}}, "unsupported_audio",
     "config.speechRecognition.sampleRateHertz"),
    ({"config": {"sampleRateHertz": 1}}, "unsupported_audio", "config.sampleRateHertz"),
    ({"speaker": "Jane"}, "invalid_start_request", "speaker"),
    ({"speaker": {"name": 7}}, "invalid_start_request", "speaker.name"),
    ({"speaker": {"userId": "x" * 300}}, "invalid_start_request", "speaker.userId"),
    ({"config": {"languageCode": ["en"]}}, "invalid_start_request", "config.languageCode"),
    ({"meetingTitle": 3}, "invalid_start_request", "meetingTitle"),
    ({"config": {"timezoneOffset": "480"}}, "invalid_start_request", "config.timezoneOffset"),
    ({"disconnectOnStopRequest": "no"}, "invalid_start_request", "disconnectOnStopRequest"),
    ({"disconnectOnStopRequestTimeout": 3600}, "invalid_start_request",
     "disconnectOnStopRequestTimeout"),
    ({"noConnectionTimeout": -1}, "invalid_start_request", "noConnectionTimeout"),
    ({"noConnectionTimeout": "600"}, "invalid_start_request", "noConnectionTimeout"),
    ({"customVocabulary": "acme"}, "invalid_start_request", "customVocabulary"),
    ({"customVocabulary": ["acme", 3]}, "invalid_start_request", "customVocabulary[1]"),
    # Validated by gateway.insights.parse_insights_config, reported in the same shape.
    ({"insightTypes": "question"}, "invalid_start_request", "insightTypes"),
    ({"insightTypes": ["question", 4]}, "invalid_start_request", "insightTypes[1]"),
    ({"config": {"confidenceThreshold": "high"}}, "invalid_start_request",
     "config.confidenceThreshold"),
    ({"trackers": [{"name": "x", "vocabulary": "price"}]}, "invalid_start_request",
     "trackers[0].vocabulary"),
]


@pytest.mark.parametrize(("fields", "code", "field"), BAD_START_FIELDS)
def test_bad_start_requests_name_the_field(fields: dict[str, Any], code: str, field: str
                                           ) -> None:
    error = rejected(json.dumps({"type": "start_request", **fields}))
    assert (error.code, error.field) == (code, field)
    assert not error.fatal  # the client may send a corrected start_request
    assert field in error.body()["message"] or field in error.body()["details"] or \
        code == "unsupported_audio"


def test_text_over_the_limit() -> None:
    error = rejected('{"type": "start_request", "pad": "' + "x" * MAX_TEXT_FRAME_BYTES + '"}')
    assert error.code == "message_too_large"


def test_error_body_is_plain_json() -> None:
    error = rejected("not json")
    assert json.loads(json.dumps(error.body())) == error.body()
    assert set(error.body()) == {"type", "code", "message", "details"}
