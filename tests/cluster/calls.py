"""A participant that follows redirects, as the page and SDKs are expected to.

It connects to a node's ``/ws``, offers, and if the node answers with ``redirect`` it closes,
connects to the given URL and offers again (the same config, a fresh peer connection).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from tests.rtc_client import GatewayClient, WavTrack

SECONDS = 7.5


class RedirectedClient(GatewayClient):
    """The test client, connecting to a redirect's exact URL (query included, e.g.
    ``wss://gw.example.com/ws?node=b``) instead of ``<base>/ws``."""

    def __init__(self, ws_url: str) -> None:
        super().__init__(ws_url)
        self.ws_url = ws_url

    async def connect(self, *, resume: str | None = None,
                      ws_url: str | None = None) -> dict[str, Any]:
        return await super().connect(resume=resume, ws_url=ws_url or self.ws_url)


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
        redirected: str | None = None
        for _ in range(max_hops):
            client = GatewayClient(self.url) if redirected is None \
                else RedirectedClient(redirected)
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
                redirected = str(redirect["url"])
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
