"""The servers under test, started as their users start them, one fresh process per run.

A fresh process per run means one level's leftovers (a collapsed run's queues, sessions the
peer never frees) cannot slow the next, and the idle RSS before the calls is a clean
baseline for memory per session.

* gateway: ``python -m gateway --port 0 --model $VOSK_MODEL`` from the repository (plus any
  ``--server-arg`` flags), ready when it prints ``gateway listening on http://…/``;
* peer: ``python asr_server_webrtc.py`` in a checkout of alphacep/vosk-server's ``webrtc/``
  folder outside the repository (see bench/peer/README.md), configured by its own
  environment variables ``VOSK_MODEL_PATH`` and ``VOSK_SERVER_PORT``; ready when ``GET /``
  answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[2]
PEER_SCRIPT = "asr_server_webrtc.py"
_LISTENING = re.compile(r"gateway listening on (http://\S+?)/?$", re.MULTILINE)


@dataclass
class Server:
    """A running server process and where to reach it."""

    target: str
    url: str
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 20 s; returns the exit status."""
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


def log_counts(log: Path) -> dict[str, Any]:
    """How often the server complained: Python logging WARNING/ERROR lines and tracebacks
    (the gateway logs overload as WARNING; the peer only ever prints tracebacks), with the
    first few warnings as examples."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    lines = text.splitlines()
    warnings = [line for line in lines if " WARNING " in line]
    return {"warnings": len(warnings), "errors": sum(" ERROR " in line for line in lines),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "first_warnings": warnings[:3]}


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (for a server that cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _spawn(cmd: Sequence[str], log: Path, cwd: Path,
                 env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
            cwd=cwd, env=env)


def _died(proc: asyncio.subprocess.Process, log: Path) -> None:
    """Raise with the log's tail if the server exited while we waited for it."""
    if proc.returncode is not None:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"server exited with {proc.returncode}:\n{tail}")


def _listening_url(log: Path) -> str | None:
    match = _LISTENING.search(log.read_text(errors="replace"))
    return match.group(1) if match else None


async def start_gateway(model: str, log: Path, extra: Sequence[str] = (),
                        timeout: float = 90) -> Server:
    cmd = [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", "0",
           "--model", model, "--log-level", "warning", *extra]
    proc = await _spawn(cmd, log, REPO_ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _died(proc, log)
        url = _listening_url(log)
        if url:
            return Server("gateway", url, proc, log)
        await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gateway not listening after {timeout} s; see {log}")


async def start_peer(peer_dir: Path, model: str, log: Path, timeout: float = 90) -> Server:
    script = peer_dir / PEER_SCRIPT
    if not script.is_file():
        raise RuntimeError(f"no {script}: fetch the peer first (bench/peer/README.md)")
    port = free_port()
    env = dict(os.environ, VOSK_MODEL_PATH=model, VOSK_SERVER_PORT=str(port))
    proc = await _spawn([sys.executable, str(script)], log, peer_dir, env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            _died(proc, log)
            try:
                async with http.get(url + "/", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return Server("peer", url, proc, log)
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"peer not answering after {timeout} s; see {log}")


async def start(target: str, *, model: str, log: Path, peer_dir: Path,
                gateway_args: Sequence[str] = ()) -> Server:
    """Start ``target`` ("gateway" or "peer") with ``model``; output goes to ``log``."""
    if target == "gateway":
        return await start_gateway(model, log, gateway_args)
    if target == "peer":
        return await start_peer(peer_dir, model, log)
    raise ValueError(f"unknown target {target!r}")
