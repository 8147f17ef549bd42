"""Messages a session sends on its own initiative, in order, after the answer.

What the other participants do (join, leave, mute, negotiate with this one) happens at any
time, also while this participant's offer is still being answered. Such messages wait here
until the answer went out (a client waiting for its answer must see it first), then a writer
task sends them in order through the signaling ``notify``. The queue is bounded (oldest
dropped, counted, logged): a client that stops reading its socket cannot grow server memory,
and the conversation that produced the message never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateway.outputs.buffer import BoundedQueue
from signaling.interface import Notify

log = logging.getLogger(__name__)

BACKLOG = 256


class Outbox:
    def __init__(self, notify: Notify, label: str, *, backlog: int = BACKLOG) -> None:
        self._notify = notify
        self.label = label
        self._queue: BoundedQueue[dict[str, Any]] = BoundedQueue(backlog)
        self._open = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def put(self, message: dict[str, Any]) -> None:
        """Queue one message; never blocks, never raises."""
        if self._closed:
            return
        evicted = self._queue.put(message)
        if evicted:
            self.dropped += evicted
            if self.dropped % 50 == evicted or evicted >= 50:
                log.warning("session %s: signaling backlog full, dropped %d messages so far "
                            "(the client is not reading its socket)", self.label, self.dropped)
        self._ensure_writer()

    def open(self) -> None:
        """The answer went out: start delivering."""
        self._open = True
        self._ensure_writer()

    async def drain(self, timeout: float) -> None:
        if self._open and not self._closed:
            await self._queue.wait_empty(timeout)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queue.clear()

    def _ensure_writer(self) -> None:
        if self._open and not self._closed and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await self._queue.wait_item()
            seq, message = self._queue.take()
            try:
                await self._notify(message)  # never raises: a gone socket is skipped
            finally:
                self._queue.done(seq)
            self.sent += 1
