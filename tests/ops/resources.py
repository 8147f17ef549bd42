"""What a process holds (resident memory, file descriptors, asyncio tasks, threads), and a
scripted recogniser that holds nothing, for soaks."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from gateway.asr.scripted import ScriptedRecognizer, ScriptedStream
from gateway.pipeline.pcm import PcmChunk
from gateway.transcript import Speaker

# Thread pools grow lazily up to their fixed size (the recognition pool, asyncio's default
# executor): bounded by configuration, not by sessions, so not counted.
POOL_THREADS = ("worker_", "asyncio_", "ThreadPoolExecutor-")


@dataclass(frozen=True)
class Held:
    rss_mb: float
    fds: int
    tasks: int
    threads: int  # outside the thread pools

    def __sub__(self, other: Held) -> Held:
        return Held(round(self.rss_mb - other.rss_mb, 1), self.fds - other.fds,
                    self.tasks - other.tasks, self.threads - other.threads)


def session_threads() -> int:
    return sum(1 for t in threading.enumerate() if not t.name.startswith(POOL_THREADS))


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def held_now(settle: float = 1.0) -> Held:
    """This process's holdings once closing connections had time to finish."""
    await asyncio.sleep(settle)
    gc.collect()
    return Held(round(rss_mb(), 1), len(os.listdir("/proc/self/fd")),
                len(asyncio.all_tasks()), session_threads())


class ForgetfulRecognizer(ScriptedRecognizer):
    """The scripted recogniser without its test memory: ``ScriptedRecognizer`` keeps every
    stream and every chunk it was fed (for assertions), which a soak would mistake for the
    gateway leaking. This one lets a closed stream go."""

    async def open_stream(self, speaker: Speaker) -> ScriptedStream:
        stream = await super().open_stream(speaker)
        self.streams.remove(stream)
        stream.chunks = _Discard()
        return stream


class _Discard(list[PcmChunk]):
    def append(self, chunk: PcmChunk) -> None:
        pass
