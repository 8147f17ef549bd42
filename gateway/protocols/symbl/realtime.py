"""Symbl's streaming socket, client side: every text message a client sends, typed.

The reference is ``docs/streamingapi/reference/reference.md`` in ``symblai/symbl-docs``;
NOTES-symbl.md lists every field with its source. What the clients really sent is wider
than the reference, and all of it is accepted:

* ``config.encoding`` / ``config.sampleRateHertz`` beside (not inside)
  ``config.speechRecognition``, as the JS SDK docs show them;
* ``meetingTitle`` at the top level, as Symbl's WebSocket tutorials put it;
* ``null`` for any optional field (the Python SDK sends ``"speaker": null``);
* ``noConnectionTimeout: true`` (the Go SDK declares the field a bool);
* the Python SDK's stop, which is a Python ``repr`` (``{'type': 'stop_request'}``), not JSON;
* the JS SDK's keep-alive text ``__PING__`` (answered with ``__PONG__``).

Unknown keys are ignored. A known key with a wrong type is a :class:`RealtimeError` naming
it; the socket stays usable (``fatal`` False), so the client may send a corrected message.
Insight settings are validated by :func:`gateway.insights.parse_insights_config`, the one
place that knows them; on this endpoint a missing ``insightTypes`` means none, as Symbl's
reference says ("If not provided, no insights will be returned").
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.insights import (
    SYMBL_DEFAULTS,
    InsightsConfig,
    InsightsConfigError,
    parse_insights_config,
)
from gateway.transcript import Speaker

from .audio_format import AudioFormat, audio_format
from .errors import RealtimeError

__all__ = [
    "DEFAULT_DISCONNECT_ON_STOP_TIMEOUT",
    "DEFAULT_LANGUAGE",
    "DEFAULT_NO_CONNECTION_TIMEOUT",
    "MAX_AUDIO_FRAME_BYTES",
    "MAX_TEXT_FRAME_BYTES",
    "MAX_TIMEOUT_SECONDS",
    "PING_TEXT",
    "PONG_TEXT",
    "ClientMessage",
    "ModifyRequest",
    "Ping",
    "StartRequest",
    "StopRequest",
    "insights_body",
    "parse_client_text",
    "parse_start_request",
    "symbl_insights",
]

# "The maximum size of a single audio chunk is 8,192 bytes." (reference, "Binary Message")
MAX_AUDIO_FRAME_BYTES = 8192
# A start_request with hundreds of trackers is a few hundred KiB; nothing legitimate is more.
MAX_TEXT_FRAME_BYTES = 1 << 20
# noConnectionTimeout and disconnectOnStopRequestTimeout: "Between 0 to 1800 seconds".
MAX_TIMEOUT_SECONDS = 1800.0
DEFAULT_DISCONNECT_ON_STOP_TIMEOUT = 1800.0
# The reference gives no default: without it a dropped socket ends the conversation.
DEFAULT_NO_CONNECTION_TIMEOUT = 0.0
DEFAULT_LANGUAGE = "en-US"
MAX_TEXT_FIELD = 256
MAX_VOCABULARY = 1000
PING_TEXT = "__PING__"
PONG_TEXT = "__PONG__"
_PYTHON_LITERAL_MAX = 4096


@dataclass(frozen=True, slots=True)
class StartRequest:
    """``start_request``: what to recognise and how the connection behaves.

    ``timezone_offset`` stays in Symbl's sign (minutes *behind* UTC, like JavaScript's
    ``getTimezoneOffset``: 480 is UTC-8); the insights engine gets the raw body through
    ``insights``. ``raw`` is the message as received, for logs and relays.
    """

    audio: AudioFormat
    speaker: Speaker
    insights: InsightsConfig
    language_code: str
    meeting_title: str | None
    timezone_offset: int | None
    custom_vocabulary: tuple[str, ...]
    no_connection_timeout: float
    disconnect_on_stop: bool
    disconnect_on_stop_timeout: float
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StopRequest:
    """``stop_request``: flush, send the closing messages, then close or idle."""


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """``modify_request``: new audio settings after a device change (either may be None)."""

    encoding: str | None
    sample_rate: int | float | None

    def apply(self, current: AudioFormat) -> AudioFormat:
        """The format after this change; raises :class:`RealtimeError` if it is not one we take."""
        encoding = self.encoding if self.encoding is not None else current.encoding
        rate = self.sample_rate if self.sample_rate is not None else current.sample_rate
        return audio_format(encoding, rate, where="speechRecognition")


@dataclass(frozen=True, slots=True)
class Ping:
    """The JS SDK's keep-alive; answer with the text :data:`PONG_TEXT`."""


