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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.asr.base import Final, Partial, RecognizerStream, TranscriptEvent
from gateway.outputs.base import AudioSink
from gateway.transcript import Phrase

from .pcm import PcmChunk

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


class MediaStream:
    """``taps`` get every chunk as it arrives (the participant's audio going downstream),
    before and regardless of recognition; they never block (``AudioSink``)."""

    def __init__(self, recognizer: RecognizerStream, listener: TranscriptListener, *,
                 label: str, backlog_chunks: int = 100,
                 taps: Sequence[AudioSink] = ()) -> None:
        self.recognizer = recognizer
        self.listener = listener
        self.label = label
        self.taps = list(taps)
        self._items: deque[Item] = deque()
        self._max_chunks = max(1, backlog_chunks)
        self._chunks = 0  # audio chunks in _items (markers not counted)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()  # set whenever the recognizer took a chunk
        self._task: asyncio.Task[None] | None = None
        self._finishing = False
        self.started_at: datetime | None = None
        self.muted = False
        self.chunks_in = 0
        self.muted_chunks = 0
        self.dropped_chunks = 0
        self.failures = 0

    @property
    def queued(self) -> int:
        """Audio chunks waiting for the recognizer."""
        return self._chunks

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
        """Stop (or resume) recognising this participant.

        While muted, pushed audio is counted and dropped, never queued. The clock is kept:
        chunk offsets go on counting, so after unmuting the recogniser sees the stream skip
        ahead (as after silence a VAD did not forward) and word times stay on the stream's
        clock. Muting ends the phrase in progress with what was said before it; audio
        already queued was spoken before the mute and is still recognised.
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
        self._items.append(item)
        if isinstance(item, PcmChunk):
            self._chunks += 1
        self._wake.set()

    def _drop_oldest_chunk(self) -> None:
        """Recognition is behind by the whole backlog: drop the oldest audio (never a
        marker) rather than let memory grow; counted and logged so overload is visible."""
        for item in self._items:
            if isinstance(item, PcmChunk):
                self._items.remove(item)
                self._chunks -= 1
                break
        self.dropped_chunks += 1
        if self.dropped_chunks % 50 == 1:
            log.warning("stream %s: recognizer overloaded, dropped %d chunks",
                        self.label, self.dropped_chunks)

    async def _next(self) -> Item:
        while not self._items:
            self._wake.clear()
            await self._wake.wait()
        item = self._items.popleft()
        if isinstance(item, PcmChunk):
            self._chunks -= 1
            self._room.set()
        return item

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
            while (item := await self._next()) is not END:
                if item is ENDPOINT:
                    await self._step(recognizer.endpoint)
                elif isinstance(item, _Flush):
                    await self._step(recognizer.endpoint)
                    item.resolve()
                elif isinstance(item, PcmChunk):
                    await self._step(recognizer.accept, item)
            await self._step(recognizer.endpoint)
        finally:
            # Nobody waits on a flush the stream will never reach (finished or closed).
            for left in self._items:
                if isinstance(left, _Flush):
                    left.resolve()

    async def _step(self, call: Callable[..., Awaitable[list[TranscriptEvent]]],
                    *args: Any) -> None:
        """One recognizer call and its results; a failure costs that step, not the call."""
        try:
            for event in await call(*args):
                if isinstance(event, Partial):
                    self.listener.partial(event.text)
                elif isinstance(event, Final):
                    await self.listener.final(event.phrase)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            if self.failures % 100 == 1:
                log.exception("stream %s: recognition failed (%d so far); continuing",
                              self.label, self.failures)
