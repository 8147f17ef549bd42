"""Client start config for the insights engine, validated once at session start.

Validation lives here (not in the engine) so a bad config fails loudly before any audio
flows, and the engine can trust its inputs and never raise into the media path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The insight types the engine produces.
INSIGHT_TYPES: tuple[str, ...] = ("question", "action_item", "follow_up")
# Every type Symbl's docs list for ``insightTypes`` (its PII-redaction example also asks
# for "topic"). "topic" is accepted and changes nothing: topics are always sent, as Symbl
# sent them whatever insightTypes said (its live-topics example asks only for
# action_item and question and still gets onTopicResponse).
ACCEPTED_INSIGHT_TYPES: tuple[str, ...] = (*INSIGHT_TYPES, "topic")

# Symbl documented 0.0-1.0 (streaming "Configuration" page) and >=0.5-1.0 (API reference)
# and used 0.1 in an example; accept the union. Our confidences start at 0.65, so any
# threshold up to that lets every insight through.
MIN_CONFIDENCE_THRESHOLD = 0.0
MAX_CONFIDENCE_THRESHOLD = 1.0
# Real offsets run from UTC-12:00 to UTC+14:00 (getTimezoneOffset() 720 to -840).
MAX_TIMEZONE_OFFSET_MINUTES = 14 * 60
MAX_TRACKERS = 500
MAX_VOCABULARY = 500


class InsightsConfigError(ValueError):
    """A start config the engine cannot honour; ``field`` points at the offending JSON path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Tracker:
    """A client-defined tracker: report messages that say any of ``vocabulary``."""

    name: str
    vocabulary: tuple[str, ...]


@dataclass(frozen=True)
class InsightsConfig:
    insight_types: frozenset[str] = field(default_factory=lambda: frozenset(INSIGHT_TYPES))
    confidence_threshold: float = 0.5
    # Symbl's ``timezoneOffset`` as sent: minutes BEHIND UTC, i.e. JavaScript's
    # Date.getTimezoneOffset() (US Pacific 480 in winter, CET -60). Symbl's examples pair
    # 480 with due dates at -07:00/-08:00. Due dates are resolved in this local time.
    timezone_offset_minutes: int = 0
    trackers: tuple[Tracker, ...] = ()

    @property
    def utc_offset_minutes(self) -> int:
        """The local time's offset from UTC, east positive (CET 60): what clocks need."""
        return -self.timezone_offset_minutes


# What the gateway's own page and WebRTC clients get when they leave a field out: every
# insight type, because the page shows them all.
GATEWAY_DEFAULTS = InsightsConfig()
# Symbl's documented defaults, for its WebSocket API: "insightTypes ... If not provided,
# no insights will be returned" and confidenceThreshold 0.5 (symbl-docs
# docs/streamingapi/reference/reference.md, docs/streamingapi/overview/configuration.md).
# Symbl documents no default timezoneOffset; UTC (0) is what an absent offset means here.
SYMBL_DEFAULTS = InsightsConfig(insight_types=frozenset())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_insight_types(raw: Any, default: frozenset[str]) -> frozenset[str]:
    if raw is None:
        return default
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InsightsConfigError("insightTypes", "must be a list of insight type names")
    types: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise InsightsConfigError(f"insightTypes[{i}]", "must be a string")
        if item not in ACCEPTED_INSIGHT_TYPES:
            raise InsightsConfigError(
                f"insightTypes[{i}]",
                f"unknown insight type {item!r}; expected one of "
                f"{', '.join(ACCEPTED_INSIGHT_TYPES)}",
            )
        if item in INSIGHT_TYPES:
            types.add(item)
    return frozenset(types)


