"""A token bucket: a burst allowance refilled at a steady rate (per connection limits)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``take`` succeeds while tokens remain; tokens refill at ``rate`` per second up to
    ``burst``. The clock is injectable so tests need not sleep."""

    def __init__(self, burst: int, rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
