"""How a caller talks to each server under test, reduced to one arrival log.

Both adapters do what that server's own client does, and nothing more:

* :class:`GatewayAdapter`: our ``/ws`` signaling as ``tests/rtc_client.py`` speaks it
  (``hello``, ``offer`` with a config, ``answer``, ``bye``), results on the ``insights``
  data channel as Symbl ``recognition_result`` messages (partial and final);
* :class:`PeerAdapter`: the vosk-server WebRTC example's ``static/client.js``: a data channel
  labelled ``result`` created before the audio track, the whole offer (gathering complete)
  POSTed as JSON to ``/offer``, the answer in the response; the server sends a dummy ``{}``
  first, then one Vosk JSON per 0.4 s of audio: ``{"partial": ...}`` or ``{"text": ...}``.

Each result is logged as ``(monotonic arrival time, "partial" | "final", raw text)`` the
moment the data channel delivers it; everything else about the message is ignored.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from tests.rtc_client import GatewayClient

from .track import ScriptTrack

Event = tuple[float, str, str]


class Adapter(Protocol):
    """One call to a server under test."""

    events: list[Event]
    connect_seconds: float | None

    async def connect(self, track: ScriptTrack, name: str) -> None:
        """Signal and wait until the media connection is up; raise if refused."""

    async def finish(self) -> None:
        """End the call the way that server's client does (after the last results)."""

    async def close(self) -> None:
        """Free everything; safe after a failed connect."""


class GatewayAdapter:
    """A caller of our gateway (``/ws`` signaling, ``insights`` data channel)."""

    def __init__(self, url: str) -> None:
        self.client = GatewayClient(url)
        self.events: list[Event] = []
        self.connect_seconds: float | None = None

    def _on_message(self, raw: str) -> None:
        now = time.monotonic()
        data = json.loads(raw)
        message = data.get("message") if data.get("type") == "message" else None
        if not isinstance(message, dict) or message.get("type") != "recognition_result":
            return
        alternatives = message.get("payload", {}).get("raw", {}).get("alternatives") or [{}]
        text = str(alternatives[0].get("transcript", ""))
        self.events.append((now, "final" if message.get("isFinal") else "partial", text))

    async def connect(self, track: ScriptTrack, name: str) -> None:
        started = time.monotonic()
        hello = await self.client.connect()
        if hello.get("type") == "error":
            raise RuntimeError(f"refused: {hello.get('code')}: {hello.get('message')}")
        pc = self.client.peer(None, data_channel=False)
        channel = pc.createDataChannel("insights")
        channel.on("message", self._on_message)
        pc.addTrack(track)
        await self.client.offer({"speaker": {"name": name, "userId": f"{name}@load.bench"}})
        await asyncio.wait_for(self.client.connected.wait(), 30)
        self.connect_seconds = time.monotonic() - started

    async def finish(self) -> None:
        await self.client.bye()

    async def close(self) -> None:
        await self.client.close()


class PeerAdapter:
    """A caller of the vosk-server WebRTC example (``POST /offer``, ``result`` channel)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.pc: RTCPeerConnection | None = None
        self.events: list[Event] = []
        self.connect_seconds: float | None = None

    def _on_message(self, raw: str) -> None:
        now = time.monotonic()
        data: Any = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            return
        if "text" in data:
            self.events.append((now, "final", str(data["text"])))
        elif "partial" in data:
            self.events.append((now, "partial", str(data["partial"])))

    async def connect(self, track: ScriptTrack, name: str) -> None:
        started = time.monotonic()
        connected = asyncio.Event()
        # No ICE servers: offline, on loopback (aiortc would otherwise ask Google's STUN).
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channel = pc.createDataChannel("result")
        channel.on("message", self._on_message)
        pc.addTrack(track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                connected.set()

        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
        offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
        async with aiohttp.ClientSession() as http, \
                http.post(self.url + "/offer", json=offer,
                          timeout=aiohttp.ClientTimeout(total=30)) as response:
            if response.status != 200:
                raise RuntimeError(f"refused: HTTP {response.status}: {await response.text()}")
            answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(connected.wait(), 30)
        self.connect_seconds = time.monotonic() - started

    async def finish(self) -> None:
        """client.js closes the channel and the connection; nothing to wait for."""

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()


def adapter_for(target: str, url: str) -> Adapter:
    """The adapter of ``target`` ("gateway" or "peer")."""
    if target == "gateway":
        return GatewayAdapter(url)
    if target == "peer":
        return PeerAdapter(url)
    raise ValueError(f"unknown target {target!r}")
