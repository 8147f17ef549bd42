"""A Symbl real-time API client written from Symbl's reference alone, for tests and benchmarks.

It does what ``symblai/symbl-docs`` shows a client doing (NOTES-symbl.md): fetch a token at
``POST /oauth2/token:generate``, open ``/v1/realtime/insights/{connectionId}`` (or
``/v1/streaming/…``) with the token in the query — or in ``X-API-KEY``, a Bearer header or
the subprotocol, as the SDKs did — send ``start_request``, stream binary audio in real time
at the declared encoding without waiting for an answer, send ``stop_request`` and collect
every message until the server closes (or ``conversation_completed`` when asked to stay).

The audio encoders here produce what real clients sent: PCM frames of Symbl's 8192-byte
limit, the ``Int16Array`` of Symbl's browser snippet (sample 0 of each buffer left at 0,
values below -1 wrapped around), 20 ms mu-law packets from a phone bridge, and
``MediaRecorder``-style WebM/Opus cut at arbitrary byte offsets. Encoding goes through
FFmpeg (PyAV), never through the gateway's own decoders.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import av
import numpy as np

from tests.support.speech import SpeechSample

Frame = tuple[bytes, float]  # (payload, seconds of audio it carries)


# --------------------------------------------------------------------------- encoders


def pcm_frames(pcm: bytes, seconds: float, frame_bytes: int) -> list[Frame]:
    """Cut a byte stream into frames; each frame's share of ``seconds`` paces it."""
    per_byte = seconds / max(1, len(pcm))
    return [(pcm[i:i + frame_bytes], len(pcm[i:i + frame_bytes]) * per_byte)
            for i in range(0, len(pcm), frame_bytes)]


def linear16(sample: SpeechSample, rate: int, frame_bytes: int = 8192) -> list[Frame]:
    audio = sample.to(rate)
    return pcm_frames(audio.pcm(), audio.duration, frame_bytes)


def browser_linear16(sample: SpeechSample, context_rate: int = 48_000, buffer_size: int = 1024,
                     gain: float = 1.0) -> list[Frame]:
    """Symbl's browser snippet: ScriptProcessor buffers of Float32 → ``Int16Array``.

    ``for (i = len; i > 0; i--) target[i] = 32767 * Math.min(1, input[i])``: index 0 is never
    written (stays 0) and a value below -1 wraps modulo 2^16 (WebIDL ToInt16).
    """
    floats = sample.to(context_rate).samples.astype(np.float64) / 32768.0 * gain
    frames: list[Frame] = []
    for start in range(0, len(floats), buffer_size):
        block = floats[start:start + buffer_size]
        ints = np.trunc(32767.0 * np.minimum(1.0, block)).astype(np.int64)
        ints[0] = 0
        wrapped = (ints & 0xFFFF).astype(np.uint16).view(np.int16)
        frames.append((wrapped.astype("<i2").tobytes(), len(block) / context_rate))
    return frames


def _encode(sample: SpeechSample, codec: str, rate: int, **options: Any) -> list[bytes]:
    """Encode with an FFmpeg codec, one packet per element."""
    audio = sample.to(rate)
    ctx = cast(av.AudioCodecContext, av.CodecContext.create(codec, "w"))
    ctx.sample_rate, ctx.layout = rate, "mono"
    ctx.format = av.AudioFormat(options.pop("sample_format", "s16"))
    for key, value in options.items():
        setattr(ctx, key, value)
    ctx.open()
    step = ctx.frame_size or rate // 50
    packets: list[bytes] = []
    for i in range(0, len(audio.samples), step):
        block = np.zeros(step, np.int16)
        chunk = audio.samples[i:i + step]
        block[:len(chunk)] = chunk
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, i
        packets.extend(bytes(p) for p in ctx.encode(frame))
    packets.extend(bytes(p) for p in ctx.encode(None))
    return packets


