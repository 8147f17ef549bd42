"""The media stream's seams for transports that pause or pace their sender (Symbl's socket):
``flush`` (end the phrase, wait for its results, go on), ``wait_room`` (back-pressure
instead of dropping), and ``Chunker.skip_to`` (a gap on the participant's clock)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.pipeline.pcm import Chunker, PcmChunk
from gateway.pipeline.stream import MediaStream
from gateway.transcript import Speaker
from tests.pipeline.test_stream import Recorder, chunks

SCRIPT = [ScriptedPhrase("good morning everyone", 0.0, 1.0),
          ScriptedPhrase("can you hear me", 1.5, 2.5)]


async def make(recorder: Recorder, delay: float = 0.0, backlog: int = 100) -> MediaStream:
    rec = ScriptedRecognizer(SCRIPT, delay=delay)
    return MediaStream(await rec.open_stream(Speaker(id="p1")), recorder, label="t",
                       backlog_chunks=backlog)


async def test_flush_delivers_the_pending_phrase_and_the_stream_goes_on() -> None:
    recorder = Recorder()
    stream = await make(recorder, delay=0.01)
    for c in chunks(0.6):  # mid-way through the first phrase
        stream.push(c)
    await stream.flush(timeout=5)
    assert recorder.finals() == ["good morning"]  # delivered before flush returned
    for c in chunks(1.5, start=1.2):
        stream.push(c)
    await stream.finish(timeout=5)
    assert recorder.finals() == ["good morning", "can you hear me"]


async def test_flush_before_any_audio_or_after_close_returns_at_once() -> None:
    recorder = Recorder()
    stream = await make(recorder)
    await asyncio.wait_for(stream.flush(timeout=5), 0.5)
    stream.push(chunks(0.1)[0])
    await stream.close()
    await asyncio.wait_for(stream.flush(timeout=5), 0.5)
    assert recorder.finals() == []


async def test_wait_room_holds_a_fast_sender_instead_of_dropping() -> None:
    recorder = Recorder()
    stream = await make(recorder, delay=0.02, backlog=100)
    pushed = 0
    for c in chunks(3.0):
        assert await stream.wait_room(timeout=5, below=5)
        stream.push(c)
        pushed += 1
        assert stream.queued <= 5
    await stream.finish(timeout=10)
    assert stream.dropped_chunks == 0 and pushed == 30
    assert recorder.finals() == ["good morning everyone", "can you hear me"]


async def test_wait_room_gives_up_after_its_timeout() -> None:
    recorder = Recorder()
    stream = await make(recorder, delay=1.0)
    for c in chunks(0.3):
        stream.push(c)
    assert await stream.wait_room(timeout=0.05, below=1) is False
    await stream.close()


def test_skip_to_moves_the_clock_forward_only() -> None:
    chunker = Chunker(100)
    (first,) = chunker.push(b"\0\0" * 1600)
    chunker.skip_to(16000)
    (second,) = chunker.push(b"\0\0" * 1600)
    assert (first.offset, second.offset) == (0, 16000)
    chunker.skip_to(100)  # never back
    (third,) = chunker.push(b"\0\0" * 1600)
    assert third.offset == 17600
    chunker.push(b"\0\0")
    with pytest.raises(ValueError):
        chunker.skip_to(40000)  # buffered samples would land at the wrong time
    assert isinstance(chunker.flush(), PcmChunk)
