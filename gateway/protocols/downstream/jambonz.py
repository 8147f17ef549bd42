"""jambonz ``listen``: the ``audio.jambonz.org`` WebSocket subprotocol.

Sources: docs.jambonz.org "listen" (jambonz/jambonz-docs), jambonz-feature-server
lib/tasks/listen.js and lib/session/call-info.js, freeswitch-modules mod_audio_fork.

* The client opens the WebSocket with subprotocol ``audio.jambonz.org``.
* First, one text frame: a JSON object with the call's attributes as in jambonz webhooks
  (``callSid``, ``direction``, ``from``, ``to``, ``callId``, ``sipStatus``, ``sipReason``,
  ``callStatus``, ``callerId``, ``accountSid``, ``applicationSid``) plus ``sampleRate`` and
  ``mixType``; the verb's ``metadata`` object is merged in at the top level.
* Then only binary frames: 16-bit PCM, little-endian, at ``sampleRate`` (8000 by default in
  jambonz; 8000, 16000, 24000, 48000 or 64000). ``mixType`` ``mono`` is one channel of one
  party, ``mixed`` both parties summed into one channel, ``stereo`` two interleaved channels
  (the caller left, the other party right). Frames here are 20 ms, as mod_audio_fork
  packetises; there is no goodbye message, the connection is closed (code 1000).
* The server may send JSON text commands ``{"type": ..., "data": {...}}``: ``playAudio``
  (base64 audio to play: counted, forwarded without the audio), ``killAudio``, ``mark``
  (answered at once with ``{"type":"mark","data":{"name":...,"event":"playout"}}``, since
  nothing is buffered for playback), ``clearMarks``, ``disconnect`` (ends the stream: no
  reconnect), ``transcription``, ``transfer``, ``json``, ``error``; and binary frames of
  L16 audio (bidirectional streaming): counted, never forwarded.
"""

from __future__ import annotations

from typing import Any, Literal

from .audio import DEFAULT_MAX_FILL, Framer, WireAudio
from .base import (
    AudioChunk,
    Frame,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
    compact_json,
)

SUBPROTOCOL = "audio.jambonz.org"
SAMPLE_RATES = (8000, 16000, 24000, 48000, 64000)
DEFAULT_RATE = 16000  # the gateway has wideband audio; jambonz itself defaults to 8000
MixType = Literal["mono", "mixed", "stereo"]


class JambonzDownstream(ProtocolBase):
    """A participant (``mono``) or a whole conversation (``mixed``, ``stereo``) per connection."""

    name = "jambonz"
    subprotocols: tuple[str, ...] = (SUBPROTOCOL,)

    def __init__(self, info: StreamInfo, *, label: str | None = None,
                 mix_type: MixType = "mono", max_fill: float = DEFAULT_MAX_FILL) -> None:
        super().__init__(info, label=label)
        if mix_type not in ("mono", "mixed", "stereo"):
            raise ProtocolConfigError(f"jambonz: mixType must be mono, mixed or stereo, "
                                      f"not {mix_type!r}")
        self.sample_rate = info.sample_rate or DEFAULT_RATE
        if self.sample_rate not in SAMPLE_RATES:
            raise ProtocolConfigError(f"jambonz: sampleRate {self.sample_rate} is not one of "
                                      f"{', '.join(map(str, SAMPLE_RATES))}")
        self.mix_type = mix_type
        self.channels = 2 if mix_type == "stereo" else 1
        self.mixes = mix_type != "mono"
        self._wire = WireAudio(self.sample_rate, self.channels, max_fill=max_fill)
        self._framer = Framer(self.sample_rate // 50, self.channels)
        self.audio_replies = 0  # playAudio commands (audio is never played here)

    def opening(self) -> list[Frame]:
        self.connections += 1
        self._wire.restart()
        self._framer.reset()
        return [compact_json(self.metadata())]

    def metadata(self) -> dict[str, Any]:
        """The initial text frame: call attributes, sampleRate, mixType, then metadata."""
        info, speaker = self.info, self.info.speaker
        caller = (speaker and (speaker.user_id or speaker.name)) or info.participant_id or \
            "conversation"
        payload: dict[str, Any] = {
            "sampleRate": self.sample_rate,
            "mixType": self.mix_type,
            "callSid": info.call_id or str(info.derived_id("call")),
            "direction": "inbound",
            "from": caller,
            "to": info.conversation_id,
            "callId": info.conversation_id,
            "sipStatus": 200,
            "sipReason": "OK",
            "callStatus": "in-progress",
            "callerId": (speaker and speaker.name) or caller,
            "accountSid": info.account_id or str(info.derived_id("account")),
            "applicationSid": str(info.derived_id("application")),
            "conversationId": info.conversation_id,
        }
        if info.participant_id is not None:
            payload["participantId"] = info.participant_id
        if speaker is not None:
            payload["speaker"] = speaker.to_json()
        if info.meeting_title is not None:
            payload["meetingTitle"] = info.meeting_title
        payload.update(info.metadata)
        # jambonz lets metadata override anything; here the audio description stays true
        payload.update(sampleRate=self.sample_rate, mixType=self.mix_type)
        return payload

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        return [pcm for _, pcm in self._framer.push(self._wire.convert(chunk))]

    def closing(self) -> list[Frame]:
        frames = self._framer.push(self._wire.flush()) + self._framer.flush(pad=False)
        return [pcm for _, pcm in frames]

    def on_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        kind = message.get("type")
        raw = message.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == "playAudio":
            self.audio_replies += 1
            stripped = {k: v for k, v in data.items() if k != "audioContent"}
            return self.tag({**message, "data": stripped})
        if kind == "mark" and isinstance(data.get("name"), str):
            self._outbox.append(compact_json(
                {"type": "mark", "data": {"name": data["name"], "event": "playout"}}))
        elif kind == "disconnect":
            self.ended = True
        return self.tag(message)