def mulaw(sample: SpeechSample, frame_ms: int = 20) -> list[Frame]:
    """G.711 mu-law at 8 kHz in 20 ms packets, as a telephony bridge streams it."""
    data = b"".join(_encode(sample, "pcm_mulaw", 8000))
    return pcm_frames(data, len(data) / 8000, 8 * frame_ms)


def raw_opus(sample: SpeechSample, bit_rate: int = 32_000) -> list[Frame]:
    """One raw Opus packet (20 ms at 48 kHz) per frame, as Symbl's web SDK sent ``OPUS``."""
    return [(p, 0.02) for p in _encode(sample, "libopus", 48_000, bit_rate=bit_rate)]


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


def container(sample: SpeechSample, fmt: str, codec: str = "libopus", rate: int = 48_000,
              bit_rate: int = 64_000) -> bytes:
    """A whole stream written the way a live recorder writes it (no seeking back)."""
    sink = _Sink()
    options = {"live": "1"} if fmt == "webm" else {}
    with av.open(sink, "w", format=fmt, options=options) as out:
        stream = cast(av.AudioStream, out.add_stream(codec, rate=rate))
        stream.layout = "mono"
        if codec != "flac":
            stream.bit_rate = bit_rate
        audio = sample.to(rate)
        for i in range(0, len(audio.samples), 960):
            block = audio.samples[i:i + 960].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return bytes(sink.data)


def media_recorder(sample: SpeechSample, fmt: str = "webm", timeslice: float = 0.25,
                   seed: int = 0) -> list[Frame]:
    """``MediaRecorder.start(timeslice)`` chunks: the header in the first, cut anywhere."""
    data = container(sample, fmt)
    count = max(1, round(sample.duration / timeslice))
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), count - 1)) if count > 1 else []
    bounds = [0, *cuts, len(data)]
    return [(data[a:b], timeslice) for a, b in zip(bounds, bounds[1:], strict=False)]


@dataclass(frozen=True)
class Encoding:
    """How a kind of Symbl client sends a recording: what it declares, and its frames."""

    encoding: str
    rate: int
    encode: Any  # Callable[[SpeechSample], list[Frame]]

    def start_request(self, **fields: Any) -> dict[str, Any]:
        return start_request(self.encoding, self.rate, **fields)


ENCODINGS: dict[str, Encoding] = {
    "LINEAR16 16 kHz": Encoding("LINEAR16", 16000, lambda s: linear16(s, 16000)),
    "LINEAR16 44.1 kHz": Encoding("LINEAR16", 44100, lambda s: linear16(s, 44100)),
    "LINEAR16 8 kHz": Encoding("LINEAR16", 8000, lambda s: linear16(s, 8000)),
    "LINEAR16 48 kHz, Symbl's browser snippet": Encoding(
        "LINEAR16", 48000, lambda s: browser_linear16(s, 48000)),
    "MULAW 8 kHz": Encoding("MULAW", 8000, mulaw),
    "WebM/Opus MediaRecorder": Encoding(
        "audio/webm;codecs=opus", 48000, lambda s: media_recorder(s, "webm")),
    "Ogg/Opus MediaRecorder": Encoding("OPUS", 48000, lambda s: media_recorder(s, "ogg")),
    "Opus raw packets, Symbl's web SDK": Encoding("OPUS", 48000, raw_opus),
    "FLAC 16 kHz": Encoding("FLAC", 16000, lambda s: pcm_frames(
        container(s, "flac", "flac", 16000), s.duration, 8192)),
}
"""Every way a Symbl client sent audio that the gateway takes (NOTES-symbl.md §2)."""


# --------------------------------------------------------------------------- client


