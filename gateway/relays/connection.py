"""One WebSocket of a downstream stream: opening it, its keepalive pings, ending it.

aiohttp's own heartbeat closes a connection without a pong, but says nothing about *what*
arrived; here pings are sent by the link (``autoping=False``) with a counter as payload, and
the pong for a ping confirms every frame written before it (gateway/relays/replay.py). A
downstream that stops reading stops answering pings too, so the same timer finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import aiohttp

MAX_MESSAGE = 4 * 1024 * 1024  # largest frame accepted from a downstream


class Refused(Exception):
    """The downstream refused this stream (HTTP 401/403, close 1008 or 4000-4999)."""


def is_refusal(code: int | None) -> bool:
    return code is not None and (code == 1008 or 4000 <= code <= 4999)


def describe(exc: BaseException) -> str:
    """A log line for a failure; handshake errors carry the full URL (with its query, which
    may hold credentials), so those are reduced to their HTTP status."""
    if isinstance(exc, aiohttp.WSServerHandshakeError | aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def open_socket(session: aiohttp.ClientSession, url: str, *, protocols: tuple[str, ...],
                      headers: dict[str, str], connect_timeout: float,
                      close_timeout: float) -> aiohttp.ClientWebSocketResponse:
    """Connect within ``connect_timeout`` (TCP, TLS and the handshake); :class:`Refused` for
    an answer that means "never", any other exception for "try again later"."""
    try:
        async with asyncio.timeout(connect_timeout):
            return await session.ws_connect(
                url, protocols=protocols, headers=headers, autoping=False, autoclose=True,
                heartbeat=None, max_msg_size=MAX_MESSAGE,
                timeout=aiohttp.ClientWSTimeout(ws_close=close_timeout))
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in (401, 403):
            raise Refused(f"refused the connection with HTTP {exc.status}") from None
        raise


@dataclass(eq=False)
class Connection:
    """A connected WebSocket and the link's bookkeeping for it."""

    ws: aiohttp.ClientWebSocketResponse
    number: int
    opened_at: float = field(default_factory=time.monotonic)
    last_pong: float = field(default_factory=time.monotonic)
    reader: asyncio.Task[None] | None = None
    keepalive: asyncio.Task[None] | None = None
    ping: tuple[bytes, int, float] | None = None   # payload, buffer mark, sent at
    pings: int = 0
    confirmed: bool = False                        # a pong came back

    def next_ping(self, mark: int) -> bytes:
        self.pings += 1
        payload = self.pings.to_bytes(4, "big")
        self.ping = (payload, mark, time.monotonic())
        return payload

    def pong(self, payload: bytes) -> int | None:
        """The buffer mark this pong confirms (None: not the ping we wait for)."""
        if self.ping is None or payload != self.ping[0]:
            return None
        mark = self.ping[1]
        self.ping = None
        self.last_pong = time.monotonic()
        return mark

    def waited(self) -> float:
        """How long the outstanding ping has waited for its pong (0 without one)."""
        return time.monotonic() - self.ping[2] if self.ping else 0.0

    async def read(self, on_frame: Callable[[str | bytes], None],
                   on_pong: Callable[[int | None], None]) -> tuple[int | None, str]:
        """Read until the connection ends: frames to ``on_frame``, pings answered, every pong
        to ``on_pong`` (with the buffer mark it confirms, if it is the one awaited).
        Returns the close code and why it ended."""
        ws = self.ws
        try:
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    on_frame(msg.data)
                elif msg.type is aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is aiohttp.WSMsgType.PONG:
                    on_pong(self.pong(msg.data))
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    return msg.data, f"closed by the downstream (code {msg.data})"
                else:
                    return ws.close_code, f"connection lost ({ws.close_code})"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return None, f"read failed: {describe(exc)}"

    async def keep_alive(self, *, mark: Callable[[], int], waiting: Callable[[], bool],
                         interval: float, heartbeat: float, pong_timeout: float) -> str:
        """Ping every ``interval`` while ``waiting()`` (frames await confirmation), every
        ``heartbeat`` otherwise, one ping at a time; returns why the connection is dead (a
        pong overdue by ``pong_timeout``, or a ping that could not be sent)."""
        while True:
            await asyncio.sleep(min(interval, heartbeat))
            if self.ping is not None:
                if self.waited() > pong_timeout:
                    return f"no answer to a ping within {pong_timeout:.0f} s"
                continue
            if waiting() or time.monotonic() - self.last_pong >= heartbeat:
                try:
                    async with asyncio.timeout(pong_timeout):
                        await self.ws.ping(self.next_ping(mark()))
                except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                    return f"ping failed: {describe(exc)}"

    def abort(self) -> None:
        """Drop the connection at once: no close handshake, unsent bytes discarded. A peer
        that stopped reading would otherwise hold the transport (and its buffer) open."""
        conn = getattr(self.ws, "_conn", None)  # aiohttp has no public abort
        transport = getattr(conn, "transport", None)
        if transport is not None:
            transport.abort()

    async def dispose(self, *, graceful: bool, timeout: float) -> None:
        """Stop its tasks and close it (a close handshake within ``timeout`` if
        ``graceful``, else an abort)."""
        current = asyncio.current_task()
        tasks = [t for t in (self.keepalive, self.reader) if t is not None and t is not current]
        if not graceful:
            self.abort()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if graceful and not self.ws.closed:
            try:
                async with asyncio.timeout(timeout):
                    await self.ws.close(code=aiohttp.WSCloseCode.OK)
            except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError):
                self.abort()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self.ws.close()  # releases aiohttp's state after an abort


async def patiently(until: Callable[[float], Awaitable[bool]], progress: Callable[[], Hashable],
                    *, step: float, deadline: float) -> bool:
    """``until(timeout)`` again and again while ``progress()`` changes between calls and
    ``deadline`` (loop time) is not passed: a slow downstream finishing its work gets the time
    it needs, a silent one ``step``."""
    loop = asyncio.get_running_loop()
    seen: Hashable = object()
    while (left := deadline - loop.time()) > 0:
        now = progress()
        if now == seen:
            return False
        seen = now
        if await until(min(step, left)):
            return True
    return False
