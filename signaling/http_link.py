"""HTTP signaling connections: the carrier, and the links that outlive single requests.

Over HTTP one signaling connection spans many requests: POSTs with the client's messages,
and one event stream (or a series of polls) with the server's. A *link* ties them together
by an id and a secret, holds the carrier (``HttpCarrier``: the numbered, bounded event queue
of ``signaling.events``), and decides when the client is gone: no event stream or poll for
``LINGER`` seconds, which is what a WebSocket's heartbeat timeout is to ``/ws``. A closed
link is kept ``CLOSED_KEEP`` seconds so the client can still read its last events (the
error that closed it, then the close event).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from .connection import CLOSE_GOING_AWAY, CLOSE_POLICY, SignalingConnection
from .events import EventQueue

log = logging.getLogger("signaling.server")

LINGER = 20.0  # seconds without a reader before the client counts as gone
CLOSED_KEEP = 30.0  # seconds a closed link still answers its last events
SWEEP_INTERVAL = 1.0
HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle event stream


class HttpCarrier:
    """Implements ``signaling.connection.Carrier`` with an event queue clients read."""

    kind = "http"

    def __init__(self, on_close: Callable[[], None]) -> None:
        self.events = EventQueue()
        self.closed_with: tuple[int, str] | None = None
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        return self.closed_with is not None

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if not self.events.put(message):
            log.warning("http signaling: %d events unread, closing the connection (the client "
                        "does not read its event stream)", self.events.undelivered)
            await self.close(CLOSE_POLICY, "events not read")

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed_with = (code, reason)
        self.events.wake()
        self._on_close()

    def close_event(self) -> dict[str, Any] | None:
        if self.closed_with is None:
            return None
        return {"code": self.closed_with[0], "reason": self.closed_with[1]}


class Link:
    """One HTTP signaling connection: its id and secret, carrier, protocol state, readers."""

    def __init__(self, links: Links) -> None:
        self.id = uuid.uuid4().hex
        self.secret = secrets.token_urlsafe(32)
        self._links = links
        self.carrier = HttpCarrier(self._carrier_closed)
        self.connection: SignalingConnection | None = None
        self.lock = asyncio.Lock()  # one request's messages at a time, in arrival order
        self.readers = 0
        self.epoch = 0  # the newest reader's number: older ones stop
        self.idle_since = time.monotonic()
        self.closed_at: float | None = None
        self._lost = False

    def check(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret.encode(), secret.encode("utf-8", "replace"))

    def attach_reader(self) -> int:
        """A new event stream or poll; any older one stops. Returns its number."""
        self.epoch += 1
        self.readers += 1
        self.carrier.events.wake()
        return self.epoch

    def detach_reader(self) -> None:
        self.readers -= 1
        if self.readers <= 0:
            self.readers = 0
            self.idle_since = time.monotonic()

    async def end(self, code: int, reason: str) -> None:
        """The client closed the connection, or went away (no reader in time)."""
        await self.lost()
        await self.carrier.close(code, reason)

    async def lost(self) -> None:
        """Tell the connection (once) that its carrier is gone."""
        if self._lost:
            return
        self._lost = True
        if self.connection is not None:
            await self.connection.lost()

    def _carrier_closed(self) -> None:
        self.closed_at = time.monotonic()
        # The server closed it (session ended, offer timeout, shutdown, taken over):
        # the connection learns it as a WebSocket handler's ``finally`` would.
        self._links.spawn(self.lost())


class Links:
    """The HTTP signaling connections of one application, and the sweeper that ends the
    ones whose client went away and forgets closed ones."""

    def __init__(self) -> None:
        self._links: dict[str, Link] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._links)

    def new(self) -> Link:
        link = Link(self)
        self._links[link.id] = link
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep())
        return link

    def get(self, link_id: str) -> Link | None:
        return self._links.get(link_id)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_all(self) -> None:
        """Shutdown: every link ends (its sessions were flushed before), the sweeper stops."""
        for link in list(self._links.values()):
            await link.end(CLOSE_GOING_AWAY, "server shutting down")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep(self) -> None:
        while self._links:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.monotonic()
            for link in list(self._links.values()):
                if link.closed_at is not None:
                    if now - link.closed_at > CLOSED_KEEP:
                        del self._links[link.id]
                elif link.readers == 0 and now - link.idle_since > LINGER:
                    log.info("http signaling %s: no event stream for %.0f s, the client is "
                             "gone", link.id, LINGER)
                    self.spawn(link.end(CLOSE_GOING_AWAY, "client gone"))
