"""Messages a session sends on its own initiative, in order, after the answer.

What the other participants do (join, leave, mute, negotiate with this one) happens at any
time, also while this participant's offer is still being answered. Such messages wait here
until the answer went out (a client waiting for its answer must see it first), then a writer
task sends them in order through the signaling ``notify``. The queue is bounded (oldest
dropped, counted, logged): a client that stops reading its socket cannot grow server memory,
and the conversation that produced the message never waits.

While a resumable session has no connection the outbox is paused: messages keep queueing
(within the same bound), and a resume hands the queue to the new connection, keeping what
is still meaningful (``rebind``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from signaling.interface import Notify

log = logging.getLogger(__name__)

BACKLOG = 256


class Outbox:
    def __init__(self, notify: Notify, label: str, *, backlog: int = BACKLOG) -> None:
        self._notify = notify
        self.label = label
        self.backlog = backlog
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._open = False
        self._paused = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, message: dict[str, Any]) -> None:
        """Queue one message; never blocks, never raises."""
        if self._closed:
            return
        self._queue.append(message)
        if len(self._queue) > self.backlog:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped % 50 == 1:
                log.warning("session %s: signaling backlog full, dropped %d messages so far "
                            "(the client is not reading its socket, or is away)", self.label,
                            self.dropped)
        self._empty.clear()
        self._wake.set()
        self._ensure_writer()

    def open(self) -> None:
        """The answer (or the resume's reply) went out: start delivering."""
        self._open = True
        self._paused = False
        self._wake.set()
        self._ensure_writer()

    def pause(self) -> None:
        """The connection went away: keep messages until a resume brings a new one."""
        self._paused = True

    def rebind(self, notify: Notify, *, keep: Callable[[dict[str, Any]], bool],
               first: list[dict[str, Any]]) -> None:
        """A new connection: the queued messages ``keep`` accepts follow ``first``.
        Delivery starts again with ``open()``, after the connection's own reply."""
        self._notify = notify
        self._paused = True
        kept = [m for m in self._queue if keep(m)]
        self._queue.clear()
        for message in [*first, *kept]:
            self.put(message)

    async def drain(self, timeout: float) -> None:
        if self._open and not self._paused and not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), timeout)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queue.clear()
        self._empty.set()

    def _ensure_writer(self) -> None:
        if self._open and not self._closed and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            while not self._queue or self._paused:
                if not self._queue:
                    self._empty.set()
                self._wake.clear()
                await self._wake.wait()
            message = self._queue.popleft()
            await self._notify(message)  # never raises: a gone socket is skipped
            self.sent += 1
