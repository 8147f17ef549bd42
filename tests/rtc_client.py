"""A real aiortc client of the gateway, written from docs/protocol.md alone.

Tests and benchmarks use it to stream a WAV file through ``/ws`` exactly as a browser
would: a data channel labelled ``insights`` before the offer, a microphone-like audio
track paced in real time, optional trickle ICE, and ``bye`` at the end. With
``carrier="http"`` (server-sent events) or ``"poll"`` it signals over ``/signal`` instead.
``resume()`` continues its session on a new connection (and, with a new track, on a new
peer connection); results carry ``seq`` then, and any repeated one lands in
``duplicates`` instead of ``results``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from tests.resume.signal_http import HttpSignal

FRAME_SAMPLES = 960  # 20 ms at 48 kHz
RATE = 48_000


def read_wav_48k(path: Path) -> np.ndarray:
    """Mono int16 samples at 48 kHz, resampled with PyAV when the file is at another rate."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: need 16-bit PCM, got {8 * width}-bit")
    samples = np.frombuffer(raw, dtype=np.int16).reshape(-1, channels)[:, 0].copy()
    if rate == RATE:
        return samples
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16)


class WavTrack(MediaStreamTrack):
    """Plays samples like a microphone: 20 ms frames in real time, then silence.

    ``live=True`` makes it a microphone that keeps time while nobody reads it: after a pause
    in reading (a peer connection that broke and was replaced) it goes on from where the
    clock is, the audio of the pause lost, instead of sending it late in a burst.
    """

    kind = "audio"

    def __init__(self, samples: np.ndarray, *, tail_silence: float = 1.5, speed: float = 1.0,
                 live: bool = False):
        super().__init__()
        pad = np.zeros(int(tail_silence * RATE), dtype=np.int16)
        self._samples = np.concatenate([samples.astype(np.int16), pad])
        self._pos = 0
        self._speed = speed
        self._live = live
        self._start: float | None = None
        self.finished = asyncio.Event()
        self.skipped = 0  # samples a live track skipped while unread

    @property
    def duration(self) -> float:
        return len(self._samples) / RATE

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pos / RATE / self._speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif self._live and delay < -0.5:
            now_pos = int((time.monotonic() - self._start) * RATE * self._speed)
            now_pos -= now_pos % FRAME_SAMPLES
            self.skipped += now_pos - self._pos
            self._pos = now_pos
        chunk = self._samples[self._pos:self._pos + FRAME_SAMPLES]
        if len(chunk) < FRAME_SAMPLES:
            self.finished.set()
            chunk = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pos
        frame.time_base = fractions.Fraction(1, RATE)
        self._pos += FRAME_SAMPLES
        return frame


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """Remove candidates from an SDP and return them as trickle messages (mid per section)."""
    lines: list[str] = []
    candidates: list[dict[str, Any]] = []
    mid: str | None = None
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mid = None
        if line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            candidates.append({"type": "candidate", "candidate": line[2:], "sdpMLineIndex": index,
                               "sdpMid": mid})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    for c in candidates:  # a=mid may follow candidates within a section
        if c["sdpMid"] is None:
            c["sdpMid"] = _mid_of_section(lines, int(c["sdpMLineIndex"]))
    return "\r\n".join(lines) + "\r\n", candidates


def _mid_of_section(lines: list[str], index: int) -> str | None:
    section = -1
    for line in lines:
        if line.startswith("m="):
            section += 1
        elif section == index and line.startswith("a=mid:"):
            return line[len("a=mid:"):]
    return None


