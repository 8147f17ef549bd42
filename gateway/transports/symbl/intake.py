"""A Symbl connection's audio on its way to the media stream: decoded, chunked, paced.

Binary frames are decoded in the format the client declared (a new decoder at each
``start_request`` and ``modify_request``), cut into fixed chunks whose offsets are the
running count of 16 kHz samples — the participant's clock, which survives decoders, pauses
and reconnects — and queued on the participant's :class:`MediaStream`.

A client streaming faster than real time is paced, not dropped: before each chunk the
intake waits (bounded) until at most ``PACED_SECONDS`` of audio wait for the recognizer;
meanwhile the socket is not read, so TCP flow control slows the sender. That keeps the
client's results live and a ``stop_request``'s flush short even on a busy machine.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from gateway.pipeline.pcm import TARGET_RATE, Chunker
from gateway.pipeline.stream import MediaStream
from gateway.protocols.symbl.audio_format import AudioFormat
from gateway.protocols.symbl.errors import RealtimeError

from .codecs import AudioDecoder, UnsupportedAudio, make_decoder

log = logging.getLogger(__name__)

ROOM_TIMEOUT = 5.0  # longest a frame waits for the recognizer (well under the heartbeat)
PACED_SECONDS = 2.0


class AudioIntake:
    def __init__(self, label: str, *, chunk_ms: int) -> None:
        self.label = label
        self.stream: MediaStream | None = None
        self.hurry = False  # ending: queue what comes without waiting for room
        self._decoder: AudioDecoder | None = None
        self._clock = Chunker(chunk_ms)
        self._paced = max(1, int(PACED_SECONDS * 1000 / chunk_ms))

    @staticmethod
    def decoder_for(audio: AudioFormat) -> AudioDecoder:
        """A decoder for a declaration the parser accepted (RealtimeError otherwise)."""
        try:
            return make_decoder(audio.encoding, audio.sample_rate)
        except UnsupportedAudio as exc:
            raise RealtimeError("unsupported_audio", str(exc)) from None

    def use(self, decoder: AudioDecoder) -> None:
        """Decode from now on with ``decoder`` (a new ``start_request``)."""
        if self._decoder is not None:
            self._decoder.abort()
        self._decoder = decoder

    async def switch(self, decoder: AudioDecoder) -> None:
        """``modify_request``: the old decoder's tail first, then the new format."""
        await self._finish_decoder()
        self._decoder = decoder

    @property
    def decoding(self) -> bool:
        return self._decoder is not None

    async def push(self, frame: bytes) -> None:
        """Decode one binary frame and queue its audio; raises ``AudioDecodeError``."""
        if self._decoder is not None:
            await self._feed(await self._decoder.decode(frame))

    async def drain(self) -> None:
        """Everything the decoder and the chunker hold goes to the stream (stop, drop)."""
        await self._finish_decoder()
        tail = self._clock.flush()
        if tail is not None and self.stream is not None:
            self.stream.push(tail)

    def skip_gap(self) -> None:
        """Resuming after a pause or a reconnect: the gap is silence on the clock, which
        jumps to the wall time since the stream started (never back: a client that
        streamed faster than real time is already ahead)."""
        stream = self.stream
        if stream is not None and stream.started_at is not None:
            elapsed = (datetime.now(UTC) - stream.started_at).total_seconds()
            self._clock.skip_to(int(elapsed * TARGET_RATE))

    def abort(self) -> None:
        if self._decoder is not None:
            self._decoder.abort()
            self._decoder = None

    async def _feed(self, pcm: bytes) -> None:
        stream = self.stream
        if not pcm or stream is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROOM_TIMEOUT
        for chunk in self._clock.push(pcm):
            if not self.hurry:
                await stream.wait_room(max(0.0, deadline - loop.time()), below=self._paced)
            stream.push(chunk)

    async def _finish_decoder(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            try:
                await self._feed(await decoder.finish())
            except Exception:  # a broken tail must not stop the flush of the rest
                log.exception("symbl %s: decoder tail lost", self.label)
                decoder.abort()
