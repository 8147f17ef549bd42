"""Live gauges of one running gateway, computed when Prometheus scrapes.

Counting up and down as sessions come and go would drift on every missed decrement; the
truth is in the transports' tables, the directory, the bus and admission, so the gauges are
read from there at scrape time (a few dict walks; thousands of sessions cost well under a
millisecond). Bound to one application, so several gateways in one process (tests) each
report their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import __version__
from gateway.http.keys import (
    ADMISSION_KEY,
    BUS_KEY,
    CONFIG_KEY,
    DIRECTORY_KEY,
    ICE_KEY,
    POOL_KEY,
    RECOGNIZER_KEY,
)
from gateway.pipeline.gate import SpeechGate
from gateway.store import STORE_KEY

from . import metrics
from .live import LIVE_KEY, session_state
from .readiness import readiness


class SharedMetrics(Collector):
    """The process-wide counters and histograms, inside an application's registry."""

    def collect(self) -> Iterable[Metric]:
        return metrics.REGISTRY.collect()


class GatewayCollector(Collector):
    """Gauges read from one application's parts."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        app = self._app
        yield from self._status()
        yield from self._admission()
        if LIVE_KEY in app:
            yield from self._sessions()
        if DIRECTORY_KEY in app:
            yield from self._conversations()
        if BUS_KEY in app:
            yield from self._outputs()
        if STORE_KEY in app:
            yield from self._store()
        yield from self._turn()
        yield from self._runtime()

    def _status(self) -> Iterator[Metric]:
        app = self._app
        recognizer = app[RECOGNIZER_KEY].name if RECOGNIZER_KEY in app else "none"
        info = GaugeMetricFamily("gateway_info", "Version and configuration (value 1)",
                                 labels=["version", "recognizer", "language"])
        info.add_metric([__version__, recognizer, app[CONFIG_KEY].language], 1)
        yield info
        state = readiness(app)
        yield GaugeMetricFamily("gateway_ready", "1 when /readyz says ready", value=state.ready)
        yield GaugeMetricFamily("gateway_draining", "1 while draining before shutdown",
                                value=state.reason == "draining")

    def _admission(self) -> Iterator[Metric]:
        admission = self._app[ADMISSION_KEY]
        yield GaugeMetricFamily("gateway_admission_capacity", "Session limit (--max-sessions)",
                                value=admission.capacity)
        in_use = GaugeMetricFamily("gateway_admission_in_use",
                                   "Admission tickets held, by transport", labels=["transport"])
        for kind, count in sorted(admission.by_kind().items()):
            in_use.add_metric([kind], count)
        yield in_use
        load = admission.load()
        yield GaugeMetricFamily("gateway_admission_saturated",
                                "1 while the worker pool is busy beyond the saturation "
                                "threshold (measured limit: new sessions refused)",
                                value=load.saturated)
        if load.cost is not None:
            yield GaugeMetricFamily("gateway_session_cost_cpu_seconds",
                                    "Measured CPU-seconds per session-second (the capacity "
                                    "estimate's input)", value=load.cost)
        if load.pool_busy is not None:
            yield GaugeMetricFamily("gateway_worker_pool_busy_ratio",
                                    "Fraction of the recognition workers' time spent in jobs "
                                    "(recent)", value=load.pool_busy)
        if POOL_KEY in self._app:
            stats = self._app[POOL_KEY].stats()
            yield CounterMetricFamily("gateway_worker_pool_jobs", "Recognition jobs finished",
                                      value=stats.jobs)
            yield CounterMetricFamily("gateway_worker_pool_wait_seconds",
                                      "Time jobs waited for a free worker",
                                      value=stats.wait_seconds)
        gate = self._app.get(RECOGNIZER_KEY)
        if isinstance(gate, SpeechGate):
            g = gate.stats
            yield CounterMetricFamily("gateway_gate_audio_seconds",
                                      "Audio that reached the speech gate", value=g.audio_seconds)
            yield CounterMetricFamily("gateway_gate_forwarded_seconds",
                                      "Audio the gate passed to the recogniser (speech and "
                                      "padding); the rest was silence it saved",
                                      value=g.forwarded_seconds)
            endpoints = CounterMetricFamily("gateway_gate_endpoints",
                                            "Phrases ended by the gate", labels=["reason"])
            for reason, count in sorted(g.endpoints.items()):
                endpoints.add_metric([reason], count)
            yield endpoints

    def _sessions(self) -> Iterator[Metric]:
        states: Counter[tuple[str, str]] = Counter()
        queued: Counter[str] = Counter()
        deepest: dict[str, int] = {}
        for transport, session in self._app[LIVE_KEY].items():
            states[(transport, session_state(session))] += 1
            stream = session.stream
            if stream is not None:
                queued[transport] += stream.queued
                deepest[transport] = max(deepest.get(transport, 0), stream.queued)
        family = GaugeMetricFamily("gateway_sessions", "Open sessions by transport and state",
                                   labels=["transport", "state"])
        for (transport, state), count in sorted(states.items()):
            family.add_metric([transport, state], count)
        yield family
        total = GaugeMetricFamily(
            "gateway_audio_queued_chunks",
            "Audio chunks waiting for the recogniser, summed over streams", labels=["transport"])
        worst = GaugeMetricFamily("gateway_audio_queue_max_chunks",
                                  "The deepest single stream's queue", labels=["transport"])
        for transport in self._app[LIVE_KEY].transports:
            total.add_metric([transport], queued.get(transport, 0))
            worst.add_metric([transport], deepest.get(transport, 0))
        yield total
        yield worst

    def _conversations(self) -> Iterator[Metric]:
        live = self._app[DIRECTORY_KEY].live()
        family = GaugeMetricFamily(
            "gateway_conversations",
            "Live conversations: waiting (no audio yet) or active", labels=["state"])
        active = sum(1 for c in live if c.start is not None)
        family.add_metric(["waiting"], len(live) - active)
        family.add_metric(["active"], active)
        yield family
        yield GaugeMetricFamily("gateway_participants", "Participants in live conversations",
                                value=sum(len(c.members) for c in live))

    def _outputs(self) -> Iterator[Metric]:
        bus = self._app[BUS_KEY]
        attached: Counter[str] = Counter()
        backlog: Counter[str] = Counter()
        conversations = bus.conversations()
        for conversation_id in conversations:
            for sink in bus.outputs(conversation_id):
                name = getattr(sink, "name", "other")
                attached[name] += 1
                backlog[name] += int(getattr(sink, "queued", 0))
        outputs = GaugeMetricFamily("gateway_outputs", "Outputs attached to the bus, by kind",
                                    labels=["output"])
        queued = GaugeMetricFamily(
            "gateway_output_backlog", "Items waiting in outputs' backlogs, by kind",
            labels=["output"])
        for name in sorted(attached):
            outputs.add_metric([name], attached[name])
            queued.add_metric([name], backlog[name])
        yield outputs
        yield queued
        yield GaugeMetricFamily(
            "gateway_bus_conversations",
            "Conversations with outputs attached (live, or watched before their call)",
            value=len(conversations))

    def _store(self) -> Iterator[Metric]:
        store = self._app[STORE_KEY]
        s = store.sink.stats
        yield GaugeMetricFamily("gateway_store_pending",
                                "Results waiting for the database (bounded: beyond the limit "
                                "the oldest are dropped)", value=store.sink.pending)
        results = CounterMetricFamily("gateway_store_results",
                                      "Results the store handled, by outcome", labels=["outcome"])
        for outcome, count in (("stored", s.stored), ("skipped", s.skipped),
                               ("dropped", s.dropped), ("rejected", s.rejected),
                               ("suppressed", s.suppressed)):
            results.add_metric([outcome], count)
        yield results
        commits = CounterMetricFamily("gateway_store_commits", "Database transactions",
                                      labels=["result"])
        commits.add_metric(["ok"], s.commits)
        commits.add_metric(["failed"], s.failed_commits)
        yield commits
        if store.keeper is not None:
            yield CounterMetricFamily(
                "gateway_store_abandoned_closed",
                "Open conversations of killed gateways this gateway closed (--abandoned-after)",
                value=store.keeper.closed)

    def _turn(self) -> Iterator[Metric]:
        ice = self._app[ICE_KEY]
        if ice.settings.turn_urls:
            yield GaugeMetricFamily(
                "gateway_turn_healthy", "1 when the last TURN health check succeeded",
                value=ice.turn_healthy)

    def _runtime(self) -> Iterator[Metric]:
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # scraped off the loop (a test calling collect directly)
            tasks = 0
        yield GaugeMetricFamily("gateway_asyncio_tasks", "Pending asyncio tasks", value=tasks)
        yield GaugeMetricFamily("gateway_threads", "Live Python threads",
                                value=threading.active_count())


def app_registry(app: web.Application) -> CollectorRegistry:
    """What ``/metrics`` of ``app`` exposes: the shared series and ``app``'s gauges."""
    registry = CollectorRegistry()
    registry.register(SharedMetrics())
    registry.register(GatewayCollector(app))
    return registry
