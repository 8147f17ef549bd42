"""One WebSocket of Symbl's streaming endpoint: frames in, the protocol's rules, the session.

The socket reads one frame at a time and acts on it before reading the next, so a client
that sends faster than the recognizer listens is slowed by TCP flow control rather than
growing a queue. Every bad frame gets Symbl's error shape and costs that frame only, as on
Symbl, unless the error is fatal (undecodable audio, a session that ended); the protocol's
decisions (what is legal when, limits) are :class:`ConnectionRules`', not this module's.

Timeouts of the socket itself: ``start_timeout`` for the first ``start_request`` (a socket
holds an admission ticket from its first byte); after ``stop_request`` with
``disconnectOnStopRequest: false`` the idle time the client asked for; and while streaming,
Symbl's "if a meeting is silent for more than 30 minutes, it will be automatically
terminated" (docs/streamingapi/introduction.md), read as 30 minutes without a frame.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from gateway.protocols.symbl.audio_format import AudioDecodeError
from gateway.protocols.symbl.connection import ConnectionRules, Phase
from gateway.protocols.symbl.errors import RealtimeError
from gateway.protocols.symbl.realtime import (
    PONG_TEXT,
    ModifyRequest,
    Ping,
    StartRequest,
    StopRequest,
    parse_client_text,
)
from gateway.protocols.symbl.streaming import encode

from .session import SymblSession
from .sink import SymblSocketSink

log = logging.getLogger(__name__)

UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
SILENT_MEETING_LIMIT = 30 * 60.0


class StreamingSocket:
    """Drives ``session`` from one socket until the socket or the session ends."""

    def __init__(self, ws: web.WebSocketResponse, session: SymblSession, *, owner: object,
                 start_timeout: float, silence_limit: float = SILENT_MEETING_LIMIT) -> None:
        self.ws = ws
        self.session = session
        self._owner = owner  # what the session knows this socket by
        self.rules = ConnectionRules()
        self.sink = SymblSocketSink(ws, session.connection_id)
        self._start_timeout = start_timeout
        self._silence_limit = silence_limit
        self._idle_timeout: float | None = None  # set while paused
        self._done = False
        self.errors = 0

    async def run(self) -> None:
        try:
            while not self._done and not self.ws.closed:
                try:
                    msg = await self.ws.receive(timeout=self._timeout())
                except TimeoutError:
                    await self._timed_out()
                    break
                if msg.type is WSMsgType.TEXT:
                    await self._text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._binary(msg.data)
                else:  # CLOSE, CLOSING, CLOSED, ERROR: the client is gone
                    break
        except Exception:
            log.exception("symbl %s: connection failed", self.session.connection_id)
            self._error(RealtimeError("internal_error", "the gateway failed on this connection",
                                      details="reconnect; the failure was logged"))
            await self.sink.hang_up(INTERNAL_ERROR, "internal_error")
        finally:
            await asyncio.shield(self.closed())

    def _timeout(self) -> float | None:
        if self.rules.phase is Phase.AWAITING_START:
            return self._start_timeout
        if self.rules.phase is Phase.STOPPED:
            return self._idle_timeout
        return self._silence_limit

    async def _timed_out(self) -> None:
        if self.rules.phase is Phase.STOPPED:
            log.info("symbl %s: idle after stop_request; closing", self.session.connection_id)
            await self.session.finish()
            await self.sink.hang_up(1000, "idle")
            return
        if self.rules.phase is Phase.STREAMING:
            self._error(RealtimeError(
                "silence_timeout", f"nothing received for {self._silence_limit:.0f} s",
                details="the conversation was ended; open a new connection to continue"))
            await self.session.finish()  # the farewell, then close 1000, as for a stop
            return
        self._error(RealtimeError(
            "start_timeout", f"no start_request within {self._start_timeout:.0f} s",
            details="send start_request right after the socket opens"))
        await self.sink.hang_up(POLICY_VIOLATION, "start_timeout")

    # -- text ---------------------------------------------------------------------------------

    async def _text(self, text: str) -> None:
        try:
            message = parse_client_text(text)
            if isinstance(message, Ping):
                self.sink.put(PONG_TEXT)
            elif isinstance(message, StartRequest):
                await self._start(message)
            elif isinstance(message, StopRequest):
                await self._stop()
            elif isinstance(message, ModifyRequest):
                audio = self.rules.on_modify(message)
                await self.session.modify(audio, self.sink)
        except RealtimeError as exc:
            self._error(exc)
            if exc.fatal:
                await self.sink.hang_up(exc.close_code, exc.code)
                self._done = True

    async def _start(self, request: StartRequest) -> None:
        self.rules.check_start()
        await self.session.start(request, self.sink, self._owner)
        self.rules.on_start(request)
        self._idle_timeout = None

    async def _stop(self) -> None:
        plan = self.rules.on_stop()
        if plan.close:
            await self.session.finish()  # says farewell and hangs up with 1000
            self._done = True
        else:
            self._idle_timeout = plan.idle_timeout
            await self.session.pause()

    # -- binary -------------------------------------------------------------------------------

    async def _binary(self, data: bytes) -> None:
        check = self.rules.on_audio(len(data))
        if check.error is not None:
            self._error(check.error)
        if not check.accept:
            return
        try:
            await self.session.audio(data)
        except AudioDecodeError as exc:
            self._error(RealtimeError(
                "bad_audio", f"the audio does not decode as declared: {exc}",
                details="send audio in the encoding and rate given in start_request"))
            await self.sink.hang_up(UNSUPPORTED_DATA, "bad_audio")
            self._done = True

    # -- end ----------------------------------------------------------------------------------

    def _error(self, exc: RealtimeError) -> None:
        self.errors += 1
        log.info("symbl %s: %s: %s", self.session.connection_id, exc.code, exc.message)
        self.sink.put(encode(exc.body()))

    async def closed(self) -> None:
        """However the socket ended: the session hears it (it finalises the pending
        phrase, and waits for a reconnect or ends), then the socket's writer stops."""
        try:
            await self.session.socket_closed(self.sink)
        finally:
            await self.sink.close()
            if self.session.owner is self._owner:
                self.session.owner = None
