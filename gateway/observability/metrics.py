"""The gateway's process-wide metrics: counters and histograms incremented where things happen.

They live in one registry of their own (``REGISTRY``), not prometheus_client's global one,
so importing the gateway never registers anything behind a host application's back. They
are process-wide on purpose: the media stream, the outputs and admission increment them
without being handed anything. Live values (sessions open now, queue depths, backlogs,
TURN health) are gauges computed at scrape time from one application by
``gateway.observability.collector``; several applications in one process (tests) share
these counters and each scrape shows its own gauges.

Every label has a small, fixed set of values: transports, output names, stable error codes
(sanitised by ``error_code``), never ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)

# ``*_created`` series double every counter for a timestamp nobody graphs.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    # The same collector objects prometheus_client registers globally: resident memory,
    # open file descriptors, CPU seconds, start time; Python version; GC counts.
    REGISTRY.register(_collector)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
RTF_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)

# -- audio and recognition (gateway/pipeline/stream.py) -------------------------------------

AUDIO_RECEIVED = Counter(
    "gateway_audio_received_seconds", "Audio handed to media streams, in seconds of 16 kHz PCM",
    ["transport"], registry=REGISTRY)
AUDIO_RECOGNISED = Counter(
    "gateway_audio_recognised_seconds", "Audio the recogniser has processed, in seconds",
    ["transport"], registry=REGISTRY)
AUDIO_DROPPED = Counter(
    "gateway_audio_dropped_seconds",
    "Audio dropped from a full media-stream queue (recognition fell behind), in seconds",
    ["transport"], registry=REGISTRY)
RECOGNITION_TIME = Counter(
    "gateway_recognition_seconds",
    "Wall time spent in recogniser calls (queueing for a worker included); divided by "
    "gateway_audio_recognised_seconds_total it is the real-time factor",
    ["transport"], registry=REGISTRY)
RECOGNITION_FAILURES = Counter(
    "gateway_recognition_failures", "Recogniser calls that raised (the stream went on)",
    ["transport"], registry=REGISTRY)
REALTIME_FACTOR = Histogram(
    "gateway_recognition_realtime_factor",
    "Recogniser time per second of audio, per chunk (above 1: falling behind)",
    ["transport"], buckets=RTF_BUCKETS, registry=REGISTRY)
RESULT_LATENCY = Histogram(
    "gateway_result_latency_seconds",
    "From the arrival of the audio chunk (or end-of-phrase marker) that produced a result to "
    "the result being published (finals include insights)",
    ["transport", "kind"], buckets=LATENCY_BUCKETS, registry=REGISTRY)

# -- outputs (gateway/outputs/buffer.py, bus.py) -------------------------------------------

OUTPUT_SENT = Counter(
    "gateway_output_sent", "Items an output delivered", ["output"], registry=REGISTRY)
OUTPUT_DROPPED = Counter(
    "gateway_output_dropped", "Items evicted from a full output backlog (slow receiver)",
    ["output"], registry=REGISTRY)
OUTPUT_DISCARDED = Counter(
    "gateway_output_discarded",
    "Items never delivered because the output had stopped or closed, or could not serialise",
    ["output"], registry=REGISTRY)
OUTPUT_STOPS = Counter(
    "gateway_output_stops", "Outputs that stopped for good (peer gone, downstream refused)",
    ["output"], registry=REGISTRY)
OUTPUT_FAILURES = Counter(
    "gateway_output_failures", "Outputs whose send raised on the bus (a bug; contained)",
    ["output"], registry=REGISTRY)
RESULTS_PUBLISHED = Counter(
    "gateway_results_published", "Results published on the bus", ["kind"], registry=REGISTRY)

# -- sessions, admission, errors, ICE ------------------------------------------------------

SESSIONS_ADMITTED = Counter(
    "gateway_sessions_admitted", "Sessions admitted", ["transport"], registry=REGISTRY)
SESSIONS_ENDED = Counter(
    "gateway_sessions_ended", "Sessions that ended (their admission ticket was released)",
    ["transport"], registry=REGISTRY)
ADMISSION_REFUSALS = Counter(
    "gateway_admission_refusals", "Sessions refused by admission, by stable code",
    ["transport", "code"], registry=REGISTRY)
ERRORS = Counter(
    "gateway_errors", "Errors reported to clients, by where and stable code",
    ["source", "code"], registry=REGISTRY)
ICE_CHECKS = Counter(
    "gateway_ice_server_checks", "STUN/TURN health checks, by server kind and result",
    ["kind", "result"], registry=REGISTRY)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def error_code(code: str) -> str:
    """A label-safe code: stable codes pass, anything else (a bug) becomes ``other``."""
    return code if _CODE.match(code) else "other"


def count_error(source: str, code: str) -> None:
    """Count an error a client was told about (``source``: signaling, whip, session...)."""
    ERRORS.labels(error_code(source), error_code(code)).inc()


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """One transport's media-stream series, bound once per stream (no label lookups per
    chunk)."""

    received: Counter
    recognised: Counter
    dropped: Counter
    recognition_time: Counter
    failures: Counter
    realtime_factor: Histogram
    partial_latency: Histogram
    final_latency: Histogram

    @classmethod
    def for_transport(cls, transport: str) -> StreamMetrics:
        return cls(
            AUDIO_RECEIVED.labels(transport), AUDIO_RECOGNISED.labels(transport),
            AUDIO_DROPPED.labels(transport), RECOGNITION_TIME.labels(transport),
            RECOGNITION_FAILURES.labels(transport), REALTIME_FACTOR.labels(transport),
            RESULT_LATENCY.labels(transport, "partial"), RESULT_LATENCY.labels(transport, "final"))


@dataclass(frozen=True, slots=True)
class OutputMetrics:
    """One output kind's series (``datachannel``, ``subscriber``, ``relay``...)."""

    sent: Counter
    dropped: Counter
    discarded: Counter
    stops: Counter

    @classmethod
    def for_output(cls, name: str) -> OutputMetrics:
        return cls(OUTPUT_SENT.labels(name), OUTPUT_DROPPED.labels(name),
                   OUTPUT_DISCARDED.labels(name), OUTPUT_STOPS.labels(name))
