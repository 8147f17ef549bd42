"""One buffered sink for every output: a bound, drop-oldest, counters and a writer task.

``send`` only serialises and appends (the media path never waits on an output); a writer
task delivers the queue in order through the subclass's ``_write``. An item leaves the queue
only once ``_write`` returned, and the item being written is never evicted, so a connection
that breaks mid-write loses nothing that was not written. Past the bound the oldest queued
item is dropped, counted, and reported in a warning at most every ``WARN_INTERVAL`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.observability.metrics import OutputMetrics

from .result import Result

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = str | bytes
WARN_INTERVAL = 10.0


class RetryWrite(Exception):
    """The write did not happen (connection lost): keep the item, try again."""


class StopWriting(Exception):
    """The output is gone for good (peer gone, downstream refused): discard and stop."""


class BoundedQueue(Generic[T]):
    """A FIFO bounded by item count and, optionally, total cost (e.g. bytes or seconds)."""

    def __init__(self, max_items: int, *, max_cost: float | None = None,
                 cost: Callable[[T], float] | None = None) -> None:
        if max_items < 1:
            raise ValueError("backlog must be at least 1")
        self.max_items = max_items
        self.max_cost = max_cost
        self._cost = cost or (lambda _: 1)
        self._items: deque[tuple[int, T]] = deque()
        self._seq = 0
        self._in_flight: int | None = None
        self.total_cost = 0.0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> int:
        """Append; evict the oldest (never the one in flight) past the bounds. Returns how
        many were evicted."""
        self._seq += 1
        self._items.append((self._seq, item))
        self.total_cost += self._cost(item)
        evicted = 0
        while len(self._items) > 1 and self._over():
            if not self._evict():
                break
            evicted += 1
        self._empty.clear()
        self._wake.set()
        return evicted

    def _over(self) -> bool:
        return len(self._items) > self.max_items or (
            self.max_cost is not None and self.total_cost > self.max_cost)

    def _evict(self) -> bool:
        in_flight = self._in_flight is not None and self._items[0][0] == self._in_flight
        index = 1 if in_flight else 0
        if index >= len(self._items):
            return False
        _, item = self._items[index]
        del self._items[index]
        self.total_cost -= self._cost(item)
        return True

    async def wait_item(self) -> None:
        while not self._items:
            self._wake.clear()
            await self._wake.wait()

    def take(self) -> tuple[int, T]:
        """The head, marked in flight (it will not be evicted until ``done``)."""
        seq, item = self._items[0]
        self._in_flight = seq
        return seq, item

    def done(self, seq: int) -> None:
        """The item ``seq`` was delivered: remove it (if a clear did not already)."""
        self._in_flight = None
        if self._items and self._items[0][0] == seq:
            _, item = self._items.popleft()
            self.total_cost -= self._cost(item)
        if not self._items:
            self._empty.set()

    def release(self) -> None:
        """The item in flight was not delivered; it stays at the head."""
        self._in_flight = None

    def clear(self) -> int:
        count = len(self._items)
        self._items.clear()
        self.total_cost = 0.0
        self._in_flight = None
        self._empty.set()
        self._wake.set()
        return count

    async def wait_empty(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout)
        return self._empty.is_set()


class BufferedSink:
    """Base of every output: ``serialize`` picks what to send, ``_write`` sends one item.

    Subclasses may override ``_ready`` (wait until the output can take an item: a channel
    opening, a connection being made) and ``_goodbye`` (the protocol's last words at close).
    """

    name = "buffered"

    def __init__(self, label: str, *, backlog: int, max_cost: float | None = None,
                 cost: Callable[[Item], float] | None = None) -> None:
        self.label = label
        self._queue: BoundedQueue[Item] = BoundedQueue(backlog, max_cost=max_cost, cost=cost)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stopped = False
        self.sent = 0
        self.dropped = 0  # evicted from a full backlog
        self.discarded = 0  # never queued or abandoned: after close/stop, unserialisable
        self._metrics = OutputMetrics.for_output(self.name)
        # The writer logs with the ids bound where the output was built (its session, or
        # only its conversation), not those of whichever session first published to it.
        self._log_context = contextvars.copy_context()
        self._drops_unreported = 0
        self._last_warning = float("-inf")

    # -- what subclasses define ---------------------------------------------------------

    def serialize(self, result: Result) -> Item | None:
        """This output's wire form of ``result``; None when the result is not for it."""
        return result.text if result.kind == "symbl" else None

    async def _ready(self) -> None:
        """Wait until an item can be written (raise ``StopWriting`` if it never will)."""

    async def _write(self, item: Item) -> None:
        raise NotImplementedError

    async def _goodbye(self) -> None:
        """The protocol's closing words, after the queue was written or abandoned."""

    # -- Sink -----------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closing and self._task is None

    def send(self, result: Result) -> None:
        try:
            item = self.serialize(result)
        except Exception:
            self.discarded += 1
            self._metrics.discarded.inc()
            log.exception("%s %s: a result could not be serialised; skipped", self.name,
                          self.label)
            return
        if item is not None:
            self.put(item)

    def put(self, item: Item) -> None:
        """Queue one item for the writer; never blocks, never raises."""
        if self._closing or self.stopped:
            self.discarded += 1
            self._metrics.discarded.inc()
            return
        evicted = self._queue.put(item)
        if evicted:
            self._dropped(evicted)
        self._ensure_writer()

    async def drain(self, timeout: float) -> None:
        if not self._queue or self.stopped or self._closing:
            return
        self._ensure_writer()
        if not await self._queue.wait_empty(timeout):
            log.warning("%s %s: %d items not delivered within %.1f s", self.name, self.label,
                        len(self._queue), timeout)

    async def close(self) -> None:
        """Stop the writer, say goodbye, abandon what is left. Never raises."""
        if self._closing:
            return
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await self._goodbye()
        except Exception:
            log.exception("%s %s: closing failed", self.name, self.label)
        finally:
            self._abandon("at close")

    # -- internals ------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._task is not None or self._closing or self.stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the next put or drain on the loop starts the writer
        self._task = loop.create_task(self._run(), name=f"{self.name}-{self.label}",
                                      context=self._log_context.copy())

    async def _run(self) -> None:
        try:
            while True:
                await self._queue.wait_item()
                await self._ready()
                if not self._queue:
                    continue
                seq, item = self._queue.take()
                try:
                    await self._write(item)
                except RetryWrite:
                    self._queue.release()
                    continue
                except BaseException:
                    self._queue.release()
                    raise
                self._queue.done(seq)
                self.sent += 1
                self._metrics.sent.inc()
        except asyncio.CancelledError:
            raise
        except StopWriting as exc:
            self.stop(str(exc))
        except Exception:
            log.exception("%s %s: writer failed; nothing more is delivered", self.name,
                          self.label)
            self.stop("writer failed")

    def stop(self, why: str) -> None:
        """No more deliveries (the output is gone); queued items are discarded."""
        if not self.stopped:
            self.stopped = True
            self._metrics.stops.inc()
            log.info("%s %s stopped: %s", self.name, self.label, why)
        self._abandon("after stop")

    def _abandon(self, when: str) -> None:
        count = self._queue.clear()
        if count:
            self.discarded += count
            self._metrics.discarded.inc(count)
            log.debug("%s %s: %d queued items abandoned %s", self.name, self.label, count, when)

    def _dropped(self, count: int) -> None:
        self.dropped += count
        self._metrics.dropped.inc(count)
        self._drops_unreported += count
        now = time.monotonic()
        if now - self._last_warning >= WARN_INTERVAL:
            log.warning("%s %s: backlog of %d full, dropped %d oldest (%d in total); %s",
                        self.name, self.label, self._queue.max_items, self._drops_unreported,
                        self.dropped, self._slow_hint())
            self._drops_unreported = 0
            self._last_warning = now

    def _slow_hint(self) -> str:
        return "the receiver is slow or unreachable"
