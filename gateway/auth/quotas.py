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
a multi-node version keeps the counts in Redis behind the same two calls. The counter also
knows the leases it holds and whose app each belongs to, so a revoked app's sockets can be
ended (``SessionLease.on_revoke``, set by whoever holds the lease).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
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
    """One open session's slot. ``on_revoke``: how its holder ends the session when the
    app it belongs to is revoked (None: the holder ends it some other way)."""

    on_revoke: Callable[[], object] | None

    def release(self) -> None: ...


@dataclass(slots=True, eq=False)
class _Lease:
    counter: SessionCounter
    key: str
    subject: str  # the app the token belongs to
    released: bool = field(default=False)
    on_revoke: Callable[[], object] | None = None

    def release(self) -> None:
        """Give the slot back; a second call does nothing."""
        if not self.released:
            self.released = True
            self.counter._release(self)


@dataclass(slots=True)
class NoLease:
    """The lease of an unlimited principal (open mode)."""

    on_revoke: Callable[[], object] | None = None

    def release(self) -> None:
        return None


class SessionCounter:
    """Concurrent sessions per key, in this process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._held: set[_Lease] = set()

    def acquire(self, key: str, limit: int | None, *, subject: str = "") -> SessionLease:
        """A slot for ``key`` (``limit`` None: counted, never refused)."""
        current = self._counts.get(key, 0)
        if limit is not None and current >= limit:
            raise too_many(TOO_MANY_SESSIONS,
                           f"this token already has {current} open sessions (limit {limit})",
                           SESSION_RETRY_AFTER)
        self._counts[key] = current + 1
        lease = _Lease(self, key, subject)
        self._held.add(lease)
        return lease

    def held_by(self, subjects: Callable[[str], bool]) -> list[SessionLease]:
        """The open leases whose app ``subjects(app_id)`` selects."""
        return [lease for lease in self._held if subjects(lease.subject)]

    def open(self, key: str) -> int:
        return self._counts.get(key, 0)

    def _release(self, lease: _Lease) -> None:
        self._held.discard(lease)
        key = lease.key
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)