def rtc_ice_servers(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    """``hello.iceServers`` (browser ``RTCIceServer`` dicts) as aiortc ``RTCIceServer``s.

    aiortc uses only the first STUN and the first TURN URL it can parse, so each URL becomes
    its own entry (in the order given) rather than one entry with a list of URLs.
    """
    out: list[RTCIceServer] = []
    for server in servers:
        urls = server.get("urls") or server.get("url") or []
        for url in [urls] if isinstance(urls, str) else list(urls):
            out.append(RTCIceServer(urls=url, username=server.get("username"),
                                    credential=server.get("credential")))
    return out


def selected_pair(pc: RTCPeerConnection) -> tuple[Any, Any] | None:
    """The (local, remote) aioice candidates of the pair ICE nominated, or None.

    aiortc has no public API for it (its ``getStats`` lists no candidate pairs), so this reads
    the aioice connection behind the first transceiver's (or the data channel's) transport.
    """
    transports = [t.sender.transport for t in pc.getTransceivers() if t.sender.transport]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        connection = getattr(dtls.transport, "_connection", None)
        nominated = getattr(connection, "_nominated", None) or {}
        if nominated:
            pair = nominated[min(nominated)]
            return pair.local_candidate, pair.remote_candidate
    return None


class GatewayClient:
    """One call: signaling (WebSocket, or HTTP) + aiortc peer + the insights data channel."""

    def __init__(self, base_url: str, *, carrier: str = "websocket",
                 access_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.carrier = carrier  # "websocket", "http" (server-sent events) or "poll"
        self.access_token = access_token  # sent as ?access_token= (docs/protocol.md)
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.signal: HttpSignal | None = None
        self.pc: RTCPeerConnection | None = None
        self.hello: dict[str, Any] = {}
        self.session_id: str | None = None  # the first hello's: the one a resume names
        self.last_seq = 0  # highest result seq received (resumable sessions)
        self.duplicates: list[dict[str, Any]] = []  # results received twice (never, we hope)
        self.results: list[dict[str, Any]] = []
        self.signals: list[dict[str, Any]] = []  # received, not yet taken by next_signal
        self.signal_types: list[str] = []  # every signal's type, in arrival order
        self.received: list[dict[str, Any]] = []  # every signal, in arrival order
        self._signal_waiters: list[
            tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]
        ] = []
        self._result_event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.channel_closed = asyncio.Event()
        self.channel_open = asyncio.Event()  # the current data channel opened
        self.connected_after: float | None = None
        self.offer_sdp: str | None = None
        self.answer_sdp: str | None = None
        self.answer: dict[str, Any] = {}
        #: candidate types of the nominated pair when the peer connected, e.g. ("relay", "relay")
        self.selected_types: tuple[str, str] | None = None
        self.connected = asyncio.Event()  # the peer connection reached "connected"
        self.signaling_closed = asyncio.Event()  # the WebSocket was closed (by either side)

    async def connect(self, *, resume: str | None = None,
                      ws_url: str | None = None) -> dict[str, Any]:
        """Open signaling and return ``hello``; ``resume``: the session this connection
        comes to resume; ``ws_url``: a redirect's exact URL instead of the base URL's."""
        if self.http is None:
            self.http = aiohttp.ClientSession()
        self.signaling_closed = asyncio.Event()
        if self.carrier == "websocket":
            url = ws_url or self.base_url.replace("http", "ws", 1) + "/ws"
            if resume:
                url += ("&" if "?" in url else "?") + f"resume={resume}"
            if self.access_token:
                url += ("&" if "?" in url else "?") + f"access_token={self.access_token}"
            self.ws = await self.http.ws_connect(url)
            self.hello = await self.ws.receive_json(timeout=10)
            self._reader = asyncio.ensure_future(self._read_signals())
        else:
            base, query = self.base_url, ""
            if ws_url is not None:
                parts = urlsplit(ws_url)
                scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
                base = urlunsplit((scheme, parts.netloc, parts.path.removesuffix("/ws"), "", ""))
                query = parts.query
            if self.access_token:
                query += ("&" if query else "") + f"access_token={self.access_token}"
            self.signal = HttpSignal(self.http, base, poll=self.carrier == "poll", query=query)
            await self.signal.open(resume)
            self._reader = asyncio.ensure_future(self._read_http(self.signal))
            self.hello = await self.next_signal(
                lambda m: m.get("type") in ("hello", "error"), 10)
        if self.session_id is None and self.hello.get("type") == "hello":
            self.session_id = self.hello.get("sessionId")
        return self.hello

    async def send(self, message: dict[str, Any] | str) -> None:
        if self.signal is not None:
            await self.signal.post(message)
            return
        assert self.ws is not None
        if isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_json(message)

    async def _read_signals(self) -> None:
        assert self.ws is not None
        closed = self.signaling_closed
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            self._dispatch(json.loads(msg.data))
        closed.set()

    async def _read_http(self, signal: HttpSignal) -> None:
        closed = self.signaling_closed
        try:
            async for data in signal.events():
                self._dispatch(data)
        except aiohttp.ClientError:
            pass
        finally:
            closed.set()

    def _dispatch(self, data: dict[str, Any]) -> None:
        self.received.append(data)
        self.signals.append(data)
        self.signal_types.append(str(data.get("type")))
        for predicate, fut in list(self._signal_waiters):
            if not fut.done() and predicate(data):
                fut.set_result(data)

    async def next_signal(self, predicate: Callable[[dict[str, Any]], bool],
                          timeout: float = 10) -> dict[str, Any]:
        for data in self.signals:
            if predicate(data):
                self.signals.remove(data)
                return data
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._signal_waiters.append(entry)
        try:
            data = await asyncio.wait_for(fut, timeout)
            self.signals.remove(data)
            return data
        finally:
            self._signal_waiters.remove(entry)

    async def error(self, timeout: float = 10) -> dict[str, Any]:
        return await self.next_signal(lambda m: m.get("type") == "error", timeout)

    def peer(self, track: MediaStreamTrack | None, *, ice_servers: list[RTCIceServer] | None = None,
             data_channel: bool = True, relay: bool = False) -> RTCPeerConnection:
        """Create the peer connection; ``relay=True`` makes it relay-only (like ``?relay=1``)
        with the servers of ``hello.iceServers`` unless ``ice_servers`` is given."""
        if relay:
            servers = ice_servers if ice_servers is not None else rtc_ice_servers(
                self.hello.get("iceServers") or [])
            self.pc = RTCPeerConnection(RTCConfiguration(
                iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY))
        else:
            self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or []))
        if data_channel:
            channel = self.pc.createDataChannel("insights")
            closed = self.channel_closed = asyncio.Event()
            opened = self.channel_open = asyncio.Event()
            channel.on("open", opened.set)

            @channel.on("message")
            def on_message(message: str) -> None:
                self._on_result(json.loads(message))

            channel.on("close", closed.set)
        if track is not None:
            self.pc.addTrack(track)
        return self.pc

    async def offer(self, config: dict[str, Any] | None = None, *, trickle: bool = False,
                    tolerate: tuple[str, ...] = (), features: list[str] | None = None) -> str:
        """Send the offer, return the answer SDP (after applying it).

        An ``error`` before the answer raises, unless its code is in ``tolerate`` (codes that
        leave the session running, such as ``turn_unavailable`` under the "all" policy): those
        stay in :attr:`signals` and the answer is still awaited.
        """
        assert self.pc is not None
        self._watch_connection(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        self.offer_sdp = sdp
        candidates: list[dict[str, Any]] = []
        if trickle:
            sdp, candidates = split_candidates(sdp)
        message: dict[str, Any] = {"type": "offer", "sdp": sdp}
        if config is not None:
            message["config"] = config
        if features is not None:  # calls between participants: presence, peer, mute
            message["features"] = features
        await self.send(message)
        for c in candidates:
            await self.send(c)
        if trickle:
            await self.send({"type": "candidate", "candidate": None, "sdpMid": "0",
                             "sdpMLineIndex": 0})
        reply = await self.next_signal(
            lambda m: m.get("type") == "answer"
            or (m.get("type") == "error" and m.get("code") not in tolerate), 15)
        if reply["type"] == "error":
            raise RuntimeError(f"offer rejected: {reply['code']}: {reply['message']}")
        self.answer_sdp = str(reply["sdp"])
        self.answer = reply
        await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        return str(reply["sdp"])

    def _watch_connection(self, pc: RTCPeerConnection) -> None:
        started = time.monotonic()
        connected = self.connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected_after = time.monotonic() - started
                pair = selected_pair(pc)
                if pair is not None:
                    self.selected_types = (pair[0].type, pair[1].type)
                connected.set()

    def _on_result(self, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        if isinstance(seq, int):
            if seq <= self.last_seq:
                self.duplicates.append(message)
                return
            self.last_seq = seq
        self.results.append(message)
        self._result_event.set()

    async def resume(self, *, track: MediaStreamTrack | None = None,
                     ws_url: str | None = None, timeout: float = 15) -> dict[str, Any]:
        """Continue this client's session on a new signaling connection; with ``track``, on
        a new peer connection too (the old one is closed first). Returns the ``resumed``
        reply, or raises ``ResumeRefused`` with the ``error`` (or ``redirect``) received."""
        assert self.session_id is not None and self.answer.get("resumeToken")
        await self.drop_signaling()
        await self.connect(resume=self.session_id, ws_url=ws_url)
        message: dict[str, Any] = {"type": "resume", "sessionId": self.session_id,
                                   "resumeToken": self.answer["resumeToken"]}
        if track is not None:
            if self.pc is not None:
                await self.pc.close()
            self.peer(track)
            assert self.pc is not None
            self._watch_connection(self.pc)
            await self.pc.setLocalDescription(await self.pc.createOffer())
            message["sdp"] = self.pc.localDescription.sdp
        message["lastSeq"] = self.last_seq  # read after the old channel closed
        await self.send(message)
        reply = await self.next_signal(
            lambda m: m.get("type") in ("resumed", "error", "redirect"), timeout)
        if reply["type"] != "resumed":
            raise ResumeRefused(reply)
        if track is not None:
            assert self.pc is not None
            await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        return reply

    async def drop_signaling(self) -> None:
        """Forget the current signaling connection without a word (as a network blip)."""
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None
        self.signal = None

    async def wait_result(self, predicate: Callable[[dict[str, Any]], bool],
                          timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.results[seen:]:
                if predicate(message):
                    return message
            seen = len(self.results)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching result within {timeout} s; got {self.results!r}")
            self._result_event.clear()
            try:
                await asyncio.wait_for(self._result_event.wait(), remaining)
            except TimeoutError:
                pass

    async def bye(self, timeout: float = 15) -> None:
        await self.send({"type": "bye"})
        await self.next_signal(lambda m: m.get("type") == "bye", timeout)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        if self.ws is not None:
            await self.ws.close()
        if self.signal is not None:
            await self.signal.close()
        if self._reader is not None:
            self._reader.cancel()
        if self.http is not None:
            await self.http.close()

    # -- views on results -------------------------------------------------------------

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        out = []
        for m in self.results:
            if m.get("type") == kind:
                out.append(m)
            elif m.get("type") == "message" and m.get("message", {}).get("type") == kind:
                out.append(m["message"])
        return out

    def final_text(self) -> str:
        return " ".join(
            msg["metadata"]["originalContent"]
            for m in self.of_type("message_response") for msg in m["messages"]
        )


class ResumeRefused(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"resume refused: {reply}")
        self.reply = reply


async def stream_wav(base_url: str, wav: Path, config: dict[str, Any] | None = None, *,
                     trickle: bool = False, speed: float = 1.0,
                     relay: bool = False) -> GatewayClient:
    """Play a WAV through the gateway and return the client after ``bye``.

    ``relay=True``: relay-only ICE through the TURN server(s) of ``hello.iceServers``.
    """
    client = GatewayClient(base_url)
    await client.connect()
    track = WavTrack(read_wav_48k(wav), speed=speed)
    client.peer(track, relay=relay)
    try:
        await client.offer(config, trickle=trickle)
        await asyncio.wait_for(track.finished.wait(), track.duration / speed + 30)
        await client.bye()
    finally:
        await client.close()
    return client
