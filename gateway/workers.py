"""The worker pool: where blocking work (recognition, insights) runs, never on the loop.

Vosk's C calls and the insights engine release or barely hold the GIL, so a thread pool
sized to the cores keeps the event loop free for signaling and media I/O. One pool per
process, shared by every stream and conversation, so the machine's cores are the bound.

The pool also measures itself: how long its jobs ran (wall time, which grows when the
machine is oversubscribed, whoever is to blame) and how long they waited for a worker.
Admission reads these to tell whether recognition still keeps up (``PoolStats``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters since the pool started; rates come from the difference of two snapshots."""

    workers: int
    jobs: int
    """Jobs finished."""
    busy_seconds: float
    """Sum of the jobs' wall time (start to end in a worker)."""
    wait_seconds: float
    """Sum of the time jobs waited for a free worker."""
    waiting: int
    """Jobs submitted and not started yet (a snapshot)."""


class WorkerPool:
    """A thread pool with an awaitable ``run`` that accounts for its jobs' time."""

    def __init__(self, workers: int | None = None, *, name: str = "worker") -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._jobs = 0
        self._busy = 0.0
        self._wait = 0.0
        self._submitted = 0
        self._started = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the pool. Cancelling the await does not stop the thread."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._submitted += 1
        return await loop.run_in_executor(self._executor, self._timed, fn, args,
                                          time.perf_counter())

    def _timed(self, fn: Callable[..., T], args: tuple[object, ...], submitted: float) -> T:
        start = time.perf_counter()
        with self._lock:
            self._started += 1
            self._wait += start - submitted
        try:
            return fn(*args)
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self._jobs += 1
                self._busy += elapsed

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(self.workers, self._jobs, self._busy, self._wait,
                             self._submitted - self._started)

    async def aclose(self) -> None:
        """Wait for calls still running (off the loop: they may take a while), then stop."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
