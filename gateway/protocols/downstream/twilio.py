"""Twilio Media Streams, as Twilio sends them to a WebSocket server.

Source: https://www.twilio.com/docs/voice/media-streams/websocket-messages. All JSON text
frames; every number-like value is a *string* except ``mediaFormat.sampleRate`` and
``mediaFormat.channels``:

* ``connected`` (first, no sequenceNumber):
  ``{"event":"connected","protocol":"Call","version":"1.0.0"}``
* ``start`` (sequenceNumber "1"): ``start.{accountSid, streamSid, callSid, tracks,
  customParameters, mediaFormat{encoding:"audio/x-mulaw", sampleRate:8000, channels:1}}``
  and a top-level ``streamSid``
* ``media``: ``media.{track, chunk, timestamp, payload}`` (chunk counts from "1" per track,
  timestamp is milliseconds since the stream start, payload base64 mu-law 8 kHz mono)
* ``mark``: ``mark.{name}``; ``stop``: ``stop.{accountSid, callSid}``; both carry streamSid

``sequenceNumber`` counts every message after ``connected`` from "1". Payloads are 20 ms
(160 bytes), as Twilio sends them. A participant is one stream with the ``inbound`` track;
``tracks="both"`` carries a two-party conversation on one stream (first participant
``inbound``, the others mixed as ``outbound``), as Twilio's ``both_tracks`` does.

A server on a bidirectional stream may send ``media`` (audio for the caller: counted, not
forwarded, never played), ``mark`` (answered at once with the same name, since nothing is
buffered for playback) and ``clear``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

import numpy as np

from gateway.pipeline.g711 import ulaw_encode

from .audio import DEFAULT_MAX_FILL, Framer, WireAudio
from .base import (
    AudioChunk,
    Frame,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
    compact_json,
)

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
TRACKS = ("inbound", "outbound")


def sid(prefix: str, key: str) -> str:
    """A Twilio-shaped SID (two letters, 32 hex digits), stable for ``key``."""
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:32]


class TwilioDownstream(ProtocolBase):
    """One Twilio Media Stream per connection."""

    name = "twilio"

    def __init__(self, info: StreamInfo, *, label: str | None = None,
                 tracks: Literal["inbound", "both"] = "inbound",
                 max_fill: float = DEFAULT_MAX_FILL) -> None:
        super().__init__(info, label=label)
        if info.sample_rate not in (None, RATE):
            raise ProtocolConfigError("twilio: Media Streams carry mu-law at 8000 Hz only")
        if tracks not in ("inbound", "both"):
            raise ProtocolConfigError(f"twilio: tracks must be 'inbound' or 'both', not {tracks!r}")
        self.channels = 2 if tracks == "both" else 1
        self.mixes = self.channels == 2
        self.tracks = list(TRACKS[: self.channels])
        scope = f"{info.conversation_id}/{info.participant_id or '*'}"
        self.stream_sid = info.stream_id or sid("MZ", f"stream:{scope}")
        self.call_sid = info.call_id or sid("CA", f"call:{info.conversation_id}")
        self.account_sid = info.account_id or sid("AC", "account:gateway")
        self._wire = WireAudio(RATE, self.channels, max_fill=max_fill)
        self._framer = Framer(FRAME_SAMPLES, self.channels)
        self._sequence = 0
        self._chunks = [0] * self.channels
        self.audio_replies = 0  # server media messages (audio for playback), not forwarded

    def opening(self) -> list[Frame]:
        self.connections += 1
        self._wire.restart()
        self._framer.reset()
        self._sequence = 0
        self._chunks = [0] * self.channels
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = self._message("start", {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": self.tracks,
            "customParameters": self._custom_parameters(),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
        })
        return [compact_json(connected), start]

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        return self._media(self._framer.push(self._wire.convert(chunk)))

    def mark(self, name: str) -> list[Frame]:
        return [self._message("mark", {"name": name})]

    def closing(self) -> list[Frame]:
        frames = self._framer.push(self._wire.flush()) + self._framer.flush(pad=True)
        media = self._media(frames)  # numbered before the stop that follows them
        stop = self._message("stop", {"accountSid": self.account_sid, "callSid": self.call_sid})
        return [*media, stop]

    def on_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        event = message.get("event")
        if event == "media":
            self.audio_replies += 1
            return None
        if event == "mark":
            name = (message.get("mark") or {}).get("name")
            if isinstance(name, str):
                self._outbox.extend(self.mark(name))
        return self.tag(message)

    def _message(self, event: str, body: dict[str, Any]) -> str:
        self._sequence += 1
        return compact_json({"event": event, "sequenceNumber": str(self._sequence),
                             event: body, "streamSid": self.stream_sid})

    def _media(self, frames: list[tuple[int, bytes]]) -> list[Frame]:
        out: list[Frame] = []
        for position, pcm in frames:
            planes = [pcm] if self.channels == 1 else \
                [p.tobytes() for p in np.frombuffer(pcm, "<i2").reshape(-1, 2).T]
            for index, plane in enumerate(planes):
                self._chunks[index] += 1
                out.append(self._message("media", {
                    "track": self.tracks[index],
                    "chunk": str(self._chunks[index]),
                    "timestamp": str(position * 1000 // RATE),
                    "payload": base64.b64encode(ulaw_encode(plane)).decode("ascii"),
                }))
        return out

    def _custom_parameters(self) -> dict[str, str]:
        """``<Parameter>`` values arrive as strings (other values as compact JSON); ours say
        which call and speaker this is."""
        info, speaker = self.info, self.info.speaker
        params = {"conversationId": info.conversation_id,
                  "participantId": info.participant_id,
                  "speakerName": speaker.name if speaker else None,
                  "speakerUserId": speaker.user_id if speaker else None,
                  "meetingTitle": info.meeting_title}
        params.update({str(k): v for k, v in info.metadata.items()})
        return {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                for k, v in params.items() if v is not None}
