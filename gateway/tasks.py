"""The background tasks of one owner (a session, a cluster node).

asyncio keeps only weak references to tasks, so a task nobody holds can vanish mid-way, and
an exception in a task nobody awaits is reported late or never. Every owner that starts
tasks on the side needs the same three things: hold them until done, log a failure at
once with the owner's name, and start nothing new once it is closing (a callback that
fires during teardown must not start work the teardown will never cancel).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Tasks started on behalf of ``owner`` (a label for the log)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a held task; once closing it is cancelled before it starts."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        if self.closing:
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def close(self) -> None:
        """Start nothing new from now on (what is running goes on until cancelled)."""
        self.closing = True

    def cancel_all(self) -> None:
        """Close, and cancel every task but the one calling (a teardown may run in one)."""
        self.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.owner, exc_info=task.exception())


async def every(interval: float, work: Callable[[], Awaitable[object]], *, what: str,
                expected: tuple[type[BaseException], ...] = ()) -> None:
    """Run ``work()`` now and every ``interval`` seconds until cancelled.

    A failed run is logged (``what`` names it) and the next run retries: a periodic chore
    (a purge, a renewal) must not die of one database hiccup. ``expected`` exceptions
    (e.g. "the store is closing") are logged at debug level only.
    """
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except expected as exc:
            log.debug("%s skipped: %s", what, exc)
        except Exception:  # noqa: BLE001 - retried at the next interval
            log.exception("%s failed; retrying in %g s", what, interval)
        await asyncio.sleep(interval)
