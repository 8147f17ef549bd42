from __future__ import annotations

from typing import Any

import pytest

from gateway.insights import (
    ACCEPTED_INSIGHT_TYPES,
    GATEWAY_DEFAULTS,
    INSIGHT_TYPES,
    SYMBL_DEFAULTS,
    InsightsConfig,
    InsightsConfigError,
    Tracker,
    parse_insights_config,
)


def test_defaults_ask_for_everything() -> None:
    config = parse_insights_config({})
    assert config == InsightsConfig()
    assert config.insight_types == frozenset(INSIGHT_TYPES)
    assert config.confidence_threshold == 0.5
    assert config.timezone_offset_minutes == 0
    assert config.trackers == ()


def test_reads_symbl_start_request_and_ignores_unknown_keys() -> None:
    config = parse_insights_config(
        {
            "type": "start_request",
            "insightTypes": ["question", "action_item"],
            "config": {"confidenceThreshold": 0.7, "timezoneOffset": -480, "languageCode": "en"},
            "trackers": [{"name": "Pricing", "vocabulary": ["discount", " price "]}],
            "speaker": {"userId": "a@example.com", "name": "Alex"},
            "somethingNew": True,
        }
    )
    assert config.insight_types == {"question", "action_item"}
    assert config.confidence_threshold == 0.7
    assert config.timezone_offset_minutes == -480
    assert config.trackers == (Tracker("Pricing", ("discount", "price")),)


def test_empty_vocabulary_is_accepted_and_kept_empty() -> None:
    config = parse_insights_config({"trackers": [{"name": "later", "vocabulary": ["", "  "]}]})
    assert config.trackers == (Tracker("later", ()),)


@pytest.mark.parametrize(
    ("start", "field"),
    [
        ({"insightTypes": "question"}, "insightTypes"),
        ({"insightTypes": ["question", "summary"]}, "insightTypes[1]"),
        ({"insightTypes": [3]}, "insightTypes[0]"),
        ({"config": []}, "config"),
        ({"config": {"confidenceThreshold": "high"}}, "config.confidenceThreshold"),
        ({"config": {"confidenceThreshold": -0.1}}, "config.confidenceThreshold"),
        ({"config": {"confidenceThreshold": 1.5}}, "config.confidenceThreshold"),
        ({"config": {"confidenceThreshold": True}}, "config.confidenceThreshold"),
        ({"config": {"timezoneOffset": "PST"}}, "config.timezoneOffset"),
        ({"config": {"timezoneOffset": 1.5}}, "config.timezoneOffset"),
        ({"config": {"timezoneOffset": 100000}}, "config.timezoneOffset"),
        ({"trackers": {"name": "x"}}, "trackers"),
        ({"trackers": ["pricing"]}, "trackers[0]"),
        ({"trackers": [{"vocabulary": ["a"]}]}, "trackers[0].name"),
        ({"trackers": [{"name": "  ", "vocabulary": ["a"]}]}, "trackers[0].name"),
        ({"trackers": [{"name": "x"}]}, "trackers[0].vocabulary"),
        ({"trackers": [{"name": "x", "vocabulary": "price"}]}, "trackers[0].vocabulary"),
        ({"trackers": [{"name": "x", "vocabulary": ["ok", 7]}]}, "trackers[0].vocabulary[1]"),
    ],
)
def test_bad_config_names_the_field(start: dict[str, Any], field: str) -> None:
    with pytest.raises(InsightsConfigError) as caught:
        parse_insights_config(start)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_start_must_be_an_object() -> None:
    with pytest.raises(InsightsConfigError):
        parse_insights_config([])  # type: ignore[arg-type]


def test_empty_insight_types_sends_none() -> None:
    assert parse_insights_config({"insightTypes": []}).insight_types == frozenset()


# -- Symbl compatibility ---------------------------------------------------------------


def test_symbl_defaults_send_no_insights_unless_asked() -> None:
    # Symbl's reference: "insightTypes ... If not provided, no insights will be returned."
    assert parse_insights_config({}, defaults=SYMBL_DEFAULTS).insight_types == frozenset()
    asked = parse_insights_config({"insightTypes": ["question"]}, defaults=SYMBL_DEFAULTS)
    assert asked.insight_types == {"question"}
    assert parse_insights_config({}, defaults=SYMBL_DEFAULTS).confidence_threshold == 0.5
    # The gateway's own clients keep getting every type by default.
    assert parse_insights_config({}).insight_types == frozenset(INSIGHT_TYPES)
    assert parse_insights_config({}) == GATEWAY_DEFAULTS


