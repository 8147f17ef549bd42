"""Capacity from measured cost, and admission by it: clocks and pool counters are driven by
hand, so every number below follows from the arithmetic in gateway/conversation/capacity.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.conversation.admission import LocalAdmission, Refused
from gateway.conversation.capacity import CapacityEstimator
from gateway.workers import PoolStats


class Machine:
    """A wall clock, the process's CPU clock and the pool's counters, advanced by hand."""

    def __init__(self, workers: int = 2) -> None:
        self.now = 0.0
        self.cpu = 0.0
        self.busy = 0.0
        self.workers = workers

    def run(self, seconds: float, *, cpu_per_second: float = 0.0,
            pool_busy: float = 0.0) -> None:
        self.now += seconds
        self.cpu += cpu_per_second * seconds
        self.busy += pool_busy * self.workers * seconds

    def stats(self) -> PoolStats:
        return PoolStats(self.workers, 0, self.busy, 0.0, 0)

    def estimator(self, **kw: float) -> CapacityEstimator:
        return CapacityEstimator(pool_stats=self.stats, cpu_clock=lambda: self.cpu,
                                 clock=lambda: self.now, **kw)


def test_a_fresh_gateway_admits_what_the_prior_cost_allows() -> None:
    m = Machine()
    estimate = m.estimator(cores=2.0, prior_cost=0.2).estimate()
    assert estimate.capacity == 8  # floor(2 cores * 0.8 / 0.2)
    assert estimate.measured_seconds == 0 and not estimate.saturated


def test_a_higher_measured_cost_lowers_the_capacity_within_seconds() -> None:
    m = Machine()
    e = m.estimator(cores=2.0, prior_cost=0.2)
    e.observe(4)
    for _ in range(10):  # 4 sessions costing 0.5 CPU-s per second each, for 10 s
        m.run(1.0, cpu_per_second=2.0)
        e.observe(4)
    estimate = e.estimate()
    assert estimate.measured_seconds == pytest.approx(40.0)
    assert estimate.cost > 0.4 and estimate.capacity == 3


def test_a_lower_measured_cost_raises_the_capacity_only_slowly() -> None:
    m = Machine()
    e = m.estimator(cores=2.0, prior_cost=0.2)
    e.observe(4)
    for _ in range(10):  # 4 quiet sessions: 0.05 CPU-s per second each
        m.run(1.0, cpu_per_second=0.2)
        e.observe(4)
    assert e.estimate().capacity == 8  # 40 session-seconds barely move it
    for _ in range(600):  # ten minutes of them
        m.run(1.0, cpu_per_second=0.2)
        e.observe(4)
    assert e.estimate().capacity >= 25


def test_time_without_sessions_measures_nothing() -> None:
    m = Machine()
    e = m.estimator(cores=2.0, prior_cost=0.2)
    e.observe(0)
    m.run(60.0, cpu_per_second=1.5)  # start-up work, other users of the process
    e.observe(0)
    assert e.cost == 0.2 and e.measured_seconds == 0


def test_a_busy_pool_is_saturation_whatever_the_cpu_clock_says() -> None:
    m = Machine()
    e = m.estimator(cores=2.0, prior_cost=0.2)
    e.observe(2)
    for _ in range(20):  # other processes take the cores: the pool's jobs stretch
        m.run(1.0, cpu_per_second=0.3, pool_busy=0.97)
        e.observe(2)
    assert e.estimate().saturated and e.pool_busy > 0.9
    for _ in range(20):
        m.run(1.0, cpu_per_second=0.3, pool_busy=0.3)
        e.observe(2)
    assert not e.estimate().saturated


def test_admission_refuses_at_the_measured_capacity_and_says_why() -> None:
    m = Machine()
    admission = LocalAdmission(estimator=m.estimator(cores=1.0, prior_cost=0.25))
    tickets = [admission.admit("webrtc") for _ in range(3)]  # floor(0.8 / 0.25) = 3
    with pytest.raises(Refused) as refused:
        admission.admit("webrtc")
    assert refused.value.code == "server_busy"
    assert "measured capacity of 3" in refused.value.message
    load = admission.load()
    assert (load.in_use, load.capacity, load.limit, load.accepting) == (3, 3, "measured", False)
    assert load.utilisation == 1.0 and admission.refusals["server_busy"] == 1
    tickets[0].release()
    tickets[0].release()  # idempotent
    assert admission.load().accepting
    admission.admit("symbl")
    assert admission.by_kind() == {"webrtc": 2, "symbl": 1}


def test_admission_refuses_while_saturated_even_below_capacity() -> None:
    m = Machine()
    admission = LocalAdmission(estimator=m.estimator(cores=2.0, prior_cost=0.2))
    admission.admit("webrtc")
    for _ in range(20):
        m.run(1.0, cpu_per_second=0.2, pool_busy=1.0)
        assert admission.load().in_use == 1
        admission.estimator.observe(1)  # type: ignore[union-attr]
    load = admission.load()
    assert load.saturated and not load.accepting and load.utilisation == 1.0
    with pytest.raises(Refused) as refused:
        admission.admit("webrtc")
    assert refused.value.code == "server_busy" and "fully busy" in refused.value.message


def test_a_fixed_limit_is_the_operators_word() -> None:
    m = Machine()
    admission = LocalAdmission(2, estimator=m.estimator(cores=2.0, prior_cost=0.2))
    admission.admit("webrtc")
    for _ in range(20):  # saturated, but the operator fixed the limit: reported only
        m.run(1.0, pool_busy=1.0)
        admission.estimator.observe(1)  # type: ignore[union-attr]
    admission.admit("webrtc")
    load = admission.load()
    assert load.limit == "fixed" and load.capacity == 2 and load.saturated
    with pytest.raises(Refused) as refused:
        admission.admit("webrtc")
    assert "limit of 2" in refused.value.message
    body = load.to_json()
    assert body["inUse"] == 2 and body["capacity"] == 2 and body["limit"] == "fixed"
    assert set(body) == {"inUse", "capacity", "utilisation", "limit", "accepting", "saturated",
                         "costPerSession", "poolBusy", "cores"}


def test_draining_refuses_with_shutting_down() -> None:
    admission = LocalAdmission(5)
    admission.drain()
    with pytest.raises(Refused) as refused:
        admission.admit("webrtc")
    assert refused.value.code == "shutting_down"
    assert admission.load().accepting is False


def test_a_saturated_gateway_is_not_ready_and_says_so(tmp_path: Path) -> None:
    from gateway.app import create_app
    from gateway.asr.scripted import ScriptedRecognizer
    from gateway.config import GatewayConfig
    from gateway.http.keys import ADMISSION_KEY, RECOGNIZER_KEY
    from gateway.observability.readiness import readiness

    m = Machine()
    app = create_app(GatewayConfig(), None, recognizer=ScriptedRecognizer([]))
    admission = LocalAdmission(estimator=m.estimator(cores=2.0, prior_cost=0.2))
    app[ADMISSION_KEY] = admission
    app[RECOGNIZER_KEY] = ScriptedRecognizer([])
    assert readiness(app).ready
    admission.admit("webrtc")
    for _ in range(20):
        m.run(1.0, cpu_per_second=0.2, pool_busy=1.0)
        admission.estimator.observe(1)  # type: ignore[union-attr]
    state = readiness(app)
    assert not state.ready and state.reason == "saturated" and "busy" in (state.message or "")
    body = state.to_json()
    assert body["reason"] == "saturated" and body["load"]["saturated"] is True
