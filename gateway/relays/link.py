"""One downstream stream: a protocol object spoken over one WebSocket at a time.

``send_audio`` (or ``send_result``) only appends to the replay buffer and never blocks; a
writer task opens the connection when the first item arrives (a stream that never has
audio never connects), writes the protocol's opening, then each item's frames in order.
A reader task forwards what the downstream answers (``downstream_message``) and answers
pings; a keepalive task pings to confirm delivery and to find a dead or stalled
downstream. A lost connection is re-opened after a jittered exponential backoff, starting
again with the protocol's opening and replaying what was not confirmed; a refusal (HTTP
401/403, close 1008 or 4000-4999) or the downstream ending the stream stops it for good.
``close`` writes what is left and the protocol's goodbye and, for protocols whose server
answers it (vosk, symbl), reads the last answers until the server closes: for as long as the
downstream makes progress, up to ``goodbye_limit`` (``close_timeout`` of silence ends it).

Memory per stream is bounded by the buffer (``buffer_seconds`` of audio), aiohttp's
write buffer (it waits for the socket past 64 KiB) and the kernel's socket buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable

import aiohttp

from gateway.outputs.reconnect import backoff_delay
from gateway.pipeline.pcm import PcmChunk
from gateway.protocols.downstream import AudioChunk, Frame, MixedChunk, ProtocolBase
from gateway.protocols.downstream.results import ResultLike

from .allow import redact
from .connection import Connection, Refused, describe, is_refusal, open_socket, patiently
from .replay import ReplayBuffer
from .report import LossReport, Reporter
from .settings import Item, LinkSettings, audio_seconds, frame_overhead

log = logging.getLogger(__name__)


class DownstreamLink:
    """Implements ``AudioSink`` (and takes results, for the results protocol)."""

    name = "downstream"

    def __init__(self, protocol: ProtocolBase, url: str, *,
                 session: Callable[[], aiohttp.ClientSession], reporter: Reporter,
                 settings: LinkSettings | None = None, headers: dict[str, str] | None = None,
                 results: bool = False) -> None:
        self.protocol = protocol
        self.url = url
        self.settings = s = settings or LinkSettings()
        info = protocol.info
        self.label = f"{protocol.label}:{info.conversation_id}/{info.participant_id or '*'}"
        self.results = results
        # Protocols that frame or resample hold back the last milliseconds of a chunk until
        # the next one: the last chunk written is only confirmed with the one after it, so
        # a replay starts early enough to carry them (a reconnect repeats up to one chunk).
        self._hold = 0 if results else 1
        self.unit = "results" if results else "seconds"
        self.buffer: ReplayBuffer[Item] = ReplayBuffer(
            s.max_results if results else s.buffer_seconds,
            (lambda _: 1.0) if results else audio_seconds)
        self._session = session
        self._reporter = reporter
        self._headers = headers or {}
        self._outbox: deque[Frame] = deque()   # answers the protocol owes (mark echoes)
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._disposing: set[asyncio.Task[None]] = set()
        self._closing = False
        self.stopped: str | None = None       # why nothing more is delivered
        self._failures = 0
        self._delay = 0.0
        self._outage_reported = False
        self._losses = LossReport(reporter, protocol, label=self.label, unit=self.unit,
                                  bound=self.buffer.max_cost, interval=s.report_interval)
        self.connections = 0
        self.frames_sent = 0
        self.bytes_sent = 0      # payload
        self.wire_bytes = 0      # with WebSocket framing (not TCP/IP or TLS)
        self.discarded = 0.0     # offered after the end (not counted as lost)
        self.lost_at_close = 0.0
        self.replies_oversized = 0
        self.pongs = 0

    # -- AudioSink and results ---------------------------------------------------------

    def send_audio(self, chunk: AudioChunk) -> None:
        self._put(chunk)

    def send_result(self, result: ResultLike) -> None:
        self._put(result)

    @property
    def lost(self) -> float:
        """Audio seconds (or results) that never reached the downstream."""
        return self.buffer.lost_cost + self.lost_at_close

    async def drain(self, timeout: float) -> None:
        """Until every item was written (or ``timeout``); the goodbye confirms them."""
        if self._task is None or self.stopped is not None:
            return
        if not await self.buffer.wait(lambda: not self.buffer.unsent or bool(self.stopped),
                                      timeout):
            log.warning("downstream %s: %.1f %s not delivered within %.1f s", self.label,
                        self.buffer.unsent_cost, self.unit, timeout)

    async def close(self) -> None:
        """Write what is left and the protocol's goodbye while the downstream keeps up
        (at most ``goodbye_limit``; ``close_timeout`` of silence ends it), then release
        everything; what could not be written is counted as lost."""
        if self._closing:
            return
        self._closing = True  # from now on nothing new is taken
        task, self._task = self._task, None
        deadline = asyncio.get_running_loop().time() + self.settings.goodbye_limit
        if task is not None and self._conn is not None and self.buffer.unsent:
            await patiently(  # the writer goes on while the downstream keeps up
                lambda t: self.buffer.wait(lambda: not self.buffer.unsent or
                                           self._conn is None or bool(self.stopped), t),
                self._progress, step=self.settings.close_timeout, deadline=deadline)
        conn, graceful = self._conn, False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if conn is not None and self.stopped is None and not self.protocol.ended:
            graceful = await self._goodbye(conn, deadline)
        self._conn = None
        if conn is not None:
            await conn.dispose(graceful=graceful, timeout=self.settings.close_timeout)
            if graceful and conn.ws.close_code in (1000, 1001):
                # The close handshake came after everything we wrote: all of it arrived.
                self.buffer.confirm(self.buffer.written_mark)
        if self._disposing:
            await asyncio.gather(*self._disposing, return_exceptions=True)
        self.lost_at_close = self.buffer.clear()
        self._losses.report(lambda: self.lost, extra=self.lost_at_close)
        self._reporter.status(self.protocol, "closed", connections=self.connections,
                              **{f"lost{self.unit.title()}": round(self.lost, 3)})

    def _progress(self) -> tuple[int, ...]:
        """Changes while the downstream takes frames, answers or pongs."""
        return self.frames_sent, self.protocol.replies, self.pongs

    # -- the writer ----------------------------------------------------------------------

    def _put(self, item: Item) -> None:
        if self._closing or self.stopped is not None:
            self.discarded += self.buffer.cost_of(item)
            return
        lost = self.buffer.put(item)
        if lost:
            self._losses.note(lost, lambda: self.lost)
        if self._task is None:
            with contextlib.suppress(RuntimeError):  # no loop: the next put starts it
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name=f"downstream-{self.label}")

    async def _run(self) -> None:
        try:
            while True:
                await self.buffer.wait(lambda: self.buffer.unsent or bool(self._outbox))
                conn = self._conn
                if conn is None:
                    if not await self._establish():
                        return
                elif self._outbox:
                    await self._send(conn, self._outbox.popleft())
                elif (entry := self.buffer.next_unsent()) is not None:
                    seq, item = entry
                    if await self._send_all(conn, self._frames(item)):
                        self.buffer.written(seq)
                    else:
                        self.buffer.failed()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("downstream %s: relay failed; nothing more is sent", self.label)
            self._stop("failed", "the relay failed")

    def _frames(self, item: Item) -> list[Frame]:
        if isinstance(item, PcmChunk | MixedChunk):
            return self.protocol.audio(item)
        result = getattr(self.protocol, "result", None)
        return list(result(item)) if result is not None else []

    async def _send_all(self, conn: Connection, frames: list[Frame]) -> bool:
        for frame in frames:
            if not await self._send(conn, frame):
                return False
        return conn is self._conn

    async def _send(self, conn: Connection, frame: Frame) -> bool:
        try:
            if isinstance(frame, bytes):
                await conn.ws.send_bytes(frame)
                size = len(frame)
            else:
                await conn.ws.send_str(frame)
                size = len(frame.encode())
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            self._lost(conn, None, f"write failed: {describe(exc)}")
            return False
        self.frames_sent += 1
        self.bytes_sent += size
        self.wire_bytes += size + frame_overhead(size)
        return conn is self._conn

    # -- connecting ------------------------------------------------------------------------

    async def _establish(self) -> bool:
        """Connect (after the backoff delay) and write the opening; False: stopped."""
        while not self._closing and self.stopped is None:
            if self._delay:
                await asyncio.sleep(self._delay)
                self._delay = 0.0
            try:
                ws = await open_socket(
                    self._session(), self.url, protocols=self.protocol.subprotocols,
                    headers=self._headers, connect_timeout=self.settings.connect_timeout,
                    close_timeout=self.settings.close_timeout)
            except Refused as exc:
                self._stop("refused", str(exc))
                return False
            except Exception as exc:  # unreachable, reset, TLS, timeout, HTTP 5xx: retry
                self._backoff(f"cannot connect: {describe(exc)}")
                continue
            replay = self.buffer.unsent_cost
            conn = Connection(ws, self.connections + 1)
            self._conn = conn
            loop = asyncio.get_running_loop()
            conn.reader = loop.create_task(self._read(conn))
            self._outbox.clear()  # owed to the old connection
            if not await self._send_all(conn, self.protocol.opening()):
                continue
            self.connections += 1
            conn.keepalive = loop.create_task(self._keepalive(conn))
            if self._outage_reported:
                log.info("downstream %s: connected again to %s", self.label, redact(self.url))
            self._outage_reported = False
            extra = {f"replayed{self.unit.title()}": round(replay, 3)} \
                if self.connections > 1 else {}
            self._reporter.status(self.protocol, "connected", connection=self.connections,
                                  **extra)
            return True
        return False

    def _backoff(self, why: str) -> None:
        if not self._outage_reported:
            self._outage_reported = True
            log.warning("downstream %s: %s (%s); retrying", self.label, why, redact(self.url))
            self._reporter.status(self.protocol, "disconnected", reason=why)
        else:
            log.debug("downstream %s: attempt %d: %s", self.label, self._failures + 1, why)
        self._delay = backoff_delay(self._failures, initial=self.settings.backoff_initial,
                                    cap=self.settings.backoff_max)
        self._failures += 1

    def _lost(self, conn: Connection, code: int | None, why: str) -> None:
        """The connection ended: unconfirmed items are unsent again; reconnect unless the
        downstream refused or ended the stream, or we are closing."""
        if conn is not self._conn:
            return
        self._conn = None
        if self._closing:
            return  # ``close`` ends it: what its goodbye confirmed stays confirmed
        self.buffer.rewind()
        graceful = conn.ws.closed  # a close handshake already happened
        task = asyncio.get_running_loop().create_task(
            conn.dispose(graceful=graceful, timeout=self.settings.close_timeout))
        self._disposing.add(task)
        task.add_done_callback(self._disposing.discard)
        if is_refusal(code):
            self._stop("refused", f"closed the connection with code {code}")
        elif self.protocol.ended:
            self._stop("ended", "the downstream ended the stream")
        else:
            if conn.confirmed:
                self._failures = 0  # it answered pings: start the backoff over
            self._backoff(why)

    def _stop(self, status: str, why: str) -> None:
        if self.stopped is not None:
            return
        self.stopped = why
        level = logging.INFO if status == "ended" else logging.ERROR
        log.log(level, "downstream %s: %s; no more %s are relayed", self.label, why,
                "results" if self.results else "audio")
        self._reporter.status(self.protocol, status, reason=why)
        self.discarded += self.buffer.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            task = asyncio.get_running_loop().create_task(
                conn.dispose(graceful=True, timeout=self.settings.close_timeout))
            self._disposing.add(task)
            task.add_done_callback(self._disposing.discard)

    # -- reading and keepalive -------------------------------------------------------------

    async def _read(self, conn: Connection) -> None:
        code, why = await conn.read(self._on_frame, lambda mark: self._pong(conn, mark))
        self._lost(conn, code, why)

    def _pong(self, conn: Connection, mark: int | None) -> None:
        self.pongs += 1
        if mark is not None:
            self.buffer.confirm(mark - self._hold)
            conn.confirmed = True  # alive and reading

    def _on_frame(self, data: str | bytes) -> None:
        try:
            reply = self.protocol.reply(data)
        except Exception:
            log.exception("downstream %s: could not read an answer", self.label)
            return
        if reply is not None:
            if len(json.dumps(reply, ensure_ascii=False)) > self.settings.max_reply_bytes:
                self.replies_oversized += 1
            else:
                self._reporter.reply(reply)
        responses = self.protocol.responses()
        if responses:
            self._outbox.extend(responses)
            self.buffer.poke()
        if self.protocol.ended and not self._closing:
            self._stop("ended", "the downstream ended the stream")

    async def _keepalive(self, conn: Connection) -> None:
        s = self.settings
        why = await conn.keep_alive(mark=lambda: self.buffer.written_mark,
                                    waiting=lambda: self.buffer.unconfirmed,
                                    interval=s.confirm_interval, heartbeat=s.heartbeat,
                                    pong_timeout=s.pong_timeout)
        self._lost(conn, None, why)

    # -- goodbye ---------------------------------------------------------------------------

    async def _goodbye(self, conn: Connection, deadline: float) -> bool:
        """Held-back audio and the protocol's last words; True if it ended cleanly.

        A server that answers the goodbye (vosk, symbl) may still be working through audio
        it was sent: its last answers are awaited while it makes progress."""
        try:
            async with asyncio.timeout(self.settings.close_timeout):
                if not await self._send_all(conn, self.protocol.closing()):
                    return False
        except (TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            log.warning("downstream %s: could not end the stream cleanly: %s", self.label,
                        describe(exc))
            return False
        if not self.protocol.server_closes or conn.reader is None:
            return True
        reader = conn.reader

        async def closed(timeout: float) -> bool:  # its last answers, then its close
            done, _ = await asyncio.wait({reader}, timeout=timeout)
            return bool(done)

        if await patiently(closed, self._progress, step=self.settings.close_timeout,
                           deadline=deadline):
            return True
        log.warning("downstream %s: the server did not finish the stream in time", self.label)
        return False
