"""Map a recogniser's clock (audio actually fed) onto the stream's clock (chunk offsets).

A recogniser counts time in the samples it was given; when the pipeline skips silence (the
speech gate forwards only speech and padding, a muted participant sends nothing, an
overloaded stream drops late audio), its clock runs behind the participant's. Each
contiguous run of fed audio is a segment that remembers where it started on both clocks; a
time is mapped through the segment it falls in. This is the one mapper of the code base:
local Vosk uses it, and so can any recogniser that counts fed audio.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk

MAX_SEGMENTS = 4096
"""Bound for a stream whose phrases never end (``forget_before`` keeps it far lower)."""


class Timeline:
    """Segments of fed audio; bounded by ``forget_before`` after each final."""

    def __init__(self, rate: int = TARGET_RATE) -> None:
        self._rate = rate
        self._fed_starts: list[int] = []  # fed-sample position where each segment starts
        self._stream_starts: list[int] = []  # stream offset (samples) of the same moment
        self._lengths: list[int] = []  # samples in each segment
        self._fed = 0  # samples fed so far
        self._next_offset: int | None = None  # stream offset that would continue the segment

    @property
    def fed_samples(self) -> int:
        return self._fed

    @property
    def segments(self) -> int:
        return len(self._fed_starts)

    def feed(self, chunk: PcmChunk) -> None:
        """Record that ``chunk`` is being fed to the recogniser now."""
        if chunk.offset != self._next_offset or not self._lengths:
            self._fed_starts.append(self._fed)
            self._stream_starts.append(chunk.offset)
            self._lengths.append(0)
            if len(self._fed_starts) > MAX_SEGMENTS:
                del self._fed_starts[0], self._stream_starts[0], self._lengths[0]
        self._lengths[-1] += chunk.samples
        self._fed += chunk.samples
        self._next_offset = chunk.offset + chunk.samples

    def to_stream(self, fed_seconds: float, *, end: bool = False) -> float:
        """A recogniser time (seconds of fed audio) as seconds on the stream's clock.

        A time exactly at a skip belongs to the later segment; with ``end`` (a word's end)
        it belongs to the earlier one, so a word never stretches over skipped audio.
        """
        position = round(fed_seconds * self._rate)
        find = bisect_left if end else bisect_right
        index = find(self._fed_starts, position) - 1
        if index < 0:
            if not self._fed_starts:
                return fed_seconds
            index = 0
        within = position - self._fed_starts[index]
        if index + 1 < len(self._fed_starts):
            within = min(within, self._lengths[index])  # rounding stays inside its segment
        return (self._stream_starts[index] + within) / self._rate

    def forget_before(self, fed_seconds: float) -> None:
        """Drop segments wholly before ``fed_seconds`` (no result will refer to them again)."""
        index = bisect_right(self._fed_starts, fed_seconds * self._rate) - 1
        if index > 0:
            del self._fed_starts[:index]
            del self._stream_starts[:index]
            del self._lengths[:index]
