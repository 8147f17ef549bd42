"""The node's Redis connection and its one opinion on whether Redis is reachable.

Every cross-node part (heartbeat, result writer, stream reader, claims) reports success or
failure here, so an outage is logged once when it starts and once when it ends, however many
parts notice it, and parts ask ``up`` to decide whether to degrade (local-only) at once
instead of waiting on timeouts. Commands fail fast (one immediate retry on a fresh
connection, for connections left over from before a restart): each part retries on its own
schedule with ``backoff_delay``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.outputs.reconnect import backoff_delay

log = logging.getLogger("gateway.cluster")

# What "Redis is not there" looks like (BusyLoadingError, a restarted server still loading
# its data, is a ConnectionError).
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError,
                                                OSError, asyncio.TimeoutError)

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0  # above the stream reader's BLOCK time


def redacted(url: str) -> str:
    """host:port/db of a Redis URL, without credentials, for log lines."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or ''}"


async def execute(pipe: Pipeline, *, raise_on_error: bool = True) -> list[Any]:
    """Run a pipeline and always give its connection back, also when Redis drops it."""
    async with pipe:
        replies: list[Any] = await pipe.execute(raise_on_error=raise_on_error)
        return replies


class RedisLink:
    def __init__(self, url: str, *, client: aioredis.Redis | None = None) -> None:
        self.where = redacted(url)
        self.client: aioredis.Redis = client or aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            # One immediate retry on a broken connection: after Redis restarts, pooled
            # connections to the old server fail once each; a fresh one then works. Down
            # for real, the retry is refused at once too.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=10)
        self.up = True
        self.outages = 0
        self._down_since: float | None = None
        self.up_since = time.monotonic()  # when Redis last became reachable
        self._on_restored: list[Callable[[], None]] = []

    def on_restored(self, callback: Callable[[], None]) -> None:
        """Called (synchronously) when Redis answers again after an outage."""
        self._on_restored.append(callback)

    def lost(self, exc: BaseException, during: str) -> None:
        if self.up:
            self.up = False
            self.outages += 1
            self._down_since = time.monotonic()
            log.warning("redis at %s unavailable (%s while %s): cross-node features paused "
                        "(calls in progress and their own clients are unaffected); "
                        "reconnecting", self.where, type(exc).__name__, during)

    def ok(self) -> None:
        if not self.up:
            self.up = True
            self.up_since = time.monotonic()
            down = time.monotonic() - (self._down_since or time.monotonic())
            log.warning("redis at %s is back after %.1f s: cross-node features resumed",
                        self.where, down)
            for callback in list(self._on_restored):
                try:
                    callback()
                except Exception:
                    log.exception("redis restore callback failed")

    @property
    def down_for(self) -> float:
        """Seconds since Redis was last reachable (0 while it is)."""
        if self.up or self._down_since is None:
            return 0.0
        return time.monotonic() - self._down_since

    @staticmethod
    async def pause(attempt: int, cap: float = 10.0) -> None:
        """Wait before retry ``attempt`` (jittered exponential backoff up to ``cap``)."""
        await asyncio.sleep(backoff_delay(attempt, cap=cap))

    async def aclose(self) -> None:
        await self.client.aclose()
