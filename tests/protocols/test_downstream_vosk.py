"""The vosk downstream against a real vosk-server-protocol server with real Vosk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.protocols.downstream import ProtocolConfigError, StreamInfo, VoskDownstream
from gateway.protocols.downstream.vosk import EOF_TEXT, parse_reply
from tests.support.receivers import drive, pcm_chunks, recording
from tests.support.vosk_server import VoskServer
from tests.support.wer import wer

pytestmark = pytest.mark.slow


def finals(replies: list[dict]) -> str:
    texts = [r["message"].get("text", "") for r in replies if "partial" not in r["message"]]
    return " ".join(t for t in texts if t)


@pytest.mark.parametrize("dialect", ["python", "legacy", "cpp"])
async def test_transcripts_come_back_from_every_server_generation(
        model_path: Path, dialect: str) -> None:
    samples, reference = recording(0)
    # the C++ server reads no config: its rate must be 16000 already
    server = VoskServer(model_path, dialect=dialect, sample_rate=16000)  # type: ignore[arg-type]
    async with server:
        protocol = VoskDownstream(StreamInfo("c1", "p1"))
        result = await drive(server.url, protocol, pcm_chunks(samples))
        await asyncio.sleep(0.05)
        log = server.sessions[0]
    assert wer(reference, finals(result.replies)) <= 0.15
    assert protocol.ended  # the final answer to eof arrived
    assert log.texts[-1] == EOF_TEXT  # byte for byte, or the server takes it for audio
    if dialect != "cpp":
        assert log.config == {"sample_rate": 16000, "words": 1}
    partials = [r["message"]["partial"] for r in result.replies if "partial" in r["message"]]
    assert partials and all(partials)
    assert all(a != b for a, b in zip(partials, partials[1:], strict=False))  # deduplicated
    assert all(r["protocol"] == "vosk" and r["participantId"] == "p1" for r in result.replies)


async def test_another_wire_rate_is_configured_and_resampled(model_path: Path) -> None:
    # Vosk downsamples to its model's rate but cannot upsample, so a 16 kHz model is fed
    # 48 kHz here; 8 kHz wire audio is for servers with telephone models.
    samples, reference = recording(4)
    async with VoskServer(model_path) as server:
        protocol = VoskDownstream(StreamInfo("c1", "p1", sample_rate=48000))
        result = await drive(server.url, protocol, pcm_chunks(samples))
        log = server.sessions[0]
    assert log.config["sample_rate"] == 48000
    assert abs(log.audio_bytes - 3 * 2 * len(samples)) <= 64
    assert wer(reference, finals(result.replies)) <= 0.3


def test_replies_are_classified_as_the_server_shapes_them() -> None:
    assert parse_reply({"partial": "hello wor"}).kind == "partial"
    final = parse_reply(json.loads('{"result": [{"conf": 0.9, "end": 1.2, "start": 0.9, '
                                   '"word": "hello"}], "text": "hello"}'))
    assert final.kind == "final" and final.words[0].start == 0.9
    alt = parse_reply({"alternatives": [{"confidence": 606.4, "text": "hi there", "result": [
        {"start": 0.1, "end": 0.3, "word": "hi"}, {"start": 0.3, "end": 0.6, "word": "there"}]}]})
    assert alt.text == "hi there" and alt.words[1].conf == 1.0
    assert parse_reply({"text": ""}).kind == "final"
    assert parse_reply({"status": "ok"}).kind == "other"


def test_rates_vosk_cannot_take_are_refused() -> None:
    with pytest.raises(ProtocolConfigError):
        VoskDownstream(StreamInfo("c", sample_rate=4000))