def _parse_threshold(raw: Any, default: float) -> float:
    if raw is None:
        return default
    if not _is_number(raw):
        raise InsightsConfigError("config.confidenceThreshold", "must be a number")
    value = float(raw)
    if not MIN_CONFIDENCE_THRESHOLD <= value <= MAX_CONFIDENCE_THRESHOLD:
        raise InsightsConfigError(
            "config.confidenceThreshold",
            f"must be between {MIN_CONFIDENCE_THRESHOLD} and {MAX_CONFIDENCE_THRESHOLD}, "
            f"got {value}",
        )
    return value


def _parse_timezone_offset(raw: Any, default: int) -> int:
    if raw is None:
        return default
    # 480.0 is 480 to a JavaScript client (JSON has one number type), so integral floats
    # from Python clients are accepted; 5.5 is not a whole number of minutes.
    if not (_is_int(raw) or (isinstance(raw, float) and raw.is_integer())):
        raise InsightsConfigError(
            "config.timezoneOffset",
            "must be an integer number of minutes behind UTC "
            "(JavaScript's new Date().getTimezoneOffset(), e.g. 480 for UTC-08:00)",
        )
    if abs(raw) > MAX_TIMEZONE_OFFSET_MINUTES:
        raise InsightsConfigError(
            "config.timezoneOffset",
            f"must be within ±{MAX_TIMEZONE_OFFSET_MINUTES} minutes, got {raw}",
        )
    return int(raw)


def _parse_tracker(index: int, raw: Any) -> Tracker:
    where = f"trackers[{index}]"
    if not isinstance(raw, Mapping):
        raise InsightsConfigError(where, "must be an object with 'name' and 'vocabulary'")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InsightsConfigError(f"{where}.name", "must be a non-empty string")
    vocabulary = raw.get("vocabulary")
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence):
        raise InsightsConfigError(f"{where}.vocabulary", "must be a list of phrases")
    if len(vocabulary) > MAX_VOCABULARY:
        raise InsightsConfigError(f"{where}.vocabulary", f"at most {MAX_VOCABULARY} phrases")
    phrases: list[str] = []
    for j, phrase in enumerate(vocabulary):
        if not isinstance(phrase, str):
            raise InsightsConfigError(f"{where}.vocabulary[{j}]", "must be a string")
        if phrase.strip():
            phrases.append(phrase.strip())
    # An empty vocabulary (or one of blank strings) is accepted and simply never matches:
    # clients build tracker lists programmatically and a still-empty tracker is not an error
    # worth refusing a whole session over.
    return Tracker(name=name.strip(), vocabulary=tuple(phrases))


def _parse_trackers(raw: Any, default: tuple[Tracker, ...]) -> tuple[Tracker, ...]:
    if raw is None:
        return default
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InsightsConfigError("trackers", "must be a list of {name, vocabulary} objects")
    if len(raw) > MAX_TRACKERS:
        raise InsightsConfigError("trackers", f"at most {MAX_TRACKERS} trackers")
    return tuple(_parse_tracker(i, item) for i, item in enumerate(raw))


def parse_insights_config(
    start: Mapping[str, Any], defaults: InsightsConfig = GATEWAY_DEFAULTS
) -> InsightsConfig:
    """Read the insight-related parts of a Symbl-style start_request; ignore the rest.

    A field that is absent (or null) takes its value from ``defaults``: the gateway's own
    page relies on ``GATEWAY_DEFAULTS`` (every type), the Symbl-compatible WebSocket API
    passes ``SYMBL_DEFAULTS`` so a body Symbl answered without insights still gets none.
    """
    if not isinstance(start, Mapping):
        raise InsightsConfigError("$", "start config must be a JSON object")
    config = start.get("config")
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InsightsConfigError("config", "must be an object")
    return InsightsConfig(
        insight_types=_parse_insight_types(start.get("insightTypes"), defaults.insight_types),
        confidence_threshold=_parse_threshold(
            config.get("confidenceThreshold"), defaults.confidence_threshold
        ),
        timezone_offset_minutes=_parse_timezone_offset(
            config.get("timezoneOffset"), defaults.timezone_offset_minutes
        ),
        trackers=_parse_trackers(start.get("trackers"), defaults.trackers),
    )
