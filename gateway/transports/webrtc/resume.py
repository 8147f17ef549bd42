"""What lets a WebRTC session outlive a network blip: its resume token and its absence.

A client that asked for ``resume`` gets a token in its answer. When its signaling connection
goes away, or its media connection fails, the session is *away*: it goes on (recognising
whatever audio still arrives, keeping the results it could not deliver) for a grace period,
during which a new connection presenting the token continues it. Past the grace period the
session ends as ``dropped``. The grace period runs from the moment the first thing went away
until everything is back, so a client that keeps half-returning cannot hold a seat for ever.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Literal

Part = Literal["signaling", "media"]


def new_token() -> str:
    """256 random bits, URL-safe: a capability, never logged."""
    return secrets.token_urlsafe(32)


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison (bytes: ``compare_digest`` refuses non-ASCII ``str``)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


class Absence:
    """Which parts of a resumable session are away, and the grace timer that ends it.

    ``on_change(True)`` when the first part goes away, ``on_change(False)`` when the last
    comes back; ``on_expired()`` when the grace period passes with something still away.
    """

    def __init__(self, grace: float, *, on_change: Callable[[bool], None],
                 on_expired: Callable[[], None]) -> None:
        self.grace = grace
        self._on_change = on_change
        self._on_expired = on_expired
        self._away: set[Part] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.since: float | None = None  # time.monotonic() when it went away
        self.expired = False

    def __contains__(self, part: Part) -> bool:
        return part in self._away

    @property
    def any(self) -> bool:
        return bool(self._away)

    @property
    def remaining(self) -> float:
        """Seconds of the grace period left (the whole period when nothing is away)."""
        if self.since is None:
            return self.grace
        return max(0.0, self.grace - (time.monotonic() - self.since))

    def away(self, part: Part) -> None:
        if part in self._away or self.expired:
            return
        first = not self._away
        self._away.add(part)
        if first:
            self.since = time.monotonic()
            self._timer = asyncio.get_running_loop().call_later(self.grace, self._expire)
            self._on_change(True)

    def back(self, part: Part) -> None:
        if part not in self._away:
            return
        self._away.discard(part)
        if not self._away:
            self.cancel()
            self.since = None
            self._on_change(False)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._away:
            self.expired = True
            self._on_expired()
