"""vosk-server's WebSocket protocol (alphacep/vosk-server, websocket/asr_server.py).

The client sends one optional text frame ``{"config": {...}}`` before any audio (keys the
server reads: ``sample_rate``, ``words``, ``max_alternatives``, ``phrase_list``), then binary
PCM16 mono frames at that rate. The server answers **every** frame with exactly one JSON text:
``{"partial": "..."}`` while a phrase goes on, ``{"result": [...], "text": "..."}`` when it
ends one (``{"alternatives": [...]}`` with ``max_alternatives`` > 0), ``{"text": ""}`` for
nothing. End of stream is the text ``{"eof" : 1}``, compared *literally* (the space before
the colon matters; any other text is taken as audio or breaks the connection); the server
answers with the final result and closes. Servers since December 2023 also accept the
literal ``{"reset" : 1}``: final result, and the stream goes on. The C++ server reads no
config (its sample rate comes from its environment) and knows neither reset nor config.

This module is the wire format for both users of it: the ``vosk`` downstream (audio relayed
to a vosk-server, its transcripts forwarded to the client) and the remote recogniser
(gateway/asr/remote.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway.pipeline.pcm import BYTES_PER_SAMPLE, TARGET_RATE

from .audio import DEFAULT_MAX_FILL, WireAudio
from .base import (
    AudioChunk,
    Frame,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
)

EOF_TEXT = '{"eof" : 1}'
RESET_TEXT = '{"reset" : 1}'
MAX_FRAME_SECONDS = 1.0  # the server answers per frame; 1 s keeps replies flowing


def config_text(sample_rate: int, *, words: bool = True,
                max_alternatives: int | None = None,
                phrase_list: Sequence[str] | None = None) -> str:
    """The config message. ``model`` (a server-side path) is deliberately not offered."""
    config: dict[str, Any] = {"sample_rate": sample_rate, "words": 1 if words else 0}
    if max_alternatives is not None:
        config["max_alternatives"] = max_alternatives
    if phrase_list:
        config["phrase_list"] = list(phrase_list)
    return json.dumps({"config": config})


@dataclass(frozen=True, slots=True)
class VoskWord:
    word: str
    start: float  # seconds on the server's clock: audio fed on this connection
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class VoskReply:
    kind: Literal["partial", "final", "other"]
    text: str = ""
    words: tuple[VoskWord, ...] = ()


def parse_reply(message: dict[str, Any]) -> VoskReply:
    """Classify one server answer. Finals come plain or as ``alternatives`` (the first one is
    the best; alternative words carry no ``conf``, their ``confidence`` is not 0..1)."""
    if "partial" in message:
        return VoskReply("partial", str(message.get("partial") or "").strip())
    best: dict[str, Any] = message
    if "alternatives" in message:
        alternatives = message.get("alternatives") or [{}]
        best = alternatives[0] if isinstance(alternatives[0], dict) else {}
    elif "text" not in message and "result" not in message:
        return VoskReply("other")
    words = tuple(
        VoskWord(str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
        for w in best.get("result") or ()
        if isinstance(w, dict) and {"word", "start", "end"} <= w.keys()
    )
    return VoskReply("final", str(best.get("text") or "").strip(), words)


class VoskDownstream(ProtocolBase):
    """A participant's audio to a vosk-server; its transcripts come back to the client.

    Partials are forwarded only when their text changed and is not empty (the server
    answers every frame, ten or more times a second); finals with text are forwarded.
    """

    name = "vosk"
    server_closes = True  # it answers the goodbye with the last results, then closes

    def __init__(self, info: StreamInfo, *, label: str | None = None, words: bool = True,
                 phrase_list: Sequence[str] | None = None,
                 max_fill: float = DEFAULT_MAX_FILL) -> None:
        super().__init__(info, label=label)
        self.sample_rate = info.sample_rate or TARGET_RATE
        if not 8000 <= self.sample_rate <= 48000:
            raise ProtocolConfigError(
                f"vosk: sample rate {self.sample_rate} outside 8000..48000 Hz")
        self._config = config_text(self.sample_rate, words=words, phrase_list=phrase_list)
        self._wire = WireAudio(self.sample_rate, max_fill=max_fill)
        self._max_frame = round(self.sample_rate * MAX_FRAME_SECONDS) * BYTES_PER_SAMPLE
        self._eof_sent = False
        self._last_partial = ""

    def opening(self) -> list[Frame]:
        self.connections += 1
        self._wire.restart()
        self._eof_sent = False
        self._last_partial = ""
        return [self._config]

    def audio(self, chunk: AudioChunk) -> list[Frame]:
        return self._frames(self._wire.convert(chunk))

    def closing(self) -> list[Frame]:
        self._eof_sent = True
        return [*self._frames(self._wire.flush()), EOF_TEXT]

    def on_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        parsed = parse_reply(message)
        if parsed.kind == "partial":
            if not parsed.text or parsed.text == self._last_partial:
                return None
            self._last_partial = parsed.text
            return self.tag(message)
        if parsed.kind == "final":
            self._last_partial = ""
            if self._eof_sent:
                self.ended = True  # the answer to eof: the server closes next
            return self.tag(message) if parsed.text else None
        return self.tag(message)

    def _frames(self, pieces: list[tuple[int, bytes]]) -> list[Frame]:
        step = self._max_frame
        return [pcm[i: i + step] for _, pcm in pieces for i in range(0, len(pcm), step)]
