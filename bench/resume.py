"""How long a call is away when its network blips: time from a cut to a resumed session.

    python bench/resume.py [--rounds 10] [--out bench/results/resume.json]

A real gateway on loopback (the scripted recogniser, so only signaling and WebRTC are
measured) and a real aiortc client whose signaling goes through a TCP proxy. Each round
the proxy resets the client's signaling connection, as a Wi-Fi switch or a NAT timeout
does, and the client resumes at once (no backoff: this measures the gateway, not the
page's retry delays). Measured per round:

* ``signaling``      cut -> ``resumed``: a new WebSocket, ``hello``, ``resume`` and its
                     reply, while the media connection goes on untouched;
* ``signaling_http`` the same over the HTTP carrier (``/signal/open``, the event stream,
                     a POSTed ``resume``);
* ``media``          the peer connection closed and signaling cut -> ``resumed`` with the
                     new answer (``answered``), -> the new peer connection connected
                     (``connected``), -> its data channel open, results flowing again
                     (``channel_open``): the client's whole way back. (The next new
                     result then comes when the speech produces one: every ~150 ms here.)

Loopback hides network round trips: add one or two RTTs (and ICE over the real path) to
these for a real client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.config import GatewayConfig, SessionSettings  # noqa: E402
from tests.resume.support import RESUME, config, recognizer  # noqa: E402
from tests.resume.tcp_proxy import TcpProxy  # noqa: E402
from tests.rtc_client import GatewayClient, WavTrack  # noqa: E402

ROUND_SECONDS = 4.0


async def start_gateway() -> tuple[web.AppRunner, str]:
    app = create_app(GatewayConfig(insights=False, database=None, max_sessions=100), None,
                     session_settings=SessionSettings(analytics_interval=60.0),
                     recognizer=recognizer())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def call(url: str, carrier: str, seconds: float) -> tuple[GatewayClient, WavTrack]:
    client = GatewayClient(url, carrier=carrier)
    await client.connect()
    track = WavTrack(np.zeros(int(48_000 * seconds), dtype=np.int16), live=True)
    client.peer(track)
    await client.offer(config("Ada", f"bench-{time.monotonic_ns()}"), features=RESUME)
    await asyncio.wait_for(client.connected.wait(), 10)
    return client, track


async def signaling_round(gateway_url: str, carrier: str) -> dict[str, float]:
    proxy = await TcpProxy.to(gateway_url)
    client, _ = await call(proxy.url, carrier, ROUND_SECONDS + 10)
    try:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        proxy.cut()
        await asyncio.wait_for(client.signaling_closed.wait(), 10)
        noticed = time.perf_counter()
        reply = await client.resume()
        resumed = time.perf_counter()
        assert reply["type"] == "resumed"
        await client.bye()
        return {"noticed": noticed - started, "resumed": resumed - started}
    finally:
        await client.close()
        await proxy.close()


async def media_round(gateway_url: str) -> dict[str, float]:
    proxy = await TcpProxy.to(gateway_url)
    client, track = await call(proxy.url, "websocket", ROUND_SECONDS + 10)
    try:
        await client.wait_result(lambda m: "seq" in m, 10)
        assert client.pc is not None
        started = time.perf_counter()
        await client.pc.close()
        proxy.cut()
        seen = len(client.results)
        reply = await client.resume(track=track)
        answered = time.perf_counter()
        await asyncio.wait_for(client.connected.wait(), 10)
        connected = time.perf_counter()
        await asyncio.wait_for(client.channel_open.wait(), 10)
        channel = time.perf_counter()
        await client.wait_result(lambda m: client.results.index(m) >= seen, 15)
        assert reply["sdp"]
        await client.bye()
        return {"answered": answered - started, "connected": connected - started,
                "channel_open": channel - started}
    finally:
        await client.close()
        await proxy.close()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1), "n": len(ordered)}


async def measure(rounds: int) -> dict[str, Any]:
    runner, url = await start_gateway()
    results: dict[str, Any] = {}
    try:
        for name, carrier in (("signaling", "websocket"), ("signaling_http", "http")):
            samples = [await signaling_round(url, carrier) for _ in range(rounds)]
            results[name] = {key: summary([s[key] for s in samples]) for key in samples[0]}
        samples = [await media_round(url) for _ in range(rounds)]
        results["media"] = {key: summary([s[key] for s in samples]) for key in samples[0]}
    finally:
        await runner.cleanup()
    return {"benchmark": "resume", "rounds": rounds, "results": results,
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def print_report(report: dict[str, Any]) -> None:
    print(f"resume times over {report['rounds']} rounds (loopback; ms)")
    for name, stages in report["results"].items():
        for stage, s in stages.items():
            print(f"  {name:15} {stage:13} median {s['median_ms']:7.1f}  p90 {s['p90_ms']:7.1f}"
                  f"  max {s['max_ms']:7.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "resume.json")
    args = parser.parse_args()
    report = asyncio.run(measure(args.rounds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"wrote {args.out}")
