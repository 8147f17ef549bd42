"""The worker pool: where blocking work (recognition, insights) runs, never on the loop.

Vosk's C calls and the insights engine release or barely hold the GIL, so a thread pool
sized to the cores keeps the event loop free for signaling and media I/O. One pool per
process, shared by every stream and conversation, so the machine's cores are the bound.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class WorkerPool:
    """A thread pool with an awaitable ``run``."""

    def __init__(self, workers: int | None = None, *, name: str = "worker") -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the pool. Cancelling the await does not stop the thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def aclose(self) -> None:
        """Wait for calls still running (off the loop: they may take a while), then stop."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
