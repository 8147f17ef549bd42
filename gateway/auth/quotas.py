"""Per-token limits: requests per window (the ``limits`` library) and concurrent sessions.

Requests use ``limits``' sliding-window-counter strategy over its async in-memory storage:
the count of the current window plus the previous window's count weighted by how much of
it still overlaps, so a burst at a window edge cannot double the rate, and a limit
recovers smoothly as time passes. The same strategy runs on ``limits``' Redis storage when
the gateway becomes several nodes (pass an ``async+redis://`` storage URI). ``Retry-After``
comes from the window's own reset estimate. (The exact moving window costs ~0.6 ms more
per request here: its in-memory storage expires events through a thread hop per key.)

Concurrent sessions are a counter, not a rate: a slot is taken when a socket opens and
given back when it closes, which ``limits`` (time windows, no release) cannot express.
:class:`SessionCounter` is a dict of counts behind a lease that can only be released once;
a multi-node version keeps the counts in Redis behind the same two calls.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Protocol

import limits
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from .errors import RATE_LIMITED, TOO_MANY_SESSIONS, too_many

# A session refused for concurrency may retry when one of its others ends: we cannot know
# when, so we suggest a short wait rather than none (RFC 6585 lets 429 carry a hint).
SESSION_RETRY_AFTER = 5


@functools.lru_cache(maxsize=256)
def parse_rate(text: str | int) -> limits.RateLimitItem:
    """``"600/minute"``, ``"10 per 2 seconds"``, or a bare number meaning per minute."""
    if isinstance(text, int) or str(text).strip().isdigit():
        count = int(text)
        if count < 1:
            raise ValueError("a rate limit must allow at least 1 request")
        return limits.RateLimitItemPerMinute(count)
    try:
        return limits.parse(str(text))
    except ValueError:
        raise ValueError(f"not a rate limit: {text!r} (e.g. 600/minute)") from None


class RequestLimiter:
    """Counts requests per key against a rate; raises 429 with Retry-After when over it."""

    def __init__(self, storage_uri: str | None = None) -> None:
        # An "async+redis://..." URI puts the windows in Redis for several nodes.
        storage = storage_from_string(storage_uri) if storage_uri else MemoryStorage()
        if not isinstance(storage, Storage):
            raise ValueError("the limits storage URI must be an async one (async+...)")
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, key: str, rate: limits.RateLimitItem, *, code: str = RATE_LIMITED,
                  what: str = "requests") -> None:
        if await self._limiter.hit(rate, key):
            return
        stats = await self._limiter.get_window_stats(rate, key)
        retry = max(1.0, stats.reset_time - time.time())
        raise too_many(code, f"too many {what}: at most {rate.amount} per "
                       f"{_window(rate)}; retry in {int(retry + 0.999)} s", retry)

    async def test(self, key: str, rate: limits.RateLimitItem, *, code: str,
                   what: str) -> None:
        """Like :meth:`hit` but counts nothing (for 'failures so far' checks)."""
        if await self._limiter.test(rate, key):
            return
        stats = await self._limiter.get_window_stats(rate, key)
        retry = max(1.0, stats.reset_time - time.time())
        raise too_many(code, f"too many {what}; retry in {int(retry + 0.999)} s", retry)

    async def count(self, key: str, rate: limits.RateLimitItem) -> None:
        """Record one hit whatever the limit (a failure to be counted)."""
        await self._limiter.hit(rate, key)


def _window(rate: limits.RateLimitItem) -> str:
    unit = rate.GRANULARITY.name
    return unit if rate.multiples == 1 else f"{rate.multiples} {unit}s"


class SessionLease(Protocol):
    def release(self) -> None: ...


@dataclass(slots=True)
class _Lease:
    counter: SessionCounter
    key: str
    released: bool = field(default=False)

    def release(self) -> None:
        """Give the slot back; a second call does nothing."""
        if not self.released:
            self.released = True
            self.counter._release(self.key)


class NoLease:
    """The lease of an unlimited principal (open mode)."""

    def release(self) -> None:
        return None


class SessionCounter:
    """Concurrent sessions per key, in this process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def acquire(self, key: str, limit: int) -> SessionLease:
        current = self._counts.get(key, 0)
        if current >= limit:
            raise too_many(TOO_MANY_SESSIONS,
                           f"this token already has {current} open sessions (limit {limit})",
                           SESSION_RETRY_AFTER)
        self._counts[key] = current + 1
        return _Lease(self, key)

    def open(self, key: str) -> int:
        return self._counts.get(key, 0)

    def _release(self, key: str) -> None:
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)
