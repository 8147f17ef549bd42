"""Symbl's real-time (Streaming) API, spoken as a client.

Source: symblai/symbl-docs docs/streamingapi/reference/reference.md. The endpoint is
``wss://…/v1/streaming/{connectionId}?access_token=…`` (the URL is the deployment's).

* First a text frame ``start_request``: ``{"type": "start_request", "insightTypes": [...],
  "config": {"confidenceThreshold", "languageCode", "meetingTitle", "speechRecognition":
  {"encoding": "LINEAR16", "sampleRateHertz": N}}, "speaker": {"userId", "name"}}``
  (plus optional ``customVocabulary``, ``trackers``, ``noConnectionTimeout``, …). Audio sent
  before it is ignored by the service.
* Then binary frames of audio, at most 8,192 bytes each: here LINEAR16 (s16le mono) at
  ``sampleRateHertz`` (8000..48000; 16000 by default).
* Last ``{"type": "stop_request"}``; the service then stops and closes the connection.

Everything the service sends is JSON with a ``type`` (``message`` with ``started``,
``recognition_started``, ``recognition_result``, ``recognition_stopped``,
``conversation_completed``; ``message_response``, ``insight_response``, ``topic_response``,
``tracker_response``, ``error``) and is forwarded. The gateway's own Symbl-compatible
endpoint is a valid downstream (gateway A relaying to gateway B).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.pipeline.pcm import TARGET_RATE

from .audio import DEFAULT_MAX_FILL, WireAudio
from .base import (
    AudioChunk,
    Frame,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
    compact_json,
)

MAX_AUDIO_FRAME = 8192  # bytes, the documented maximum of one audio message
ENDING_MESSAGES = ("recognition_stopped", "conversation_completed")


class SymblDownstream(ProtocolBase):
    """One participant's audio as one Symbl Streaming API connection (one speaker)."""

    name = "symbl"
    server_closes = True  # it answers the goodbye with the last results, then closes

    def __init__(self, info: StreamInfo, *, label: str | None = None,
                 start: Mapping[str, Any] | None = None,
                 insight_types: Sequence[str] = ("question", "action_item"),
                 language_code: str | None = None,
                 max_fill: float = DEFAULT_MAX_FILL) -> None:
        super().__init__(info, label=label)
        self.sample_rate = info.sample_rate or TARGET_RATE
        if not 8000 <= self.sample_rate <= 48000:
            raise ProtocolConfigError(
                f"symbl: LINEAR16 sampleRateHertz must be 8000..48000, not {self.sample_rate}")
        self._start = self._start_request(start or {}, insight_types, language_code)
        self._wire = WireAudio(self.sample_rate, max_fill=max_fill)

    @property
    def start_request(self) -> dict[str, Any]:
        return copy.deepcopy(self._start)

    def _start_request(self, base: Mapping[str, Any], insight_types: Sequence[str],
                       language_code: str | None) -> dict[str, Any]:
        """The caller's body (e.g. a client's own Symbl config) completed with what this
        stream is: the audio format is always ours, speaker and title default to the
        stream's."""
        request: dict[str, Any] = copy.deepcopy(dict(base))
        request["type"] = "start_request"
        request.setdefault("insightTypes", list(insight_types))
        config = request.setdefault("config", {})
        if not isinstance(config, dict):
            raise ProtocolConfigError("symbl: start_request config must be an object")
        if language_code:
            config.setdefault("languageCode", language_code)
        if self.info.meeting_title is not None:
            config.setdefault("meetingTitle", self.info.meeting_title)
        config["speechRecognition"] = {"encoding": "LINEAR16",
                                       "sampleRateHertz": self.sample_rate}
        speaker = self.info.speaker
        if "speaker" not in request and speaker is not None:
            request["speaker"] = {k: v for k, v in
                                  (("userId", speaker.user_id), ("name", speaker.name)) if v}
        return request

    def opening(self) -> list[Frame]:
        self.connections += 1
        self._wire.restart()
        return [compact_json(self._start)]

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        return self._frames(self._wire.convert(chunk))

    def closing(self) -> list[Frame]:
        return [*self._frames(self._wire.flush()), compact_json({"type": "stop_request"})]

    def on_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        inner = message.get("message")
        if message.get("type") == "message" and isinstance(inner, dict) and \
                inner.get("type") in ENDING_MESSAGES:
            self.ended = True
        return self.tag(message)

    @staticmethod
    def _frames(pieces: list[tuple[int, bytes]]) -> list[Frame]:
        return [pcm[i: i + MAX_AUDIO_FRAME] for _, pcm in pieces
                for i in range(0, len(pcm), MAX_AUDIO_FRAME)]
