"""A participant's received audio tracks into its media stream, on one clock.

aiortc decodes each received track on its own thread into an unbounded queue, so the track
is read for as long as the session lives (muted or not: while muted the media stream drops
the audio, but the clock of sample counts must go on). Each frame is converted to 16 kHz
mono chunks; one undecodable frame is skipped, never the call.

A resumed session may get a new peer connection, hence a new track, for the same media
stream. The stream's clock counts samples, and the new track's samples continue it: its
first chunk starts where the old track's last one ended plus the time that passed between
them (what the participant said meanwhile never arrived), so word times stay on the
conversation's clock across the gap. Switching tracks ends the phrase in progress with what
was heard of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from gateway.pipeline.frames import AudioPipeline
from gateway.pipeline.pcm import TARGET_RATE, PcmChunk
from gateway.pipeline.stream import MediaStream

from .peer import discard

log = logging.getLogger(__name__)


class AudioIntake:
    def __init__(self, stream: MediaStream, *, chunk_ms: int, label: str) -> None:
        self.stream = stream
        self.label = label
        self._chunk_ms = chunk_ms
        self._frames: AudioPipeline | None = None
        self._base = 0  # added to the current track's chunk offsets
        self._end = 0  # stream offset after the last chunk handed over
        self._last_frame_at: float | None = None  # time.monotonic() of the last frame
        self.tracks = 0
        self.gap_samples = 0  # skipped between tracks, in total
        self.conversion_failures = 0
        self._track: MediaStreamTrack | None = None  # the one being read

    async def read(self, track: MediaStreamTrack) -> None:
        """Read until the track ends (or the task is cancelled)."""
        frames = AudioPipeline(self._chunk_ms)
        self._frames = frames
        self._track = track
        first = True
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if first:
                    self._start_track(now)
                    first = False
                self._last_frame_at = now
                try:
                    chunks = frames.push(frame)  # type: ignore[arg-type]
                except Exception:
                    self.conversion_failures += 1
                    if self.conversion_failures % 100 == 1:
                        log.exception("session %s: audio conversion failed", self.label)
                    continue
                self._hand_over(chunks)
        except MediaStreamError:
            log.info("session %s: audio track ended", self.label)

    async def switch(self, reader: asyncio.Task[None] | None) -> None:
        """The track's connection is gone (a new one may follow): stop reading it, hand
        over what its resampler holds, and end the phrase in progress."""
        await _stop(reader)
        self._flush()
        self.stream.endpoint()

    async def finish(self, reader: asyncio.Task[None] | None, timeout: float) -> None:
        """Stop reading, hand over the resampler's tail, recognise everything received
        (bounded by ``timeout``)."""
        await _stop(reader)
        if self.stream.started_at is None:
            return
        self._flush()
        # aiortc keeps decoding into an unbounded queue until the peer closes, which comes
        # after this: keep reading (and dropping) the track meanwhile, or each stopping
        # session holds up to a second of frames per second of recognition left.
        drain = asyncio.ensure_future(discard(self._track)) if self._track else None
        try:
            await self.stream.finish(timeout)
        finally:
            await _stop(drain)

    def _start_track(self, now: float) -> None:
        self.tracks += 1
        if self._last_frame_at is None:
            return
        gap = max(0, round((now - self._last_frame_at) * TARGET_RATE))
        self.gap_samples += gap
        self._base = self._end + gap
        log.info("session %s: audio continues on a new track after %.2f s", self.label,
                 gap / TARGET_RATE)

    def _flush(self) -> None:
        frames, self._frames = self._frames, None
        if frames is None:
            return
        try:
            self._hand_over(frames.close())
        except Exception:
            log.exception("session %s: audio flush failed", self.label)

    def _hand_over(self, chunks: list[PcmChunk]) -> None:
        for chunk in chunks:
            if self._base:
                chunk = PcmChunk(chunk.data, chunk.offset + self._base)
            self._end = chunk.offset + chunk.samples
            self.stream.push(chunk)


async def _stop(reader: asyncio.Task[None] | None) -> None:
    if reader is not None:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
