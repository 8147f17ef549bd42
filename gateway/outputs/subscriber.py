"""A console watching a conversation over its WebSocket (``GET /subscribe/{id}``).

A subscriber is a conversation-level output with a bounded backlog: a slow console loses its
own oldest messages (counted) and never slows the call or other subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from gateway.protocols import subscribe

from .buffer import BufferedSink, Item, StopWriting
from .result import Result

log = logging.getLogger(__name__)

BACKLOG = 1000
CLOSE_TIMEOUT = 2.0


class SubscriberSink(BufferedSink):
    """Writes a conversation's messages to one subscriber's WebSocket, in order."""

    name = "subscriber"

    def __init__(self, ws: web.WebSocketResponse, conversation_id: str,
                 *, backlog: int = BACKLOG, presence: bool = False) -> None:
        super().__init__(conversation_id, backlog=backlog)
        self.ws = ws
        self.conversation_id = conversation_id
        self.presence = presence  # also send lifecycle events (consoles ask for them)
        self.done = asyncio.Event()  # set once the socket is closed by us
        self._ended = False  # conversation_ended queued

    def serialize(self, result: Result) -> Item | None:
        text = subscribe.serialize(result, presence=self.presence)
        if result.type == "conversation_ended" and text is not None:
            self._ended = True
        return text

    async def _write(self, item: Item) -> None:
        try:
            if isinstance(item, bytes):
                await self.ws.send_bytes(item)
            else:
                await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as exc:
            raise StopWriting(f"the subscriber went away: {exc}") from None

    async def close(self) -> None:
        """Say ``conversation_ended`` (unless the conversation already did), close normally.

        A console waiting for a call that never started hears it too, at shutdown.
        """
        if self.done.is_set():
            return
        if not self._ended and not self.stopped and not self._closing:
            self._ended = True
            self.put(subscribe.conversation_ended(self.conversation_id))
        await self.drain(CLOSE_TIMEOUT)
        await super().close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), CLOSE_TIMEOUT)
        self.done.set()

    def abandon(self) -> None:
        """The subscriber left on its own: stop writing, drop what is queued."""
        self.stop("the subscriber left")
        if self._task is not None:
            self._task.cancel()

    def _slow_hint(self) -> str:
        return f"the subscriber of {self.conversation_id} is slow"
