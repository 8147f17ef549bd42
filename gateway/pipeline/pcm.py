"""PCM chunks: the unit of audio between the media pipeline and everything after it.

Stand-in with exactly the dataclass of /work/plan/ARCH.md, so the downstream protocols and
the remote recogniser can be built before the reshape lands; the lead's module replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_RATE = 16_000
BYTES_PER_SAMPLE = 2


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """A run of 16 kHz mono s16le samples; ``offset`` counts samples since stream start."""

    data: bytes  # 16 kHz mono s16le
    offset: int  # samples since the start of this participant's stream (16 kHz)

    @property
    def samples(self) -> int:
        return len(self.data) // BYTES_PER_SAMPLE

    @property
    def start_seconds(self) -> float:
        return self.offset / TARGET_RATE

    @property
    def end_seconds(self) -> float:
        return (self.offset + self.samples) / TARGET_RATE
