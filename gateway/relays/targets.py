"""A downstream target: where one stream's audio goes, in which protocol, with which options.

Targets come from two places with one vocabulary: the deployment's ``--downstream`` flags
(named, may carry a token) and a client's start config (named configured ones, or a URL the
allow-list admits). Options are validated when the target is made, by building the protocol
once, so a wrong option is a clear error at start (a flag error, or ``invalid_config``),
never a surprise mid-call. Option names are the JSON names clients use:

==============  =========================  ===========================================
option          protocols                  meaning
==============  =========================  ===========================================
sampleRate      vosk, symbl, jambonz       wire sample rate (each protocol checks it)
tracks          twilio                     "inbound" (one participant) or "both"
mixType         jambonz                    "mono", "mixed" or "stereo"
words           vosk                       word times in vosk-server's answers
phraseList      vosk                       a grammar (list of phrases)
insightTypes    symbl                      start_request insightTypes
languageCode    symbl                      start_request config.languageCode
metadata        twilio, jambonz            extra customParameters / metadata fields
==============  =========================  ===========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal
from urllib.parse import quote

from yarl import URL

from gateway.protocols.downstream import (
    PROTOCOLS,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
    make_protocol,
)
from gateway.transcript import Speaker

from .allow import AllowList, parse_ws_url

Select = Literal["always", "default", "request"]
SELECTS: tuple[Select, ...] = ("always", "default", "request")
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PLACEHOLDERS = ("{conversationId}", "{participantId}", "{streamId}")
SESSION_KEYS = ("downstreams", "conversationId")  # this gateway's own start-config keys
MAX_TEXT = 256
MAX_LIST = 200
# option -> (make_protocol keyword, expected JSON type); None: not a protocol keyword
OPTIONS: dict[str, tuple[str | None, type]] = {
    "sampleRate": (None, int),
    "tracks": ("tracks", str),
    "mixType": ("mix_type", str),
    "words": ("words", bool),
    "phraseList": ("phrase_list", list),
    "insightTypes": ("insight_types", list),
    "languageCode": ("language_code", str),
    "metadata": (None, dict),
}


class TargetError(ValueError):
    """A target that cannot be used; ``field`` is where (``downstreams[0].options.tracks``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_options(protocol: str, options: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The options, type-checked and accepted by ``protocol``'s specification."""
    if protocol not in PROTOCOLS:
        raise TargetError(f"{path}.protocol", f"unknown downstream protocol {protocol!r} "
                          f"(known: {', '.join(sorted(PROTOCOLS))})")
    out: dict[str, Any] = {}
    for key, value in options.items():
        spec = OPTIONS.get(key)
        where = f"{path}.options.{key}"
        if spec is None:
            raise TargetError(where, f"unknown option (known: {', '.join(OPTIONS)})")
        _kind = spec[1]
        if _kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise TargetError(where, f"must be an integer, got {type(value).__name__}")
        if not isinstance(value, _kind):
            raise TargetError(where, f"must be {_kind.__name__}, got {type(value).__name__}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise TargetError(where, f"must be at most {MAX_TEXT} characters")
        if isinstance(value, list):
            if len(value) > MAX_LIST or not all(
                    isinstance(v, str) and len(v) <= MAX_TEXT for v in value):
                raise TargetError(where, f"must be a list of at most {MAX_LIST} strings")
            value = tuple(value)
        if isinstance(value, dict):
            if len(value) > 32 or not all(
                    isinstance(k, str) and len(k) <= 64 and isinstance(v, str | int | float | bool)
                    and len(str(v)) <= MAX_TEXT for k, v in value.items()):
                raise TargetError(where, "must map at most 32 names to strings, numbers or "
                                  "booleans")
            value = dict(value)
        out[key] = value
    try:
        probe = Target("probe", protocol, "ws://probe.invalid/", out)
        probe.build(probe.stream_info("probe", participant_id="probe",
                                      speaker=Speaker(name="probe")))
    except ProtocolConfigError as exc:
        raise TargetError(f"{path}.options", str(exc)) from None
    return out


@dataclass(frozen=True)  # no slots: ``mixes`` is cached in the instance dict
class Target:
    """One downstream, ready to build a protocol object per stream."""

    label: str
    protocol: str
    url: str                                 # may hold PLACEHOLDERS
    options: Mapping[str, Any] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False)
    source: Literal["deployment", "client"] = "deployment"
    select: Select = "default"

    @property
    def key(self) -> tuple[str, ...]:
        """Streams with the same key share one conversation-level connection."""
        if self.source == "deployment":
            return ("deployment", self.label)
        return ("client", self.protocol, self.url, repr(sorted(self.options.items())))

    @cached_property
    def mixes(self) -> bool:
        """Whether one connection carries the whole conversation (mixed, both tracks,
        stereo, results) rather than one participant."""
        return bool(self.build(self.stream_info("probe")).mixes)

    @property
    def carries_results(self) -> bool:
        return self.protocol == "results"

    def build(self, info: StreamInfo, *, start: Mapping[str, Any] | None = None) -> ProtocolBase:
        """The protocol object of one stream. ``start`` is the session's start config: a
        Symbl downstream opens with it as its ``start_request`` (Symbl clients migrating
        here keep their settings when relayed on to another Symbl-compatible service)."""
        kwargs: dict[str, Any] = {"label": self.label}
        if self.protocol == "symbl" and start:
            kwargs["start"] = {k: v for k, v in start.items() if k not in SESSION_KEYS}
        for key, value in self.options.items():
            keyword = OPTIONS[key][0]
            if keyword is not None:
                kwargs[keyword] = list(value) if isinstance(value, tuple) else value
        return make_protocol(self.protocol, info, **kwargs)

    def stream_info(self, conversation_id: str, *, participant_id: str | None = None,
                    speaker: Speaker | None = None, meeting_title: str | None = None,
                    started_at: float = 0.0) -> StreamInfo:
        return StreamInfo(conversation_id, participant_id, speaker=speaker,
                          meeting_title=meeting_title,
                          sample_rate=self.options.get("sampleRate"),
                          started_at=started_at, metadata=dict(self.options.get("metadata", {})))

    def url_for(self, info: StreamInfo) -> str:
        """The URL of one stream: placeholders replaced (percent-encoded); a results relay
        without a placeholder gets ``conversationId=`` in its query, as ``--relay-url``."""
        values = {"{conversationId}": info.conversation_id,
                  "{participantId}": info.participant_id or "",
                  "{streamId}": str(info.derived_id("stream"))}
        url = self.url
        if self.carries_results and not any(p in url for p in PLACEHOLDERS):
            return str(URL(url).update_query(conversationId=info.conversation_id))
        for placeholder, value in values.items():
            url = url.replace(placeholder, quote(value, safe=""))
        return url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def template_url(text: str, path: str, allow: AllowList | None = None) -> str:
    """Check a URL template (placeholders stand for harmless values while checking): a
    ws/wss URL, and, with ``allow``, one the allow-list admits. Returns it stripped."""
    probe = text
    for placeholder in PLACEHOLDERS:
        probe = probe.replace(placeholder, "x")
    try:
        if allow is not None:
            allow.check(probe)
        else:
            parse_ws_url(probe)
    except ValueError as exc:
        raise TargetError(path, str(exc)) from None
    return text.strip()


def check_name(name: object, path: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise TargetError(path, "must be 1-64 letters, digits, '.', '_' or '-'")
    return name
