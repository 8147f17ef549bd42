"""Audio a Symbl client streams, decoded to what the recognizer takes: 16 kHz mono s16le.

One decoder per connection, fed the binary frames in order, cut wherever the client cut
them (an odd byte count, half a mu-law... any boundary). Every decoder is stateful and
streaming: what it returns for a frame is final, and ``close`` gives the little the
resampler still held. Sample counts are exact over any length of stream, so the recognizer's
clock (chunk offsets) never drifts from the client's.

* ``LINEAR16`` — little-endian s16 at the declared rate, resampled with
  :class:`~gateway.pipeline.resample.PcmResampler`. The declaration is trusted, as Symbl
  did: a browser that says 44100 while its AudioContext runs at 48000 gets slightly slow
  audio, not an error. Samples a careless client wrapped around (``32767 * x`` for ``x`` below
  -1 written into an ``Int16Array``) are just loud clicks: no exception, no extra output.
* ``MULAW`` — G.711 bytes (:mod:`gateway.pipeline.g711`) at the declared rate (8000).
* ``OPUS`` — whatever the first bytes say: a WebM (EBML) or Ogg stream as ``MediaRecorder``
  makes it, or raw Opus packets, one per frame, as Symbl's web SDK sent them
  (``rawOpus: true``). Containers are demuxed by FFmpeg (PyAV) in a worker thread
  (:mod:`.webm`); raw packets are decoded inline.
* ``FLAC`` — a streamed FLAC file, through the same container path.

``push`` never blocks on the network; for the container path it waits while the worker
decodes what was just pushed (milliseconds), so on the event loop use ``await decode()`` /
``await finish()``, which never block it.
"""

from __future__ import annotations

from typing import Protocol, cast

import av

from gateway.pipeline.g711 import ulaw_decode
from gateway.pipeline.resample import PcmResampler
from gateway.protocols.symbl.audio_format import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    AudioDecodeError,
    UnsupportedAudio,
    normalize_encoding,
)

from .webm import ContainerDecoder, FrameResampler

__all__ = [
    "TARGET_RATE",
    "AudioDecodeError",
    "AudioDecoder",
    "Linear16Decoder",
    "MulawDecoder",
    "SniffingDecoder",
    "UnsupportedAudio",
    "make_decoder",
]

TARGET_RATE = 16_000
_EBML = b"\x1a\x45\xdf\xa3"
_OGG = b"OggS"
_FLAC = b"fLaC"
_SNIFF = 4


class AudioDecoder(Protocol):
    """A client's audio stream to 16 kHz mono s16le PCM. Calls are sequential."""

    encoding: str
    sample_rate: int

    def push(self, data: bytes) -> bytes:
        """Decode one frame; returns the PCM it completes (possibly empty)."""
        ...

    def close(self) -> bytes:
        """End of stream: the PCM still held. The decoder is finished afterwards."""
        ...

    async def decode(self, data: bytes) -> bytes:
        """:meth:`push` without blocking the event loop."""
        ...

    async def finish(self) -> bytes:
        """:meth:`close` without blocking the event loop."""
        ...

    def abort(self) -> None:
        """Drop everything now (the client vanished); idempotent, never blocks."""
        ...


