"""The scripted recogniser behaves like a recogniser: partials while a phrase is heard, a
final once its audio has passed, an endpoint that cuts the phrase in progress."""

from __future__ import annotations

from gateway.asr.base import Final, Partial
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Speaker


def chunk(index: int) -> PcmChunk:  # 100 ms chunks
    return PcmChunk(b"\0\0" * 1600, index * 1600)


async def test_partials_then_a_final_with_word_times() -> None:
    rec = ScriptedRecognizer([ScriptedPhrase("hello there world", 0.2, 0.8)])
    stream = await rec.open_stream(Speaker(name="Ann", id="p1"))
    events = [e for i in range(10) for e in await stream.accept(chunk(i))]
    partials = [e.text for e in events if isinstance(e, Partial)]
    finals = [e.phrase for e in events if isinstance(e, Final)]
    assert partials[0] == "hello" and "hello there" in partials
    assert len(finals) == 1 and finals[0].text == "hello there world"
    assert finals[0].speaker.id == "p1"
    assert (finals[0].start, finals[0].end) == (0.2, 0.8)


async def test_endpoint_cuts_the_phrase_in_progress() -> None:
    rec = ScriptedRecognizer([ScriptedPhrase("one two three four", 0.0, 0.8)])
    stream = await rec.open_stream(Speaker(id="p"))
    for i in range(4):
        await stream.accept(chunk(i))
    (final,) = await stream.endpoint()
    assert isinstance(final, Final) and final.phrase.text == "one two"
    assert await stream.endpoint() == []
