"""A healthy call running beside the fuzzed clients: proof that they harm nobody else.

It streams for the whole test on the same gateway; before and after the fuzzing it must
receive fresh finals on its own data channel, and end cleanly with ``recognition_stopped``.
"""

from __future__ import annotations

from aiortc.mediastreams import AudioStreamTrack

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from tests.rtc_client import GatewayClient

# One short phrase a second for 15 minutes: every stream on the gateway plays it.
STEADY = [ScriptedPhrase(f"steady phrase {i}", i + 0.1, i + 0.6) for i in range(900)]


def steady_recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer(STEADY)


class HealthyCall:
    def __init__(self, url: str, access_token: str | None = None) -> None:
        self.client = GatewayClient(url, access_token=access_token)

    async def start(self) -> None:
        await self.client.connect()
        self.client.peer(AudioStreamTrack())
        await self.client.offer({"conversationId": "healthy", "speaker": {"name": "Calm"}})
        await self.assert_alive()

    def finals(self) -> int:
        return len(self.client.of_type("message_response"))

    async def assert_alive(self, timeout: float = 10) -> None:
        """A new final arrives on the healthy call's own data channel."""
        seen = self.finals()
        await self.client.wait_result(lambda m: m.get("type") == "message_response"
                                      and self.finals() > seen, timeout=timeout)

    async def finish(self) -> None:
        try:
            await self.assert_alive()
            await self.client.bye()
            await self.client.wait_result(
                lambda m: m.get("message", {}).get("type") == "recognition_stopped",
                timeout=10)
        finally:
            await self.client.close()
