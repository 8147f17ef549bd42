"""The client's start configuration: the parts of Symbl's ``start_request`` that apply here.

Clients migrating from Symbl send the same body they used to send as ``start_request``,
now as the ``config`` of their offer. Unknown keys are ignored (Symbl clients send
``speechRecognition``, ``customVocabulary`` and more that mean nothing to a WebRTC gateway);
known keys with the wrong type are rejected so a typo never silently changes behaviour.
Insight and tracker settings are validated by ``gateway.insights``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.relays.targets import TargetError
from gateway.transcript import Speaker

if TYPE_CHECKING:
    from gateway.relays.choice import DownstreamPolicy
    from gateway.relays.targets import Target

MAX_TEXT_FIELD = 256
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ConfigError(ValueError):
    """A start configuration field is wrong; ``field`` is its JSON path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class StartConfig:
    speaker: Speaker
    language_code: str | None
    meeting_title: str | None
    raw: Mapping[str, Any]
    conversation_id: str | None = None
    # The downstreams this session's audio goes to (gateway/relays/choice.py); None when
    # parsed without the deployment's policy (then the relays resolve them later).
    downstreams: tuple[Target, ...] | None = None
    # Set by the gateway, never by the client: the tenant a new conversation is created in
    # (the tenant of the token that opened it, docs/access-control.md).
    tenant: str | None = None
    # Set by the gateway: the Symbl connectionId this conversation is opened under (its id
    # is another), so the conversation remembers it (gateway/outputs/base.py).
    connection_id: str | None = None


def _optional_str(container: Mapping[str, Any], key: str, path: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_FIELD:
        raise ConfigError(path, f"must be at most {MAX_TEXT_FIELD} characters")
    return value


def _object(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be an object, got {type(value).__name__}")
    return value


def parse_start_config(raw: Any, *, downstreams: DownstreamPolicy | None = None) -> StartConfig:
    """Validate the offer's ``config``; ``None`` means all defaults.

    ``languageCode`` and ``meetingTitle`` are accepted at the top level and inside the
    nested ``config`` object, because Symbl's own examples used both placements.
    With ``downstreams`` (the deployment's policy, ``Relays.policy``) the session's
    ``downstreams`` choice is resolved here, so a name that is not configured or a URL
    outside the allow-list is an ``invalid_config`` like any other field.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("config", f"must be an object, got {type(raw).__name__}")
    inner = _object(raw, "config", "config.config")
    speaker_raw = _object(raw, "speaker", "config.speaker")
    speaker = Speaker(
        user_id=_optional_str(speaker_raw, "userId", "config.speaker.userId"),
        name=_optional_str(speaker_raw, "name", "config.speaker.name"),
    )
    language = _optional_str(raw, "languageCode", "config.languageCode") or _optional_str(
        inner, "languageCode", "config.config.languageCode"
    )
    title = _optional_str(raw, "meetingTitle", "config.meetingTitle") or _optional_str(
        inner, "meetingTitle", "config.config.meetingTitle"
    )
    conversation_id = _optional_str(raw, "conversationId", "config.conversationId")
    if conversation_id is not None and not CONVERSATION_ID.match(conversation_id):
        raise ConfigError(
            "config.conversationId",
            "must be 1-128 characters of letters, digits, '.', '_', ':' or '-'",
        )
    targets = None
    if downstreams is not None:
        try:
            targets = downstreams.resolve(raw.get("downstreams"))
        except TargetError as exc:
            raise ConfigError(exc.field, exc.message) from None
    return StartConfig(speaker=speaker, language_code=language, meeting_title=title, raw=raw,
                       conversation_id=conversation_id, downstreams=targets)


def language_matches(requested: str, served: str) -> bool:
    """``en``, ``en-US`` and ``en_us`` all match a model serving ``en-US``."""
    req = requested.replace("_", "-").lower()
    have = served.replace("_", "-").lower()
    return req == have or req == have.split("-")[0]


class UnsupportedLanguage(ValueError):
    """The client asked for a language this gateway's model does not recognise."""


def check_language(start: StartConfig, served: str) -> None:
    """Raise ``UnsupportedLanguage`` unless ``start.language_code`` matches ``served``."""
    if start.language_code and not language_matches(start.language_code, served):
        raise UnsupportedLanguage(
            f"languageCode {start.language_code!r} is not served here; "
            f"this gateway's model recognises {served}")
