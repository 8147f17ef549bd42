"""Signaling capacity: how many idle ``/ws`` sockets one gateway process holds, at what memory
each, and what an hour of heartbeats costs 100 idle sockets.

An idle socket is a connected signaling client that got its ``hello`` and has not offered
yet: the gateway holds its WebSocket, its handler task, its offer watchdog and its (empty)
session. The gateway runs alone in its own process (``bench/scripted_gateway.py``, offer
timeout lifted so idle sockets stay); clients run in worker processes (``--clients``) so
neither side's descriptors or memory blur the other's. Memory is the gateway's resident
set after ``malloc_trim`` (what it really holds, not what the allocator kept).

Heartbeats: the gateway pings each signaling socket every 20 s (180 pings an hour); with
``--hour-seconds`` the interval is compressed so those 180 pings happen in that time, and
the gateway's CPU over it, minus the same time idle, is the cost of an hour.

    python bench/signaling_capacity.py [--steps 1000 5000 10000] [--clients 4]
                                       [--idle 100] [--hour-seconds 90]

Prints a table; writes bench/results/signaling_capacity-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.scripted_gateway import cpu_seconds, launch, raise_fd_limit, stop  # noqa: E402
from tests.ops.scrape import scrape, total, value  # noqa: E402

HEARTBEATS_PER_HOUR = 3600 / 20
OPEN_CONCURRENCY = 100


# -- worker process: holds N idle signaling sockets ----------------------------------------

async def hold(url: str, count: int) -> None:
    """Open ``count`` sockets (a bounded number at a time), print ``ready N``, answer pings
    until stdin closes, print ``closed K`` (sockets the server closed meanwhile)."""
    raise_fd_limit()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    http = aiohttp.ClientSession(connector=connector)
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with gate:
            try:
                ws = await http.ws_connect(url.replace("http", "ws", 1) + "/ws",
                                           autoping=True, timeout=aiohttp.ClientWSTimeout(30))
                hello = await ws.receive_json(timeout=30)
            except Exception:
                failures += 1
                return
            if hello.get("type") != "hello":
                failures += 1
                await ws.close()
                return
            sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    print(f"ready {len(sockets)} {failures}", flush=True)
    readers = [asyncio.ensure_future(_read(ws)) for ws in sockets]  # reading answers pings
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    closed = sum(1 for r in readers if r.done())
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await http.close()
    print(f"closed {closed}", flush=True)


async def _read(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


# -- the bench ------------------------------------------------------------------------------

class Workers:
    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.held = 0
        self.failed = 0

    async def add(self, url: str, count: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__)), "--worker", url, str(count),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 600)).decode().split()
        self.held += int(line[1])
        self.failed += int(line[2])
        self.procs.append(proc)

    async def close(self) -> int:
        """Close every worker's sockets; return how many the server had closed before."""
        closed = 0
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode().split()
            closed += int(line[1]) if line else 0
            await proc.wait()
        self.procs.clear()
        return closed


async def gateway_memory(proc: asyncio.subprocess.Process, url: str) -> dict[str, float]:
    proc.send_signal(signal.SIGUSR1)  # malloc_trim: count what is held, not allocator slack
    await asyncio.sleep(1.5)
    samples = await scrape(url)
    return {"rss_mb": round(value(samples, "process_resident_memory_bytes") / 2**20, 2),
            "fds": value(samples, "process_open_fds"),
            "tasks": value(samples, "gateway_asyncio_tasks"),
            "sessions": total(samples, "gateway_sessions")}


async def capacity(steps: list[int], clients: int, rounds: int) -> dict[str, Any]:
    """Open sockets up to each step, then close them all; ``rounds`` times on one gateway
    (a second round shows whether memory kept after the first is reused or lost)."""
    top = max(steps)
    proc, url = await launch("--max-sessions", str(top + 100), "--offer-timeout", "86400")
    workers = Workers()
    rows: list[dict[str, Any]] = []
    afters: list[dict[str, float]] = []
    closed_by_server = 0
    try:
        base = await gateway_memory(proc, url)
        print(f"gateway at rest: {base}")
        for round_number in range(1, rounds + 1):
            await one_round(proc, url, sorted(steps), clients, workers, base, rows,
                            round_number)
            closed_by_server += await workers.close()
            workers.held = workers.failed = 0
            afters.append(await gateway_memory(proc, url))
            print(f"after closing them all (round {round_number}): {afters[-1]}")
    finally:
        await workers.close()
        await stop(proc)
    return {"at_rest": base, "steps": rows, "after_close": afters,
            "closed_by_server": closed_by_server}


