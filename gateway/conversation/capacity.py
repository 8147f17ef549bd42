"""How many sessions this process can hold, from what its sessions are measured to cost.

Capacity is CPU: a session costs decoding, resampling, voice detection, recognition and
insights, all of it in this process, and the machine has so many cores. So the estimator
measures the process's CPU time (every thread) per session-second while sessions are
open, keeps an exponentially weighted average of it, and divides the cores it may use by
that cost:

    capacity = floor(cores * target / cost)

* ``cost`` starts at :data:`PRIOR_COST`, measured by the load benchmark for dense speech
  (a caller talking all the time, the most expensive kind; docs/performance.md), so a
  fresh gateway admits what it can hold even if every caller talks non-stop.
* Measured cost replaces the prior as session-seconds accumulate, **asymmetrically**: a
  rise is believed within ``tau_up`` session-seconds (tens of seconds at a few calls), a
  fall only over ``tau_down``: quiet callers (the gate makes silence nearly free) raise the
  capacity slowly, so callers who all start talking at once do not find it overbooked.
* CPU time does not see other processes taking the cores. The worker pool's busy
  fraction (wall time of its jobs, which stretches when the machine is oversubscribed,
  whoever is to blame) does: above ``saturation`` the gateway refuses new sessions
  whatever the count says (:attr:`Load.saturated`), before the running ones fall behind.

The estimator is fed by :meth:`CapacityEstimator.observe` (admission calls it on every
admit and release) and by :meth:`monitor`, a once-a-second task the application runs.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.workers import PoolStats

PRIOR_COST = 0.17
"""CPU-seconds per session-second of a dense-speech call through the whole gateway (Silero
gate, Vosk small-en-us with max-active 2000, Opus decode, insights): the server's
"CPU/aud-s" of ``bench/load.py --mode dense`` at 4-12 calls on the 2-core reference machine
(0.153-0.188; docs/performance.md). Re-measure it for another model or machine."""
TARGET = 0.8
"""Share of the cores sessions may use: the rest absorbs bursts and the event loop."""
SATURATION = 0.9
"""Worker-pool busy fraction above which recognition no longer keeps up for long."""


def available_cores() -> float:
    """CPUs this process may use: its affinity, further limited by a cgroup v2 quota."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = float(os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return max(cores, 0.1)


@dataclass(frozen=True, slots=True)
class Estimate:
    capacity: int
    cost: float
    """CPU-seconds per session-second (the average used for ``capacity``)."""
    cores: float
    pool_busy: float
    """The worker pool's recent busy fraction (0..1; wall time of jobs / workers)."""
    saturated: bool
    measured_seconds: float
    """Session-seconds measured so far (0: the capacity is the prior's)."""


class CapacityEstimator:
    def __init__(self, *, pool_stats: Callable[[], PoolStats] | None = None,
                 cores: float | None = None, prior_cost: float = PRIOR_COST,
                 target: float = TARGET, saturation: float = SATURATION,
                 tau_up: float = 30.0, tau_down: float = 600.0, pool_tau: float = 5.0,
                 cpu_clock: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if prior_cost <= 0 or not 0 < target <= 1 or not 0 < saturation <= 1:
            raise ValueError("need prior_cost > 0, 0 < target <= 1, 0 < saturation <= 1")
        self.cores = cores if cores is not None else available_cores()
        self.target = target
        self.saturation = saturation
        self.cost = prior_cost
        self._tau_up, self._tau_down, self._pool_tau = tau_up, tau_down, pool_tau
        self._pool_stats = pool_stats
        self._cpu_clock, self._clock = cpu_clock, clock
        self._last_at = clock()
        self._last_cpu = cpu_clock()
        self._last_pool = pool_stats() if pool_stats else None
        self._in_use = 0
        self.pool_busy = 0.0
        self.measured_seconds = 0.0

    def watch_pool(self, pool_stats: Callable[[], PoolStats]) -> None:
        """Judge saturation from this pool (the application builds it after admission)."""
        self._pool_stats = pool_stats
        self._last_pool = pool_stats()

    def observe(self, in_use: int) -> None:
        """Account for the time since the last call, during which ``self._in_use`` sessions
        were open; from now on ``in_use`` are."""
        now, cpu = self._clock(), self._cpu_clock()
        elapsed = now - self._last_at
        if elapsed > 0:
            session_seconds = self._in_use * elapsed
            if session_seconds > 0:
                self._fold((cpu - self._last_cpu) / session_seconds, session_seconds)
            self._observe_pool(elapsed)
            self._last_at, self._last_cpu = now, cpu
        self._in_use = in_use

    def _fold(self, sample: float, weight: float) -> None:
        tau = self._tau_up if sample > self.cost else self._tau_down
        self.cost += (1.0 - math.exp(-weight / tau)) * (sample - self.cost)
        self.cost = max(self.cost, 1e-3)
        self.measured_seconds += weight

    def _observe_pool(self, elapsed: float) -> None:
        if self._pool_stats is None:
            return
        stats = self._pool_stats()
        last = self._last_pool
        self._last_pool = stats
        if last is None:
            return
        busy = (stats.busy_seconds - last.busy_seconds) / (stats.workers * elapsed)
        busy = min(1.0, max(0.0, busy))
        self.pool_busy += (1.0 - math.exp(-elapsed / self._pool_tau)) * (busy - self.pool_busy)

    def estimate(self) -> Estimate:
        capacity = max(1, math.floor(self.cores * self.target / self.cost))
        return Estimate(capacity, self.cost, self.cores, self.pool_busy,
                        self.pool_busy >= self.saturation, self.measured_seconds)

    async def monitor(self, in_use: Callable[[], int], interval: float = 1.0) -> None:
        """Observe once per ``interval`` for ever (run as a task; cancel to stop)."""
        while True:
            await asyncio.sleep(interval)
            self.observe(in_use())