@dataclass
class Session:
    """Everything one streaming connection received, with arrival times."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    non_json: list[str] = field(default_factory=list)
    close_code: int | None = None
    started_at: float = 0.0
    audio_done_at: float = 0.0

    def notices(self, kind: str) -> list[dict[str, Any]]:
        return [m["message"] for m in self.messages
                if m.get("type") == "message" and m["message"].get("type") == kind]

    @property
    def conversation_id(self) -> str | None:
        for notice in self.notices("conversation_created"):
            return str(notice["data"]["conversationId"])
        return None

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "error"]

    @property
    def transcript(self) -> str:
        """The final transcript: every ``message_response`` content, in order."""
        return " ".join(m["payload"]["content"] for r in self.messages
                        if r.get("type") == "message_response" for m in r["messages"])

    def first(self, predicate: Any) -> float | None:
        """Seconds from the first audio frame to the first message matching ``predicate``."""
        for message, at in zip(self.messages, self.arrivals, strict=True):
            if predicate(message):
                return at - self.started_at
        return None


async def fetch_token(http: aiohttp.ClientSession, base_url: str, app_id: str = "app-id",
                      app_secret: str = "app-secret") -> str:
    """``POST /oauth2/token:generate`` as ``docs/developer-tools/authentication.md`` shows."""
    async with http.post(f"{base_url}/oauth2/token:generate", json={
            "type": "application", "appId": app_id, "appSecret": app_secret}) as response:
        response.raise_for_status()
        return str((await response.json())["accessToken"])


async def stream(base_url: str, frames: list[Frame], start_request: dict[str, Any], *,
                 token: str | None = None, connection_id: str | None = None,
                 path: str = "/v1/realtime/insights", auth: str = "query",
                 speed: float = 1.0, stop: bool = True, timeout: float = 60.0) -> Session:
    """Stream ``frames`` after ``start_request``, paced at ``speed`` x real time.

    ``auth`` is where the token goes: ``query``, ``x-api-key``, ``bearer`` or
    ``subprotocol``. Returns when the server closes the socket, or (with
    ``disconnectOnStopRequest: false``) once ``conversation_completed`` arrived.
    """
    session = Session()
    connection_id = connection_id or str(uuid.uuid4())
    async with aiohttp.ClientSession() as http:
        token = token or await fetch_token(http, base_url)
        url = f"{base_url.replace('http', 'ws', 1)}{path}/{connection_id}"
        headers: dict[str, str] = {}
        protocols: tuple[str, ...] = ()
        if auth == "query":
            url += f"?access_token={token}"
        elif auth == "x-api-key":
            headers["X-API-KEY"] = token
        elif auth == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        else:
            protocols = (token,)
        async with http.ws_connect(url, headers=headers, protocols=protocols,
                                   max_msg_size=0) as ws:
            reader = asyncio.create_task(_read(ws, session, stay=not start_request.get(
                "disconnectOnStopRequest", True)))
            await ws.send_str(json.dumps(start_request))
            session.started_at = time.monotonic()
            audio_clock = 0.0
            for payload, seconds in frames:
                await ws.send_bytes(payload)
                audio_clock += seconds
                if speed:  # paced by the absolute schedule: no drift over a long stream
                    await asyncio.sleep(max(0.0, session.started_at + audio_clock / speed
                                            - time.monotonic()))
            session.audio_done_at = time.monotonic()
            if stop:
                await ws.send_str(json.dumps({"type": "stop_request"}))
            try:
                await asyncio.wait_for(reader, timeout)
            finally:
                reader.cancel()
            session.close_code = ws.close_code
    return session


async def _read(ws: aiohttp.ClientWebSocketResponse, session: Session, stay: bool) -> None:
    async for message in ws:
        if message.type is not aiohttp.WSMsgType.TEXT:
            continue
        try:
            body = json.loads(message.data)
        except ValueError:
            session.non_json.append(message.data)
            continue
        session.messages.append(body)
        session.arrivals.append(time.monotonic())
        if stay and body.get("type") == "message" and \
                body["message"].get("type") == "conversation_completed":
            return


# --------------------------------------------------------------------------- raw socket


def start_request(encoding: str = "LINEAR16", rate: int = 16000, **fields: Any
                  ) -> dict[str, Any]:
    """A ``start_request`` as Symbl's reference shows it, with ``fields`` on top."""
    body: dict[str, Any] = {
        "type": "start_request",
        "config": {"speechRecognition": {"encoding": encoding, "sampleRateHertz": rate}},
    }
    body.update(fields)
    return body


