"""The StoreSink's bounded queue: results and commands in order, with the overload policy.

Beyond ``limit`` queued results the oldest result that is not a lifecycle result is evicted
to make room. Lifecycle results (conversation and participant start/end: a handful per
session, so bounded by the number of sessions) are never evicted, because without them a
stored conversation would have no start, no end or a missing member. Commands (delete,
purge) are never evicted either: someone awaits each.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gateway.outputs.result import Result


@dataclass
class Command:
    """A write that must be ordered with the results (delete, purge)."""

    run: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    suppress: str | None = None  # conversation whose later results are dropped (deleted)


Item = Result | Command


class ResultQueue:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: deque[Item] = deque()
        self.results = 0  # Results (not commands) queued

    def __len__(self) -> int:
        return len(self._items)

    def push(self, result: Result) -> Result | None:
        """Queue ``result``; returns the result dropped to make room (maybe ``result``)."""
        dropped: Result | None = None
        if self.results >= self._limit:
            dropped = self._evict_oldest()
            if dropped is None and result.kind != "lifecycle":
                return result
        self._items.append(result)
        self.results += 1
        return dropped

    def push_command(self, command: Command) -> None:
        self._items.append(command)

    def _evict_oldest(self) -> Result | None:
        for i, item in enumerate(self._items):
            if isinstance(item, Result) and item.kind != "lifecycle":
                del self._items[i]
                self.results -= 1
                return item
        return None

    def take(self, batch_limit: int) -> list[Item]:
        """The next batch: up to ``batch_limit`` results in order, or one command alone."""
        if isinstance(self._items[0], Command):
            return [self._items.popleft()]
        batch: list[Item] = []
        while self._items and isinstance(self._items[0], Result) and len(batch) < batch_limit:
            batch.append(self._items.popleft())
        self.results -= len(batch)
        return batch

    def requeue(self, items: Iterable[Item]) -> None:
        """Put a batch that could not be committed back in front, in order."""
        items = list(items)
        self._items.extendleft(reversed(items))
        self.results += sum(isinstance(i, Result) for i in items)

    def clear(self) -> list[Item]:
        items = list(self._items)
        self._items.clear()
        self.results = 0
        return items
