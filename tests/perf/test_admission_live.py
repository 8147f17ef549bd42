"""Admission by measured capacity on a running gateway: at capacity the next caller is told
``server_busy`` at once, and the calls already running keep real time (their audio is
recognised as it comes, nothing dropped, every phrase delivered).

The capacity is made small and machine-independent by giving the estimator the cores it
may use (``cores``) and a starting cost; what sessions then cost is measured as usual.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from gateway.asr.base import TranscriptEvent
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer, ScriptedStream
from gateway.conversation.admission import LocalAdmission
from gateway.conversation.capacity import CapacityEstimator
from gateway.http.keys import ADMISSION_KEY
from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Speaker
from gateway.transports.webrtc.session import WebRtcSession
from tests.conftest import RunningGateway, StartGateway
from tests.perf.conftest import TURN
from tests.rtc_client import GatewayClient, WavTrack, stream_wav

pytestmark = pytest.mark.slow

COST = 0.25
"""CPU-seconds each call's recognition burns per second of audio (the artificial cost)."""


def burn(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU (a recogniser's work, without a recogniser)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class CostlyStream:
    """A scripted stream whose every chunk costs ``COST`` CPU-seconds per audio second."""

    def __init__(self, inner: ScriptedStream) -> None:
        self.inner, self.speaker = inner, inner.speaker

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        await asyncio.to_thread(burn, COST * chunk.end_seconds - COST * chunk.start_seconds)
        return await self.inner.accept(chunk)

    async def endpoint(self) -> list[TranscriptEvent]:
        return await self.inner.endpoint()

    async def close(self) -> None:
        await self.inner.close()


class CostlyRecognizer:
    name = "costly-scripted"

    def __init__(self, script: list[ScriptedPhrase]) -> None:
        self.scripted = ScriptedRecognizer(script)

    async def open_stream(self, speaker: Speaker) -> CostlyStream:
        return CostlyStream(await self.scripted.open_stream(speaker))

    async def aclose(self) -> None:
        pass


def measured_capacity(gw: RunningGateway, *, cores: float, prior_cost: float) -> LocalAdmission:
    admission = gw.app[ADMISSION_KEY]
    admission.estimator = CapacityEstimator(cores=cores, prior_cost=prior_cost)
    return admission


async def refused_code(gw: RunningGateway) -> str:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gw.url.replace("http", "ws") + "/ws")
        message = await ws.receive_json(timeout=10)
        await ws.close()
    assert message["type"] == "error", message
    return str(message["code"])


async def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_at_capacity_the_next_call_is_refused_and_the_running_ones_keep_up(
        start_gateway: StartGateway) -> None:
    script = [ScriptedPhrase("first phrase here", 0.5, 1.5),
              ScriptedPhrase("second phrase there", 2.5, 3.5)]
    gw = await start_gateway(recognizer=CostlyRecognizer(script))
    admission = measured_capacity(gw, cores=1.1, prior_cost=COST)  # floor(0.88 / 0.25) = 3
    assert admission.capacity == 3
    audio = (np.sin(np.arange(48_000 * 5) * 0.05) * 3000).astype(np.int16)

    clients = [GatewayClient(gw.url) for _ in range(3)]
    tracks = [WavTrack(audio) for _ in clients]
    try:
        for client, track in zip(clients, tracks, strict=True):
            await client.connect()
            client.peer(track)
            await client.offer()
        sessions: list[WebRtcSession] = list(gw.sessions.values())
        await wait_for(lambda: all(s.stream and s.stream.started_at for s in sessions))

        load = admission.load()
        assert (load.in_use, load.capacity, load.accepting) == (3, 3, False)
        assert await refused_code(gw) == "server_busy"

        await asyncio.gather(*(t.finished.wait() for t in tracks))
        for client in clients:
            await client.bye()
    finally:
        for client in clients:
            await client.close()
    for client in clients:  # every phrase of every running call came back
        texts = [m["messages"][0]["payload"]["content"] for m in
                 client.of_type("message_response")]
        assert [t.rstrip(".").lower() for t in texts] == ["first phrase here",
                                                           "second phrase there"]
    for session in sessions:  # recognised as it came: nothing waited too long or overflowed
        assert session.stream is not None and session.stream.dropped_chunks == 0
    assert admission.refusals["server_busy"] == 1
    assert admission.in_use == 0 and admission.load().accepting


async def test_real_calls_at_capacity_with_the_model(start_gateway: StartGateway,
                                                      turn_wav: Path) -> None:
    gw = await start_gateway()
    admission = measured_capacity(gw, cores=0.6, prior_cost=0.2)  # floor(0.48 / 0.2) = 2
    assert admission.capacity == 2
    calls = [asyncio.ensure_future(stream_wav(gw.url, turn_wav)) for _ in range(2)]
    await wait_for(lambda: len(gw.sessions) == 2 and all(
        s.stream and s.stream.started_at for s in gw.sessions.values()))
    sessions = list(gw.sessions.values())
    assert await refused_code(gw) == "server_busy"
    clients = await asyncio.gather(*calls)
    for client in clients:
        finals = client.of_type("message_response")
        assert len(finals) == len(TURN)  # a final per sentence for each running call
    for session in sessions:
        assert session.stream is not None and session.stream.dropped_chunks == 0
