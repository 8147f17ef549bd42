"""Symbl's Streaming API as a client, against a Symbl-shaped server recognising with Vosk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from gateway.protocols.downstream import ProtocolConfigError, StreamInfo, SymblDownstream
from gateway.transcript import Speaker
from tests.support.receivers import SymblReceiver, correlation, drive, pcm_chunks, recording
from tests.support.speech import resample
from tests.support.vosk_server import load_model
from tests.support.wer import wer

INFO = StreamInfo("conv-9", "p2", speaker=Speaker(user_id="bob@example.com", name="Bob"),
                  meeting_title="Weekly sync")


@pytest.mark.slow
async def test_audio_in_transcripts_out(model_path: Path) -> None:
    samples, reference = recording(2)
    protocol = SymblDownstream(INFO, language_code="en-US")
    async with SymblReceiver(model=load_model(model_path)) as receiver:
        result = await drive(receiver.url, protocol, pcm_chunks(samples))
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 10)
    assert conn.violations == []
    start = conn.state["start"]
    assert start == {
        "type": "start_request", "insightTypes": ["question", "action_item"],
        "config": {"languageCode": "en-US", "meetingTitle": "Weekly sync",
                   "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 16000}},
        "speaker": {"userId": "bob@example.com", "name": "Bob"}}
    assert np.array_equal(np.frombuffer(bytes(conn.state["audio"]), "<i2"), samples)
    types = [r["message"]["type"] for r in result.replies]
    assert types[0] == "message" and types[-1] == "message" and "message_response" in types
    text = " ".join(m["payload"]["content"] for r in result.replies
                    if r["message"]["type"] == "message_response"
                    for m in r["message"]["messages"])
    assert wer(reference, text) <= 0.2
    assert protocol.ended  # recognition_stopped after stop_request


async def test_frames_stay_under_8192_bytes_at_48k() -> None:
    samples, _ = recording(1)
    info = StreamInfo("conv-9", "p2", sample_rate=48000)
    protocol = SymblDownstream(info, start={"customVocabulary": ["Acme"],
                                            "config": {"confidenceThreshold": 0.7}})
    chunks = pcm_chunks(samples, ms=200)  # 19,200 bytes a chunk at 48 kHz
    async with SymblReceiver() as receiver:
        await drive(receiver.url, protocol, chunks)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 10)
    assert conn.violations == []
    start = conn.state["start"]
    assert start["customVocabulary"] == ["Acme"]
    assert start["config"]["confidenceThreshold"] == 0.7
    assert start["config"]["speechRecognition"]["sampleRateHertz"] == 48000
    sizes = [len(f) for f in conn.frames if isinstance(f, bytes)]
    assert max(sizes) == 8192
    received = np.frombuffer(bytes(conn.state["audio"]), "<i2")
    assert correlation(resample(samples, 16000, 48000), received, max_lag=200) > 0.99


def test_the_audio_format_is_always_the_streams() -> None:
    protocol = SymblDownstream(INFO, start={"config": {"speechRecognition": {
        "encoding": "MULAW", "sampleRateHertz": 8000}}, "speaker": {"name": "X"}})
    config = protocol.start_request["config"]
    assert config["speechRecognition"] == {"encoding": "LINEAR16", "sampleRateHertz": 16000}
    assert protocol.start_request["speaker"] == {"name": "X"}  # the caller's speaker wins
    with pytest.raises(ProtocolConfigError):
        SymblDownstream(StreamInfo("c", sample_rate=96000))
