"""The server-to-client messages of one HTTP signaling connection, numbered and bounded.

Over HTTP the server cannot push at will: messages wait here until the client's event
stream (server-sent events) or its next poll takes them. Each gets an increasing ``id``.
A message counts as delivered once a later request acknowledges it (a poll's ``after``, an
event stream's ``Last-Event-ID``) or once an event stream wrote it; the last ``keep``
delivered ones are kept so a client whose stream broke mid-way gets them again when it
reconnects with its ``Last-Event-ID``. At most ``backlog`` undelivered messages wait: a
client that stops reading overflows it, and its connection is then closed (its session can
be resumed), instead of server memory growing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

BACKLOG = 256
KEEP = 64


class EventQueue:
    def __init__(self, *, backlog: int = BACKLOG, keep: int = KEEP) -> None:
        self.backlog = backlog
        self.keep = keep
        self._events: deque[tuple[int, dict[str, Any]]] = deque()
        self._next_id = 1
        self.delivered = 0  # id of the last delivered event (0: none)
        self._changed = asyncio.Event()

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    @property
    def undelivered(self) -> int:
        return self.last_id - self.delivered

    def put(self, message: dict[str, Any]) -> bool:
        """Append; False when the backlog is full (the message is not queued)."""
        if self.undelivered >= self.backlog:
            return False
        self._events.append((self._next_id, message))
        self._next_id += 1
        self._wake()
        return True

    def ack(self, upto: int) -> None:
        """Events up to ``upto`` reached the client; keep only the last ``keep`` of those."""
        self.delivered = max(self.delivered, min(upto, self.last_id))
        while self._events and self._events[0][0] <= self.delivered - self.keep:
            self._events.popleft()

    def since(self, after: int) -> list[tuple[int, dict[str, Any]]] | None:
        """The events after ``after``; None when some of them are no longer held."""
        oldest = self._events[0][0] if self._events else self._next_id
        if after + 1 < oldest:
            return None
        return [(i, m) for i, m in self._events if i > after]

    async def wait_after(self, after: int, timeout: float) -> bool:
        """Wait until an event after ``after`` exists (or the queue is woken); bounded."""
        if self.last_id > after:
            return True
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        return self.last_id > after

    def wake(self) -> None:
        """Wake every waiting reader (the connection closed, or a new reader took over)."""
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
