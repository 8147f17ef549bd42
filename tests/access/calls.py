"""Participants of real calls through a gateway with access control: aiortc clients
(tests/rtc_client.py) that present a token on ``/ws``, and what a refused one was told."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from tests.access.support import TokenClient, ws_url
from tests.rtc_client import WavTrack


@dataclass
class Participant:
    name: str
    client: TokenClient
    track: WavTrack

    @property
    def conversation_id(self) -> str:
        return str(self.client.answer.get("conversationId"))

    def finals(self) -> list[dict[str, Any]]:
        """Every final message this participant's data channel delivered, in order."""
        return [m for body in self.client.of_type("message_response")
                for m in body["messages"]]

    async def hang_up(self) -> None:
        try:
            await asyncio.wait_for(self.track.finished.wait(), self.track.duration + 20)
            await self.client.bye()
        finally:
            await self.client.close()


@dataclass
class Calls:
    """Everyone a test made join, so a failing test leaks no peer connection."""

    open: list[Participant] = field(default_factory=list)

    async def join(self, url: str, token: str | None, name: str, conversation: str | None,
                   seconds: float, *, samples: np.ndarray | None = None,
                   title: str | None = None, **config: Any) -> Participant:
        """``name`` joins (``conversation`` None: names none in its offer) and sends
        ``seconds`` of silence, or ``samples`` (48 kHz); RuntimeError if refused."""
        client = TokenClient(url, token)
        hello = await client.connect()
        if hello.get("type") != "hello":
            await client.close()
            raise RuntimeError(f"refused: {hello.get('code')}: {hello.get('message')}")
        audio = samples if samples is not None else np.zeros(int(48_000 * seconds), np.int16)
        track = WavTrack(audio, tail_silence=0.3 if samples is None else 1.5)
        client.peer(track)
        config["speaker"] = {"name": name, "userId": f"{name.split()[0].lower()}@example.com"}
        if conversation is not None:
            config["conversationId"] = conversation
        if title is not None:
            config["meetingTitle"] = title
        participant = Participant(name, client, track)
        self.open.append(participant)
        try:
            await client.offer(config)
        except RuntimeError:
            await client.close()
            raise
        return participant

    async def close(self) -> None:
        while self.open:
            await self.open.pop().client.close()


async def refused_join(url: str, token: str | None, conversation: str | None,
                       name: str = "Mallory") -> str:
    """The error code a join is refused with (entrance or offer); AssertionError if not."""
    try:
        participant = await Calls().join(url, token, name, conversation, 1.0)
    except RuntimeError as exc:
        return str(exc).split(":")[1].strip()
    await participant.client.close()
    raise AssertionError(f"{name} joined {participant.conversation_id}")


async def socket_outcome(http: aiohttp.ClientSession, url: str, path: str,
                         access_token: str | None = None,
                         headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """(close code, error code) of a refused watch socket; (0, first message type) when it
    was accepted (then closed by us). HTTP refusals of the handshake: (status, None)."""
    try:
        ws = await http.ws_connect(ws_url(url, path, access_token), headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status, None
    try:
        first = json.loads((await ws.receive(timeout=10)).data)
        if first.get("type") != "error":
            return 0, str(first.get("type"))
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        return int(ws.close_code or 0), str(first["code"])
    finally:
        await ws.close()


async def http_outcome(http: aiohttp.ClientSession, method: str, url: str,
                       headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """(status, error code or None) of an HTTP request; the body must be JSON."""
    async with http.request(method, url, headers=headers) as r:
        body = await r.json(content_type=None)
        return r.status, (body.get("code") if r.status >= 400 else None)
