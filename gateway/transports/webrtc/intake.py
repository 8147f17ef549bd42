"""A participant's received audio track into its media stream.

aiortc decodes each received track on its own thread into an unbounded queue, so the track
is read for as long as the session lives (muted or not: while muted the media stream drops
the audio, but the clock of sample counts must go on). Each frame is converted to 16 kHz
mono chunks; one undecodable frame is skipped, never the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from gateway.pipeline.frames import AudioPipeline
from gateway.pipeline.stream import MediaStream

log = logging.getLogger(__name__)


class AudioIntake:
    def __init__(self, stream: MediaStream, *, chunk_ms: int, label: str) -> None:
        self.stream = stream
        self.label = label
        self._frames = AudioPipeline(chunk_ms)
        self.conversion_failures = 0

    async def read(self, track: MediaStreamTrack) -> None:
        """Read until the track ends (or the task is cancelled)."""
        try:
            while True:
                frame = await track.recv()
                try:
                    chunks = self._frames.push(frame)  # type: ignore[arg-type]
                except Exception:
                    self.conversion_failures += 1
                    if self.conversion_failures % 100 == 1:
                        log.exception("session %s: audio conversion failed", self.label)
                    continue
                for chunk in chunks:
                    self.stream.push(chunk)
        except MediaStreamError:
            log.info("session %s: audio track ended", self.label)

    async def finish(self, reader: asyncio.Task[None] | None, timeout: float) -> None:
        """Stop reading, hand over the resampler's tail, recognise everything received
        (bounded by ``timeout``)."""
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        stream = self.stream
        if stream.started_at is None:
            return
        try:
            for chunk in self._frames.close():
                stream.push(chunk)
        except Exception:
            log.exception("session %s: audio flush failed", self.label)
        await stream.finish(timeout)
