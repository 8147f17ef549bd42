"""Downstream services on loopback that check what the gateway sends, strictly by the spec.

Each receiver is a real aiohttp WebSocket server. Every connection is recorded
(:class:`Connection`): frames in order, the negotiated subprotocol, and ``violations``, a
list of every way the client departed from the protocol's specification (tests assert it is
empty). Receivers decode the audio so tests can compare it with what was sent.

* :class:`TwilioReceiver`: Twilio Media Streams as Twilio sends them (connected, start,
  media, mark, stop; string sequence numbers, per-track chunk counters and timestamps,
  base64 mu-law 20 ms payloads).
* :class:`JambonzReceiver`: jambonz ``listen`` (``audio.jambonz.org``, one JSON text frame,
  then only binary L16 at ``sampleRate``, ``mixType`` channels).
* :class:`SymblReceiver`: Symbl's Streaming API server side (start_request, LINEAR16 frames of
  at most 8,192 bytes, stop_request), optionally recognising with real Vosk.
* :class:`JsonReceiver`: any JSON text stream (the results relay).

``script`` callbacks let a test make the server talk back (marks, commands, audio).
:func:`drive` is a minimal client that runs one protocol object over one connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
import numpy as np
import vosk
from aiohttp import WSMsgType, web

from gateway.pipeline.g711 import ulaw_decode
from gateway.pipeline.pcm import PcmChunk
from gateway.protocols.downstream.base import AudioChunk, ProtocolBase

from .speech import SpeechSample, require_pocketsphinx_corpus

SID = {"MZ": re.compile(r"^MZ[0-9a-f]{32}$"), "AC": re.compile(r"^AC[0-9a-f]{32}$"),
       "CA": re.compile(r"^CA[0-9a-f]{32}$")}
JAMBONZ_RATES = (8000, 16000, 24000, 48000, 64000)


@dataclass
class Connection:
    """One client connection as the receiver saw it."""

    path: str
    headers: dict[str, str]
    subprotocol: str | None
    ws: web.WebSocketResponse
    frames: list[str | bytes] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` frames have been received and checked."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.frames) >= count)

    def violation(self, text: str) -> None:
        self.violations.append(f"frame {len(self.frames)}: {text}")

    async def send(self, message: dict[str, Any] | bytes) -> None:
        if isinstance(message, bytes):
            await self.ws.send_bytes(message)
        else:
            await self.ws.send_str(json.dumps(message))


Script = Callable[[Connection], Coroutine[Any, Any, None]]


class Receiver:
    """Base: accept WebSockets on loopback, record every frame, let subclasses check them."""

    protocols: tuple[str, ...] = ()

    def __init__(self, *, script: Script | None = None) -> None:
        self.connections: list[Connection] = []
        self.script = script
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._requests: list[web.BaseRequest] = []
        self.connected = asyncio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            for conn in self.connections:
                if not conn.ws.closed:
                    await conn.ws.close()
            await runner.cleanup()

    async def kill(self) -> None:
        """Vanish like a crashed process: connections reset, no close frames."""
        runner, self._runner = self._runner, None
        for request in list(self._requests):
            if request.transport is not None:
                request.transport.abort()
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=self.protocols, max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(request.path_qs, dict(request.headers), ws.ws_protocol, ws)
        self.connections.append(conn)
        self._requests.append(request)
        self.connected.set()
        self.opened(conn)
        script = asyncio.create_task(self.script(conn)) if self.script else None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                frame: str | bytes = msg.data
                conn.frames.append(frame)
                await self.check(conn, frame)
                async with conn.arrived:
                    conn.arrived.notify_all()
        finally:
            if script is not None:
                script.cancel()
            self._requests.remove(request)
            conn.close_code = ws.close_code
            self.closed(conn)
            conn.closed.set()
        return ws

    def opened(self, conn: Connection) -> None:
        """Subclasses check the handshake here."""

    async def check(self, conn: Connection, frame: str | bytes) -> None:
        """Subclasses check each frame here."""

    def closed(self, conn: Connection) -> None:
        """Subclasses check the end here."""


def _json_object(conn: Connection, frame: str | bytes) -> dict[str, Any] | None:
    if isinstance(frame, bytes):
        conn.violation("binary frame where a JSON text frame was expected")
        return None
    try:
        obj = json.loads(frame)
    except ValueError:
        conn.violation(f"not JSON: {frame[:60]!r}")
        return None
    if not isinstance(obj, dict):
        conn.violation("JSON that is not an object")
        return None
    return obj


def _decimal(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


class TwilioReceiver(Receiver):
    """Twilio Media Streams, checked message by message (see twilio.py for the spec)."""

    async def check(self, conn: Connection, frame: str | bytes) -> None:
        msg = _json_object(conn, frame)
        if msg is None:
            return
        s = conn.state
        stage = s.setdefault("stage", "connected")
        if stage == "connected":
            if msg != {"event": "connected", "protocol": "Call", "version": "1.0.0"}:
                conn.violation(f"first message is not Twilio's connected: {msg}")
            s["stage"] = "start"
            return
        if stage == "stopped":
            conn.violation(f"message after stop: {msg.get('event')}")
            return
        self._check_sequence(conn, msg)
        event = msg.get("event")
        if stage == "start":
            self._check_start(conn, msg)
            s["stage"] = "media"
        elif event == "media":
            self._check_media(conn, msg.get("media"))
        elif event == "mark":
            if not isinstance((msg.get("mark") or {}).get("name"), str):
                conn.violation(f"mark without a string name: {msg}")
            s.setdefault("marks", []).append(msg["mark"]["name"])
        elif event == "stop":
            expected = {"accountSid": s.get("accountSid"), "callSid": s.get("callSid")}
            if msg.get("stop") != expected:
                conn.violation(f"stop {msg.get('stop')} does not name {expected}")
            s["stage"] = "stopped"
        else:
            conn.violation(f"unknown event {event!r}")

    def _check_sequence(self, conn: Connection, msg: dict[str, Any]) -> None:
        s = conn.state
        number = _decimal(msg.get("sequenceNumber"))
        expected = s.get("sequence", 0) + 1
        if number != expected:
            conn.violation(f"sequenceNumber {msg.get('sequenceNumber')!r}, expected "
                           f"the string {str(expected)!r}")
        s["sequence"] = expected
        if "streamSid" in s and msg.get("streamSid") != s["streamSid"]:
            conn.violation(f"streamSid {msg.get('streamSid')!r} changed")

    def _check_start(self, conn: Connection, msg: dict[str, Any]) -> None:
        s, start = conn.state, msg.get("start")
        if msg.get("event") != "start" or not isinstance(start, dict):
            conn.violation(f"second message is not start: {msg}")
            return
        if set(msg) != {"event", "sequenceNumber", "start", "streamSid"}:
            conn.violation(f"start has keys {sorted(msg)}")
        for key, prefix in (("streamSid", "MZ"), ("accountSid", "AC"), ("callSid", "CA")):
            if not SID[prefix].match(str(start.get(key))):
                conn.violation(f"start.{key} {start.get(key)!r} is not a {prefix} SID")
            s[key] = start.get(key)
        if msg.get("streamSid") != start.get("streamSid"):
            conn.violation("top-level streamSid differs from start.streamSid")
        tracks = start.get("tracks")
        if not isinstance(tracks, list) or not tracks or \
                not set(tracks) <= {"inbound", "outbound"} or len(set(tracks)) != len(tracks):
            conn.violation(f"start.tracks {tracks!r}")
            tracks = ["inbound"]
        s["tracks"] = tracks
        params = start.get("customParameters")
        if not isinstance(params, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
            conn.violation(f"customParameters must map strings to strings: {params!r}")
        s["customParameters"] = params
        fmt = start.get("mediaFormat")
        if fmt != {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1} or \
                not isinstance(fmt.get("sampleRate"), int):
            conn.violation(f"mediaFormat {fmt!r}")

    def _check_media(self, conn: Connection, media: object) -> None:
        s = conn.state
        if not isinstance(media, dict) or set(media) != {"track", "chunk", "timestamp",
                                                         "payload"}:
            conn.violation(f"media {media!r}")
            return
        track = media["track"]
        if track not in s.get("tracks", ()):
            conn.violation(f"media for track {track!r} not announced in start")
        chunks, stamps = s.setdefault("chunks", {}), s.setdefault("timestamps", {})
        chunk, stamp = _decimal(media["chunk"]), _decimal(media["timestamp"])
        if chunk != chunks.get(track, 0) + 1:
            conn.violation(f"{track} chunk {media['chunk']!r} after {chunks.get(track, 0)}")
        if stamp is None or (track in stamps and stamp < stamps[track] + 20):
            conn.violation(f"{track} timestamp {media['timestamp']!r} after {stamps.get(track)}")
        elif track in stamps and stamp > stamps[track] + 20:
            s["gaps"] = s.get("gaps", 0) + 1
        chunks[track] = chunk or 0
        stamps[track] = stamp if stamp is not None else stamps.get(track, 0)
        try:
            payload = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError):
            conn.violation("payload is not base64")
            return
        if len(payload) != 160:
            conn.violation(f"payload of {len(payload)} bytes, not 160 (20 ms)")
        s.setdefault("media", {}).setdefault(track, []).append((stamps[track], payload))

    def audio(self, conn: Connection, track: str = "inbound") -> np.ndarray:
        """A track's 8 kHz samples, each payload placed at its timestamp (gaps silent)."""
        pieces = conn.state.get("media", {}).get(track, [])
        if not pieces:
            return np.zeros(0, np.int16)
        first = pieces[0][0]
        end = max(ts - first for ts, _ in pieces) * 8 + 160
        out = np.zeros(end, np.int16)
        for ts, payload in pieces:
            pcm = np.frombuffer(ulaw_decode(payload), "<i2")
            at = (ts - first) * 8
            out[at: at + len(pcm)] = pcm
        return out