class _InlineDecoder:
    """Decoders cheap enough to run on the event loop (microseconds per frame)."""

    encoding = ""
    sample_rate = 0

    def push(self, data: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> bytes:
        raise NotImplementedError

    async def decode(self, data: bytes) -> bytes:
        return self.push(data)

    async def finish(self) -> bytes:
        return self.close()

    def abort(self) -> None:
        self.close()


class Linear16Decoder(_InlineDecoder):
    """Little-endian signed 16-bit mono at ``sample_rate``; odd bytes carry over."""

    encoding = "LINEAR16"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resampler = PcmResampler(sample_rate, TARGET_RATE)

    def push(self, data: bytes) -> bytes:
        return self._resampler.push(data)

    def close(self) -> bytes:
        return self._resampler.flush()


class MulawDecoder(_InlineDecoder):
    """G.711 mu-law bytes at ``sample_rate`` (telephony: 8000)."""

    encoding = "MULAW"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resampler = PcmResampler(sample_rate, TARGET_RATE)

    def push(self, data: bytes) -> bytes:
        return self._resampler.push(ulaw_decode(data)) if data else b""

    def close(self) -> bytes:
        return self._resampler.flush()


class _RawOpus(_InlineDecoder):
    """One raw Opus packet per frame (Symbl web SDK). Header packets are skipped."""

    encoding = "OPUS"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._codec = cast(av.AudioCodecContext, av.CodecContext.create("opus", "r"))
        self._codec.sample_rate = 48_000
        self._codec.layout = "mono"
        self._resampler = FrameResampler(TARGET_RATE)

    def push(self, data: bytes) -> bytes:
        if not data or data.startswith((b"OpusHead", b"OpusTags")):
            return b""
        try:
            frames = self._codec.decode(av.Packet(data))
        except av.FFmpegError as exc:
            raise AudioDecodeError(f"not an Opus packet ({len(data)} bytes): {exc}") from exc
        return self._resampler.push(frames)

    def close(self) -> bytes:
        return self._resampler.flush()


class SniffingDecoder:
    """``OPUS`` and ``FLAC``: the first four bytes say how the rest is packed.

    EBML (WebM/Matroska), ``OggS`` and ``fLaC`` are streamed containers for the worker
    thread; anything else is a raw Opus packet per frame (an error for FLAC). The first
    push may be shorter than four bytes: it is held until the signature is complete.
    """

    encoding = "OPUS"

    def __init__(self, sample_rate: int, *, encoding: str = "OPUS") -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self._head = b""
        self._inner: AudioDecoder | None = None

    def _route(self, data: bytes) -> tuple[AudioDecoder | None, bytes]:
        if self._inner is not None:
            return self._inner, data
        self._head += data
        if len(self._head) < _SNIFF:
            return None, b""
        head, self._head = self._head, b""
        if head.startswith(_EBML):
            self._inner = ContainerDecoder("matroska", TARGET_RATE)
        elif head.startswith(_OGG):
            self._inner = ContainerDecoder("ogg", TARGET_RATE)
        elif head.startswith(_FLAC):
            self._inner = ContainerDecoder("flac", TARGET_RATE)
        elif self.encoding == "FLAC":
            raise AudioDecodeError("FLAC audio must start with a FLAC stream header ('fLaC')")
        else:
            self._inner = _RawOpus(self.sample_rate)
        return self._inner, head

    def push(self, data: bytes) -> bytes:
        inner, data = self._route(data)
        return inner.push(data) if inner is not None else b""

    async def decode(self, data: bytes) -> bytes:
        inner, data = self._route(data)
        return await inner.decode(data) if inner is not None else b""

    def close(self) -> bytes:
        return self._inner.close() if self._inner is not None else b""

    async def finish(self) -> bytes:
        return await self._inner.finish() if self._inner is not None else b""

    def abort(self) -> None:
        if self._inner is not None:
            self._inner.abort()


def make_decoder(encoding: str, sample_rate: int) -> AudioDecoder:
    """A decoder for a client's declaration (Symbl's names, any case, or a MIME type).

    Raises :class:`UnsupportedAudio` for an encoding we do not decode or a rate outside
    8000-48000 Hz.
    """
    canonical = normalize_encoding(encoding) if isinstance(encoding, str) else None
    if canonical is None:
        raise UnsupportedAudio(f"unsupported encoding {encoding!r}; expected LINEAR16, MULAW, "
                               "OPUS (raw, WebM or Ogg) or FLAC")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not (
            MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
        raise UnsupportedAudio(f"sample rate {sample_rate!r} Hz is outside "
                               f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if canonical == "LINEAR16":
        return Linear16Decoder(sample_rate)
    if canonical == "MULAW":
        return MulawDecoder(sample_rate)
    return SniffingDecoder(sample_rate, encoding=canonical)