def test_defaults_fill_only_what_is_missing() -> None:
    custom = InsightsConfig(
        insight_types=frozenset({"follow_up"}),
        confidence_threshold=0.8,
        timezone_offset_minutes=-60,
        trackers=(Tracker("t", ("x",)),),
    )
    assert parse_insights_config({}, defaults=custom) == custom
    mixed = parse_insights_config({"config": {"timezoneOffset": 300}}, defaults=custom)
    assert mixed.timezone_offset_minutes == 300 and mixed.confidence_threshold == 0.8


def test_topic_and_every_listed_type_is_accepted() -> None:
    config = parse_insights_config(
        {"insightTypes": ["action_item", "question", "follow_up", "topic"]}
    )
    assert config.insight_types == frozenset(INSIGHT_TYPES)
    # "topic" alone asks for no question/action insights (topics are always sent).
    assert parse_insights_config({"insightTypes": ["topic"]}).insight_types == frozenset()
    assert "topic" in ACCEPTED_INSIGHT_TYPES


@pytest.mark.parametrize("threshold", [0, 0.0, 0.1, 0.2, 0.5, 0.7, 1, 1.0])
def test_confidence_threshold_over_symbls_whole_range(threshold: float) -> None:
    assert parse_insights_config(
        {"config": {"confidenceThreshold": threshold}}
    ).confidence_threshold == float(threshold)


def test_timezone_offset_keeps_symbls_sign() -> None:
    # Symbl's examples send 480 (JavaScript getTimezoneOffset() in US Pacific winter) and
    # show due dates at -07:00/-08:00: minutes BEHIND UTC.
    pacific = parse_insights_config({"config": {"timezoneOffset": 480}})
    assert pacific.timezone_offset_minutes == 480
    assert pacific.utc_offset_minutes == -480
    paris = parse_insights_config({"config": {"timezoneOffset": -60}})
    assert paris.utc_offset_minutes == 60
    # A Python client's 480.0 is the same JSON number as 480 to Symbl's JavaScript server.
    assert parse_insights_config({"config": {"timezoneOffset": 480.0}}).utc_offset_minutes == -480
    assert parse_insights_config({"config": {"timezoneOffset": -840}}).utc_offset_minutes == 840


def test_symbl_bodies_from_its_docs_parse() -> None:
    # Shapes from Symbl's streaming reference, its PII example and its Web SDK page:
    # nested speechRecognition, redaction, config.trackers flags, timeouts, customVocabulary.
    bodies: list[dict[str, Any]] = [
        {
            "type": "start_request",
            "insightTypes": ["question", "action_item"],
            "customVocabulary": ["acme"],
            "config": {
                "confidenceThreshold": 0.9,
                "languageCode": "en-US",
                "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 44100},
                "meetingTitle": "Client Meeting",
                "trackers": {"interimResults": True, "enableAllTrackers": True},
            },
            "speaker": {"userId": "jane@example.com", "name": "Jane"},
        },
        {
            "type": "start_request",
            "insightTypes": ["action_item", "question", "follow_up", "topic"],
            "config": {
                "confidenceThreshold": 0.1,
                "timezoneOffset": 480,
                "speechRecognition": {"engine": "google", "encoding": "LINEAR16"},
                "redaction": {"identifyContent": True, "redactContent": True},
            },
        },
        {
            "id": "bd82dd08-ad93-4549-827c-3f646647ae61",
            "disconnectOnStopRequest": False,
            "disconnectOnStopRequestTimeout": 1800,
            "noConnectionTimeout": 900,
            "insightTypes": ["follow_up", "action_item", "question"],
            "config": {"confidenceThreshold": 0.7, "timezoneOffset": 480, "encoding": "OPUS"},
            "trackers": [{"name": "Promotion Mention", "vocabulary": ["offer", "sale"]}],
        },
    ]
    parsed = [parse_insights_config(body, defaults=SYMBL_DEFAULTS) for body in bodies]
    assert parsed[0].insight_types == {"question", "action_item"}
    assert parsed[1].confidence_threshold == 0.1 and parsed[1].utc_offset_minutes == -480
    assert parsed[2].trackers == (Tracker("Promotion Mention", ("offer", "sale")),)
