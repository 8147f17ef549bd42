"""Twilio Media Streams against a strict receiver on loopback: framing, counters, audio."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from gateway.pipeline.pcm import PcmChunk
from gateway.protocols.downstream import (
    ConversationMixer,
    MixedChunk,
    ProtocolConfigError,
    StreamInfo,
    TwilioDownstream,
)
from gateway.transcript import Speaker
from tests.support.receivers import (
    Connection,
    TwilioReceiver,
    correlation,
    drive,
    pcm_chunks,
    recording,
)
from tests.support.speech import resample

INFO = StreamInfo("call-42", "p1", speaker=Speaker(user_id="jane@example.com", name="Jane"),
                  metadata={"tenant": "acme", "priority": 2, "tags": ["a", "b"]})


async def test_a_recording_arrives_intact_and_by_the_spec() -> None:
    samples, _ = recording(0)
    protocol = TwilioDownstream(INFO)
    async with TwilioReceiver() as receiver:
        await drive(receiver.url, protocol, pcm_chunks(samples))
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.violations == []
    assert conn.state["stage"] == "stopped"
    assert conn.state["customParameters"] == {
        "conversationId": "call-42", "participantId": "p1", "speakerName": "Jane",
        "speakerUserId": "jane@example.com", "tenant": "acme", "priority": "2",
        "tags": '["a","b"]'}
    received = receiver.audio(conn)
    expected = resample(samples, 16000, 8000)
    assert len(received) == -(-len(expected) // 160) * 160  # whole 20 ms frames, tail padded
    assert correlation(expected, received[: len(expected)]) > 0.97
    assert conn.state["chunks"]["inbound"] == len(received) // 160


async def test_short_gaps_are_filled_long_ones_jump_the_timestamp() -> None:
    samples, _ = recording(1)
    first, second = samples[:16000], samples[16000:32000]
    chunks = (pcm_chunks(first) + pcm_chunks(second, offset=16000 + 8000)  # 0.5 s gap
              + pcm_chunks(second, offset=16000 * 20))                    # 17.5 s later
    protocol = TwilioDownstream(INFO)
    async with TwilioReceiver() as receiver:
        await drive(receiver.url, protocol, chunks)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.violations == []
    assert conn.state.get("gaps") == 1  # only the long gap shows in the timestamps
    media = conn.state["media"]["inbound"]
    stamps = [ts for ts, _ in media]
    assert 20_000 in stamps  # the jump lands exactly at 20 s of the stream clock
    audio = receiver.audio(conn)
    assert abs(len(audio) - 8000 * 21) <= 160
    silent = audio[8000 + 400: 8000 + 3600]  # inside the filled half second
    assert np.abs(silent.astype(np.int32)).max() < 200


async def test_a_reconnect_restarts_counters_and_keeps_the_clock() -> None:
    samples, _ = recording(0)
    chunks = pcm_chunks(samples)
    protocol = TwilioDownstream(INFO)
    async with TwilioReceiver() as receiver:
        await drive(receiver.url, protocol, chunks[:20])
        await drive(receiver.url, protocol, chunks[20:40])
        first, second = receiver.connections
        await asyncio.wait_for(second.closed.wait(), 5)
    assert first.violations == [] and second.violations == []
    assert first.state["streamSid"] == second.state["streamSid"]
    starts = [json.loads(f) for f in second.frames[:3]]
    assert starts[1]["sequenceNumber"] == "1"
    assert starts[2]["media"]["chunk"] == "1"
    assert starts[2]["media"]["timestamp"] == "2000"  # chunk 20 is at 2.000 s
    assert protocol.connections == 2


async def test_both_tracks_carry_two_participants_on_one_stream() -> None:
    a, _ = recording(1)
    b, _ = recording(4)
    mixer = ConversationMixer(channels=2)
    mixer.add("agent", started_at=100.0)
    mixer.add("caller", started_at=100.5)  # joined half a second later
    mixed = []
    for ca, cb in zip(pcm_chunks(a[:48000]), pcm_chunks(b[:48000]), strict=True):
        mixed += mixer.push("agent", ca) + mixer.push("caller", cb)
    mixed += mixer.flush()
    protocol = TwilioDownstream(StreamInfo("call-42"), tracks="both")
    assert protocol.mixes and protocol.channels == 2
    async with TwilioReceiver() as receiver:
        await drive(receiver.url, protocol, mixed)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.violations == []
    inbound, outbound = receiver.audio(conn, "inbound"), receiver.audio(conn, "outbound")
    assert correlation(resample(a[:48000], 16000, 8000), inbound) > 0.97
    late = resample(b[:48000], 16000, 8000)
    assert correlation(late, outbound[4000: 4000 + len(late)]) > 0.97  # 0.5 s in


async def test_server_marks_are_echoed_and_its_audio_counted() -> None:
    async def talk_back(conn: Connection) -> None:
        await conn.wait_frames(3)  # connected, start, first media
        sid = conn.state["streamSid"]
        await conn.send({"event": "media", "streamSid": sid, "media": {"payload": "//8="}})
        await conn.send({"event": "mark", "streamSid": sid, "mark": {"name": "greeting-done"}})

    samples, _ = recording(1)
    protocol = TwilioDownstream(INFO)
    async with TwilioReceiver(script=talk_back) as receiver:
        result = await drive(receiver.url, protocol, pcm_chunks(samples), pace=0.005)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.violations == []
    assert conn.state["marks"] == ["greeting-done"]
    assert protocol.audio_replies == 1
    assert [r["message"]["event"] for r in result.replies] == ["mark"]
    assert result.replies[0]["protocol"] == "twilio" and result.replies[0]["participantId"] == "p1"


def test_only_8khz_mulaw_exists() -> None:
    with pytest.raises(ProtocolConfigError):
        TwilioDownstream(StreamInfo("c", sample_rate=16000))
    with pytest.raises(ProtocolConfigError):
        TwilioDownstream(StreamInfo("c"), tracks="outbound")  # type: ignore[arg-type]


def test_mixed_audio_must_match_the_track_count() -> None:
    protocol = TwilioDownstream(StreamInfo("c"))
    protocol.opening()
    assert len(protocol.audio(PcmChunk(bytes(3200), 0))) >= 4  # 100 ms: 20 ms frames
    with pytest.raises(ProtocolConfigError):
        protocol.audio(MixedChunk(bytes(640), 1600, channels=2))
