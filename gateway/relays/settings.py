"""The tunables of a downstream stream, and what its items and frames cost.

Flags set the buffer and the connect timeout (``RelayConfig``); the rest are defaults that
tests and benchmarks adjust (``Relays.settings``), documented in docs/relay.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk
from gateway.protocols.downstream import AudioChunk, MixedChunk
from gateway.protocols.downstream.results import ResultLike

Item = AudioChunk | ResultLike
"""What a stream carries: audio chunks (participant or mixed), or results (``results``)."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    buffer_seconds: float = 10.0     # audio kept while the downstream is slow or away
    max_results: int = 5000          # results kept, for a results relay
    connect_timeout: float = 10.0
    close_timeout: float = 5.0       # the goodbye; silence allowed at the end of a stream
    goodbye_limit: float = 20.0      # a slow downstream finishing its backlog: at most this
    confirm_interval: float = 0.5    # ping this often while frames await confirmation
    heartbeat: float = 15.0          # ping an idle connection this often
    pong_timeout: float = 10.0       # no pong by then: the connection is dead
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    report_interval: float = 2.0     # at most one audio_dropped message per interval
    reply_rate: float = 50.0         # answers forwarded per second (bursts of twice that)
    max_reply_bytes: int = 64 * 1024  # larger answers are counted, not forwarded


def frame_overhead(size: int) -> int:
    """A client frame's header: 2 bytes, 2 or 8 more for longer payloads, a 4-byte mask."""
    return 6 + (2 if 126 <= size < 65536 else 8 if size >= 65536 else 0)


def audio_seconds(item: Item) -> float:
    if isinstance(item, PcmChunk | MixedChunk):
        return item.samples / TARGET_RATE
    return 0.0
