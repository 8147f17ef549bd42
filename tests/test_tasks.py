"""TaskSet: the held, logged, closable background tasks of sessions and the cluster node."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.tasks import TaskSet


async def test_tasks_are_held_until_done_and_failures_are_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet("session s1")

    async def fail() -> None:
        raise RuntimeError("boom")

    done = asyncio.Event()
    tasks.spawn(done.wait())
    tasks.spawn(fail())
    assert len(tasks) == 2
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(tasks) == 1  # the failed one is let go, the waiting one held
    assert any("session s1: task failed" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)
    done.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_closing_starts_nothing_new_and_cancel_all_spares_the_caller() -> None:
    tasks = TaskSet("whip w1")
    sleeper = tasks.spawn(asyncio.sleep(60))
    outcome: list[bool] = []

    async def teardown() -> None:
        tasks.cancel_all()
        await asyncio.sleep(0)
        outcome.append(True)  # the teardown itself ran on

    await tasks.spawn(teardown())
    assert outcome == [True] and tasks.closing
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    late = tasks.spawn(asyncio.sleep(60))  # a callback firing during teardown
    with pytest.raises(asyncio.CancelledError):
        await late
