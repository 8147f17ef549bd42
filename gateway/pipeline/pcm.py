"""PCM chunks as ARCH.md defines them (placeholder: the lead's reshape replaces this file).

Only what the VAD and endpointer code against lives here, exactly as ARCH.md specifies it,
so that ``from gateway.pipeline.pcm import PcmChunk`` already points at the final path.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_RATE = 16_000
BYTES_PER_SAMPLE = 2


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """A run of 16 kHz mono s16le samples; ``offset`` counts samples since stream start."""

    data: bytes
    offset: int

    @property
    def samples(self) -> int:
        return len(self.data) // BYTES_PER_SAMPLE

    @property
    def start_seconds(self) -> float:
        return self.offset / TARGET_RATE

    @property
    def end_seconds(self) -> float:
        return (self.offset + self.samples) / TARGET_RATE
