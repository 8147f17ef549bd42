"""Reconnection timing shared by every outbound connection (relays, remote recognisers)."""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 10.0


def backoff_delay(attempt: int, *, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_MAX,
                  rand: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (0-based): ``initial`` doubling up to ``cap``,
    each a random value between half and all of it, so connections that lost the same
    server do not reconnect in lockstep."""
    nominal = min(cap, initial * 2 ** min(attempt, 32))
    return nominal * (0.5 + 0.5 * rand())
