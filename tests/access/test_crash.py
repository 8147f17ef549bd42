"""A gateway process killed with SIGKILL mid-call: after a restart, everything up to the last
final is stored, once, in order; on SQLite and on a real PostgreSQL.

The gateway runs in its own process (tests/access/gateway_main.py: the real app with a
scripted recogniser that finalises one line a second), a real aiortc client talks to it
with a caller token, and the process is killed 0.3 s after a final reached the client,
while the next phrase is being spoken. A fresh gateway on the same database then answers
with the finals the client had received, and nothing else but possibly the one in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from gateway.auth import Role
from tests.access.calls import Calls
from tests.access.conftest import StartGateway
from tests.access.gateway_main import LINES
from tests.access.support import Apps, bearer, token
from tests.support.redis import free_port

ROOT = Path(__file__).resolve().parents[2]
KILL_AFTER_FINALS = 5


@contextlib.asynccontextmanager
async def gateway_process(database: str, apps: Apps) -> AsyncIterator[
        tuple[str, asyncio.subprocess.Process]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.access.gateway_main", "--port", str(port),
        "--database", database, "--apps-file", str(apps.path),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, "the gateway process exited before it was ready"
            if line.strip() == "ready":
                break
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_gateway_killed_mid_call_keeps_every_final_it_delivered(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession,
        database: str) -> None:
    service = await apps.add(Role.SERVICE)
    calls = Calls()
    async with gateway_process(database, apps) as (url, process):
        caller = await token(http, url, service, role="caller", conversationIds=["crash-1"])
        greta = await calls.join(url, caller, "Greta", None, 40, title="Renewal")
        await greta.client.wait_result(
            lambda _m: len(greta.finals()) >= KILL_AFTER_FINALS, timeout=30)
        await asyncio.sleep(0.3)
        delivered = [m["id"] for m in greta.finals()]  # no await until the kill
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert process.returncode == -signal.SIGKILL
    await calls.close()
    assert time.monotonic() - killed_at < 5

    # The restarted gateway closes the call its predecessor left open, after 2 s unheard.
    gw = await gateways(database=database, abandoned_after=2.0)
    secret = await token(http, gw.url, service)
    async with http.get(f"{gw.url}/v1/conversations/crash-1/messages",
                        headers=bearer(secret)) as r:
        assert r.status == 200, await r.text()
        stored = (await r.json())["messages"]
    ids = [m["id"] for m in stored]
    assert ids[:len(delivered)] == delivered, "a delivered final is missing or out of order"
    assert len(ids) <= len(delivered) + 1, "more than the final in flight beyond the last"
    assert [m["text"].lower().rstrip(".") for m in stored] == [
        line.text for line in LINES[:len(stored)]]
    # It never ended (the gateway died mid-call): the restarted gateway gives it the end
    # the store last heard of it: no later than the kill, after the last final began.
    deadline = time.monotonic() + 10
    while True:
        async with http.get(f"{gw.url}/v1/conversations/crash-1",
                            headers=bearer(secret)) as r:
            conversation = await r.json()
        if conversation["endTime"] is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert conversation["name"] == "Renewal"
    assert [m["name"] for m in conversation["members"]] == ["Greta"]
    ended = datetime.fromisoformat(conversation["endTime"].replace("Z", "+00:00"))
    # (A message's times are on the call's audio clock, which may run ~0.1 s ahead of the
    # wall clock its publication was stamped with: compare with the final's start.)
    last_final = datetime.fromisoformat(stored[-1]["startTime"].replace("Z", "+00:00"))
    assert last_final <= ended <= killed_wall, (last_final, ended, killed_wall)

