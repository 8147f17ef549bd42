"""The media stream with a scripted recogniser: order, bounds, endpoints, failures."""

from __future__ import annotations

import asyncio
from datetime import datetime

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.pipeline.pcm import PcmChunk
from gateway.pipeline.stream import MediaStream
from gateway.transcript import Phrase, Speaker


class Recorder:
    """A TranscriptListener that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.started_at: datetime | None = None

    def started(self, at: datetime) -> None:
        self.started_at = at
        self.events.append(("started", ""))

    def partial(self, text: str) -> None:
        self.events.append(("partial", text))

    async def final(self, phrase: Phrase) -> None:
        await asyncio.sleep(0)
        self.events.append(("final", phrase.text))

    def finals(self) -> list[str]:
        return [text for kind, text in self.events if kind == "final"]


def chunks(seconds: float, start: float = 0.0) -> list[PcmChunk]:
    n = round(seconds * 10)
    first = round(start * 10)
    return [PcmChunk(b"\0\0" * 1600, (first + i) * 1600) for i in range(n)]


SCRIPT = [ScriptedPhrase("good morning everyone", 0.0, 1.0),
          ScriptedPhrase("can you hear me", 1.5, 2.5)]


async def stream_with(recorder: Recorder, *, backlog: int = 100, delay: float = 0.0,
                      fail_on: set[str] | None = None) -> MediaStream:
    rec = ScriptedRecognizer(SCRIPT, delay=delay, fail_on=fail_on)
    return MediaStream(await rec.open_stream(Speaker(id="p1")), recorder, label="t",
                       backlog_chunks=backlog)


async def test_events_arrive_in_order_and_finish_finalises() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder)
    for c in chunks(2.0):  # the second phrase is still being spoken at the end
        stream.push(c)
    await stream.finish(timeout=5)
    assert recorder.events[0] == ("started", "")
    assert recorder.finals() == ["good morning everyone", "can you"]
    first_final = recorder.events.index(("final", "good morning everyone"))
    assert ("partial", "good morning") in recorder.events[:first_final]
    assert stream.dropped_chunks == 0 and stream.queued == 0


async def test_forced_endpoint_splits_where_asked() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder)
    for c in chunks(0.5):
        stream.push(c)
    stream.endpoint()
    for c in chunks(2.5, start=0.5):
        stream.push(c)
    await stream.finish(timeout=5)
    assert recorder.finals()[0] == "good morning"


async def test_backlog_is_bounded_and_drops_the_oldest_audio() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder, backlog=5, delay=0.05)
    for c in chunks(3.0):
        stream.push(c)
    assert stream.queued <= 5
    assert stream.dropped_chunks >= 20
    stream.endpoint()  # markers are never dropped, however full the backlog
    await stream.finish(timeout=5)
    assert stream.queued == 0


async def test_a_recognizer_failure_costs_that_step_not_the_stream() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder, fail_on={"good morning everyone"})
    for c in chunks(3.0):
        stream.push(c)
    await stream.finish(timeout=5)
    assert stream.failures == 1
    assert recorder.finals() == ["can you hear me"]


async def test_finish_is_bounded_when_recognition_cannot_catch_up() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder, delay=0.2)
    for c in chunks(3.0):
        stream.push(c)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stream.finish(timeout=0.3)
    assert loop.time() - started < 1.0
    await stream.close()
    assert stream.recognizer.closed  # type: ignore[attr-defined]


async def test_no_audio_means_no_start_and_nothing_to_finish() -> None:
    recorder = Recorder()
    stream = await stream_with(recorder)
    stream.endpoint()
    await stream.finish(timeout=1)
    assert recorder.events == [] and recorder.started_at is None


class Tap:
    name = "tap"

    def __init__(self, fail: bool = False) -> None:
        self.chunks: list[PcmChunk] = []
        self.fail = fail

    def send_audio(self, chunk: PcmChunk) -> None:
        if self.fail:
            raise RuntimeError("broken output")
        self.chunks.append(chunk)

    async def drain(self, timeout: float) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_taps_get_every_chunk_even_when_recognition_drops_audio() -> None:
    recorder = Recorder()
    rec = ScriptedRecognizer(SCRIPT, delay=0.05)
    tap, broken = Tap(), Tap(fail=True)
    stream = MediaStream(await rec.open_stream(Speaker(id="p1")), recorder, label="t",
                         backlog_chunks=3, taps=[broken, tap])
    sent = chunks(2.0)
    for c in sent:
        stream.push(c)
    assert tap.chunks == sent and stream.dropped_chunks > 0
    await stream.finish(timeout=5)
