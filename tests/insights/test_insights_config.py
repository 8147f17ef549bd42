from __future__ import annotations

from typing import Any

import pytest

from gateway.insights import (
    INSIGHT_TYPES,
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
