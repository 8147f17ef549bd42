"""The client side of vosk-server's protocol: one connection, and reading its answers.

The wire format (config, the ``{"eof" : 1}`` and ``{"reset" : 1}`` literals, reply shapes)
lives in gateway/protocols/downstream/vosk.py; this is the client side of one connection.

vosk-server answers every frame it is sent with one JSON text, so a client can wait for the
answer to the frame it just sent. The count can be off by one: the C++ server takes the
config message for audio and answers it too. So answers are never matched to frames by
position: every answer is handled the same way (partials shown, finals mapped by their own
word times), and ``collect`` only waits until at least as many answers as frames arrived.

A reader task reads the socket all the time, so the server's keepalive pings are answered
even while the stream is idle (silence a VAD did not forward), and a dead server is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from gateway.asr.base import Final, Partial, TranscriptEvent
from gateway.asr.timeline import Timeline
from gateway.pipeline.pcm import TARGET_RATE
from gateway.protocols.downstream.vosk import VoskWord, parse_reply
from gateway.transcript import Phrase, Speaker, Word

MAX_QUEUED_REPLIES = 256  # lock-step keeps this near 1; a babbling server cannot grow memory
CLOSE_TIMEOUT = 1.0  # a dead server does not answer the close handshake


class ServerGone(Exception):
    """The connection failed: refused, timed out, closed, or answered nonsense."""


class VoskConnection:
    """A connected vosk-server WebSocket with a reader task."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, url: str) -> None:
        self.url = url
        self._ws = ws
        self._replies: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUED_REPLIES)
        self._arrived = asyncio.Event()
        self._expected = 0
        self._received = 0
        self.close_code: int | None = None
        self.gone: str | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str, *, timeout: float,
                   config: str | None) -> VoskConnection:
        """Connect (handshake and config within ``timeout``) or raise :class:`ServerGone`."""
        try:
            async with asyncio.timeout(timeout):
                ws = await session.ws_connect(
                    url, autoping=True, max_msg_size=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT))
                if config is not None:
                    await ws.send_str(config)  # the Python servers do not answer it
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServerGone(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        return cls(ws, url)

    @property
    def closed(self) -> bool:
        return self.gone is not None or self._ws.closed

    async def send(self, frame: str | bytes, *, answered: bool = True) -> None:
        """Send one frame; ``answered`` frames are counted as owing one reply."""
        if self.closed:
            raise ServerGone(self.gone or "connection closed")
        try:
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            else:
                await self._ws.send_str(frame)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise ServerGone(f"send failed: {exc}") from exc
        if answered:
            self._expected += 1

    async def collect(self, timeout: float, *, until_final: bool = False) -> list[dict[str, Any]]:
        """Every answer so far, once at least one per sent frame arrived (and, with
        ``until_final``, a final-shaped one last, or the server closed after it)."""
        try:
            async with asyncio.timeout(timeout):
                while not self._satisfied(until_final):
                    if self.gone is not None:
                        if until_final and self._last_is_final():
                            break
                        raise ServerGone(self.gone)
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError as exc:
            raise ServerGone(f"no answer within {timeout:.1f} s") from exc
        replies = list(self._replies)
        self._replies.clear()
        return replies

    async def close(self, timeout: float = 2 * CLOSE_TIMEOUT) -> None:
        """Close (the handshake waits at most CLOSE_TIMEOUT) and stop the reader."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    def _satisfied(self, until_final: bool) -> bool:
        if self._received < self._expected:
            return False
        return not until_final or self._last_is_final()

    def _last_is_final(self) -> bool:
        return bool(self._replies) and parse_reply(self._replies[-1]).kind == "final"

    async def _read(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    try:
                        reply = json.loads(msg.data)
                    except ValueError:
                        reply = None
                    if not isinstance(reply, dict):
                        self.gone = f"answer is not a JSON object: {str(msg.data)[:60]!r}"
                        break
                    self._replies.append(reply)
                    self._received += 1
                    self._arrived.set()
                elif msg.type is not aiohttp.WSMsgType.BINARY:
                    break
        except Exception as exc:  # the socket failed under the reader
            self.gone = f"read failed: {exc}"
        finally:
            self.close_code = self._ws.close_code
            if self.gone is None:
                self.gone = f"closed by the server (code {self.close_code})"
            self._arrived.set()


class Answers:
    """A server's answers as one speaker's transcript events, times on the stream clock.

    Partials are passed on when their text changed, at most every ``partial_interval``
    seconds (the server answers every frame); a final becomes a Phrase whose word times are
    mapped through ``clock``, which then forgets what the phrase covered.
    """

    def __init__(self, speaker: Speaker, *, partial_interval: float,
                 now: Callable[[], float]) -> None:
        self.speaker = speaker
        self.clock = Timeline()  # this connection's fed audio → the stream clock
        self._partial_interval = partial_interval
        self._now = now
        self._last_partial = ""
        self._last_partial_at = float("-inf")

    def read(self, replies: list[dict[str, Any]]) -> tuple[list[TranscriptEvent], bool]:
        """(events, whether a phrase ended) for a batch of answers."""
        events: list[TranscriptEvent] = []
        ended = False
        for reply in replies:
            parsed = parse_reply(reply)
            if parsed.kind == "final":
                ended = True
                phrase = self._phrase(parsed.text, parsed.words)  # before forgetting
                # Later words lie after what was fed; keep the segment that is in.
                self.clock.forget_before(self.clock.fed_samples / TARGET_RATE)
                self._last_partial, self._last_partial_at = "", float("-inf")
                if phrase is not None:
                    events.append(Final(phrase))
            elif parsed.kind == "partial":
                now = self._now()
                if parsed.text and parsed.text != self._last_partial and \
                        now - self._last_partial_at >= self._partial_interval:
                    self._last_partial, self._last_partial_at = parsed.text, now
                    events.append(Partial(parsed.text))
        return events, ended

    def _phrase(self, text: str, words: Sequence[VoskWord]) -> Phrase | None:
        if not text:
            return None
        mapped = tuple(Word(w.word, round(self.clock.to_stream(w.start), 3),
                            round(self.clock.to_stream(w.end, end=True), 3), w.conf)
                       for w in words)
        if not mapped:  # a server with words off: the phrase ends where the audio does
            end = self.clock.to_stream(self.clock.fed_samples / TARGET_RATE, end=True)
            return Phrase(str(uuid.uuid4()), text, self.speaker, end, end, (), 1.0)
        confidence = sum(w.confidence for w in mapped) / len(mapped)
        return Phrase(str(uuid.uuid4()), text, self.speaker, mapped[0].start, mapped[-1].end,
                      mapped, confidence)
