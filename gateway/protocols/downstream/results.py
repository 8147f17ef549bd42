"""The results relay (docs/relay.md) as one more downstream protocol: results, no audio.

A conversation-level stream: every connection opens with ``conversation_started``, then
carries the conversation's result messages exactly as serialised once for every output
(``Result.text``), and ends with ``conversation_ended``. Lifecycle results that the
envelope already says (``conversation_started``, ``conversation_ended``) are not repeated;
``participant_joined`` / ``participant_left`` are relayed like any result.

The envelope bodies here are the documented ones; when the lead's builders land in
gateway/protocols/relay.py, ``started_body`` / ``ended_body`` should call them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from .base import AudioChunk, Frame, ProtocolBase, StreamInfo, compact_json

ENVELOPE_TYPES = ("conversation_started", "conversation_ended")


class ResultLike(Protocol):
    """What this module needs of gateway.outputs.result.Result."""

    @property
    def body(self) -> Mapping[str, Any]: ...

    @property
    def text(self) -> str: ...

    @property
    def kind(self) -> str: ...


def iso_time(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds and Z, as every gateway timestamp."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def started_body(info: StreamInfo) -> dict[str, Any]:
    return {"type": "conversation_started", "conversationId": info.conversation_id,
            "meetingTitle": info.meeting_title,
            "startTime": iso_time(info.started_at or time.time())}


def ended_body(info: StreamInfo, ended_at: float) -> dict[str, Any]:
    return {"type": "conversation_ended", "conversationId": info.conversation_id,
            "endTime": iso_time(ended_at)}


class ResultsRelay(ProtocolBase):
    """A conversation's results to a downstream analytics WebSocket."""

    name = "results"
    mixes = True  # one connection per conversation (it carries results, not audio)

    def __init__(self, info: StreamInfo, *, label: str | None = None) -> None:
        super().__init__(info, label=label)
        self._started = compact_json(started_body(info))

    def opening(self) -> list[Frame]:
        self.connections += 1
        return [self._started]

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        """No audio goes to a results relay."""
        return []

    def result(self, result: ResultLike) -> list[Frame]:
        if result.kind == "lifecycle" and result.body.get("type") in ENVELOPE_TYPES:
            return []
        return [result.text]

    def closing(self) -> list[Frame]:
        return [compact_json(ended_body(self.info, time.time()))]
