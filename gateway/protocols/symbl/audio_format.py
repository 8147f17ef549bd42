"""Which audio a Symbl client may declare, and how its names are spelled.

Symbl's reference (``docs/streamingapi/reference/reference.md``, "Speech Recognition"):
``LINEAR16`` at 8000-48000 Hz, ``FLAC`` at 16000 Hz and above, ``MULAW`` at 8000 Hz,
``Opus`` at 16000-48000 Hz; default ``LINEAR16`` at 16000 Hz. Its SDKs spell the names in
several cases (``Opus``, ``OPUS``, ``opus``), and browsers name what ``MediaRecorder`` makes
with a MIME type (``audio/webm;codecs=opus``), so names are matched case-insensitively and
MIME types are understood too.

The declared rate is trusted for the raw encodings (LINEAR16, MULAW), as Symbl did: the
bytes carry no rate. Container and codec formats (Opus in WebM/Ogg or raw packets, FLAC)
carry their own rate, so there the declaration is only checked for range. We are more
lenient than the reference in one way only: MULAW and Opus are accepted at any rate in the
LINEAR16 range (a resampler makes it free), so no client that worked with Symbl fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import RealtimeError

__all__ = [
    "DEFAULT_ENCODING",
    "AudioDecodeError",
    "UnsupportedAudio",
    "DEFAULT_SAMPLE_RATE",
    "ENCODINGS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioFormat",
    "audio_format",
    "normalize_encoding",
]

DEFAULT_ENCODING = "LINEAR16"
DEFAULT_SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000

# Canonical names: what the decoders implement.
ENCODINGS = ("LINEAR16", "MULAW", "OPUS", "FLAC")

_ALIASES = {
    "LINEAR16": "LINEAR16",
    "MULAW": "MULAW",
    "OPUS": "OPUS",
    # Google Speech's enum names, which Symbl's were borrowed from.
    "OGG_OPUS": "OPUS",
    "WEBM_OPUS": "OPUS",
    "FLAC": "FLAC",
}
_MIME = {
    "audio/webm": "OPUS",
    "audio/ogg": "OPUS",
    "audio/opus": "OPUS",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
}


class UnsupportedAudio(ValueError):
    """An encoding or rate the gateway does not decode (the declaration is wrong)."""


class AudioDecodeError(ValueError):
    """Audio that does not decode as declared (garbage, or a corrupt container)."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """A validated audio declaration: canonical ``encoding`` and the declared rate."""

    encoding: str
    sample_rate: int


def normalize_encoding(name: str) -> str | None:
    """The canonical encoding for a client's spelling, or None if it is not one we take.

    ``audio/webm;codecs=opus`` and ``audio/webm; codecs="opus"`` both give ``OPUS``; a MIME
    type naming another codec (``audio/webm;codecs=vorbis``) gives None.
    """
    text = name.strip()
    if text.upper() in _ALIASES:
        return _ALIASES[text.upper()]
    mime, _, params = text.lower().partition(";")
    encoding = _MIME.get(mime.strip())
    if encoding is None:
        return None
    codecs = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip() == "codecs":
            codecs = value.strip().strip('"').strip()
    if codecs and codecs not in ("opus", "flac"):
        return None
    return encoding


def _rate(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RealtimeError(
            "invalid_start_request",
            f"{where}.sampleRateHertz must be a number, got {type(value).__name__}",
            field=f"{where}.sampleRateHertz",
        )
    if value != value or int(value) != value:  # NaN, or 44100.5
        raise RealtimeError(
            "unsupported_audio",
            f"{where}.sampleRateHertz must be a whole number of hertz, got {value}",
            field=f"{where}.sampleRateHertz",
        )
    rate = int(value)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise RealtimeError(
            "unsupported_audio",
            f"sampleRateHertz {rate} is out of range",
            details=f"{where}.sampleRateHertz must be between {MIN_SAMPLE_RATE} and "
            f"{MAX_SAMPLE_RATE}",
            field=f"{where}.sampleRateHertz",
        )
    return rate


def audio_format(encoding: Any, sample_rate: Any, *, where: str = "config.speechRecognition"
                 ) -> AudioFormat:
    """Validate a declaration; ``None`` for either part means Symbl's default.

    Raises :class:`RealtimeError` (``unsupported_audio`` for a name or rate we do not take,
    ``invalid_start_request`` for a wrong JSON type); ``where`` is the JSON path for messages.
    """
    if encoding is None:
        canonical = DEFAULT_ENCODING
    elif not isinstance(encoding, str):
        raise RealtimeError(
            "invalid_start_request",
            f"{where}.encoding must be a string, got {type(encoding).__name__}",
            field=f"{where}.encoding",
        )
    else:
        found = normalize_encoding(encoding)
        if found is None:
            raise RealtimeError(
                "unsupported_audio",
                f"unsupported encoding {encoding[:64]!r}",
                details="encoding must be LINEAR16, MULAW, Opus (raw packets, WebM or Ogg, "
                "e.g. audio/webm;codecs=opus) or FLAC",
                field=f"{where}.encoding",
            )
        canonical = found
    rate = DEFAULT_SAMPLE_RATE if sample_rate is None else _rate(sample_rate, where)
    return AudioFormat(canonical, rate)
