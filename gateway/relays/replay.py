"""The replay buffer of one downstream stream: items kept until the downstream confirmed them.

``BoundedQueue`` (gateway/outputs/buffer.py) lets an item go once it was written to the
socket; that is not enough for audio relayed to a service that may restart: what was in
TCP buffers, or read by a process that then died, is gone. Here an item stays after it was
written, until a WebSocket pong that followed it comes back (the downstream's WebSocket
stack read everything sent before the ping). When a connection is lost, everything not
confirmed is sent again on the next connection (``rewind``): at-least-once delivery, so a
downstream that restarts within the buffer loses no audio; it may get the last fraction of
a second before the loss twice.

The buffer is bounded by a total cost (seconds of audio, or a number of results). Past it
the oldest item goes, counted as lost (``lost_cost``, reported to the client): it was never
confirmed. Of that, ``unconfirmed_cost`` had been written on some connection and may have
arrived after all (from a downstream that is slow, or the last moments before a connection
broke). The item being written is never evicted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Entry(Generic[T]):
    seq: int
    item: T
    cost: float
    sent: bool = False  # written on some connection (maybe delivered)


class ReplayBuffer(Generic[T]):
    """A FIFO with a write cursor and a confirmation point; see the module docstring."""

    def __init__(self, max_cost: float, cost: Callable[[T], float]) -> None:
        if max_cost <= 0:
            raise ValueError("the replay buffer needs a positive bound")
        self.max_cost = max_cost
        self._cost = cost
        self._entries: deque[_Entry[T]] = deque()
        self._seq = 0
        self._written = 0          # highest seq written on the current connection
        self._in_flight: int | None = None
        self.total_cost = 0.0
        self.lost_cost = 0.0       # evicted before being written
        self.lost_items = 0
        self.unconfirmed_cost = 0.0  # evicted after being written, before confirmation
        self.confirmed_cost = 0.0
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def cost_of(self, item: T) -> float:
        return self._cost(item)

    @property
    def unsent(self) -> bool:
        return bool(self._entries) and self._entries[-1].seq > self._written

    @property
    def unconfirmed(self) -> bool:
        """Items written and not yet confirmed."""
        return bool(self._entries) and self._entries[0].seq <= self._written

    @property
    def written_mark(self) -> int:
        """The position to confirm once a ping sent now is answered."""
        return self._written

    @property
    def unsent_cost(self) -> float:
        return sum(e.cost for e in self._entries if e.seq > self._written)

    def put(self, item: T) -> float:
        """Append; evict the oldest past the bound. Returns the cost lost by evictions."""
        self._seq += 1
        entry = _Entry(self._seq, item, self._cost(item))
        self._entries.append(entry)
        self.total_cost += entry.cost
        lost = 0.0
        while self.total_cost > self.max_cost and len(self._entries) > 1:
            index = 1 if self._entries[0].seq == self._in_flight else 0
            if index >= len(self._entries) or self._entries[index] is entry:
                break
            old = self._entries[index]
            del self._entries[index]
            self.total_cost -= old.cost
            if old.sent:
                self.unconfirmed_cost += old.cost
            lost += old.cost
            self.lost_items += 1
        self.lost_cost += lost
        self._changed.set()
        return lost

    def next_unsent(self) -> tuple[int, T] | None:
        """The first item not written on this connection, marked in flight."""
        for entry in self._entries:
            if entry.seq > self._written:
                self._in_flight = entry.seq
                return entry.seq, entry.item
        return None

    def written(self, seq: int) -> None:
        """Item ``seq`` (and everything before it) was written on this connection."""
        self._in_flight = None
        self._written = max(self._written, seq)
        for entry in reversed(self._entries):
            if entry.seq > seq:
                continue
            if entry.sent:
                break
            entry.sent = True
        self._changed.set()

    def failed(self) -> None:
        """The item in flight was not (completely) written; it stays unsent."""
        self._in_flight = None

    def confirm(self, mark: int) -> float:
        """Items up to ``mark`` reached the downstream: forget them. Returns their cost."""
        done = 0.0
        while self._entries and self._entries[0].seq <= min(mark, self._written) and \
                self._entries[0].seq != self._in_flight:
            entry = self._entries.popleft()
            self.total_cost -= entry.cost
            done += entry.cost
        self.confirmed_cost += done
        self._changed.set()
        return done

    def rewind(self) -> float:
        """A connection was lost: whatever it did not confirm is unsent again. Returns the
        cost that will be sent again."""
        again = sum(e.cost for e in self._entries if e.seq <= self._written)
        self._in_flight = None
        self._written = self._entries[0].seq - 1 if self._entries else self._seq
        self._changed.set()
        return again

    def clear(self) -> float:
        """Forget everything (end of stream); returns the cost never written."""
        unsent = self.unsent_cost
        self._entries.clear()
        self.total_cost = 0.0
        self._written = self._seq
        self._in_flight = None
        self._changed.set()
        return unsent

    async def wait(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Until ``predicate()`` holds (checked on every change), or ``timeout``."""
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            return predicate()
        return True

    def poke(self) -> None:
        """Wake waiters (something outside the buffer changed)."""
        self._changed.set()