class JambonzReceiver(Receiver):
    """jambonz ``listen``: subprotocol, one metadata text frame, then only binary L16."""

    protocols = ("audio.jambonz.org",)

    def opened(self, conn: Connection) -> None:
        if conn.subprotocol != "audio.jambonz.org":
            conn.violation(f"subprotocol {conn.subprotocol!r}, not audio.jambonz.org")

    async def check(self, conn: Connection, frame: str | bytes) -> None:
        s = conn.state
        if "metadata" not in s:
            meta = _json_object(conn, frame)
            s["metadata"] = meta or {}
            if meta is None:
                return
            if meta.get("sampleRate") not in JAMBONZ_RATES:
                conn.violation(f"sampleRate {meta.get('sampleRate')!r}")
            if meta.get("mixType") not in ("mono", "mixed", "stereo"):
                conn.violation(f"mixType {meta.get('mixType')!r}")
            for key in ("callSid", "direction", "from", "to", "callId", "accountSid"):
                if not isinstance(meta.get(key), str):
                    conn.violation(f"metadata lacks the call attribute {key}")
            s["channels"] = 2 if meta.get("mixType") == "stereo" else 1
            s["audio"] = bytearray()
            return
        if isinstance(frame, str):
            # jambonz itself sends only these texts after the metadata: answers to marks,
            # playDone after playAudio, and DTMF with passDtmf.
            msg = _json_object(conn, frame) or {}
            if msg.get("type") not in ("mark", "playDone") and msg.get("event") != "dtmf":
                conn.violation(f"text frame after the metadata: {frame[:80]!r}")
            s.setdefault("texts", []).append(msg)
            return
        if len(frame) % (2 * s["channels"]):
            conn.violation(f"binary frame of {len(frame)} bytes is not whole sample frames")
        s["audio"] += frame
        s["frames"] = s.get("frames", 0) + 1

    def audio(self, conn: Connection) -> np.ndarray:
        """Samples as (n, channels) int16."""
        data = bytes(conn.state.get("audio", b""))
        channels = conn.state.get("channels", 1)
        data = data[: len(data) - len(data) % (2 * channels)]
        return np.frombuffer(data, "<i2").reshape(-1, channels)


