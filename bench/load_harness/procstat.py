"""CPU time and resident memory of a process tree, and of the whole machine, from /proc.

The server under test may run threads (both do) and could start helper processes, so its
cost is that of its whole tree: every live descendant's user+system time, plus what exited
children left in their parent's ``cutime``/``cstime``. The machine's busy time tells whether
anything besides the server and the callers was using the cores (the run is only
trustworthy on an otherwise quiet machine).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int, tree: list[int] | None = None) -> float:
    """User+system CPU seconds of ``root``'s tree (``tree`` if already listed), including
    reaped children."""
    total = 0
    for pid in tree if tree is not None else process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        # After the ')' : state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / TICK


def tree_rss_bytes(root: int, tree: list[int] | None = None) -> int:
    """Resident set size of ``root``'s tree (shared pages counted once per process)."""
    total = 0
    for pid in tree if tree is not None else process_tree(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (``/proc/stat``, iowait as idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


@dataclass(slots=True)
class Sample:
    at: float  # monotonic
    cpu: float  # server tree CPU seconds
    rss: int  # server tree RSS bytes
    machine: float  # machine busy CPU seconds


@dataclass
class Sampler:
    """Samples the server tree (and the machine) every ``period`` s while running."""

    pid: int
    period: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def sample(self) -> Sample:
        tree = process_tree(self.pid)
        s = Sample(time.monotonic(), tree_cpu_seconds(self.pid, tree),
                   tree_rss_bytes(self.pid, tree), machine_busy_seconds())
        self.samples.append(s)
        return s

    async def _loop(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.period)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def peak_rss(self, since: float = 0.0) -> int:
        return max((s.rss for s in self.samples if s.at >= since), default=0)
