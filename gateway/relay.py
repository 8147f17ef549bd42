"""Relay of a conversation's results to a downstream analytics WebSocket.

One outbound WebSocket per conversation. The downstream first gets
``{"type":"conversation_started","conversationId":…,"meetingTitle":…}``, then every result
message exactly as the data channel carries it, and at the end
``{"type":"conversation_ended","conversationId":…}`` and a close with code 1000.

``send`` only appends to a bounded deque (the media path never waits on the network); a
background task connects on the first message, writes in order and reconnects with capped,
jittered exponential backoff. A message leaves the deque only once ``send_str`` returned,
so a connection that drops loses nothing that was not written; a full deque drops its
oldest message. The contract is in docs/relay.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp

from .config import check_ws_url
from .sinks import ConversationInfo, Message, SinkFactory

log = logging.getLogger(__name__)

PLACEHOLDER = "{conversationId}"
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 10.0
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
HEARTBEAT = 30.0
DROP_WARNING_INTERVAL = 10.0


class _Refused(Exception):
    """The downstream refused this conversation for good (policy close, 401/403)."""


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


def backoff_delay(attempt: int, *, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_MAX,
                  rand: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (0-based): ``initial`` doubling up to ``cap``,
    each a random value between half and all of it, so conversations that lost the same
    downstream do not reconnect in lockstep."""
    nominal = min(cap, initial * 2 ** min(attempt, 32))
    return nominal * (0.5 + 0.5 * rand())


def _describe(exc: BaseException) -> str:
    """A log line for a connection failure; handshake errors carry the full URL, so those
    are reduced to their HTTP status."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or type(exc).__name__


def _redact(url: str) -> str:
    """The URL without its query (which may hold credentials), for logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


