"""The remote recogniser against real vosk-server-protocol servers with real Vosk on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import vosk

from gateway.asr.base import Final, Partial, TranscriptEvent
from gateway.asr.remote import RemoteVoskRecognizer, RemoteVoskStream
from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Speaker
from tests.support.receivers import pcm_chunks, recording
from tests.support.speech import require_pocketsphinx_corpus
from tests.support.vosk_server import SilentServer, VoskServer, load_model
from tests.support.wer import WerStats, wer

pytestmark = pytest.mark.slow
SPEAKER = Speaker(user_id="u1", name="Ann", id="p1")


@pytest.fixture
async def servers(model_path: Path) -> AsyncIterator[list[VoskServer]]:
    pair = [VoskServer(model_path), VoskServer(model_path)]
    for server in pair:
        await server.start()
    yield pair
    for server in pair:
        await server.stop()


def local_vosk(model_path: Path, chunks: Sequence[PcmChunk]) -> list[dict]:
    """The baseline: in-process Vosk fed the same chunks, as the local recogniser does."""
    rec = vosk.KaldiRecognizer(load_model(model_path), 16000)
    rec.SetWords(True)
    results = [json.loads(rec.Result()) for c in chunks if rec.AcceptWaveform(c.data)]
    return [r for r in [*results, json.loads(rec.FinalResult())] if r.get("text")]


async def transcribe(stream: RemoteVoskStream, chunks: Sequence[PcmChunk]) -> list[Final]:
    events: list[TranscriptEvent] = []
    for chunk in chunks:
        events += await stream.accept(chunk)
    events += await stream.endpoint()
    return [e for e in events if isinstance(e, Final)]


def text(finals: Sequence[Final]) -> str:
    return " ".join(f.phrase.text for f in finals)


async def test_wer_matches_local_vosk_on_real_recordings(
        model_path: Path, servers: list[VoskServer]) -> None:
    pool = RemoteVoskRecognizer([s.url for s in servers])
    remote, local = WerStats(), WerStats()
    try:
        corpus = require_pocketsphinx_corpus()
        for first, second in zip(corpus[::2], corpus[1::2], strict=False):
            pair = [first, second]
            streams = [await pool.open_stream(SPEAKER) for _ in pair]
            assert {s.server_url for s in streams} == {s.url for s in servers}  # balanced
            audio = [recording(corpus.index(u))[0] for u in pair]
            finals = await asyncio.gather(*(transcribe(s, pcm_chunks(a))
                                            for s, a in zip(streams, audio, strict=True)))
            for utterance, samples, got, stream in zip(pair, audio, finals, streams,
                                                        strict=True):
                remote.add(utterance.transcript, text(got))
                baseline = local_vosk(model_path, pcm_chunks(samples))
                local.add(utterance.transcript, " ".join(r["text"] for r in baseline))
                for final in got:
                    assert 0 <= final.phrase.start <= final.phrase.end <= len(samples) / 16000
                await stream.close()
        assert all(s.streams == 0 for s in pool.servers)
    finally:
        await pool.aclose()
    print(f"\nlocal {local.summary()}\nremote {remote.summary()}")
    assert remote.wer <= local.wer + 0.02


async def test_a_server_killed_mid_phrase_the_transcript_goes_on(
        model_path: Path, servers: list[VoskServer]) -> None:
    parts = [recording(i)[0] for i in (0, 1, 2)]
    pause = np.zeros(8000, np.int16)
    samples = np.concatenate([parts[0], pause, parts[1], pause, parts[2]])
    reference = " ".join(recording(i)[1] for i in (0, 1, 2))
    chunks = pcm_chunks(samples)
    kill_at = (len(parts[0]) + len(pause) + len(parts[1]) // 2) // 1600  # mid-sentence two
    pool = RemoteVoskRecognizer([s.url for s in servers], backoff_initial=5.0)
    try:
        stream = await pool.open_stream(SPEAKER)
        first = next(s for s in servers if s.url == stream.server_url)
        events: list[TranscriptEvent] = []
        for i, chunk in enumerate(chunks):
            if i == kill_at:
                await first.kill()
            events += await stream.accept(chunk)
        events += await stream.endpoint()
        finals = [e for e in events if isinstance(e, Final)]
        assert stream.moves == 1 and stream.server_url != first.url
        state = pool.servers[[s.url for s in servers].index(first.url)]
        assert state.lost == 1 and state.failures == 1  # marked, backing off
        assert wer(reference, text(finals)) <= 0.15
        starts = [f.phrase.start for f in finals]
        assert starts == sorted(starts)  # one timeline across the move
        await stream.close()
    finally:
        await pool.aclose()


async def test_word_times_follow_chunk_offsets_that_skip(
        model_path: Path, servers: list[VoskServer]) -> None:
    a, _ = recording(1)
    b, _ = recording(4)
    skip = 16000 * 90  # the second sentence arrives 90 s into the stream
    chunks = pcm_chunks(a) + pcm_chunks(b, offset=skip)
    pool = RemoteVoskRecognizer([servers[0].url])
    try:
        stream = await pool.open_stream(SPEAKER)
        events: list[TranscriptEvent] = []
        for chunk in chunks[: len(pcm_chunks(a))]:
            events += await stream.accept(chunk)
        events += await stream.endpoint()
        split = len(events)
        for chunk in chunks[len(pcm_chunks(a)):]:
            events += await stream.accept(chunk)
        events += await stream.endpoint()
        await stream.close()
    finally:
        await pool.aclose()
    later = [e.phrase for e in events[split:] if isinstance(e, Final)]
    expected = [w for r in local_vosk(model_path, pcm_chunks(b)) for w in r["result"]]
    got = [w for p in later for w in p.words]
    assert [w.word for w in got] == [w["word"] for w in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.start == pytest.approx(90 + theirs["start"], abs=0.05)
        assert mine.end == pytest.approx(90 + theirs["end"], abs=0.05)


@pytest.mark.parametrize(("dialect", "resets"), [("python", True), ("legacy", False),
                                                 ("cpp", False)])
async def test_endpoint_forces_a_final_on_every_server_generation(
        model_path: Path, dialect: str, resets: bool) -> None:
    samples, reference = recording(0)
    chunks = pcm_chunks(samples)
    half = len(chunks) // 2
    server = VoskServer(model_path, dialect=dialect, sample_rate=16000)  # type: ignore[arg-type]
    async with server:
        pool = RemoteVoskRecognizer([server.url])
        try:
            stream = await pool.open_stream(SPEAKER)
            events: list[TranscriptEvent] = []
            for chunk in chunks[:half]:
                events += await stream.accept(chunk)
            forced = await stream.endpoint()
            assert any(isinstance(e, Final) for e in forced)  # mid-sentence, on demand
            assert await stream.endpoint() == []  # nothing pending: nothing to end
            events += forced
            for chunk in chunks[half:]:
                events += await stream.accept(chunk)
            events += await stream.endpoint()
            await stream.close()
        finally:
            await pool.aclose()
    assert pool.servers[0].supports_reset is resets
    assert any(isinstance(e, Partial) for e in events)
    assert wer(reference, text([e for e in events if isinstance(e, Final)])) <= 0.25
    # reset keeps the connection; eof ends it (a fresh one follows for the next phrase)
    assert len(server.sessions) == 1 if resets else len(server.sessions) >= 3


async def test_a_silent_server_is_skipped_after_the_connect_timeout(
        model_path: Path, servers: list[VoskServer]) -> None:
    async with SilentServer() as silent:
        pool = RemoteVoskRecognizer([silent.url, servers[0].url], connect_timeout=0.5)
        try:
            started = time.monotonic()
            streams = [await pool.open_stream(SPEAKER) for _ in range(3)]
            assert time.monotonic() - started < 3.0
            assert {s.server_url for s in streams} == {servers[0].url}
            assert silent.accepted == 1 and pool.servers[0].lost == 1  # tried once, skipped
            for stream in streams:
                await stream.close()
        finally:
            await pool.aclose()


async def test_when_every_server_is_down_audio_waits_bounded_and_resumes(
        model_path: Path) -> None:
    samples, reference = recording(0)
    chunks = pcm_chunks(samples)
    server = VoskServer(model_path)
    await server.start()
    pool = RemoteVoskRecognizer([server.url], replay_seconds=3.0, backoff_initial=0.05,
                                backoff_max=0.2)
    try:
        stream = await pool.open_stream(SPEAKER)
        events: list[TranscriptEvent] = []
        for chunk in chunks[:20]:
            events += await stream.accept(chunk)
        await server.kill()
        for chunk in chunks[20:60]:  # four seconds with no server at all
            assert await stream.accept(chunk) == []  # never raises, never blocks
        assert stream.lost_samples >= 16000  # only ~3 s were kept for replay
        await server.restart()
        await asyncio.sleep(0.25)  # past the backoff
        for chunk in chunks[60:]:
            events += await stream.accept(chunk)
        events += await stream.endpoint()
        await stream.close()
    finally:
        await pool.aclose()
        await server.stop()
    assert stream.moves >= 1
    assert 2.5 * 16000 <= stream.lost_samples <= 3.5 * 16000  # 6 s unrecognised, 3 s kept
    got = text([e for e in events if isinstance(e, Final)])
    # the oldest audio went (drop-oldest, as every buffer here); the last 3 s came back
    tail = reference.split()[-11:]  # "how much there might be prudently in his power ..."
    assert wer(" ".join(tail), got) <= 0.35
    assert got.split()[-3:] == ["do", "for", "them"]


async def test_an_idle_stream_answers_the_servers_keepalive(model_path: Path) -> None:
    samples, _ = recording(1)
    chunks = pcm_chunks(samples)
    # pings every second; a connection that misses a pong for 0.5 s is closed
    async with VoskServer(model_path, heartbeat=1.0) as server:
        pool = RemoteVoskRecognizer([server.url])
        try:
            stream = await pool.open_stream(SPEAKER)
            for chunk in chunks[:10]:
                await stream.accept(chunk)
            await asyncio.sleep(3.5)  # silence a VAD did not forward: three pings
            for chunk in chunks[10:]:
                await stream.accept(chunk)
            await stream.endpoint()
            assert stream.moves == 0 and pool.servers[0].lost == 0
            assert len(server.sessions) == 1
            await stream.close()
        finally:
            await pool.aclose()


async def test_a_server_that_stops_answering_is_left_after_the_reply_timeout(
        model_path: Path, servers: list[VoskServer]) -> None:
    from tests.support.receivers import JsonReceiver

    samples, reference = recording(1)
    async with JsonReceiver() as mute:  # completes the handshake, never answers a frame
        pool = RemoteVoskRecognizer([mute.url, servers[0].url], reply_timeout=3.0)
        pool.servers[1].streams = 1  # make the mute one the first choice
        try:
            stream = await pool.open_stream(SPEAKER)
            assert stream.server_url == mute.url
            events: list[TranscriptEvent] = []
            for chunk in pcm_chunks(samples):
                events += await stream.accept(chunk)
            events += await stream.endpoint()
            assert stream.server_url == servers[0].url and stream.moves == 1
            # 8 words; "an ill" heard as "a nail" is two errors
            assert wer(reference, text([e for e in events if isinstance(e, Final)])) <= 0.3
            await stream.close()
        finally:
            await pool.aclose()
