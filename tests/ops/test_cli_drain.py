"""``python -m gateway`` as an orchestrator runs it: SIGTERM drains, JSON logs on stderr."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack

from tests.rtc_client import GatewayClient

pytestmark = pytest.mark.slow


class Cli:
    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(json.loads(raw))  # every line is one JSON object

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.kill()
        code = await self.proc.wait()
        await self._reader
        return code


async def start(model_path: Path, *args: str) -> Cli:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--port", "0", "--model", str(model_path),
        "--log-format", "json", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=os.environ.copy())
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"listening on (http://\S+?)/?$", line.strip())
    assert match, line
    return Cli(proc, match.group(1))


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, await r.json()


async def connected_call(url: str) -> GatewayClient:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    await client.offer({"conversationId": "rolling"})
    await asyncio.wait_for(client.connected.wait(), 10)
    return client


async def test_sigterm_drains_until_the_call_ends(model_path: Path) -> None:
    cli = await start(model_path, "--drain-timeout", "60")
    client = await connected_call(cli.url)
    try:
        cli.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        status, body = await get(f"{cli.url}/readyz")
        load = body.pop("load")
        assert (status, body) == (503, {
            "status": "not_ready", "reason": "draining", "sessions": 1,
            "maxSessions": load["capacity"],  # measured on this machine
            "message": "the gateway is draining before shutdown; send new calls elsewhere"})
        assert load["inUse"] == 1 and load["accepting"] is False
        assert (await get(f"{cli.url}/healthz"))[0] == 200
        await asyncio.sleep(1.0)
        assert cli.proc.returncode is None  # the call goes on
        await client.bye()
        assert await asyncio.wait_for(cli.proc.wait(), 15) == 0
    finally:
        await client.close()
        await cli.stop()
    messages = [line["message"] for line in cli.lines]
    assert any(m.startswith("draining: 1 open sessions") for m in messages), messages
    assert "drained: no open sessions" in messages
    assert all({"time", "level", "logger", "message"} <= set(line) for line in cli.lines)
    call_lines = [line for line in cli.lines if line.get("conversation_id") == "rolling"]
    assert call_lines, "the call's records name its conversation"


async def test_a_second_sigterm_ends_the_drain_and_flushes(model_path: Path) -> None:
    cli = await start(model_path, "--drain-timeout", "60")
    client = await connected_call(cli.url)
    try:
        cli.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        cli.proc.send_signal(signal.SIGTERM)
        await client.wait_result(
            lambda m: m.get("message", {}).get("type") == "recognition_stopped", timeout=15)
        assert await asyncio.wait_for(cli.proc.wait(), 15) == 0
    finally:
        await client.close()
        await cli.stop()
    assert "second SIGTERM: ending the drain, closing sessions now" in [
        line["message"] for line in cli.lines]
