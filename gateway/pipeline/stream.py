"""A participant's media stream: PCM chunks in, transcripts out, for any transport.

Audio flows transport -> ``push`` -> bounded queue -> recognizer task -> listener, so a
slow recognizer never blocks the transport's reader and a burst never grows memory: past
``backlog_chunks`` the oldest audio is dropped, counted and logged. The stream knows
nothing of aiortc, WebSockets or conversations: it feeds a ``RecognizerStream`` and hands
each event forward to its ``TranscriptListener`` (a conversation member).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.asr.base import Final, Partial, RecognizerStream, TranscriptEvent
from gateway.observability.metrics import StreamMetrics
from gateway.transcript import Phrase

from .pcm import TARGET_RATE, PcmChunk

log = logging.getLogger(__name__)


class TranscriptListener(Protocol):
    """Where a stream's transcripts go (``gateway.conversation.member.Member``)."""

    def started(self, at: datetime) -> None:
        """The first audio arrived (wall-clock time of the stream's start)."""
        ...

    def partial(self, text: str) -> None: ...

    async def final(self, phrase: Phrase) -> None: ...


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


ENDPOINT = _Marker("endpoint")  # end the phrase in progress now
END = _Marker("end")  # no more audio: finalise and stop
Item = PcmChunk | _Marker


class MediaStream:
    """``transport`` names the ingest path in metrics (webrtc, whip, ...)."""

    def __init__(self, recognizer: RecognizerStream, listener: TranscriptListener, *,
                 label: str, backlog_chunks: int = 100, transport: str = "unknown") -> None:
        self.recognizer = recognizer
        self.listener = listener
        self.label = label
        self.transport = transport
        self._metrics = StreamMetrics.for_transport(transport)
        # Each item with its arrival time (monotonic): result latency is measured from it.
        self._items: deque[tuple[Item, float]] = deque()
        self._max_chunks = max(1, backlog_chunks)
        self._chunks = 0  # audio chunks in _items (markers not counted)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._finishing = False
        self.started_at: datetime | None = None
        self.chunks_in = 0
        self.dropped_chunks = 0
        self.failures = 0

    @property
    def queued(self) -> int:
        """Audio chunks waiting for the recognizer."""
        return self._chunks

    def push(self, chunk: PcmChunk) -> None:
        """Queue audio; never blocks. The first chunk starts the stream."""
        if self._finishing:
            return
        if self.started_at is None:
            self.started_at = datetime.now(UTC)
            self.listener.started(self.started_at)
            self._task = asyncio.ensure_future(self._run())
        self.chunks_in += 1
        self._metrics.received.inc(chunk.samples / TARGET_RATE)
        if self._chunks >= self._max_chunks:
            self._drop_oldest_chunk()
        self._append(chunk)

    def endpoint(self) -> None:
        """End the phrase in progress as soon as the audio before it is recognised."""
        if self._task is not None and not self._finishing:
            self._append(ENDPOINT)

    def _append(self, item: Item) -> None:
        self._items.append((item, time.monotonic()))
        if isinstance(item, PcmChunk):
            self._chunks += 1
        self._wake.set()

    def _drop_oldest_chunk(self) -> None:
        """Recognition is behind by the whole backlog: drop the oldest audio (never a
        marker) rather than let memory grow; counted and logged so overload is visible."""
        for entry in self._items:
            if isinstance(entry[0], PcmChunk):
                self._items.remove(entry)
                self._chunks -= 1
                self._metrics.dropped.inc(entry[0].samples / TARGET_RATE)
                break
        self.dropped_chunks += 1
        if self.dropped_chunks % 50 == 1:
            log.warning("stream %s: recognizer overloaded, dropped %d chunks",
                        self.label, self.dropped_chunks)

    async def _next(self) -> tuple[Item, float]:
        while not self._items:
            self._wake.clear()
            await self._wake.wait()
        entry = self._items.popleft()
        if isinstance(entry[0], PcmChunk):
            self._chunks -= 1
        return entry

    async def finish(self, timeout: float) -> None:
        """Recognise what is queued, finalise the last phrase, stop. Bounded by ``timeout``."""
        self._finishing = True
        task = self._task
        if task is None or task.done():
            return
        self._append(END)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("stream %s: recognition did not catch up within %.0f s", self.label,
                        timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Stop at once (no flush) and free the recognizer."""
        self._finishing = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.recognizer.close()

    async def _run(self) -> None:
        recognizer = self.recognizer
        while True:
            item, arrived = await self._next()
            if item is END:
                break
            if item is ENDPOINT:
                await self._step(arrived, recognizer.endpoint)
            elif isinstance(item, PcmChunk):
                await self._step(arrived, recognizer.accept, item)
        await self._step(arrived, recognizer.endpoint)

    async def _step(self, arrived: float,
                    call: Callable[..., Awaitable[list[TranscriptEvent]]], *args: Any) -> None:
        """One recognizer call and its results; a failure costs that step, not the call.

        Metrics: recogniser time against the audio it was given (the real-time factor), and
        each result's latency from the arrival of the item that produced it.
        """
        metrics = self._metrics
        try:
            started = time.monotonic()
            events = await call(*args)
            elapsed = time.monotonic() - started
            metrics.recognition_time.inc(elapsed)
            if args and isinstance(args[0], PcmChunk) and args[0].samples:
                seconds = args[0].samples / TARGET_RATE
                metrics.recognised.inc(seconds)
                metrics.realtime_factor.observe(elapsed / seconds)
            for event in events:
                if isinstance(event, Partial):
                    self.listener.partial(event.text)
                    metrics.partial_latency.observe(time.monotonic() - arrived)
                elif isinstance(event, Final):
                    await self.listener.final(event.phrase)
                    metrics.final_latency.observe(time.monotonic() - arrived)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            metrics.failures.inc()
            if self.failures % 100 == 1:
                log.exception("stream %s: recognition failed (%d so far); continuing",
                              self.label, self.failures)
