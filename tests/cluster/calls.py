"""A participant that follows redirects, as the page and SDKs are expected to.

It connects to a node's ``/ws``, offers, and if the node answers with ``redirect`` it closes,
connects to the given URL and offers again (the same config, a fresh peer connection).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from tests.rtc_client import GatewayClient, WavTrack

SECONDS = 7.5


def base_url(ws_url: str) -> str:
    """``ws://host:port/ws`` (a redirect's url) as the client's ``http://host:port``."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}[parts.scheme]
    path = parts.path[:-len("/ws")] if parts.path.endswith("/ws") else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class Participant:
    def __init__(self, url: str, name: str, conversation_id: str, *,
                 seconds: float = SECONDS) -> None:
        self.url = url
        self.name = name
        self.conversation_id = conversation_id
        self.seconds = seconds
        self.redirects: list[dict[str, Any]] = []
        self.client: GatewayClient | None = None
        self.track: WavTrack | None = None

    @property
    def config(self) -> dict[str, Any]:
        return {"conversationId": self.conversation_id, "speaker": {"name": self.name},
                "insightTypes": ["question", "action_item"]}

    async def join(self, max_hops: int = 3) -> GatewayClient:
        url = self.url
        for _ in range(max_hops):
            client = GatewayClient(url)
            await client.connect()
            track = WavTrack(np.zeros(int(48_000 * self.seconds), dtype=np.int16),
                             tail_silence=0.3)
            client.peer(track)
            try:
                await client.offer(self.config)
            except RuntimeError:
                redirect = next((s for s in client.signals if s.get("type") == "redirect"), None)
                await client.close()
                if redirect is None:
                    raise
                self.redirects.append(redirect)
                url = base_url(str(redirect["url"]))
                continue
            self.client, self.track = client, track
            return client
        raise RuntimeError(f"{self.name}: more than {max_hops} redirects")

    async def finish(self) -> GatewayClient:
        """Play the rest of the audio, say bye, close."""
        assert self.client is not None and self.track is not None
        try:
            await asyncio.wait_for(self.track.finished.wait(), self.seconds + 20)
            await self.client.bye()
        finally:
            await self.client.close()
        return self.client
