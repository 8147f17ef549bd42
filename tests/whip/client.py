"""A WHIP client written from RFC 9725 alone, on aiortc: the way an encoder publishes.

POST the offer (``application/sdp``, bearer token if any) to the endpoint URL; the 201
carries the answer, the session URL (``Location``) and its entity-tag (``ETag``). With
trickle ICE the offer goes out without candidates and one aggregated PATCH
(``application/trickle-ice-sdpfrag``, ``If-Match``) brings them with
``a=end-of-candidates``, as section 4.3.1 recommends. DELETE ends the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"


@dataclass
class Published:
    """What the 201 said."""

    location: str
    etag: str | None
    answer: str
    headers: Any
    links: list[str] = field(default_factory=list)


class WhipError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str, headers: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers


def split_offer(sdp: str) -> tuple[str, str]:
    """The offer without candidates, and the SDP fragment that trickles them (RFC 8840)."""
    kept: list[str] = []
    ufrag = pwd = mid = media = None
    candidates: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("m=") and media is None:
            media = line
        elif line.startswith("a=mid:") and mid is None:
            mid = line
        elif line.startswith("a=ice-ufrag:") and ufrag is None:
            ufrag = line
        elif line.startswith("a=ice-pwd:") and pwd is None:
            pwd = line
        if line.startswith("a=candidate:"):
            if line not in candidates:  # bundled sections repeat them
                candidates.append(line)
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    fragment = [x for x in (ufrag, pwd, media, mid) if x] + candidates + ["a=end-of-candidates"]
    return "\r\n".join(kept) + "\r\n", "\r\n".join(fragment) + "\r\n"


class WhipClient:
    def __init__(self, endpoint: str, *, token: str | None = None) -> None:
        self.endpoint = endpoint
        self.token = token
        self.http = aiohttp.ClientSession()
        self.pc: RTCPeerConnection | None = None
        self.published: Published | None = None
        self.fragment: str | None = None
        self.results: list[dict[str, Any]] = []  # from an "insights" data channel, if any
        self._result = asyncio.Event()
        self.connected = asyncio.Event()  # the peer connection reached "connected"

    def _headers(self, content_type: str | None = None, **extra: str) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if content_type:
            out["Content-Type"] = content_type
        out.update(extra)
        return out

    async def offer(self, track: MediaStreamTrack | None = None, *, trickle: bool = False,
                    data_channel: bool = False) -> str:
        """Create the peer connection and the offer to POST (candidates out if trickling).

        ``data_channel``: also open the gateway's "insights" channel (not part of WHIP).
        """
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("connectionstatechange",
              lambda: self.connected.set() if pc.connectionState == "connected" else None)
        if data_channel:
            channel = self.pc.createDataChannel("insights")
            channel.on("message", self._on_result)
        self.pc.addTransceiver(track or AudioStreamTrack(), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = str(self.pc.localDescription.sdp)
        if trickle:
            sdp, self.fragment = split_offer(sdp)
        return sdp

    def _on_result(self, text: str) -> None:
        self.results.append(json.loads(text))
        self._result.set()

    async def wait_result(self, predicate: Callable[[dict[str, Any]], bool],
                          timeout: float = 15) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.results:
                    if predicate(message):
                        return message
                self._result.clear()
                await self._result.wait()

    async def post(self, sdp: str, *, content_type: str = SDP) -> Published:
        async with self.http.post(self.endpoint, data=sdp.encode(),
                                  headers=self._headers(content_type)) as r:
            if r.status != 201:
                raise WhipError(r.status, await _body(r), r.headers)
            published = Published(urljoin(str(r.url), r.headers["Location"]),
                                  r.headers.get("ETag"), await r.text(), r.headers,
                                  r.headers.getall("Link", []))
        self.published = published
        return published

    async def publish(self, track: MediaStreamTrack | None = None, *, trickle: bool = False,
                      data_channel: bool = False) -> Published:
        """Offer, POST, apply the answer, and PATCH the candidates when trickling."""
        published = await self.post(await self.offer(track, trickle=trickle,
                                                     data_channel=data_channel))
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(published.answer, "answer"))
        if trickle and self.fragment:
            status, _ = await self.patch(self.fragment, if_match=published.etag)
            if status != 204:
                raise WhipError(status, "trickle PATCH failed", {})
        return published

    async def patch(self, body: str, *, if_match: str | None = None,
                    content_type: str = SDPFRAG,
                    location: str | None = None) -> tuple[int, dict[str, Any] | str]:
        extra = {"If-Match": if_match} if if_match is not None else {}
        url = location or (self.published.location if self.published else self.endpoint)
        async with self.http.patch(url, data=body.encode(),
                                   headers=self._headers(content_type, **extra)) as r:
            return r.status, await _body(r)

    async def delete(self, location: str | None = None) -> int:
        url = location or (self.published.location if self.published else self.endpoint)
        async with self.http.delete(url, headers=self._headers()) as r:
            return r.status

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await self.http.close()


async def _body(response: aiohttp.ClientResponse) -> dict[str, Any] | str:
    if response.content_type in ("application/problem+json", "application/json"):
        data: dict[str, Any] = await response.json(content_type=None)
        return data
    return await response.text()
