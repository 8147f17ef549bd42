"""One run: a fresh server, N caller processes connected, one GO, measure until all hang up.

Phases, each measured separately so setup never pollutes the streaming figures:

1. start the server; its idle RSS (model loaded) is the memory baseline;
2. start N caller processes; each connects and reports READY while sending silence
   (connection setup CPU is counted apart, as ``connect_cpu_s``);
3. GO to all at once; the streaming window runs until the last caller has received its
   last result and hung up. Server tree CPU, machine busy time and the server's RSS (every
   0.5 s) are taken over that window; each caller reports its own CPU for it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import servers
from .metrics import measure
from .procstat import Sampler
from .report import summarize_run
from .script import load_script

CALLER_MODULE = "bench.load_harness.caller"
RESULT_LINE_LIMIT = 32 * 1024 * 1024  # a caller's RESULT line holds its whole arrival log


@dataclass
class RunConfig:
    target: str
    mode: str
    calls: int
    model: str
    peer_dir: Path
    workdir: Path  # logs of this run go here
    scripts: list[Path]  # caller-<k>.json for k in range(calls) (at least)
    gateway_args: list[str] = field(default_factory=list)
    idle: float = 3.0
    drain: float = 30.0
    ready_timeout: float = 180.0


@dataclass
class Caller:
    index: int
    proc: asyncio.subprocess.Process
    ready: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


async def _read_until(caller: Caller, prefixes: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    assert caller.proc.stdout is not None
    while True:
        line = (await caller.proc.stdout.readline()).decode()
        if not line:
            return "RESULT", {"ok": False, "error": "caller exited without a result"}
        for prefix in prefixes:
            if line.startswith(prefix + " "):
                return prefix, json.loads(line[len(prefix) + 1:])


async def _spawn_caller(cfg: RunConfig, server: servers.Server, index: int) -> Caller:
    log = (cfg.workdir / f"caller-{index}.log").open("wb")
    with log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", CALLER_MODULE, "--target", cfg.target, "--url", server.url,
            "--script", str(cfg.scripts[index]), "--name", f"caller-{index}",
            "--idle", str(cfg.idle), "--drain", str(cfg.drain),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            cwd=servers.REPO_ROOT, limit=RESULT_LINE_LIMIT)
    return Caller(index, proc)


async def _connect(caller: Caller) -> None:
    kind, data = await _read_until(caller, ("READY", "RESULT"))
    if kind == "READY":
        caller.ready = data
    else:
        caller.result = data


async def _finish(caller: Caller) -> None:
    if caller.result is None:
        _, caller.result = await _read_until(caller, ("RESULT",))
    await caller.proc.wait()


async def run_once(cfg: RunConfig) -> dict[str, Any]:
    """Run ``cfg.calls`` callers against a fresh ``cfg.target``; the run's JSON record."""
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    phases: dict[str, float] = {}
    mark = time.monotonic()
    server = await servers.start(cfg.target, model=cfg.model, log=cfg.workdir / "server.log",
                                 peer_dir=cfg.peer_dir, gateway_args=cfg.gateway_args)
    phases["server_start_s"] = time.monotonic() - mark
    sampler = Sampler(server.pid)
    callers: list[Caller] = []
    try:
        await asyncio.sleep(1.0)  # let start-up work (model mapping, JIT-ish warm-up) settle
        idle = sampler.sample()
        callers = [await _spawn_caller(cfg, server, k) for k in range(cfg.calls)]
        await asyncio.wait_for(asyncio.gather(*(_connect(c) for c in callers)),
                               cfg.ready_timeout)
        connected = sampler.sample()
        phases["callers_ready_s"] = connected.at - idle.at
        ready = [c for c in callers if c.ready is not None]
        sampler.start()
        go = sampler.sample()
        for c in ready:
            assert c.proc.stdin is not None
            c.proc.stdin.write(b"GO\n")
        await asyncio.gather(*(c.proc.stdin.drain() for c in ready if c.proc.stdin))
        longest = max((load_script(cfg.scripts[c.index])[0]["duration"] for c in ready),
                      default=0.0)
        await asyncio.wait_for(asyncio.gather(*(_finish(c) for c in callers)),
                               longest + cfg.drain + 120)
        end = sampler.sample()
        phases["streaming_s"] = end.at - go.at
    finally:
        await sampler.stop()
        for c in callers:
            if c.proc.returncode is None:
                c.proc.kill()
                await c.proc.wait()
        mark = time.monotonic()
        exit_code = await server.stop()
        phases["server_stop_s"] = time.monotonic() - mark
    calls = [_call_record(cfg, c) for c in callers]
    return summarize_run(
        target=cfg.target, mode=cfg.mode, started=started, calls=calls,
        server={"url": server.url, "exit": exit_code, "log": str(server.log),
                "log_counts": servers.log_counts(server.log)},
        phases={k: round(v, 2) for k, v in phases.items()},
        window={"seconds": end.at - go.at, "server_cpu_s": end.cpu - go.cpu,
                "machine_busy_s": end.machine - go.machine,
                "connect_cpu_s": connected.cpu - idle.cpu,
                "rss_idle": idle.rss, "rss_connected": connected.rss,
                "rss_peak": sampler.peak_rss(since=go.at)},
    )


def _call_record(cfg: RunConfig, caller: Caller) -> dict[str, Any]:
    """One caller's result plus its metrics against its own script."""
    result = caller.result or {"ok": False, "error": "no result"}
    record: dict[str, Any] = {"caller": caller.index, "ok": bool(result.get("ok"))}
    if not record["ok"]:
        record["error"] = result.get("error")
        return record
    data, utterances = load_script(cfg.scripts[caller.index])
    sent = result["sent"]
    metrics = measure([(s[0], s[1], u.transcript) for s, u in zip(sent, utterances, strict=True)],
                      result["events"])
    record.update({
        "audio_seconds": data["duration"],
        "connect_seconds": result["connect_seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "lateness": result["lateness"],
        "marks": result["marks"],
        "sent": sent,
        "metrics": metrics.to_json(),
        "events": result["events"],
    })
    return record
