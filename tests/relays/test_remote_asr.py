"""``--asr``: a pool of vosk-server processes recognises instead of the local model, through
the real gateway (a real aiortc call), and a server killed mid-call does not end the
transcript. No local model is loaded: the app is built without one."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.asr.remote import RemoteVoskRecognizer
from gateway.config import GatewayConfig
from gateway.http.keys import RECOGNIZER_KEY
from gateway.pipeline.gate import SpeechGate
from gateway.relays.config import RelayConfig
from tests.relays.support import until
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.receivers import recording
from tests.support.vosk_server import VoskServer
from tests.support.wer import wer

pytestmark = pytest.mark.slow


@pytest.fixture
async def pool(model_path: Path) -> AsyncIterator[list[VoskServer]]:
    servers = [VoskServer(model_path), VoskServer(model_path)]
    for server in servers:
        await server.start()
    yield servers
    for server in servers:
        await server.stop()


def three_sentences(path: Path) -> tuple[Path, str, float]:
    """Sentences 0, 2 and 3 of the LibriVox recordings with pauses: the WAV, its transcript,
    and where the second sentence is half spoken (seconds)."""
    parts = [recording(i) for i in (0, 2, 3)]
    pause = np.zeros(12000, np.int16)
    samples = np.concatenate([parts[0][0], pause, parts[1][0], pause, parts[2][0]])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.astype("<i2").tobytes())
    middle = (len(parts[0][0]) + len(pause) + len(parts[1][0]) / 2) / 16000
    return path, " ".join(p[1] for p in parts), middle


async def test_two_remote_recognisers_one_killed_mid_call(
        pool: list[VoskServer], tmp_path: Path) -> None:
    wav, reference, middle = three_sentences(tmp_path / "three.wav")
    config = GatewayConfig(insights=False, relays=RelayConfig(asr=tuple(s.url for s in pool)))
    app = create_app(config, None)  # no model: recognition is remote
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        gate = app[RECOGNIZER_KEY]  # the speech gate in front of the servers
        assert isinstance(gate, SpeechGate)
        recognizer = gate.inner
        assert isinstance(recognizer, RemoteVoskRecognizer)
        client = GatewayClient(url)
        await client.connect()
        track = WavTrack(read_wav_48k(wav), tail_silence=1.5)
        client.peer(track)
        killed: list[VoskServer] = []

        async def kill_mid_sentence() -> None:
            await client.wait_result(lambda m: m.get("type") == "message_response", 60)
            await asyncio.sleep(max(0.0, middle - (track._pos / 48000)))
            (busy,) = [s for s in pool if s.open_connections]
            await busy.kill()
            killed.append(busy)

        try:
            await client.offer({"speaker": {"name": "Ann"}})
            killer = asyncio.ensure_future(kill_mid_sentence())
            await asyncio.wait_for(track.finished.wait(), track.duration + 60)
            await killer
            await client.bye(timeout=60)
        finally:
            await client.close()
        (dead,) = killed
        state = next(s for s in recognizer.servers if s.url == dead.url)
        other = next(s for s in recognizer.servers if s.url != dead.url)
        assert state.lost >= 1 and other.connections >= 1
        text = client.final_text()
        print(f"\nremote transcript: {text}")
        assert wer(reference, text) <= 0.35
        finals = [m for r in client.of_type("message_response") for m in r["messages"]]
        assert len(finals) >= 2
        assert client.of_type("recognition_stopped")
        await until(lambda: all(s.streams == 0 for s in recognizer.servers))
    finally:
        await runner.cleanup()
