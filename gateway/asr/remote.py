"""Recognition on a pool of vosk-server processes (``--asr ws://…``) instead of in-process Vosk.

Each participant stream holds one WebSocket to one server of the pool, chosen by the fewest
open streams among servers that are not backing off. A server that refuses, times out or
drops a connection backs off (jittered exponential) and the stream moves to another one at
once, replaying the audio of the phrase in progress (up to ``replay_seconds``; the phrase
was not final yet, so nothing is said twice and nothing of it is lost). With no server
available the stream keeps that much audio and retries as backoffs expire; accept() never
raises for a server's failure and never blocks the event loop.

Word times in finals are on the stream clock (``chunk.offset``), also when chunks skip
ahead and across moves (a ``Timeline`` per connection). ``endpoint()`` ends the phrase:
with ``{"reset" : 1}`` where the server supports it (vosk-server since December 2023),
else with ``{"eof" : 1}`` and a fresh connection for what follows; ``"auto"`` finds out per
server on first use.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from gateway.asr.base import TranscriptEvent
from gateway.asr.timeline import Timeline
from gateway.asr.vosk_server_protocol import Answers, ServerGone, VoskConnection
from gateway.pipeline.pcm import BYTES_PER_SAMPLE, TARGET_RATE, PcmChunk
from gateway.protocols.downstream.vosk import EOF_TEXT, RESET_TEXT, config_text, parse_reply
from gateway.transcript import Speaker

log = logging.getLogger(__name__)

EndpointMode = Literal["auto", "reset", "eof"]
REPLAY_FRAME = TARGET_RATE * BYTES_PER_SAMPLE  # replay in frames of up to one second


class RecognizerUnavailable(RuntimeError):
    """No server of the pool could be reached to open a stream."""


@dataclass
class ServerState:
    """One vosk-server of the pool, as the pool sees it."""

    url: str
    streams: int = 0                 # open streams assigned here
    failures: int = 0                # consecutive failures (backoff exponent)
    retry_at: float = 0.0            # monotonic time before which it is skipped
    supports_reset: bool | None = None
    connections: int = 0
    lost: int = 0                    # connections that failed or dropped


class RemoteVoskRecognizer:
    """A :class:`~gateway.asr.base.Recognizer` over vosk-server's WebSocket protocol."""

    name = "remote-vosk"

    def __init__(self, urls: Sequence[str], *, connect_timeout: float = 5.0,
                 reply_timeout: float = 10.0, endpoint: EndpointMode = "auto",
                 replay_seconds: float = 10.0, backoff_initial: float = 0.5,
                 backoff_max: float = 30.0, partial_interval: float = 0.15,
                 send_config: bool = True, phrase_list: Sequence[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("a remote recogniser needs at least one ws:// or wss:// URL")
        for url in urls:
            if urlsplit(url).scheme not in ("ws", "wss") or not urlsplit(url).hostname:
                raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        if endpoint not in ("auto", "reset", "eof"):
            raise ValueError(f"endpoint mode must be auto, reset or eof, not {endpoint!r}")
        self.servers = [ServerState(url) for url in urls]
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.endpoint_mode: EndpointMode = endpoint
        self.replay_samples = round(replay_seconds * TARGET_RATE)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.partial_interval = partial_interval
        self.config = config_text(TARGET_RATE, phrase_list=phrase_list) if send_config else None
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._turn = 0

    # -- Recognizer ----------------------------------------------------------------------

    async def open_stream(self, speaker: Speaker) -> RemoteVoskStream:
        """A stream connected to the least busy reachable server, or RecognizerUnavailable."""
        stream = RemoteVoskStream(self, speaker)
        if not await stream.connect():
            raise RecognizerUnavailable(
                "no speech recognition server reachable: " + ", ".join(
                    f"{s.url} (backing off {max(0.0, s.retry_at - self.clock()):.1f} s)"
                    for s in self.servers))
        return stream

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the pool ------------------------------------------------------------------------

    def pick(self, exclude: set[str]) -> ServerState | None:
        """The server with the fewest open streams among those not backing off; ties go
        round-robin so a burst of new streams spreads over the pool."""
        now = self.clock()
        ready = [s for s in self.servers if s.retry_at <= now and s.url not in exclude]
        if not ready:
            return None
        fewest = min(s.streams for s in ready)
        tied = [s for s in ready if s.streams == fewest]
        self._turn += 1
        return tied[self._turn % len(tied)]

    async def connect(self, server: ServerState) -> VoskConnection:
        """A new connection to ``server``; a failure puts the server in backoff."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            conn = await VoskConnection.open(self._session, server.url,
                                             timeout=self.connect_timeout, config=self.config)
        except ServerGone as exc:
            self.failed(server, str(exc))
            raise
        server.connections += 1
        server.failures = 0
        return conn

    def failed(self, server: ServerState, why: str) -> None:
        """Back off ``server``: jittered, doubling per consecutive failure up to the cap.
        The first failure of a series is a warning, the rest (every stream retrying) debug."""
        server.lost += 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** min(server.failures, 20))
        server.retry_at = self.clock() + delay * (0.5 + 0.5 * random.random())
        level = logging.WARNING if server.failures == 0 else logging.DEBUG
        server.failures += 1
        log.log(level, "speech server %s failed (%s); skipped for %.1f s",
                server.url, why, server.retry_at - self.clock())


class RemoteVoskStream:
    """One participant on the pool. Calls are sequential, as RecognizerStream requires."""

    def __init__(self, pool: RemoteVoskRecognizer, speaker: Speaker) -> None:
        self._pool = pool
        self.speaker = speaker
        self._server: ServerState | None = None
        self._conn: VoskConnection | None = None
        self._answers = Answers(speaker, partial_interval=pool.partial_interval, now=pool.clock)
        self._phrase: deque[PcmChunk] = deque()  # audio since the last final, bounded
        self._phrase_samples = 0
        self._fed = 0          # how many of _phrase were fed on the current connection
        self.moves = 0         # times the stream moved to another connection
        self.lost_samples = 0  # audio dropped while no server was reachable

    @property
    def server_url(self) -> str | None:
        return self._server.url if self._server else None

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        self._remember(chunk)
        if self._conn is None:
            return await self._recover()
        try:
            await self._send_audio(self._conn, [chunk])
            return self._events(await self._conn.collect(self._pool.reply_timeout))
        except ServerGone as exc:
            return await self._recover(str(exc))

    async def endpoint(self) -> list[TranscriptEvent]:
        if not self._phrase:
            return []
        events: list[TranscriptEvent] = []
        if self._conn is None:
            events += await self._recover()
            if self._conn is None or not self._phrase:
                return events
        server, mode = self._server, self._pool.endpoint_mode
        assert server is not None
        if mode == "reset" or (mode == "auto" and server.supports_reset is not False):
            try:
                done, more = await self._reset()
                events += more
                if done:
                    return events
            except ServerGone as exc:
                if mode == "reset" or server.supports_reset:
                    events += await self._recover(str(exc))
                    return events + await self.endpoint()
                server.supports_reset = False  # a pre-reset server closes on unknown text
                log.info("speech server %s does not know reset; ending phrases with eof",
                         server.url)
                events += await self._reconnect_same(server)
        return events + await self._eof()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(ServerGone):
                await conn.send(EOF_TEXT)
                await conn.collect(2.0, until_final=True)
            await conn.close()
        self._assign(None)
        self._phrase.clear()

    # -- connecting and moving -----------------------------------------------------------

    async def connect(self, exclude: set[str] | None = None) -> bool:
        """Connect to the best server not in ``exclude``; the stream's server changes."""
        tried = set(exclude or ())
        while (server := self._pool.pick(tried)) is not None:
            tried.add(server.url)
            try:
                conn = await self._pool.connect(server)
            except ServerGone:
                continue
            self._attach(server, conn)
            return True
        return False

    def _attach(self, server: ServerState, conn: VoskConnection) -> None:
        self._assign(server)
        self._conn = conn
        self._answers.clock = Timeline()  # a new connection counts from zero
        self._fed = 0

    def _assign(self, server: ServerState | None) -> None:
        if self._server is not None:
            self._server.streams -= 1
        self._server = server
        if server is not None:
            server.streams += 1

    async def _recover(self, why: str | None = None) -> list[TranscriptEvent]:
        """Drop a failed connection, connect to another server, replay the phrase."""
        exclude: set[str] = set()
        if why is not None and self._conn is not None and self._server is not None:
            self._pool.failed(self._server, why)
            exclude.add(self._server.url)
            await self._conn.close(0.1)
            self._conn = None
            self._fed = 0  # what the dead server had heard must be replayed
        events: list[TranscriptEvent] = []
        while await self.connect(exclude):
            assert self._conn is not None and self._server is not None
            self.moves += 1
            try:
                return events + await self._replay(self._conn)
            except ServerGone as exc:
                self._pool.failed(self._server, str(exc))
                exclude.add(self._server.url)
                await self._conn.close(0.1)
                self._conn = None
        return events  # nobody reachable now: the phrase waits (bounded) for the next try

    async def _reconnect_same(self, server: ServerState) -> list[TranscriptEvent]:
        """A new connection to the same server (it closed on purpose, not by failing)."""
        if self._conn is not None:
            await self._conn.close(0.1)
            self._conn = None
        try:
            conn = await self._pool.connect(server)
        except ServerGone:
            return await self._recover()
        self._attach(server, conn)
        try:
            return await self._replay(conn)
        except ServerGone as exc:
            return await self._recover(str(exc))

    async def _replay(self, conn: VoskConnection) -> list[TranscriptEvent]:
        events: list[TranscriptEvent] = []
        pending, size = [], 0
        for chunk in list(self._phrase):
            pending.append(chunk)
            size += len(chunk.data)
            if size >= REPLAY_FRAME:
                events += await self._replay_frame(conn, pending)
                pending, size = [], 0
        if pending:
            events += await self._replay_frame(conn, pending)
        return events

    async def _replay_frame(self, conn: VoskConnection,
                            chunks: list[PcmChunk]) -> list[TranscriptEvent]:
        await self._send_audio(conn, chunks)
        return self._events(await conn.collect(self._pool.reply_timeout))

    # -- ending phrases -------------------------------------------------------------------

    async def _reset(self) -> tuple[bool, list[TranscriptEvent]]:
        """Try ``{"reset" : 1}``: (whether it ended the phrase, events)."""
        assert self._conn is not None and self._server is not None
        await self._conn.send(RESET_TEXT)
        # Not until_final: a server that takes the text for audio answers with a partial.
        replies = await self._conn.collect(self._pool.reply_timeout)
        if replies and parse_reply(replies[-1]).kind == "final":
            self._server.supports_reset = True
            return True, self._events(replies, phrase_ended=True)
        self._server.supports_reset = False  # it took the text for audio (the C++ server)
        return False, self._events(replies)

    async def _eof(self) -> list[TranscriptEvent]:
        """``{"eof" : 1}``: the final; the server closes, so a fresh connection to the same
        server takes what follows (a failure there leaves the next accept to move)."""
        conn = self._conn
        if conn is None:
            return []
        try:
            await conn.send(EOF_TEXT)
            replies = await conn.collect(self._pool.reply_timeout, until_final=True)
        except ServerGone as exc:
            return await self._recover(str(exc))
        events = self._events(replies, phrase_ended=True)
        await conn.close()
        self._conn = None
        server = self._server
        assert server is not None
        try:
            self._attach(server, await self._pool.connect(server))
        except ServerGone:
            self._conn = None  # the next accept finds another server
        return events

    # -- audio and answers ----------------------------------------------------------------

    def _remember(self, chunk: PcmChunk) -> None:
        self._phrase.append(chunk)
        self._phrase_samples += chunk.samples
        while self._phrase_samples > self._pool.replay_samples and len(self._phrase) > 1:
            old = self._phrase.popleft()
            self._phrase_samples -= old.samples
            if self._fed:
                self._fed -= 1  # recognised already; only a later move cannot replay it
            else:
                self.lost_samples += old.samples  # never reached a server

    async def _send_audio(self, conn: VoskConnection, chunks: list[PcmChunk]) -> None:
        await conn.send(b"".join(c.data for c in chunks))
        for c in chunks:
            self._answers.clock.feed(c)
        self._fed = min(len(self._phrase), self._fed + len(chunks))

    def _events(self, replies: list[dict[str, Any]], *,
                phrase_ended: bool = False) -> list[TranscriptEvent]:
        events, ended = self._answers.read(replies)
        if ended or phrase_ended:
            self._phrase_done()
        return events

    def _phrase_done(self) -> None:
        """A final came: the audio fed so far is recognised and need not be replayed."""
        for _ in range(self._fed):
            self._phrase_samples -= self._phrase.popleft().samples
        self._fed = 0