class RelaySink:
    """A :class:`~gateway.sinks.Sink` writing one conversation to a downstream WebSocket."""

    name = "relay"

    def __init__(
        self,
        conversation: ConversationInfo,
        url: str,
        *,
        token: str | None = None,
        backlog: int = 5000,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        connect_timeout: float = CONNECT_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
        heartbeat: float | None = HEARTBEAT,
    ) -> None:
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self.conversation = conversation
        self.url = conversation_url(check_ws_url(url), conversation.id)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._backlog = backlog
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._heartbeat = heartbeat

        # (sequence number, JSON text); sequence numbers tell the writer whether the
        # message it just wrote is still at the head (it may have been dropped meanwhile).
        self._queue: deque[tuple[int, str]] = deque()
        self._seq = 0
        self._in_flight: int | None = None
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected = False  # conversation_started written on the current socket
        self._closed = False
        self._stopped = False  # refused by the downstream: no more retries

        self.sent = 0  # result messages written (envelope messages not counted)
        self.dropped = 0  # evicted from a full backlog
        self.discarded = 0  # not queued or abandoned: after close, refusal, or unserialisable
        self.connections = 0  # successful connections (conversation_started written)
        self._drops_unreported = 0
        self._last_drop_warning = float("-inf")

    # -- Sink interface -------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran: no connection, no task, no more attempts."""
        return self._closed and self._task is None and self._session is None

    @property
    def stopped(self) -> bool:
        """True once the downstream refused the conversation (no more retries)."""
        return self._stopped

    def send(self, message: Message) -> None:
        """Queue one message; never blocks, never raises."""
        try:
            if self._closed or self._stopped:
                self.discarded += 1
                return
            try:
                text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                self.discarded += 1
                log.error("relay %s: message not serialisable, skipped: %s",
                          self.conversation.id, exc)
                return
            if len(self._queue) >= self._backlog:
                self._drop_oldest()
            self._seq += 1
            self._queue.append((self._seq, text))
            self._empty.clear()
            self._wakeup.set()
            self._ensure_task()
        except Exception:  # the media path must never see a relay problem
            log.exception("relay %s: send failed", self.conversation.id)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` until every queued message has been written."""
        try:
            if not self._queue or self._stopped or self._closed:
                return
            self._ensure_task()
            try:
                await asyncio.wait_for(self._empty.wait(), timeout)
            except TimeoutError:
                log.warning("relay %s: %d messages not written within %.1f s",
                            self.conversation.id, len(self._queue), timeout)
        except Exception:
            log.exception("relay %s: drain failed", self.conversation.id)

    async def close(self) -> None:
        """Send ``conversation_ended`` if connected, close the socket and session, stop the
        task. Returns within about ``close_timeout`` seconds; never raises."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._close()
        except Exception:
            log.exception("relay %s: close failed", self.conversation.id)
        finally:
            if self._queue:
                log.warning("relay %s: %d queued messages abandoned at close",
                            self.conversation.id, len(self._queue))
                self.discarded += len(self._queue)
                self._queue.clear()
            self._empty.set()

    # -- internals --------------------------------------------------------------------------

    def _drop_oldest(self) -> None:
        """Evict the oldest message that is not being written right now."""
        if self._in_flight is not None and self._queue[0][0] == self._in_flight \
                and len(self._queue) > 1:
            del self._queue[1]
        else:
            self._queue.popleft()
        self.dropped += 1
        self._drops_unreported += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= DROP_WARNING_INTERVAL:
            log.warning("relay %s: backlog of %d full, dropped %d oldest messages "
                        "(%d in total); downstream %s is slow or unreachable",
                        self.conversation.id, self._backlog, self._drops_unreported,
                        self.dropped, _redact(self.url))
            self._drops_unreported = 0
            self._last_drop_warning = now

    def _ensure_task(self) -> None:
        if self._task is not None or self._closed or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the next send or drain on the loop starts the task
        self._task = loop.create_task(self._run(), name=f"relay-{self.conversation.id}")

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._closed:
                started = time.monotonic()
                sent_before = self.sent
                try:
                    ws = await self._connect()
                except _Refused as exc:
                    self._refused(str(exc))
                    return
                except Exception as exc:  # unreachable, refused, TLS, timeout: retry
                    if failures == 0:
                        log.warning("relay %s: cannot reach %s (%s); retrying",
                                    self.conversation.id, _redact(self.url), _describe(exc))
                    else:
                        log.debug("relay %s: attempt %d failed: %s",
                                  self.conversation.id, failures + 1, _describe(exc))
                else:
                    if failures:
                        log.info("relay %s: connected to %s after %d failed attempts",
                                 self.conversation.id, _redact(self.url), failures)
                    code = await self._pump(ws)  # cancelled by close(): stays connected
                    self._connected = False
                    if code is not None and (code == 1008 or 4000 <= code <= 4999):
                        self._refused(f"closed the connection with code {code}")
                        return
                    if self._closed:
                        return
                    log.warning("relay %s: downstream connection lost (code %s); reconnecting",
                                self.conversation.id, code)
                    if self.sent > sent_before or \
                            time.monotonic() - started >= self._backoff_max:
                        failures = 0  # it worked for a while: start the backoff over
                await asyncio.sleep(backoff_delay(failures, initial=self._backoff_initial,
                                                  cap=self._backoff_max))
                failures += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("relay %s: relay task failed; no more results are relayed",
                          self.conversation.id)
            self._stopped = True
            self._abandon()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await self._session.ws_connect(
                    self.url, headers=self._headers, heartbeat=self._heartbeat,
                    autoping=True, autoclose=True)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise _Refused(f"refused the connection with HTTP {exc.status}") from exc
            raise
        self._ws = ws
        try:
            await ws.send_str(json.dumps({
                "type": "conversation_started",
                "conversationId": self.conversation.id,
                "meetingTitle": self.conversation.meeting_title,
            }, separators=(",", ":"), ensure_ascii=False))
        except BaseException:
            await self._discard_socket(ws)
            raise
        self._connected = True
        self.connections += 1
        return ws

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> int | None:
        """Write the queue in order until the connection ends; return its close code.

        Returns when the downstream closed or the socket failed. Cancellation (from
        ``close``) leaves the socket open so ``close`` can say goodbye on it.
        """
        close_code: list[int | None] = [None]
        reader = asyncio.create_task(self._read(ws, close_code))
        try:
            while not reader.done() and not ws.closed:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                seq, text = self._queue[0]
                self._in_flight = seq
                try:
                    await ws.send_str(text)
                except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                    log.debug("relay %s: write failed: %s", self.conversation.id, exc)
                    break
                finally:
                    self._in_flight = None
                if self._queue and self._queue[0][0] == seq:
                    self._queue.popleft()
                self.sent += 1
                if not self._queue:
                    self._empty.set()
            # The connection is over: let the reader see the close frame, then clean up.
            await asyncio.wait({reader}, timeout=self._close_timeout)
        finally:
            reader.cancel()
        code = close_code[0] if close_code[0] is not None else ws.close_code
        await self._discard_socket(ws)
        return code

    async def _read(self, ws: aiohttp.ClientWebSocketResponse,
                    close_code: list[int | None]) -> None:
        """Read and ignore downstream messages (aiohttp answers pings and closes here)."""
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    close_code[0] = msg.data
                    break
                if msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("relay %s: read failed: %s", self.conversation.id, exc)
        finally:
            self._wakeup.set()  # wake the writer so it notices

    async def _discard_socket(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._ws is ws:
            self._ws = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._close_timeout):
                await ws.close()

    def _refused(self, why: str) -> None:
        log.error("relay %s: downstream %s %s; not retrying, results of this conversation "
                  "are no longer relayed", self.conversation.id, _redact(self.url), why)
        self._stopped = True
        self._abandon()

    def _abandon(self) -> None:
        self.discarded += len(self._queue)
        self._queue.clear()
        self._empty.set()

    async def _close(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._close_timeout  # one budget for the whole goodbye
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=self._close_timeout)
        ws = self._ws
        if ws is not None and self._connected and not ws.closed:
            try:
                async with asyncio.timeout_at(deadline):
                    await ws.send_str(json.dumps(
                        {"type": "conversation_ended", "conversationId": self.conversation.id},
                        separators=(",", ":")))
                    await ws.close(code=aiohttp.WSCloseCode.OK)
            except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                log.warning("relay %s: could not end the conversation downstream cleanly: %s",
                            self.conversation.id, _describe(exc))
        self._ws = None
        self._connected = False
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout_at(max(deadline, loop.time() + 0.25)):
                    await session.close()


def relay_sink_factory(url: str, *, token: str | None, backlog: int = 5000) -> SinkFactory:
    """A factory of :class:`RelaySink`, one per conversation, for ``SessionManager``."""
    check_ws_url(url)
    if backlog < 1:
        raise ValueError("backlog must be at least 1")

    def make(conversation: ConversationInfo) -> RelaySink:
        return RelaySink(conversation, url, token=token, backlog=backlog)

    return make