def silence(seconds: float, rate: int = 16000, frame_bytes: int = 8192) -> list[bytes]:
    """LINEAR16 zeros cut into frames (the scripted recognizer hears by position)."""
    return [p for p, _ in pcm_frames(b"\0\0" * int(seconds * rate), seconds, frame_bytes)]


class Socket:
    """One raw streaming (or subscribe) socket, for protocol tests: every frame by hand.

    Text frames are parsed as JSON when they are JSON (``__PONG__`` is kept as text);
    ``received`` keeps everything in arrival order.
    """

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.received: list[Any] = []

    @classmethod
    async def open(cls, base_url: str, connection_id: str | None = None, *,
                   path: str = "/v1/streaming", query: str = "",
                   headers: dict[str, str] | None = None,
                   protocols: tuple[str, ...] = ()) -> Socket:
        http = aiohttp.ClientSession()
        url = f"{base_url.replace('http', 'ws', 1)}{path}/{connection_id or uuid.uuid4()}"
        try:
            ws = await http.ws_connect(url + (f"?{query}" if query else ""),
                                       headers=headers or {}, protocols=protocols,
                                       max_msg_size=0, autoping=True)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def send(self, body: dict[str, Any] | str | bytes) -> None:
        if isinstance(body, bytes):
            await self.ws.send_bytes(body)
        elif isinstance(body, str):
            await self.ws.send_str(body)
        else:
            await self.ws.send_str(json.dumps(body))

    async def next(self, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """The next text frame (parsed), or None once the socket closed."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is aiohttp.WSMsgType.TEXT:
                try:
                    item: Any = json.loads(msg.data)
                except ValueError:
                    item = msg.data
                self.received.append(item)
                return item
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return None

    async def until(self, predicate: Any, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Read until a frame matches ``predicate``; that frame (AssertionError if closed)."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self.next(max(0.01, deadline - time.monotonic()))
            if item is None:
                raise AssertionError(f"socket closed ({self.ws.close_code}) before a match; "
                                     f"got {kinds(self.received)}")
            if predicate(item):
                return item

    async def notice(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        found: dict[str, Any] = await self.until(lambda m: kind_of(m) == kind, timeout)
        return found

    async def conversation_id(self, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """The ``conversationId`` of the ``conversation_created`` that follows a start."""
        created = await self.notice("conversation_created", timeout)
        return str(created["message"]["data"]["conversationId"])

    async def rest(self, timeout: float = 10.0) -> list[Any]:  # noqa: ASYNC109
        """Everything until the server closes the socket."""
        out = []
        deadline = time.monotonic() + timeout
        while (item := await self.next(max(0.01, deadline - time.monotonic()))) is not None:
            out.append(item)
        return out

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code=code)
        await self.http.close()


def kind_of(item: Any) -> str:
    """``message.type`` for Symbl's envelopes, ``type`` otherwise, the text for non-JSON."""
    if not isinstance(item, dict):
        return str(item)
    if item.get("type") == "message" and isinstance(item.get("message"), dict):
        return str(item["message"].get("type"))
    return str(item.get("type"))


def kinds(items: list[Any]) -> list[str]:
    return [kind_of(i) for i in items]


def finals(items: list[Any]) -> list[str]:
    """Raw text of every final ``recognition_result``."""
    return [i["message"]["payload"]["raw"]["alternatives"][0]["transcript"] for i in items
            if kind_of(i) == "recognition_result" and i["message"]["isFinal"]]
