"""A short soak: sessions opened, streamed and closed in waves return everything they took.

Gateway and clients share this process (scripted recogniser, real aiortc peers on loopback),
so the check is strict for what is countable (descriptors, tasks, threads: exactly back to
the baseline taken after a warm-up wave) and bounded for memory (allocators keep freed
pages). bench/soak.py runs the long variant against a gateway in its own process.
"""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import AudioStreamTrack

from gateway.asr.scripted import ScriptedPhrase
from gateway.transports.whip.routes import WHIP_KEY
from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient
from tests.whip.client import WhipClient

from .resources import ForgetfulRecognizer, held_now

WAVES, PER_WAVE = 4, 6
SCRIPT = [ScriptedPhrase("soak test phrase", 0.1, 0.5)]


async def one_call(url: str, name: str) -> None:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": name})
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=20)
        await client.bye()
    finally:
        await client.close()


async def one_publish(url: str, name: str) -> None:
    client = WhipClient(f"{url}/whip?conversationId={name}")
    try:
        await client.publish(data_channel=True)
        await client.wait_result(lambda m: m.get("type") == "message_response", timeout=20)
        assert await client.delete() == 200
    finally:
        await client.close()


async def wave(url: str, number: int) -> None:
    await asyncio.gather(*(
        (one_call if i % 2 else one_publish)(url, f"soak-{number}-{i}") for i in range(PER_WAVE)))


def assert_empty(gateway: RunningGateway) -> None:
    assert not gateway.sessions
    assert not gateway.app[WHIP_KEY].sessions
    assert not gateway.directory.conversations
    assert not gateway.bus.conversations()
    assert gateway.webrtc.admission.in_use == 0


async def test_waves_of_sessions_give_back_what_they_took(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(recognizer=ForgetfulRecognizer(SCRIPT), max_sessions=50)
    await wave(gateway.url, 0)  # warm-up: pools, codecs and caches are created once
    baseline = await held_now()
    for number in range(1, WAVES + 1):
        await wave(gateway.url, number)
    after = await held_now()
    grown = after - baseline
    assert_empty(gateway)
    assert grown.fds <= 0, (baseline, after)
    assert grown.tasks <= 0, (baseline, after)
    assert grown.threads <= 0, (baseline, after)
    assert grown.rss_mb < 40, (baseline, after)
