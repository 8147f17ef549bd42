"""Endpointer: gates a participant's PCM to speech (plus padding) and ends each phrase.

Why it exists: fed every chunk, Vosk spends most of a conversational call decoding
silence, and its own endpoint rules (0.5-1.0 s of trailing silence in the model's
``conf/model.conf``) merge sentences that people separate by ~0.3 s. The endpointer asks a
:class:`~gateway.pipeline.vad.VoiceDetector` about each frame and turns the stream into
events in time order:

* :class:`SpeechStart` when speech has lasted ``min_speech_ms`` (its ``offset`` is where
  that speech began);
* :class:`SpeechAudio` for every piece of audio the recogniser should get: the
  ``pre_roll_ms`` before the onset, the speech, and up to ``hangover_ms`` of silence after
  it. Each piece keeps its original ``offset``; skipped audio is never re-timed;
* :class:`Endpoint` after ``endpoint_silence_ms`` of trailing silence, on :meth:`finalize`
  (a client's "Finalize"), or when a phrase reaches ``max_phrase_ms``.

Where it runs: with Silero, :meth:`Endpointer.push` costs ~0.45 ms of CPU per 100 ms chunk
(0.9 ms on a loaded machine; ``bench/vad_compare.py``), ~11 % of a core at 24 streams:
too much for the event loop, so call it in the worker pool, one job per chunk (the model
releases the GIL, so streams run in parallel). It holds at most ``pre_roll +
min_speech + endpoint_silence`` of audio and makes no thread hops of its own; calls
for one stream must be sequential. With :class:`~gateway.pipeline.vad.WebRtcDetector` it
costs ~30 us per chunk and may run on the loop.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from typing import Literal

from gateway.pipeline.pcm import BYTES_PER_SAMPLE, TARGET_RATE, PcmChunk
from gateway.pipeline.vad import VoiceDetector

__all__ = [
    "Endpoint",
    "Endpointer",
    "EndpointerConfig",
    "EndpointerEvent",
    "SpeechAudio",
    "SpeechStart",
    "StreamClock",
]


@dataclass(frozen=True, slots=True)
class EndpointerConfig:
    """Gate and endpoint timing; the defaults are justified in NOTES-vad.md (measured)."""

    pre_roll_ms: int = 300
    """Audio kept from before the onset: detectors fire after weak onsets ("h", "f")."""
    min_speech_ms: int = 64
    """Speech needed to open a phrase (two Silero frames); clicks and blips stay gated."""
    hangover_ms: int = 200
    """Silence still forwarded after speech, so the decoder hears the last word end."""
    endpoint_silence_ms: int = 200
    """Trailing silence that ends a phrase. Silero's speech probability decays ~80 ms
    (median) after speech stops, so a 0.3 s pause between sentences looks like ~0.2 s of
    silence: 300 ms and above merged 33 of 36 such pauses in bench/vad_compare.py, 200 ms
    split them as well as anything shorter while cutting no more sentences than 300 ms."""
    speech_threshold: float = 0.5
    """Probability at which a frame opens speech (Silero's own default)."""
    silence_threshold: float = 0.4
    """Inside speech, a frame counts as silence only below this (hysteresis: fewer
    sentences cut by one weak frame, without holding on to the fading tail)."""
    max_phrase_ms: int | None = 20_000
    """Force an endpoint in continuous speech, so finals never wait unboundedly."""

    def __post_init__(self) -> None:
        for name in ("pre_roll_ms", "min_speech_ms", "hangover_ms", "endpoint_silence_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.hangover_ms > self.endpoint_silence_ms:
            raise ValueError("hangover_ms cannot exceed endpoint_silence_ms")
        if not 0.0 <= self.silence_threshold <= self.speech_threshold <= 1.0:
            raise ValueError("need 0 <= silence_threshold <= speech_threshold <= 1")
        if self.max_phrase_ms is not None and self.max_phrase_ms <= self.endpoint_silence_ms:
            raise ValueError("max_phrase_ms must exceed endpoint_silence_ms")


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """Speech began at ``offset`` (samples since stream start)."""

    offset: int


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """Audio for the recogniser, with its original stream offset."""

    chunk: PcmChunk


EndReason = Literal["silence", "forced", "max_phrase"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """End the phrase now. ``offset``: where its speech ended (samples since stream start)."""

    offset: int
    reason: EndReason


EndpointerEvent = SpeechStart | SpeechAudio | Endpoint


def _samples(ms: int) -> int:
    return ms * TARGET_RATE // 1000


class Endpointer:
    """One participant's gate. Not thread-safe: call it from one task (the media stream)."""

    def __init__(self, detector: VoiceDetector, config: EndpointerConfig | None = None) -> None:
        self.detector = detector
        self.config = cfg = config or EndpointerConfig()
        self._frame = detector.frame_samples
        self._pre_roll = _samples(cfg.pre_roll_ms)
        self._min_speech = max(1, -(-_samples(cfg.min_speech_ms) // self._frame))  # frames
        self._hangover = _samples(cfg.hangover_ms)
        self._endpoint = _samples(cfg.endpoint_silence_ms)
        self._max_phrase = None if cfg.max_phrase_ms is None else _samples(cfg.max_phrase_ms)
        self._held: deque[PcmChunk] = deque()  # audio not (yet) forwarded, in time order
        self._pending = bytearray()  # samples not yet classified (less than one frame)
        self._pending_start = 0
        self._next: int | None = None  # offset the next chunk must start at
        self._forwarded_until = 0  # every sample before this was forwarded or skipped
        self._in_speech = False
        self._run = 0  # consecutive speech frames while silent
        self._silence = 0  # trailing silence in samples while in speech
        self._speech_end = 0
        self._phrase_start = 0
        self._open = False  # audio forwarded since the last endpoint
        self.samples_in = 0
        self.samples_forwarded = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def held_samples(self) -> int:
        """Audio held back (pre-roll candidates, or silence past the hangover)."""
        return sum(chunk.samples for chunk in self._held)

    def push(self, chunk: PcmChunk) -> list[EndpointerEvent]:
        """Classify ``chunk`` and return what it caused, in time order.

        Chunks must be contiguous; a chunk that starts later than the previous one ended is
        a gap (counted as silence), one that starts earlier is a caller bug (ValueError).
        """
        if len(chunk.data) % BYTES_PER_SAMPLE:
            raise ValueError("PCM chunk with an odd number of bytes")
        events: list[EndpointerEvent] = []
        if self._next is None:
            self._next = self._pending_start = self._forwarded_until = chunk.offset
        elif chunk.offset < self._next:
            raise ValueError(f"chunk at {chunk.offset} overlaps audio up to {self._next}")
        elif chunk.offset > self._next:
            self._gap(chunk.offset - self._next, events)
        self._next = chunk.offset + chunk.samples
        self.samples_in += chunk.samples
        if chunk.samples == 0:
            return events
        self._held.append(chunk)
        self._pending += chunk.data
        frame_bytes = self._frame * BYTES_PER_SAMPLE
        while len(self._pending) >= frame_bytes:
            probability = self.detector.speech_probability(bytes(self._pending[:frame_bytes]))
            del self._pending[:frame_bytes]
            self._pending_start += self._frame
            self._step(probability, self._pending_start, events)
        if self._in_speech and self._silence <= self._hangover:
            self._forward(self._next, events)  # unclassified tail too: no waiting a frame
        else:
            self._trim()
        return events

    def finalize(self) -> list[EndpointerEvent]:
        """Forced endpoint (client "Finalize"): end the open phrase now, if there is one.

        Returns ``[]`` when nothing was forwarded since the last endpoint (no phrase to end).
        Speech that continues afterwards opens a new phrase after ``min_speech_ms``.
        """
        events: list[EndpointerEvent] = []
        if self._open:
            end = self._speech_end if self._silence else (self._next or 0)
            self._end_phrase(end, "forced", events)
        return events

    # -- internals --------------------------------------------------------------------

    def _step(self, probability: float, end: int, events: list[EndpointerEvent]) -> None:
        cfg = self.config
        if not self._in_speech:
            self._run = self._run + 1 if probability >= cfg.speech_threshold else 0
            if self._run >= self._min_speech:
                start = end - self._run * self._frame
                self._in_speech, self._silence, self._speech_end = True, 0, end
                self._phrase_start = start
                events.append(SpeechStart(start))
                self._forward(end, events, since=start - self._pre_roll)
            return
        if probability >= cfg.silence_threshold:
            self._silence, self._speech_end = 0, end
            self._forward(end, events)
        else:
            self._silence += self._frame
            if self._silence <= self._hangover:
                self._forward(end, events)
            if self._silence >= self._endpoint:
                self._end_phrase(self._speech_end, "silence", events)
                return
        if self._max_phrase is not None and end - self._phrase_start >= self._max_phrase:
            self._end_phrase(end, "max_phrase", events)
            self._in_speech, self._phrase_start, self._speech_end = True, end, end
            events.append(SpeechStart(end))

    def _gap(self, samples: int, events: list[EndpointerEvent]) -> None:
        """Audio the caller never sent: silence for timing; unclassified samples dropped."""
        self._pending.clear()
        self._pending_start = self._next = (self._next or 0) + samples
        self._run = 0
        if self._in_speech:
            self._silence += samples
            if self._silence >= self._endpoint:
                self._end_phrase(self._speech_end, "silence", events)

    def _end_phrase(self, offset: int, reason: EndReason, events: list[EndpointerEvent]) -> None:
        events.append(Endpoint(offset, reason))
        self._in_speech, self._open, self._run, self._silence = False, False, 0, 0

    def _forward(self, until: int, events: list[EndpointerEvent], since: int = 0) -> None:
        """Emit held audio in ``[max(since, forwarded_until), until)``; drop what precedes."""
        start = max(since, self._forwarded_until)
        while self._held:
            chunk = self._held[0]
            chunk_end = chunk.offset + chunk.samples
            lo, hi = max(start, chunk.offset), min(until, chunk_end)
            if hi > lo:
                if lo == chunk.offset and hi == chunk_end:
                    piece = chunk
                else:
                    a = (lo - chunk.offset) * BYTES_PER_SAMPLE
                    b = (hi - chunk.offset) * BYTES_PER_SAMPLE
                    piece = PcmChunk(chunk.data[a:b], lo)
                last = events[-1] if events else None
                if isinstance(last, SpeechAudio) and last.chunk.offset + last.chunk.samples == lo:
                    # One contiguous piece per push: one recogniser call, not several.
                    events[-1] = SpeechAudio(PcmChunk(last.chunk.data + piece.data,
                                                      last.chunk.offset))
                else:
                    events.append(SpeechAudio(piece))
                self.samples_forwarded += piece.samples
                self._open = True
            if chunk_end <= until:
                self._held.popleft()
            else:
                break
        self._forwarded_until = max(self._forwarded_until, until)

    def _trim(self) -> None:
        """Keep only what a future onset could still claim as pre-roll (bounded memory)."""
        keep_from = self._pending_start - self._run * self._frame - self._pre_roll
        if self._in_speech:  # past the hangover: everything since may rejoin the phrase
            keep_from = min(keep_from, self._forwarded_until)
        while self._held and self._held[0].offset + self._held[0].samples <= keep_from:
            self._held.popleft()


class StreamClock:
    """Maps the recogniser's clock (seconds of audio it was fed) back to the stream clock.

    A gated recogniser hears speech runs back to back, so its word times drift ahead of the
    stream by the silence skipped before them. Call :meth:`fed` with every chunk in the
    order it is fed; :meth:`to_stream` then converts a word time. One entry per contiguous
    run (one per phrase, roughly); :meth:`forget_before` drops runs a final has passed.
    """

    def __init__(self) -> None:
        self._fed_starts: list[int] = []  # fed sample at which each contiguous run begins
        self._offsets: list[int] = []  # stream offset of each run's first sample
        self._fed = 0
        self._next: int | None = None

    @property
    def fed_samples(self) -> int:
        return self._fed

    def fed(self, chunk: PcmChunk) -> None:
        if chunk.offset != self._next:
            self._fed_starts.append(self._fed)
            self._offsets.append(chunk.offset)
        self._fed += chunk.samples
        self._next = chunk.offset + chunk.samples

    def to_stream(self, fed_seconds: float) -> float:
        """Stream time (seconds) of a recogniser time (seconds of fed audio)."""
        if not self._fed_starts:
            return fed_seconds
        sample = fed_seconds * TARGET_RATE
        i = max(0, bisect_right(self._fed_starts, sample) - 1)
        return (self._offsets[i] + sample - self._fed_starts[i]) / TARGET_RATE

    def forget_before(self, fed_seconds: float) -> None:
        """Drop runs that end before ``fed_seconds`` (keeps the state bounded)."""
        sample = fed_seconds * TARGET_RATE
        keep = max(0, bisect_right(self._fed_starts, sample) - 1)
        del self._fed_starts[:keep], self._offsets[:keep]
