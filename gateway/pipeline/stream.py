"""A participant's media stream: PCM chunks in, transcripts out, for any transport.

Audio flows transport -> ``push`` -> bounded queue -> recognizer task -> listener, so a
slow recognizer never blocks the transport's reader and a burst never grows memory.

The queue is bounded twice, and both drops are counted and logged:

* in audio (``backlog_chunks``): past it the oldest chunk is dropped, so memory is bounded;
* in time (``max_delay``): a chunk that waited longer than that is dropped when it reaches
  the head. An audio bound alone does not bound latency: a recogniser running at a fraction
  ``r`` of real time needs ``backlog / r`` seconds to work through a full backlog, which is
  how 10 s of audio became finals 50-70 s late under overload (issue 10). Dropping late
  audio keeps every result within ``max_delay`` of its speech; the phrase in progress is
  ended before the gap, so words on either side of it are never glued together.

The stream knows nothing of aiortc, WebSockets or conversations: it feeds a
``RecognizerStream`` (usually behind the speech gate, ``gateway.pipeline.gate``) and hands
each event forward to its ``TranscriptListener`` (a conversation member).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.asr.base import Final, Partial, RecognizerStream, TranscriptEvent
from gateway.observability.metrics import StreamMetrics
from gateway.outputs.base import AudioSink
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


class _Flush(_Marker):
    """End the phrase in progress and say when its results were handed on."""

    def __init__(self) -> None:
        super().__init__("flush")
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


ENDPOINT = _Marker("endpoint")  # end the phrase in progress now
END = _Marker("end")  # no more audio: finalise and stop
Item = PcmChunk | _Marker

DEFAULT_MAX_DELAY = 5.0
"""Seconds a chunk may wait for the recogniser. Normally a chunk waits one recogniser call
(~10-50 ms); a few seconds absorb a stall of the machine (a burst of other work, a new
recogniser's first decode) without losing words, while results stay live enough to be
useful. Lost words are lost for the transcript too, so the bound errs on the long side."""


class MediaStream:
    """``taps`` get every chunk as it arrives (the participant's audio going downstream),
    before and regardless of recognition; they never block (``AudioSink``). ``transport``
    names the ingest path in metrics (webrtc, symbl, whip)."""

    def __init__(self, recognizer: RecognizerStream, listener: TranscriptListener, *,
                 label: str, backlog_chunks: int = 100, taps: Sequence[AudioSink] = (),
                 transport: str = "unknown",
                 max_delay: float | None = DEFAULT_MAX_DELAY) -> None:
        self.recognizer = recognizer
        self.listener = listener
        self.label = label
        self.taps = list(taps)
        self.transport = transport
        self._metrics = StreamMetrics.for_transport(transport)
        # Each item with its arrival time (monotonic): result latency is measured from it.
        self._items: deque[tuple[Item, float]] = deque()
        self._max_chunks = max(1, backlog_chunks)
        self._max_delay = max_delay
        self._chunks = 0  # audio chunks in _items (markers not counted)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()  # set whenever the recognizer took a chunk
        self._task: asyncio.Task[None] | None = None
        self._finishing = False
        self._gap = False  # audio was dropped since the recogniser was last fed
        self._fed = False  # audio was fed since the last endpoint
        self.started_at: datetime | None = None
        self.muted = False
        self.chunks_in = 0
        self.muted_chunks = 0
        self.dropped_chunks = 0  # for any reason (backlog full, or too late)
        self.late_chunks = 0  # of which: waited longer than max_delay
        self.failures = 0

    @property
    def queued(self) -> int:
        """Audio chunks waiting for the recognizer."""
        return self._chunks

    @property
    def oldest_wait(self) -> float:
        """Seconds the oldest queued chunk has waited (0 when none waits): how far
        recognition is behind this stream's audio."""
        for item, at in self._items:
            if isinstance(item, PcmChunk):
                return time.monotonic() - at
        return 0.0

    def push(self, chunk: PcmChunk) -> None:
        """Queue audio; never blocks. The first chunk starts the stream (muted or not: the
        stream's clock starts with its audio)."""
        if self._finishing:
            return
        if self.started_at is None:
            self.started_at = datetime.now(UTC)
            self.listener.started(self.started_at)
            self._task = asyncio.ensure_future(self._run())
        self.chunks_in += 1
        self._metrics.received.inc(chunk.samples / TARGET_RATE)
        if self.muted:  # muted means nobody gets it: not recognition, not downstream
            self.muted_chunks += 1
            return
        for tap in self.taps:
            try:
                tap.send_audio(chunk)
            except Exception:  # an output's problem is never the stream's
                log.exception("stream %s: audio output %s failed", self.label,
                              getattr(tap, "name", tap))
        if self._chunks >= self._max_chunks:
            self._drop_oldest_chunk()
        self._append(chunk)

    def set_muted(self, muted: bool) -> None:
        """Stop (or resume) hearing this participant.

        While muted, pushed audio is counted and dropped: neither queued for recognition
        nor given to the taps (a muted participant is heard nowhere). The clock is kept:
        chunk offsets go on counting, so after unmuting the recogniser sees the stream skip
        ahead (as over silence the gate did not forward) and word times stay on the
        stream's clock. Muting ends the phrase in progress with what was said before it;
        audio already queued was spoken before the mute and is still recognised.
        """
        if muted == self.muted:
            return
        self.muted = muted
        if muted:
            self.endpoint()

    def endpoint(self) -> None:
        """End the phrase in progress as soon as the audio before it is recognised."""
        if self._task is not None and not self._finishing:
            self._append(ENDPOINT)

    async def flush(self, timeout: float) -> None:
        """End the phrase in progress and wait (bounded) until its results were handed on.

        Unlike :meth:`finish`, the stream goes on: a transport that pauses recognition
        without ending it (Symbl's ``stop_request`` with ``disconnectOnStopRequest: false``)
        needs the last final delivered before it says it stopped.
        """
        task = self._task
        if task is None or task.done() or self._finishing:
            return
        marker = _Flush()
        self._append(marker)
        # Also wake if the stream's task ends first (closed meanwhile): never wait in vain.
        done, _ = await asyncio.wait({marker.done, task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if not done:
            log.warning("stream %s: flush did not complete within %.0f s", self.label, timeout)

    async def wait_room(self, timeout: float, *, below: int | None = None) -> bool:
        """Wait (bounded) until fewer than ``below`` chunks (default: the backlog's bound)
        wait for the recognizer, so the next one is queued without dropping any.

        For transports whose sender can be slowed down (a WebSocket, through TCP flow
        control, when the transport stops reading): a client streaming a file faster than
        real time is paced by the recognizer instead of losing audio, and a small ``below``
        keeps what is queued (the latency, and the work left at a stop) short. False when
        there was no room for ``timeout`` (the caller pushes anyway, and past the bound the
        oldest audio is dropped, counted, as for a real-time source).
        """
        limit = self._max_chunks if below is None else max(1, min(below, self._max_chunks))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._chunks >= limit and not self._finishing:
            self._room.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._room.wait(), remaining)
            except TimeoutError:
                return False
        return True

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
        self._dropped("backlog full")

    def _dropped(self, why: str) -> None:
        self._gap = True
        self.dropped_chunks += 1
        if self.dropped_chunks % 50 == 1:
            log.warning("stream %s: recognizer overloaded (%s), dropped %d chunks so far",
                        self.label, why, self.dropped_chunks)

    async def _next(self) -> tuple[Item, float]:
        """The next item and its arrival time. Chunks that waited longer than ``max_delay``
        are dropped here; after a drop, the first fresh chunk is preceded by an
        ``ENDPOINT``, so the phrase heard before the gap ends there (and the chunk's age is
        checked again afterwards)."""
        while True:
            while not self._items:
                self._wake.clear()
                await self._wake.wait()
            item, arrived = entry = self._items.popleft()
            if not isinstance(item, PcmChunk):
                return entry
            self._chunks -= 1
            self._room.set()
            if self._max_delay is None or time.monotonic() - arrived <= self._max_delay:
                if self._gap and self._fed:  # end the phrase heard before the gap first
                    self._gap = False
                    self._items.appendleft(entry)
                    self._chunks += 1
                    return ENDPOINT, arrived
                self._gap = False
                return entry
            self.late_chunks += 1
            self._metrics.dropped.inc(item.samples / TARGET_RATE)
            self._dropped(f"audio older than {self._max_delay:g} s")

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
        try:
            while True:
                item, arrived = await self._next()
                if item is END:
                    break
                if item is ENDPOINT:
                    self._gap = self._fed = False  # the phrase ends here anyway
                    await self._step(arrived, recognizer.endpoint)
                elif isinstance(item, _Flush):
                    self._gap = self._fed = False
                    await self._step(arrived, recognizer.endpoint)
                    item.resolve()
                elif isinstance(item, PcmChunk):
                    self._fed = True
                    await self._step(arrived, recognizer.accept, item)
            await self._step(arrived, recognizer.endpoint)
        finally:
            # Nobody waits on a flush the stream will never reach (finished or closed).
            for left, _ in self._items:
                if isinstance(left, _Flush):
                    left.resolve()

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
            metrics.failures.inc()
            self.failures += 1
            if self.failures % 100 == 1:
                log.exception("stream %s: recognition failed (%d so far); continuing",
                              self.label, self.failures)
