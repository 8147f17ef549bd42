"""StoreSink: the store as one more output, fed every conversation's results in publish order.

``send`` only appends to a bounded queue; one writer task turns queued results into
batches and commits each in the store's writer thread. When a batch is committed:

* at once (after ``final_linger``, so the phrase's insights join it) when a final
  message, a lifecycle result or a command (delete, purge) is queued, and
* at the latest ``flush_interval`` (200 ms) after the oldest queued result otherwise.

So a process killed with SIGKILL loses at most the results of the last ~200 ms: the
phrase being spoken (not yet final, never a result) and, at worst, the last final's
insights. A committed result survives (SQLite WAL or PostgreSQL commit).

Overload policy (the database is slower than the calls, or down): the media path is
never blocked. Beyond ``queue_limit`` queued results the oldest non-lifecycle result is
dropped, counted and logged (at most every 10 s); lifecycle results (conversation and
participant start/end, a handful per session) are never dropped, so conversations and
members stay consistent. A commit that fails for a transient reason (database down or
locked) is retried with backoff while new results queue; a batch refused for its data is
retried one result at a time, and only the results the database refuses are rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from gateway.outputs.result import Result

from .config import StoreConfig
from .queue import Command, Item, ResultQueue
from .rows import build_batch
from .writer import write_batch

log = logging.getLogger(__name__)
T = TypeVar("T")
WriteRunner = Callable[[Callable[[Connection], Any]], Awaitable[Any]]
WARN_INTERVAL = 10.0
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
URGENT_TYPES = frozenset({"message_response"})


@dataclass
class SinkStats:
    queued: int = 0
    stored: int = 0
    skipped: int = 0
    dropped: int = 0
    rejected: int = 0
    suppressed: int = 0
    commits: int = 0
    failed_commits: int = 0
    last_error: str | None = None
    _warned_at: dict[str, float] = field(default_factory=dict, repr=False)


class StoreSink:
    """The store's output. ``send`` never blocks and never raises."""

    name = "store"

    def __init__(self, config: StoreConfig, run_write: WriteRunner) -> None:
        self._config = config
        self._run_write = run_write
        self._queue = ResultQueue(config.queue_limit)
        self._wake = asyncio.Event()
        self._urgent = False
        self._closing = False
        self._received = 0           # results accepted by send (drain's yardstick)
        self._finished = 0           # results stored, skipped, dropped or rejected
        self._progress = asyncio.Event()
        self._suppressed: set[str] = set()
        self.stats = SinkStats()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer(), name="store-sink")

    @property
    def pending(self) -> int:
        """Results waiting for their commit (not counting the batch being committed)."""
        return self._queue.results

    # -- the Sink interface ---------------------------------------------------------------

    def send(self, result: Result) -> None:
        try:
            if self._closing:
                self._count_drop(result, "store closing")
                return
            dropped = self._queue.push(result)
            if dropped is not None:
                self._count_drop(dropped, "queue full")
                if dropped is result:
                    return
                self._settle(1)
            self._received += 1
            self.stats.queued += 1
            if result.kind == "lifecycle" or result.body.get("type") in URGENT_TYPES:
                self._urgent = True
            self._wake.set()
        except Exception:  # noqa: BLE001 - an output must never break the media path
            log.exception("store: could not queue a result")

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until everything sent so far is committed or settled."""
        target = self._received
        deadline = time.monotonic() + timeout
        while self._finished < target and self._task is not None and not self._task.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._progress.clear()
            self._urgent = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def close(self, timeout: float = 10.0) -> None:
        await self.drain(timeout)
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        left = self._queue.clear()
        for item in left:
            if isinstance(item, Command) and not item.future.done():
                item.future.set_exception(RuntimeError("store closed"))
        lost = sum(isinstance(i, Result) for i in left)
        if lost:
            self.stats.dropped += lost
            log.warning("store: closed with %d results not committed (database too slow or "
                        "down)", lost)

    # -- commands ---------------------------------------------------------------------------

    async def command(self, run: Callable[[Connection], T], *, suppress: str | None = None) -> T:
        """Run ``run(connection)`` in a write transaction, after every result queued before."""
        if self._closing or self._task is None:
            raise RuntimeError("store closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.push_command(Command(run, future, suppress))
        self._urgent = True
        self._wake.set()
        return await future

    # -- internals --------------------------------------------------------------------------

    def _count_drop(self, result: Result, why: str) -> None:
        self.stats.dropped += 1
        self._warn("drop", f"store: dropping results ({why}); {self.stats.dropped} dropped "
                           f"so far, latest of conversation {result.conversation_id!r}")

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self.stats._warned_at.get(key, -WARN_INTERVAL) >= WARN_INTERVAL:
            self.stats._warned_at[key] = now
            log.warning(message)

    def _settle(self, count: int) -> None:
        self._finished += count
        self._progress.set()

    async def _writer(self) -> None:
        attempt = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                continue
            await self._linger()
            items = self._take()
            try:
                await self._commit(items)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except _Transient as exc:
                self._queue.requeue(items)
                delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                attempt += 1
                self.stats.failed_commits += 1
                self.stats.last_error = str(exc.__cause__ or exc)[:300]
                self._warn("commit", f"store: commit failed, retrying in {delay}s: "
                                     f"{self.stats.last_error}")
                await asyncio.sleep(delay)
            except Exception:  # noqa: BLE001 - a bug must not stop the store
                log.exception("store: a batch could not be written; its results are lost")
                self.stats.rejected += sum(isinstance(i, Result) for i in items)
                self._settle(sum(isinstance(i, Result) for i in items))
            if self._queue:
                self._wake.set()

    async def _linger(self) -> None:
        deadline = time.monotonic() + self._config.flush_interval
        while (not self._urgent and not self._closing
               and self._queue.results < self._config.batch_limit):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)
            self._wake.clear()
        if self._urgent and not self._closing:
            await asyncio.sleep(self._config.final_linger)

    def _take(self) -> list[Item]:
        self._urgent = False
        items = self._queue.take(self._config.batch_limit)
        if self._queue:
            self._urgent = True  # more waiting: do not linger again
        return items

    async def _commit(self, items: list[Item]) -> None:
        first = items[0]
        if isinstance(first, Command):
            await self._run_command(first)
            return
        results = self._unsuppressed([i for i in items if isinstance(i, Result)])
        batch = build_batch(results)
        try:
            await self._run_write(partial(write_batch, batch=batch))
        except Exception as exc:  # noqa: BLE001 - sorted out below; the writer must live on
            if isinstance(exc, DBAPIError) and _is_transient(exc):
                raise _Transient() from exc
            # Refused for its data (a constraint, an unencodable value): find the culprits.
            bad = {id(result) for result, _ in batch.rejected}
            await self._one_by_one([r for r in results if id(r) not in bad], exc)
        else:
            self.stats.commits += 1
            self.stats.stored += batch.stored
            self.stats.skipped += batch.skipped
        for result, why in batch.rejected:
            self._reject(result, why)
        self._settle(len(items))

    def _unsuppressed(self, results: list[Result]) -> list[Result]:
        if not self._suppressed:
            return results
        kept = []
        for result in results:
            cid = result.conversation_id
            if cid in self._suppressed:
                kind = result.body.get("type") if result.kind == "lifecycle" else None
                if kind == "conversation_started":
                    self._suppressed.discard(cid)  # the id is used for a new call
                else:
                    self.stats.suppressed += 1
                    if kind == "conversation_ended":
                        self._suppressed.discard(cid)
                    continue
            kept.append(result)
        return kept

    async def _one_by_one(self, results: list[Result], error: Exception) -> None:
        log.warning("store: a batch was refused (%s); retrying its results one by one",
                    str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
        for result in results:
            batch = build_batch([result])
            try:
                await self._run_write(partial(write_batch, batch=batch))
                self.stats.stored += batch.stored
                self.stats.skipped += batch.skipped
            except Exception as exc:  # noqa: BLE001 - counted and logged, never fatal
                if isinstance(exc, DBAPIError) and _is_transient(exc):
                    raise _Transient() from exc
                self._reject(result, (str(exc).splitlines() or [type(exc).__name__])[0][:200])

    def _reject(self, result: Result, why: str) -> None:
        self.stats.rejected += 1
        self._warn("reject", f"store: rejected a {result.body.get('type')!r} result of "
                             f"conversation {result.conversation_id!r} (seq {result.seq}): {why}"
                             f"; {self.stats.rejected} rejected so far")

    async def _run_command(self, command: Command) -> None:
        try:
            value = await self._run_write(command.run)
        except DBAPIError as exc:
            if _is_transient(exc):
                raise _Transient() from exc
            if not command.future.done():
                command.future.set_exception(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the caller gets it
            if not command.future.done():
                command.future.set_exception(exc)
            return
        if command.suppress is not None:
            self._suppressed.add(command.suppress)
        if not command.future.done():
            command.future.set_result(value)


class _Transient(Exception):
    """The database could not be reached or was locked; the batch is retried."""


def _is_transient(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError | InterfaceError)
