"""Map a recogniser's clock (audio actually fed) onto the stream's clock (chunk offsets).

A recogniser counts time in the samples it was given; when the pipeline skips silence, its
clock runs behind the participant's. Each contiguous run of fed audio is a segment that
remembers where it started on both clocks; a time is mapped through the segment it falls in.
"""

from __future__ import annotations

from bisect import bisect_right

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk


class Timeline:
    """Segments of fed audio; bounded by ``forget_before`` after each final."""

    def __init__(self, rate: int = TARGET_RATE) -> None:
        self._rate = rate
        self._fed_starts: list[int] = []  # fed-sample position where each segment starts
        self._stream_starts: list[int] = []  # stream offset (samples) of the same moment
        self._fed = 0  # samples fed so far
        self._next_offset: int | None = None  # stream offset that would continue the segment

    @property
    def fed_samples(self) -> int:
        return self._fed

    def feed(self, chunk: PcmChunk) -> None:
        """Record that ``chunk`` is being fed to the recogniser now."""
        if chunk.offset != self._next_offset:
            self._fed_starts.append(self._fed)
            self._stream_starts.append(chunk.offset)
        self._fed += chunk.samples
        self._next_offset = chunk.offset + chunk.samples

    def to_stream(self, fed_seconds: float) -> float:
        """A recogniser time (seconds of fed audio) as seconds on the stream's clock."""
        position = fed_seconds * self._rate
        index = bisect_right(self._fed_starts, position) - 1
        if index < 0:
            return fed_seconds
        return (self._stream_starts[index] + position - self._fed_starts[index]) / self._rate

    def forget_before(self, fed_seconds: float) -> None:
        """Drop segments wholly before ``fed_seconds`` (no result will refer to them again)."""
        index = bisect_right(self._fed_starts, fed_seconds * self._rate) - 1
        if index > 0:
            del self._fed_starts[:index]
            del self._stream_starts[:index]
