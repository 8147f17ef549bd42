"""A Symbl connection's socket as a result output: every text frame it sends, in order.

The socket has one writer, this sink: the conversation's results arrive through the bus
(attached with the participant's id, so only what is meant for this participant), and the
transport's own frames (notices, errors, ``__PONG__``) are queued here with :meth:`say`, so
a notice can never overtake a result or the other way round. The backlog is bounded in items
and bytes with drop-oldest: a client that stops reading loses its own oldest messages
(counted, logged) while the server's memory stays flat and other sessions never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiohttp import web

from gateway.outputs.buffer import BufferedSink, Item, StopWriting
from gateway.outputs.result import Result
from gateway.protocols.symbl import streaming

log = logging.getLogger(__name__)

BACKLOG = 1000
MAX_BACKLOG_CHARS = 4 * 1024 * 1024
CLOSE_TIMEOUT = 2.0


def _size(item: Item) -> float:
    return len(item)


class SymblSocketSink(BufferedSink):
    name = "symbl"

    def __init__(self, ws: web.WebSocketResponse, label: str, *, backlog: int = BACKLOG,
                 max_chars: int = MAX_BACKLOG_CHARS) -> None:
        super().__init__(label, backlog=backlog, max_cost=max_chars, cost=_size)
        self.ws = ws

    def serialize(self, result: Result) -> Item | None:
        return streaming.serialize(result)

    def say(self, texts: Iterable[str]) -> None:
        """Queue the transport's own frames behind everything already queued."""
        for text in texts:
            self.put(text)

    async def _write(self, item: Item) -> None:
        try:
            if isinstance(item, bytes):
                await self.ws.send_bytes(item)
            else:
                await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as exc:
            raise StopWriting(f"the client went away: {exc}") from None

    async def hang_up(self, code: int, reason: str = "") -> None:
        """Deliver what is queued (bounded), then close the socket with ``code``.

        Used for every close the server decides (after ``stop_request``, an idle timeout,
        a fatal error, shutdown); bounded throughout, so a client that stopped reading
        cannot hold it up.
        """
        await self.drain(CLOSE_TIMEOUT)
        await self.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()[:120]),
                                   CLOSE_TIMEOUT)

    def _slow_hint(self) -> str:
        return "the Symbl client is not reading its socket"