async def one_round(proc: asyncio.subprocess.Process, url: str, steps: list[int],
                    clients: int, workers: Workers, base: dict[str, float],
                    rows: list[dict[str, Any]], round_number: int) -> None:
    for step in steps:
        missing = step - workers.held
        started = time.monotonic()
        per_worker = -(-missing // clients)
        await asyncio.gather(*(workers.add(url, min(per_worker, missing - i * per_worker))
                               for i in range(clients) if missing - i * per_worker > 0))
        opened = time.monotonic() - started
        now = await gateway_memory(proc, url)
        held = int(now["sessions"])
        per_socket_kb = (now["rss_mb"] - base["rss_mb"]) * 1024 / max(1, held)
        row = {"round": round_number, "target": step, "held": held,
               "failed_to_open": workers.failed, "open_seconds": round(opened, 1), **now,
               "per_socket_kb": round(per_socket_kb, 1)}
        rows.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


async def heartbeats(idle: int, hour_seconds: float) -> dict[str, Any]:
    interval = hour_seconds / HEARTBEATS_PER_HOUR
    proc, url = await launch("--offer-timeout", "86400", "--heartbeat", f"{interval:.4f}",
                             "--max-sessions", str(idle + 10))
    workers = Workers()
    try:
        await asyncio.sleep(2)
        cpu_start = cpu_seconds(proc.pid)
        await asyncio.sleep(hour_seconds)
        idle_cpu = cpu_seconds(proc.pid) - cpu_start
        await workers.add(url, idle)
        before = await gateway_memory(proc, url)
        cpu_start = cpu_seconds(proc.pid)
        await asyncio.sleep(hour_seconds)
        busy_cpu = cpu_seconds(proc.pid) - cpu_start
        after = await gateway_memory(proc, url)
        closed = await workers.close()
    finally:
        await workers.close()
        await stop(proc)
    cost = busy_cpu - idle_cpu
    return {
        "sockets": idle, "hour_compressed_to_seconds": hour_seconds,
        "ping_interval_seconds": round(interval, 4),
        "pings": int(idle * HEARTBEATS_PER_HOUR), "gateway_cpu_seconds_idle": round(idle_cpu, 3),
        "gateway_cpu_seconds_with_sockets": round(busy_cpu, 3),
        "cpu_seconds_per_hour_for_the_sockets": round(cost, 3),
        "cpu_ms_per_ping": round(cost * 1000 / (idle * HEARTBEATS_PER_HOUR), 4),
        "rss_mb_start": before["rss_mb"], "rss_mb_end": after["rss_mb"],
        "sockets_closed_by_server": closed, "sockets_at_end": after["sessions"],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    result: dict[str, Any] = {"bench": "signaling_capacity"}
    if args.steps:
        result["capacity"] = await capacity(args.steps, args.clients, args.rounds)
    if args.idle:
        hb = await heartbeats(args.idle, args.hour_seconds)
        result["heartbeats"] = hb
        cost = hb["cpu_seconds_per_hour_for_the_sockets"]
        print(f"\n{hb['sockets']} idle sockets, an hour of heartbeats ({hb['pings']} pings) in "
              f"{hb['hour_compressed_to_seconds']:.0f} s: {cost} CPU-seconds "
              f"({hb['cpu_ms_per_ping']} ms per ping); RSS {hb['rss_mb_start']} -> "
              f"{hb['rss_mb_end']} MB; {hb['sockets_at_end']:.0f} sockets still open")
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        asyncio.run(hold(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--clients", type=int, default=4, help="client worker processes")
    parser.add_argument("--rounds", type=int, default=2,
                        help="open and close the sockets this many times on one gateway")
    parser.add_argument("--idle", type=int, default=100, help="sockets for the heartbeat run")
    parser.add_argument("--hour-seconds", type=float, default=90.0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = REPO_ROOT / "bench" / "results" / f"signaling_capacity-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