class SymblReceiver(Receiver):
    """The server side of Symbl's Streaming API, recognising with Vosk when given a model."""

    def __init__(self, *, model: vosk.Model | None = None, script: Script | None = None) -> None:
        super().__init__(script=script)
        self.model = model

    async def check(self, conn: Connection, frame: str | bytes) -> None:
        s = conn.state
        if isinstance(frame, bytes):
            if "start" not in s:
                conn.violation("audio before start_request (Symbl ignores it)")
            if len(frame) > 8192 or len(frame) % 2:
                conn.violation(f"audio frame of {len(frame)} bytes")
            s.setdefault("audio", bytearray()).extend(frame)
            if s.get("rec") is not None:
                await self._recognise(conn, frame)
            return
        msg = _json_object(conn, frame)
        if msg is None:
            return
        if msg.get("type") == "start_request" and "start" not in s:
            speech = (msg.get("config") or {}).get("speechRecognition") or {}
            rate = speech.get("sampleRateHertz")
            if speech.get("encoding") != "LINEAR16" or not isinstance(rate, int) or \
                    not 8000 <= rate <= 48000:
                conn.violation(f"speechRecognition {speech!r}")
            s["start"] = msg
            if self.model is not None and isinstance(rate, int):
                s["rec"] = vosk.KaldiRecognizer(self.model, rate)
            await conn.send({"type": "message", "message": {
                "type": "started", "data": {"conversationId": f"c{len(self.connections)}"}}})
        elif msg.get("type") == "stop_request":
            if s.get("rec") is not None:
                await self._recognise(conn, None)
            s["stopped"] = True
            await conn.send({"type": "message", "message": {"type": "recognition_stopped"}})
            await conn.ws.close()
        else:
            conn.violation(f"unexpected message {msg.get('type')!r}")

    async def _recognise(self, conn: Connection, pcm: bytes | None) -> None:
        rec = conn.state["rec"]
        loop = asyncio.get_running_loop()
        if pcm is None:
            raw = await loop.run_in_executor(None, rec.FinalResult)
        elif await loop.run_in_executor(None, rec.AcceptWaveform, pcm):
            raw = rec.Result()
        else:
            return
        text = json.loads(raw).get("text", "")
        if text:
            speaker = conn.state["start"].get("speaker", {})
            await conn.send({"type": "message_response", "messages": [
                {"from": speaker, "payload": {"content": text, "contentType": "text/plain"}}]})


