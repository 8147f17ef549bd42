"""Relay of a conversation's results to a downstream analytics WebSocket (docs/relay.md).

One outbound WebSocket per conversation, opened on the first result. Each connection starts
with ``conversation_started``; the results follow in order; at the end come
``conversation_ended`` and a close with 1000. A lost connection is re-opened with capped,
jittered exponential backoff; a downstream that refuses (close 1008 or 4000-4999, HTTP 401
or 403) is not retried. The queue, its bound and its counters are the ``BufferedSink``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp

from gateway.config import check_ws_url
from gateway.protocols import relay as wire

from .base import ConversationInfo, SinkFactory
from .buffer import BufferedSink, Item, RetryWrite, StopWriting
from .reconnect import BACKOFF_INITIAL, BACKOFF_MAX, backoff_delay
from .result import Result

log = logging.getLogger(__name__)

PLACEHOLDER = "{conversationId}"
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
HEARTBEAT = 30.0
BACKLOG = 5000


def conversation_url(template: str, conversation_id: str) -> str:
    """The downstream URL for one conversation.

    ``{conversationId}`` anywhere in the template is replaced (percent-encoded); without
    it, ``conversationId=<id>`` is added to the query, keeping the other parameters.
    """
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, quote(conversation_id, safe=""))
    parts = urlsplit(template)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "conversationId"]
    query.append(("conversationId", conversation_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def describe(exc: BaseException) -> str:
    """A log line for a connection failure; handshake errors carry the full URL, so those
    are reduced to their HTTP status."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or type(exc).__name__


def redact(url: str) -> str:
    """The URL without its query (which may hold credentials), for logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def is_refusal(code: int | None) -> bool:
    return code is not None and (code == 1008 or 4000 <= code <= 4999)


class RelaySink(BufferedSink):
    """A conversation-level output writing results to a downstream WebSocket."""

    name = "relay"

    def __init__(
        self,
        conversation: ConversationInfo,
        url: str,
        *,
        token: str | None = None,
        backlog: int = BACKLOG,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        connect_timeout: float = CONNECT_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
        heartbeat: float | None = HEARTBEAT,
    ) -> None:
        super().__init__(conversation.id, backlog=backlog)
        self.conversation = conversation
        self.url = conversation_url(check_ws_url(url), conversation.id)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._heartbeat = heartbeat
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self._failures = 0
        self._delay = 0.0  # wait before the next attempt (after a lost connection)
        self._connected_at = 0.0
        self._sent_at_connect = 0
        self.connections = 0  # successful connections (conversation_started written)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran: no connection, no task, no more attempts."""
        return self._closing and self._task is None and self._session is None

    def serialize(self, result: Result) -> Item | None:
        return wire.serialize(result)

    # -- connection -------------------------------------------------------------------------

    async def _ready(self) -> None:
        async with self._connect_lock:
            while not self.connected:
                if self._delay:
                    await asyncio.sleep(self._delay)
                try:
                    await self._connect()
                except StopWriting as exc:
                    self._refused(str(exc))
                    raise
                except Exception as exc:  # unreachable, refused, TLS, timeout: retry
                    if self._failures == 0:
                        log.warning("relay %s: cannot reach %s (%s); retrying", self.label,
                                    redact(self.url), describe(exc))
                    else:
                        log.debug("relay %s: attempt %d failed: %s", self.label,
                                  self._failures + 1, describe(exc))
                    self._delay = backoff_delay(self._failures, initial=self._backoff_initial,
                                                cap=self._backoff_max)
                    self._failures += 1
                else:
                    if self._failures:
                        log.info("relay %s: connected to %s after %d failed attempts",
                                 self.label, redact(self.url), self._failures)
                    self._delay = 0.0

    async def _connect(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await self._session.ws_connect(
                    self.url, headers=self._headers, heartbeat=self._heartbeat,
                    autoping=True, autoclose=True)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise StopWriting(f"refused the connection with HTTP {exc.status}") from exc
            raise
        try:
            await ws.send_str(wire.conversation_started(self.conversation.id,
                                                        self.conversation.meeting_title))
        except BaseException:
            await _close_quietly(ws, self._close_timeout)
            raise
        self._ws = ws
        self.connections += 1
        self._connected_at = time.monotonic()
        self._sent_at_connect = self.sent
        self._reader = asyncio.ensure_future(self._read(ws))

    async def _write(self, item: Item) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise RetryWrite()
        try:
            if isinstance(item, bytes):
                await ws.send_bytes(item)
            else:
                await ws.send_str(item)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            log.debug("relay %s: write failed: %s", self.label, exc)
            await self._lost(ws, None)
            raise RetryWrite() from None

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read and ignore downstream messages (aiohttp answers pings and closes here)."""
        code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    code = msg.data
                    break
                if msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("relay %s: read failed: %s", self.label, exc)
        await self._lost(ws, code if code is not None else ws.close_code)

    async def _lost(self, ws: aiohttp.ClientWebSocketResponse, code: int | None) -> None:
        """The connection ended: stop for a refusal, otherwise reconnect with backoff."""
        if self._ws is not ws:
            return
        self._ws = None
        await _close_quietly(ws, self._close_timeout)
        if self._closing:
            return
        if is_refusal(code):
            self._refused(f"closed the connection with code {code}")
            return
        log.warning("relay %s: downstream connection lost (code %s); reconnecting",
                    self.label, code)
        if self.sent > self._sent_at_connect or \
                time.monotonic() - self._connected_at >= self._backoff_max:
            self._failures = 0  # it worked for a while: start the backoff over
        self._delay = backoff_delay(self._failures, initial=self._backoff_initial,
                                    cap=self._backoff_max)
        self._failures += 1
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.ensure_future(self._reconnect_quietly())

    async def _reconnect_quietly(self) -> None:
        with contextlib.suppress(StopWriting):
            await self._ready()

    def _refused(self, why: str) -> None:
        log.error("relay %s: downstream %s %s; not retrying, results of this conversation "
                  "are no longer relayed", self.label, redact(self.url), why)
        self.stop(why)

    # -- goodbye ----------------------------------------------------------------------------

    async def _goodbye(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._close_timeout  # one budget for the whole goodbye
        for task in (self._reconnect, self._reader):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self._close_timeout)
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:
                async with asyncio.timeout_at(deadline):
                    await ws.send_str(wire.conversation_ended(self.conversation.id))
                    await ws.close(code=aiohttp.WSCloseCode.OK)
            except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                log.warning("relay %s: could not end the conversation downstream cleanly: %s",
                            self.label, describe(exc))
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout_at(max(deadline, loop.time() + 0.25)):
                    await session.close()

    def _slow_hint(self) -> str:
        return f"downstream {redact(self.url)} is slow or unreachable"


async def _close_quietly(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await ws.close()


def relay_sink_factory(url: str, *, token: str | None, backlog: int = BACKLOG) -> SinkFactory:
    """A factory of :class:`RelaySink`, one per conversation."""
    check_ws_url(url)
    if backlog < 1:
        raise ValueError("backlog must be at least 1")

    def make(conversation: ConversationInfo) -> RelaySink:
        return RelaySink(conversation, url, token=token, backlog=backlog)

    return make
