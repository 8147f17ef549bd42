"""Graceful drain: stop admitting, let calls finish, then shut down as usual.

A rolling deploy sends SIGTERM; killing every call at once would cut people off
mid-sentence. Draining instead makes ``/readyz`` answer 503 (the load balancer sends new
calls elsewhere), refuses new sessions with ``shutting_down``, tells each open session that
supports it to reconnect elsewhere (``Drainable.draining``: the WebRTC session sends a
``reconnect`` signaling message), and waits until every session has ended or the drain
timeout passes. The caller then runs the ordinary shutdown, which flushes and closes what
is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol, runtime_checkable

from aiohttp import web

from gateway.conversation.admission import Admission

from .live import LiveSessions

log = logging.getLogger(__name__)

DEFAULT_DRAIN_TIMEOUT = 60.0


@runtime_checkable
class Drainable(Protocol):
    """A session that can tell its client to move to another node (before ``within``
    seconds, after which it is closed)."""

    async def draining(self, within: float) -> None: ...


class Drain:
    def __init__(self, admission: Admission, live: LiveSessions) -> None:
        self._admission = admission
        self._live = live
        self.started_at: float | None = None  # time.monotonic() when the drain began
        self.deadline: float | None = None

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def remaining(self) -> float | None:
        """Seconds left before open sessions are closed, while draining."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    async def run(self, timeout: float) -> int:
        """Drain for at most ``timeout`` seconds; return how many sessions are still open.

        Idempotent: a second call waits on the same deadline.
        """
        if self.started_at is None:
            self.started_at = time.monotonic()
            self.deadline = self.started_at + max(0.0, timeout)
            self._admission.drain()
            open_now = self._live.count()
            log.info("draining: %d open sessions have up to %.0f s to finish; new sessions "
                     "are refused", open_now, timeout)
            await self._notify(timeout)
        remaining = await self._wait()
        if remaining:
            log.warning("drain timeout: closing %d sessions still open", remaining)
        else:
            log.info("drained: no open sessions")
        return remaining

    async def _notify(self, within: float) -> None:
        sessions = [s for _, s in self._live.items() if isinstance(s, Drainable)]
        results = await asyncio.gather(*(s.draining(within) for s in sessions),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("telling a session to reconnect elsewhere failed: %r", result)

    async def _wait(self) -> int:
        """Poll (cheap: a count) rather than wait on each session: sessions may be replaced
        or added by transports between looks."""
        while self._live.count():
            left = self.remaining()
            if not left:
                break
            await asyncio.sleep(min(0.1, left))
        return self._live.count()


DRAIN_KEY = web.AppKey("drain", Drain)
