"""Connect time through the real gateway, with and without a TURN relay (coturn on loopback).

    VOSK_MODEL=/path/to/model python bench/gateway_connect.py [--runs 10]
        [--out bench/results/gateway_connect.json]

Each run is one client of ``tests/rtc_client.py`` (aiortc, a silent audio track and the
``insights`` data channel) opening ``/ws`` on one in-process gateway. Measured from creating
the offer to the client's peer connection reporting "connected" (``answer`` is the part of it
until the gateway's answer arrived). Scenarios:

* direct     - no ICE servers configured, host candidates on both ends
* relay-udp  - gateway ``--ice-transport-policy relay`` with TURN over UDP, and the client
               relay-only with the servers from ``hello.iceServers``

Loopback hides network latency: this is the software cost of the gateway and of TURN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.turn_connect import summarize  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.config import GatewayConfig  # noqa: E402
from gateway.model import resolve_model  # noqa: E402
from tests.rtc_client import GatewayClient, WavTrack  # noqa: E402
from turn.coturn import CoturnProcess  # noqa: E402


async def start_gateway(model: Path, **overrides: Any) -> tuple[web.AppRunner, str]:
    app = create_app(replace(GatewayConfig(), insights=False, **overrides), model)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def one_call(url: str, relay: bool) -> tuple[float, float, tuple[str, str] | None]:
    client = GatewayClient(url)
    await client.connect()
    try:
        client.peer(WavTrack(np.zeros(48_000, dtype=np.int16)), relay=relay)
        started = time.monotonic()
        await client.offer()
        answered = time.monotonic() - started
        await asyncio.wait_for(client.connected.wait(), 20)
        assert client.connected_after is not None
        return client.connected_after, answered, client.selected_types
    finally:
        await client.close()


async def measure(runs: int, model: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with CoturnProcess(secret="bench-secret") as coturn:
        scenarios = {
            "direct": ({}, False),
            "relay-udp": ({"turn_urls": (coturn.url,), "turn_secret": coturn.secret,
                           "ice_transport_policy": "relay"}, True),
        }
        for name, (overrides, relay) in scenarios.items():
            runner, url = await start_gateway(model, **overrides)
            try:
                await one_call(url, relay)  # warm-up: first-call imports and codec set-up
                connected, answered, pairs = [], [], []
                for _ in range(runs):
                    c, a, pair = await one_call(url, relay)
                    connected.append(c)
                    answered.append(a)
                    pairs.append("->".join(pair) if pair else "?")
                    await asyncio.sleep(0.1)  # let the session tear down before the next
            finally:
                await runner.cleanup()
            results[name] = {
                "connected": summarize(connected),
                "answer": summarize(answered),
                "selected_pairs": sorted(set(pairs)),
                "under_250ms": sum(v < 0.25 for v in connected),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/gateway_connect.json")
    args = parser.parse_args()
    model = resolve_model(os.environ.get("VOSK_MODEL") or None)
    results = asyncio.run(measure(args.runs, model))
    print(f"gateway connect time, offer -> connected, {args.runs} runs (+1 warm-up), loopback")
    print(f"{'scenario':<10} {'median':>9} {'p90':>9} {'min':>9} {'max':>9} {'<250ms':>7}  "
          f"{'answer med':>10}  pair")
    for name, r in results.items():
        c = r["connected"]
        print(f"{name:<10} {c['median_ms']:>7.1f}ms {c['p90_ms']:>7.1f}ms {c['min_ms']:>7.1f}ms "
              f"{c['max_ms']:>7.1f}ms {r['under_250ms']:>4}/{args.runs}  "
              f"{r['answer']['median_ms']:>8.1f}ms  {','.join(r['selected_pairs'])}")
        print(f"{'':<10} all: {c['all_ms']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "runs": args.runs,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
