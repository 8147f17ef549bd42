"""The media stream with a scripted recogniser: order, bounds, endpoints, failures."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from gateway.asr.base import TranscriptEvent
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer, ScriptedStream
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


async def test_muted_audio_is_heard_nowhere_and_the_clock_goes_on() -> None:
    recorder = Recorder()
    rec = ScriptedRecognizer(SCRIPT)
    tap = Tap()
    stream = MediaStream(await rec.open_stream(Speaker(id="p1")), recorder, label="t",
                         taps=[tap])
    sent = chunks(3.0)
    for c in sent[:5]:
        stream.push(c)
    stream.set_muted(True)  # mid-phrase: "good morning everyone" ends where it was cut
    for c in sent[5:15]:
        stream.push(c)
    stream.set_muted(False)
    for c in sent[15:]:
        stream.push(c)
    await stream.finish(timeout=5)
    assert stream.muted_chunks == 10 and stream.chunks_in == 30
    assert tap.chunks == sent[:5] + sent[15:]
    (inner,) = rec.streams
    assert [c.offset for c in inner.chunks] == [c.offset for c in sent[:5] + sent[15:]]
    assert recorder.finals() == ["good morning", "can you hear me"]


class Waits:
    """Wraps a recogniser stream: how long each chunk it is given waited since its push."""

    def __init__(self, inner: ScriptedStream, pushed: dict[int, float]) -> None:
        self.inner, self.pushed, self.speaker = inner, pushed, inner.speaker
        self.waits: list[float] = []

    async def accept(self, chunk: PcmChunk) -> list[TranscriptEvent]:
        self.waits.append(time.monotonic() - self.pushed[chunk.offset])
        return await self.inner.accept(chunk)

    async def endpoint(self) -> list[TranscriptEvent]:
        return await self.inner.endpoint()

    async def close(self) -> None:
        await self.inner.close()


async def test_audio_that_waited_too_long_is_dropped_and_the_phrase_ends_before_the_gap(
) -> None:
    recorder = Recorder()
    rec = ScriptedRecognizer(SCRIPT, delay=0.2)  # 5 chunks a second: half of real time
    pushed: dict[int, float] = {}
    waits = Waits(await rec.open_stream(Speaker(id="p1")), pushed)
    stream = MediaStream(waits, recorder, label="t", max_delay=0.5)
    sent = chunks(3.0)
    for c in sent:  # in real time, as a microphone would
        pushed[c.offset] = time.monotonic()
        stream.push(c)
        await asyncio.sleep(0.1)
    await stream.finish(timeout=10)
    (inner,) = rec.streams
    assert stream.late_chunks > 0 and stream.dropped_chunks == stream.late_chunks
    assert len(inner.chunks) + stream.late_chunks == len(sent)
    assert max(waits.waits) <= 0.5  # nothing older than the bound was recognised
    assert inner.chunks[-1].offset >= sent[-5].offset  # recognition kept up with the present
    # Every gap was preceded by an endpoint: no phrase glues audio across dropped audio.
    gaps = sum(1 for a, b in zip(inner.chunks, inner.chunks[1:], strict=False)
               if b.offset != a.offset + a.samples)
    assert gaps >= 1 and inner.endpoints >= gaps + 1


async def test_without_a_delay_bound_only_the_backlog_bounds_the_queue() -> None:
    recorder = Recorder()
    rec = ScriptedRecognizer(SCRIPT, delay=0.01)
    stream = MediaStream(await rec.open_stream(Speaker(id="p1")), recorder, label="t",
                         max_delay=None)
    for c in chunks(3.0):
        stream.push(c)
    assert stream.queued == 30 and stream.oldest_wait >= 0.0
    await stream.finish(timeout=10)
    assert stream.late_chunks == 0 and recorder.finals() == ["good morning everyone",
                                                             "can you hear me"]