ClientMessage = StartRequest | StopRequest | ModifyRequest | Ping
InsightsParser = Callable[[Mapping[str, Any]], InsightsConfig]


def insights_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``start_request`` with ``insightTypes`` made explicit (``null`` or absent: none).

    Whoever parses insight settings from it (with any defaults) then reads Symbl's meaning.
    """
    out = dict(body)
    if out.get("insightTypes") is None:
        out["insightTypes"] = []
    return out


def symbl_insights(body: Mapping[str, Any]) -> InsightsConfig:
    """Insight settings with Symbl's defaults (no insight types unless asked for)."""
    return parse_insights_config(body, defaults=SYMBL_DEFAULTS)


def _bad(field: str, message: str) -> RealtimeError:
    return RealtimeError("invalid_start_request", f"{field}: {message}", field=field)


def _object(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(path, f"must be an object, got {type(value).__name__}")
    return value


def _text(container: Mapping[str, Any], key: str, path: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path, f"must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_FIELD:
        raise _bad(path, f"must be at most {MAX_TEXT_FIELD} characters")
    return value


def _seconds(value: Any, path: str, default: float, *, bool_means: float | None = None
             ) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        if bool_means is None:
            raise _bad(path, "must be a number of seconds, got bool")
        return bool_means if value else 0.0
    if not isinstance(value, int | float) or value != value:
        raise _bad(path, f"must be a number of seconds, got {type(value).__name__}")
    if not 0 <= value <= MAX_TIMEOUT_SECONDS:
        raise _bad(path, f"must be between 0 and {MAX_TIMEOUT_SECONDS:g} seconds, got {value}")
    return float(value)


def _vocabulary(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("customVocabulary", f"must be a list of strings, got {type(value).__name__}")
    if len(value) > MAX_VOCABULARY:
        raise _bad("customVocabulary", f"at most {MAX_VOCABULARY} entries")
    for i, item in enumerate(value):
        if not isinstance(item, str) or len(item) > MAX_TEXT_FIELD:
            raise _bad(f"customVocabulary[{i}]", f"must be a string of at most {MAX_TEXT_FIELD}")
    return tuple(value)


def parse_start_request(
    body: Mapping[str, Any], *, insights_parser: InsightsParser = symbl_insights
) -> StartRequest:
    """Validate a ``start_request`` body (already JSON-decoded, ``type`` already checked)."""
    config = _object(body, "config", "config")
    speech = _object(config, "speechRecognition", "config.speechRecognition")
    if speech:
        audio = audio_format(speech.get("encoding"), speech.get("sampleRateHertz"))
    else:  # the JS SDK's documented placement, which it moves into speechRecognition itself
        audio = audio_format(config.get("encoding"), config.get("sampleRateHertz"),
                             where="config")
    speaker_raw = _object(body, "speaker", "speaker")
    speaker = Speaker(user_id=_text(speaker_raw, "userId", "speaker.userId"),
                      name=_text(speaker_raw, "name", "speaker.name"))
    language = (_text(config, "languageCode", "config.languageCode")
                or _text(body, "languageCode", "languageCode") or DEFAULT_LANGUAGE)
    title = (_text(config, "meetingTitle", "config.meetingTitle")
             or _text(body, "meetingTitle", "meetingTitle"))
    offset = config.get("timezoneOffset")
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
        raise _bad("config.timezoneOffset", "must be a whole number of minutes")
    stop_flag = body.get("disconnectOnStopRequest")
    if stop_flag is not None and not isinstance(stop_flag, bool):
        raise _bad("disconnectOnStopRequest", f"must be true or false, got {stop_flag!r}"[:120])
    try:
        insights = insights_parser(insights_body(body))
    except InsightsConfigError as exc:
        raise _bad(exc.field, exc.message) from exc
    return StartRequest(
        audio=audio,
        speaker=speaker,
        insights=insights,
        language_code=language,
        meeting_title=title,
        timezone_offset=offset,
        custom_vocabulary=_vocabulary(body.get("customVocabulary")),
        no_connection_timeout=_seconds(
            body.get("noConnectionTimeout"), "noConnectionTimeout",
            DEFAULT_NO_CONNECTION_TIMEOUT, bool_means=MAX_TIMEOUT_SECONDS),
        disconnect_on_stop=True if stop_flag is None else stop_flag,
        disconnect_on_stop_timeout=_seconds(
            body.get("disconnectOnStopRequestTimeout"), "disconnectOnStopRequestTimeout",
            DEFAULT_DISCONNECT_ON_STOP_TIMEOUT),
        raw=body,
    )


def _parse_modify(body: Mapping[str, Any]) -> ModifyRequest:
    speech = body.get("speechRecognition")
    if speech is None:
        speech = _object(body, "config", "config").get("speechRecognition")
    if not isinstance(speech, Mapping) or not speech:
        raise RealtimeError(
            "invalid_modify_request",
            "modify_request needs a speechRecognition object",
            details='send {"type": "modify_request", "speechRecognition": '
            '{"encoding": "LINEAR16", "sampleRateHertz": 8000}}',
            field="speechRecognition",
        )
    encoding, rate = speech.get("encoding"), speech.get("sampleRateHertz")
    # Validate types and ranges now, against a neutral base, so a bad change fails here.
    audio_format(encoding if encoding is not None else "LINEAR16",
                 rate if rate is not None else 16000, where="speechRecognition")
    return ModifyRequest(encoding=encoding, sample_rate=rate)


def _python_literal(text: str) -> Any:
    """The Python SDK's ``str(dict)`` stop message; anything else stays unparsed."""
    if len(text) > _PYTHON_LITERAL_MAX or not text.lstrip().startswith("{"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def parse_client_text(
    text: str, *, insights_parser: InsightsParser = symbl_insights
) -> ClientMessage:
    """Parse one text frame. Raises :class:`RealtimeError` with Symbl's error shape."""
    if text == PING_TEXT:
        return Ping()
    if len(text) > MAX_TEXT_FRAME_BYTES:
        raise RealtimeError("message_too_large",
                            f"text message of {len(text)} characters is too large",
                            details=f"text messages are limited to {MAX_TEXT_FRAME_BYTES} bytes")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = _python_literal(text)
        if body is None:
            raise RealtimeError("bad_json", "message is not valid JSON",
                                details="text messages must be JSON objects with a 'type'"
                                ) from None
    if not isinstance(body, dict):
        raise RealtimeError("bad_message", f"message must be a JSON object, got "
                            f"{type(body).__name__}", details="send an object with a 'type'")
    kind = body.get("type")
    if kind == "start_request":
        return parse_start_request(body, insights_parser=insights_parser)
    if kind == "stop_request":
        return StopRequest()
    if kind == "modify_request":
        return _parse_modify(body)
    if not isinstance(kind, str):
        raise RealtimeError("bad_message", "message has no string 'type'",
                            details="type must be start_request, stop_request or modify_request",
                            field="type")
    raise RealtimeError("unknown_type", f"unknown message type {kind[:64]!r}",
                        details="type must be start_request, stop_request or modify_request",
                        field="type")