class JsonReceiver(Receiver):
    """Any stream of JSON text frames (the results relay)."""

    async def check(self, conn: Connection, frame: str | bytes) -> None:
        msg = _json_object(conn, frame)
        if msg is not None:
            conn.state.setdefault("messages", []).append(msg)


@dataclass
class DriveResult:
    replies: list[dict[str, Any]]
    frames_sent: int
    bytes_sent: int
    close_code: int | None


async def drive(url: str, protocol: ProtocolBase, chunks: Iterable[AudioChunk], *,
                pace: float = 0.0, linger: float = 60.0, goodbye: bool = True) -> DriveResult:
    """Run ``protocol`` over one connection: opening, every chunk, closing; collect replies
    until the server closes (or ``linger`` seconds after the goodbye). ``goodbye=False``
    drops the connection after the audio instead, as a failing network would."""
    replies: list[dict[str, Any]] = []
    sent = [0, 0]
    lock = asyncio.Lock()
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, protocols=protocol.subprotocols) as ws:

        async def send(frames: list[str | bytes]) -> None:
            async with lock:
                for frame in frames:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_str(frame)
                    sent[0] += 1
                    sent[1] += len(frame)

        async def read() -> None:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                reply = protocol.reply(msg.data)
                if reply is not None:
                    replies.append(reply)
                await send(protocol.responses())

        reader = asyncio.create_task(read())
        await send(protocol.opening())
        for chunk in chunks:
            await send(protocol.audio(chunk))
            if pace:
                await asyncio.sleep(pace)
        if goodbye:
            await send(protocol.closing())
        if not (goodbye and protocol.server_closes):
            await ws.close()
        await asyncio.wait({reader}, timeout=linger)
        reader.cancel()
        return DriveResult(replies, sent[0], sent[1], ws.close_code)


def pcm_chunks(samples: np.ndarray, *, ms: int = 100, offset: int = 0) -> list[PcmChunk]:
    """16 kHz mono samples as the pipeline's chunks, starting at ``offset``."""
    step = 16 * ms
    return [PcmChunk(samples[i: i + step].astype("<i2").tobytes(), offset + i)
            for i in range(0, len(samples), step)]


def correlation(sent: np.ndarray, received: np.ndarray, *, max_lag: int = 64) -> float:
    """Peak normalised cross-correlation within ``max_lag`` samples (resamplers delay a
    little); 1.0 is identical up to scale, speech through mu-law at 8 kHz gives ~0.99."""
    a, b = sent.astype(np.float64), received.astype(np.float64)
    best = 0.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(len(x), len(y))
        if n < 100:
            continue
        x, y = x[:n], y[:n]
        denom = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
        if denom:
            best = max(best, float(np.dot(x, y)) / denom)
    return best


def recording(index: int = 0) -> tuple[np.ndarray, str]:
    """A real 16 kHz recording of pocketsphinx-testdata and its transcript (skips the
    calling test when the package is missing)."""
    utterance = require_pocketsphinx_corpus()[index]
    return SpeechSample.read(utterance.path).to(16000).samples, utterance.transcript
