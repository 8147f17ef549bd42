"""jambonz ``listen`` against a strict receiver: subprotocol, metadata, L16, mix types."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.protocols.downstream import (
    ConversationMixer,
    JambonzDownstream,
    ProtocolConfigError,
    StreamInfo,
)
from gateway.transcript import Speaker
from tests.support.receivers import (
    Connection,
    JambonzReceiver,
    correlation,
    drive,
    pcm_chunks,
    recording,
)
from tests.support.speech import resample

INFO = StreamInfo("call-7", "p1", speaker=Speaker(user_id="u1", name="Ann"),
                  metadata={"crm": {"ticket": 17}, "sampleRate": 8000})


async def _run(protocol: JambonzDownstream, chunks: list, script=None) -> tuple[JambonzReceiver,
                                                                            Connection, list]:
    async with JambonzReceiver(script=script) as receiver:
        result = await drive(receiver.url, protocol, chunks)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    return receiver, conn, result.replies


async def test_mono_at_16k_is_bit_exact() -> None:
    samples, _ = recording(0)
    receiver, conn, _ = await _run(JambonzDownstream(INFO), pcm_chunks(samples))
    assert conn.violations == []
    assert conn.subprotocol == "audio.jambonz.org"
    meta = conn.state["metadata"]
    assert meta["sampleRate"] == 16000 and meta["mixType"] == "mono"
    assert meta["speaker"] == {"userId": "u1", "name": "Ann"}
    assert meta["crm"] == {"ticket": 17}  # the verb's metadata is merged at the top level
    received = receiver.audio(conn)[:, 0]
    assert np.array_equal(received, samples)  # no resampling, no framing loss
    assert conn.state["frames"] == -(-len(samples) // 320)  # 20 ms frames


async def test_mono_at_8k_matches_what_was_sent() -> None:
    samples, _ = recording(2)
    info = StreamInfo("call-7", "p1", sample_rate=8000)
    receiver, conn, _ = await _run(JambonzDownstream(info), pcm_chunks(samples))
    assert conn.violations == []
    assert conn.state["metadata"]["sampleRate"] == 8000
    received = receiver.audio(conn)[:, 0]
    expected = resample(samples, 16000, 8000)
    assert abs(len(received) - len(expected)) <= 1
    assert correlation(expected, received) > 0.99


async def test_stereo_puts_each_party_on_its_channel_in_time() -> None:
    a, _ = recording(1)
    b, _ = recording(4)
    mixer = ConversationMixer(channels=2)
    mixer.add("caller", started_at=50.0)
    mixer.add("agent", started_at=50.25)
    chunks = []
    for ca, cb in zip(pcm_chunks(a[:40000]), pcm_chunks(b[:40000]), strict=True):
        chunks += mixer.push("caller", ca) + mixer.push("agent", cb)
    chunks += mixer.flush()
    protocol = JambonzDownstream(StreamInfo("call-7"), mix_type="stereo")
    receiver, conn, _ = await _run(protocol, chunks)
    assert conn.violations == []
    audio = receiver.audio(conn)
    assert audio.shape[1] == 2
    assert np.array_equal(audio[:40000, 0], a[:40000])
    assert np.array_equal(audio[4000:44000, 1], b[:40000])  # 0.25 s later
    assert not audio[:4000, 1].any()


async def test_mixed_sums_the_parties() -> None:
    a, _ = recording(1)
    b, _ = recording(4)
    a, b = a[:32000] // 2, b[:32000] // 2  # no clipping in the sum
    mixer = ConversationMixer(channels=1)
    mixer.add("x", 0.0)
    mixer.add("y", 0.0)
    chunks = []
    for ca, cb in zip(pcm_chunks(a), pcm_chunks(b), strict=True):
        chunks += mixer.push("x", ca) + mixer.push("y", cb)
    chunks += mixer.flush()
    receiver, conn, _ = await _run(JambonzDownstream(StreamInfo("c"), mix_type="mixed"), chunks)
    assert conn.violations == []
    assert np.array_equal(receiver.audio(conn)[:, 0], a + b)


async def test_commands_from_the_server() -> None:
    async def commands(conn: Connection) -> None:
        await conn.wait_frames(1)  # the metadata
        await conn.send({"type": "playAudio", "data": {"audioContent": "AAAA" * 100,
                                                       "audioContentType": "raw",
                                                       "sampleRate": "8000"}})
        await conn.send(bytes(640))  # bidirectional streaming audio
        await conn.send({"type": "mark", "data": {"name": "m1"}})
        await conn.send({"type": "killAudio"})
        await conn.send({"type": "disconnect"})

    samples, _ = recording(1)
    protocol = JambonzDownstream(INFO)
    async with JambonzReceiver(script=commands) as receiver:
        result = await drive(receiver.url, protocol, pcm_chunks(samples), pace=0.005)
        conn = receiver.connections[0]
        await asyncio.wait_for(conn.closed.wait(), 5)
    kinds = [r["message"]["type"] for r in result.replies]
    assert kinds == ["playAudio", "mark", "killAudio", "disconnect"]
    assert "audioContent" not in result.replies[0]["message"]["data"]
    assert protocol.audio_replies == 1 and protocol.binary_replies == 1
    assert protocol.ended  # disconnect: the connection manager must not reconnect
    assert conn.violations == []
    assert conn.state["texts"] == [{"type": "mark", "data": {"name": "m1", "event": "playout"}}]


async def test_the_receiver_refuses_a_client_without_the_subprotocol() -> None:
    protocol = JambonzDownstream(INFO)
    protocol.subprotocols = ()  # a client that forgot it
    receiver, conn, _ = await _run(protocol, [])
    assert any("subprotocol" in v for v in conn.violations)


@pytest.mark.parametrize("rate", [11025, 44100, 32000])
def test_sample_rates_outside_the_verb_are_refused(rate: int) -> None:
    with pytest.raises(ProtocolConfigError, match="sampleRate"):
        JambonzDownstream(StreamInfo("c", sample_rate=rate))


def test_mix_types() -> None:
    assert not JambonzDownstream(StreamInfo("c")).mixes
    assert JambonzDownstream(StreamInfo("c"), mix_type="stereo").channels == 2
    with pytest.raises(ProtocolConfigError):
        JambonzDownstream(StreamInfo("c"), mix_type="quad")  # type: ignore[arg-type]


async def test_a_reconnect_loses_at_most_the_partial_frame_at_the_seam() -> None:
    samples, _ = recording(0)
    chunks = pcm_chunks(samples, ms=30)  # 30 ms chunks: a 10 ms remainder every other chunk
    protocol = JambonzDownstream(INFO)
    async with JambonzReceiver() as receiver:
        await drive(receiver.url, protocol, chunks[:51], goodbye=False)  # lost after chunk 51
        await drive(receiver.url, protocol, chunks[51:])  # and the stream goes on
        first, second = receiver.connections
        await asyncio.wait_for(second.closed.wait(), 5)
    assert first.violations == [] and second.violations == []
    before, after = receiver.audio(first)[:, 0], receiver.audio(second)[:, 0]
    seam = 51 * 480
    assert len(before) == seam - 160  # the 10 ms not yet framed went with the connection
    assert np.array_equal(before, samples[: len(before)])
    assert np.array_equal(after, samples[seam:])  # the next connection starts exactly
