from __future__ import annotations

from typing import Any

import pytest

from gateway.conversation.start_config import (
    ConfigError,
    language_matches,
    parse_start_config,
)


def test_symbl_start_request_body_is_accepted() -> None:
    body = {
        "type": "start_request",
        "insightTypes": ["question", "action_item"],
        "customVocabulary": ["acme"],
        "config": {"confidenceThreshold": 0.9, "languageCode": "en-US",
                   "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 16000},
                   "meetingTitle": "Client Meeting"},
        "speaker": {"userId": "jane.doe@example.com", "name": "Jane"},
    }
    cfg = parse_start_config(body)
    assert cfg.speaker.user_id == "jane.doe@example.com" and cfg.speaker.name == "Jane"
    assert cfg.language_code == "en-US" and cfg.meeting_title == "Client Meeting"


def test_top_level_placement_and_defaults() -> None:
    cfg = parse_start_config({"languageCode": "en", "meetingTitle": "Standup", "unknown": 1})
    assert cfg.language_code == "en" and cfg.meeting_title == "Standup"
    assert parse_start_config(None).speaker.to_json() == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "config"),
        ({"speaker": "jane"}, "config.speaker"),
        ({"speaker": {"name": 3}}, "config.speaker.name"),
        ({"speaker": {"userId": ["x"]}}, "config.speaker.userId"),
        ({"languageCode": 1}, "config.languageCode"),
        ({"config": []}, "config.config"),
        ({"config": {"meetingTitle": False}}, "config.config.meetingTitle"),
        ({"meetingTitle": "x" * 1000}, "config.meetingTitle"),
        ({"conversationId": 7}, "config.conversationId"),
        ({"conversationId": "a b"}, "config.conversationId"),
        ({"conversationId": ""}, "config.conversationId"),
    ],
)
def test_wrong_types_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_start_config(body)
    assert err.value.field == field


def test_language_matching() -> None:
    assert language_matches("en-US", "en-US")
    assert language_matches("en_us", "en-US")
    assert language_matches("en", "en-US")
    assert not language_matches("es-ES", "en-US")


def test_conversation_id() -> None:
    assert parse_start_config({"conversationId": "call-7f3a:9c_1.x"}).conversation_id == (
        "call-7f3a:9c_1.x")
    assert parse_start_config({}).conversation_id is None
