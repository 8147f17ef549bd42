"""The speech gate in front of a recogniser: what reaches it, where phrases end, thread hops.

Timing tests use the tone detector of the endpointer tests (a frame is speech when loud), so
offsets can be asserted exactly; speech tests use the real Silero detector on espeak
sentences separated by 0.3 s pauses, and the real Vosk model where marked slow.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.asr.vosk import VoskRecognizer, load_model
from gateway.pipeline.endpointer import EndpointerConfig
from gateway.pipeline.gate import GateConfig, GatedStream, SpeechGate
from gateway.pipeline.pcm import PcmChunk
from gateway.pipeline.stream import MediaStream
from gateway.pipeline.vad import VoiceDetector
from gateway.transcript import Phrase, Speaker
from gateway.workers import WorkerPool
from tests.pipeline.test_endpointer import ToneDetector, tone_clip
from tests.support.speech import require_espeak, require_pocketsphinx_corpus
from tests.support.vad_audio import RATE, espeak_units, join_units, real_units

SPEAKER = Speaker(id="p1", name="Ann")


class Recorder:
    """A TranscriptListener that keeps the finals and partials it was given."""

    def __init__(self) -> None:
        self.finals: list[Phrase] = []
        self.partials: list[str] = []

    def started(self, at: object) -> None:
        pass

    def partial(self, text: str) -> None:
        self.partials.append(text)

    async def final(self, phrase: Phrase) -> None:
        self.finals.append(phrase)


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    workers = WorkerPool(2, name="test-gate")
    yield workers
    await workers.aclose()


def tones(vad: str = "silero", **timing: int) -> tuple[GateConfig, dict[str, object]]:
    """A gate config whose detector is the tone detector (on the pool path for "silero",
    on the loop for "webrtc")."""
    return GateConfig(vad, EndpointerConfig(**timing)), {"detectors": lambda name: ToneDetector()}


def chunks_of(pcm: bytes, chunk_ms: int = 100) -> list[PcmChunk]:
    step = RATE * chunk_ms // 1000 * 2
    return [PcmChunk(pcm[i : i + step], i // 2) for i in range(0, len(pcm), step)]


def media(gated: GatedStream, recorder: Recorder) -> MediaStream:
    """A media stream fed faster than real time: no backlog or delay bound to trip."""
    return MediaStream(gated, recorder, label="t", backlog_chunks=100_000, max_delay=None)


async def play(stream: MediaStream, pcm: bytes) -> None:
    for chunk in chunks_of(pcm):
        stream.push(chunk)
    await stream.finish(timeout=30)


def spans(chunks: list[PcmChunk]) -> list[tuple[float, float]]:
    """Contiguous runs of the audio a recogniser was given, in seconds on the stream clock."""
    runs: list[list[int]] = []
    for c in chunks:
        if runs and runs[-1][1] == c.offset:
            runs[-1][1] = c.offset + c.samples
        else:
            runs.append([c.offset, c.offset + c.samples])
    return [(a / RATE, b / RATE) for a, b in runs]


@pytest.mark.parametrize("vad", ["silero", "webrtc"])  # pool path and loop path
async def test_only_speech_and_padding_reach_the_recogniser(pool: WorkerPool, vad: str) -> None:
    config, kw = tones(vad)
    scripted = ScriptedRecognizer([ScriptedPhrase("one two", 1.0, 2.0),
                                   ScriptedPhrase("three", 4.5, 5.0)])
    gate = SpeechGate(scripted, config, run=pool.run, **kw)  # type: ignore[arg-type]
    recorder = Recorder()
    stream = media(await gate.open_stream(SPEAKER), recorder)
    await play(stream, tone_clip(("quiet", 1.0), ("tone", 1.0), ("quiet", 2.5), ("tone", 0.5),
                                 ("quiet", 1.0)))
    (inner,) = scripted.streams
    # Pre-roll (300 ms) before each tone, hangover (200 ms) after; offsets kept, so the
    # 2.1 s of silence in between is simply absent.
    assert spans(inner.chunks) == [(0.7, 2.2), (4.2, 5.2)]
    assert [p.text for p in recorder.finals] == ["one two", "three"]
    assert gate.stats.endpoints == {"silence": 2}
    assert gate.stats.audio_seconds == pytest.approx(6.0)
    assert gate.stats.forwarded_seconds == pytest.approx(2.5)


async def test_the_gate_ends_each_phrase_without_waiting_for_more_audio(
        pool: WorkerPool) -> None:
    # The scripted phrases run on past the tones: only the gate's endpoints can end them.
    config, kw = tones()
    scripted = ScriptedRecognizer([ScriptedPhrase("hello there everyone", 1.0, 4.0),
                                   ScriptedPhrase("are you ready", 3.5, 7.5)])
    gate = SpeechGate(scripted, config, run=pool.run, **kw)  # type: ignore[arg-type]
    recorder = Recorder()
    stream = media(await gate.open_stream(SPEAKER), recorder)
    await play(stream, tone_clip(("quiet", 1.0), ("tone", 1.2), ("quiet", 1.3), ("tone", 1.0),
                                 ("quiet", 1.0)))
    assert [p.text for p in recorder.finals] == ["hello there", "are"]
    (inner,) = scripted.streams
    assert inner.endpoints == 2  # one per tone; the end of the stream had nothing left


async def test_a_forced_endpoint_goes_through_the_endpointer(pool: WorkerPool) -> None:
    config, kw = tones()
    scripted = ScriptedRecognizer([ScriptedPhrase("a b c d e f g h", 0.5, 3.5)])
    gate = SpeechGate(scripted, config, run=pool.run, **kw)  # type: ignore[arg-type]
    recorder = Recorder()
    stream = media(await gate.open_stream(SPEAKER), recorder)
    pcm = tone_clip(("quiet", 0.5), ("tone", 3.0), ("quiet", 1.0))
    chunks = chunks_of(pcm)
    for chunk in chunks[:15]:  # 1.5 s: a second of tone heard
        stream.push(chunk)
    stream.endpoint()  # the client's Finalize
    for chunk in chunks[15:]:
        stream.push(chunk)
    await stream.finish(timeout=30)
    assert gate.stats.endpoints == {"forced": 1, "silence": 1}
    assert [p.text for p in recorder.finals] == ["a b c"]  # what was heard by 1.5 s


async def test_continuous_speech_is_cut_at_the_maximum_phrase_length(pool: WorkerPool) -> None:
    config, kw = tones(max_phrase_ms=1000)
    scripted = ScriptedRecognizer([])
    gate = SpeechGate(scripted, config, run=pool.run, **kw)  # type: ignore[arg-type]
    stream = media(await gate.open_stream(SPEAKER), Recorder())
    await play(stream, tone_clip(("quiet", 0.5), ("tone", 3.5), ("quiet", 1.0)))
    assert gate.stats.endpoints == {"max_phrase": 3, "silence": 1}


async def test_vad_off_passes_every_chunk_and_the_recognisers_own_endpoints(
        pool: WorkerPool) -> None:
    scripted = ScriptedRecognizer([ScriptedPhrase("one", 0.2, 0.6)])
    gate = SpeechGate(scripted, GateConfig("off"), run=pool.run)
    stream = media(await gate.open_stream(SPEAKER), Recorder())
    pcm = tone_clip(("quiet", 2.0))
    await play(stream, pcm)
    (inner,) = scripted.streams
    assert spans(inner.chunks) == [(0.0, 2.0)]
    assert inner.endpoints == 1  # the end of the stream, passed through


async def test_detectors_of_closed_streams_are_reused(pool: WorkerPool) -> None:
    made: list[VoiceDetector] = []

    def detectors(name: str) -> VoiceDetector:
        made.append(ToneDetector())
        return made[-1]

    gate = SpeechGate(ScriptedRecognizer([]), GateConfig("silero"), run=pool.run,
                      detectors=detectors)
    first = await gate.open_stream(SPEAKER)
    await first.close()
    second = await gate.open_stream(SPEAKER)
    third = await gate.open_stream(SPEAKER)
    assert len(made) == 2  # the first stream's detector went to the second
    assert isinstance(second, GatedStream) and second.endpointer is not None
    assert second.endpointer.detector is made[0]
    await second.close()
    await third.close()


async def test_a_detector_still_in_use_by_a_cancelled_job_is_not_reused(
        pool: WorkerPool) -> None:
    started = threading.Event()

    class SlowTone(ToneDetector):
        def speech_probability(self, frame: bytes) -> float:
            started.set()
            time.sleep(0.05)
            return super().speech_probability(frame)

    made: list[VoiceDetector] = []

    def detectors(name: str) -> VoiceDetector:
        made.append(SlowTone())
        return made[-1]

    gate = SpeechGate(ScriptedRecognizer([]), GateConfig("silero"), run=pool.run,
                      detectors=detectors)
    first = await gate.open_stream(SPEAKER)
    job = asyncio.ensure_future(first.accept(chunks_of(tone_clip(("tone", 0.1)))[0]))
    await asyncio.to_thread(started.wait, 5)
    job.cancel()  # the media stream was closed mid-chunk: the worker thread goes on
    await first.close()
    second = await gate.open_stream(SPEAKER)
    assert len(made) == 2 and isinstance(second, GatedStream)
    assert second.endpointer is not None and second.endpointer.detector is made[1]
    await second.close()


async def test_three_spoken_sentences_with_short_pauses_end_three_phrases(
        pool: WorkerPool) -> None:
    """Silero on real (synthetic) speech: a turn of three sentences, 0.3 s apart."""
    require_espeak()
    clip = join_units("turn", espeak_units()[:3], 0.3)
    spans_s = [(a / RATE, b / RATE) for a, b in clip.units]
    # Each scripted phrase ends after its speech: only the gate's endpoint can close it.
    script = [ScriptedPhrase(f"sentence {i} " + "word " * 5, a, b + 1.0)
              for i, (a, b) in enumerate(spans_s)]
    scripted = ScriptedRecognizer(script)
    gate = SpeechGate(scripted, GateConfig("silero"), run=pool.run)
    recorder = Recorder()
    stream = media(await gate.open_stream(SPEAKER), recorder)
    await play(stream, clip.pcm())
    assert gate.stats.endpoints.get("silence") == 3
    assert [p.text.split()[1] for p in recorder.finals] == ["0", "1", "2"]
    (inner,) = scripted.streams
    # Pauses no longer than pre-roll + hangover are forwarded whole; the lead-in and the
    # tail are not.
    ((fed_start, fed_end),) = spans(inner.chunks)
    assert fed_start == pytest.approx(spans_s[0][0] - 0.3, abs=0.04)  # 32 ms VAD frames
    assert fed_end == pytest.approx(spans_s[-1][1] + 0.2, abs=0.1)  # 100 ms chunks


# -- with the real model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_recordings() -> bytes:
    require_pocketsphinx_corpus()
    clip = join_units("two", real_units()[:2], 4.0)  # 4 s of silence between them
    return clip.pcm()


@pytest.mark.slow
async def test_detection_and_recognition_share_one_pool_job_per_chunk(
        pool: WorkerPool, model_path: Path, two_recordings: bytes) -> None:
    model = await load_model(model_path)
    gate = SpeechGate(VoskRecognizer(model, pool), GateConfig("silero"), run=pool.run)
    gated = await gate.open_stream(SPEAKER)
    jobs_before = pool.stats().jobs
    chunks = chunks_of(two_recordings)
    for chunk in chunks:
        await gated.accept(chunk)
    assert pool.stats().jobs - jobs_before == len(chunks)  # not two per chunk
    await gated.close()


@pytest.mark.slow
async def test_gated_vosk_word_times_land_on_the_stream_clock(
        pool: WorkerPool, model_path: Path) -> None:
    require_pocketsphinx_corpus()
    clip = join_units("two", real_units()[:2], 4.0)
    model = await load_model(model_path)
    gate = SpeechGate(VoskRecognizer(model, pool), GateConfig("silero"), run=pool.run)
    recorder = Recorder()
    stream = media(await gate.open_stream(SPEAKER), recorder)
    await play(stream, clip.pcm())
    assert gate.stats.forwarded_seconds < clip.duration - 3.0  # the silence was not fed
    assert len(recorder.finals) == 2
    for phrase, (start, end) in zip(recorder.finals, clip.units, strict=True):
        # Words sit inside their recording's span on the stream clock (within 0.3 s).
        assert start / RATE - 0.3 <= phrase.words[0].start
        assert phrase.words[-1].end <= end / RATE + 0.3
