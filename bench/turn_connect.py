"""Connect times of two aiortc peers with and without TURN, through a real coturn on loopback.

    python bench/turn_connect.py [--runs 20] [--out bench/results/turn_connect.json]

Scenarios (each run is a fresh pair of peer connections with a data channel; time is measured
from creating the offer to both peers reporting "connected", then one echo):

* direct       - no ICE servers, host candidates only (needs a non-loopback interface)
* relay-udp    - both peers relay-only, TURN over UDP
* relay-tcp    - both peers relay-only, TURN over TCP
* mdns-kept    - an offer carrying a browser-style ``*.local`` candidate, not stripped
* mdns-strip   - the same offer after turn.mdns.strip_mdns_candidates
* allocate     - turn.probe.check_turn alone (the TURN allocation a client pays for)

Loopback hides network latency: these numbers are the software cost of TURN (allocation,
permissions, channel binding, relaying), not what a real network adds.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aioice.ice import get_host_addresses  # noqa: E402

from turn.coturn import CoturnProcess  # noqa: E402
from turn.credentials import rest_credential  # noqa: E402
from turn.ice import IceSettings, gateway_rtc_configuration  # noqa: E402
from turn.probe import check_turn  # noqa: E402
from turn.selftest import connect_pair  # noqa: E402


def summarize(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 1),
        "p90_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "min_ms": round(1000 * ordered[0], 1),
        "max_ms": round(1000 * ordered[-1], 1),
        "all_ms": [round(1000 * v, 1) for v in values],
    }


async def measure(runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with CoturnProcess(secret="bench-secret") as coturn:
        relay_udp = IceSettings(
            turn_urls=(coturn.url_for("udp"),), turn_secret=coturn.secret, transport_policy="relay"
        )
        relay_tcp = IceSettings(
            turn_urls=(coturn.url_for("tcp"),), turn_secret=coturn.secret, transport_policy="relay"
        )
        open_turn = IceSettings(turn_urls=(coturn.url,), turn_secret=coturn.secret)
        scenarios: dict[str, tuple[IceSettings, IceSettings, dict[str, bool]]] = {}
        if get_host_addresses(use_ipv4=True, use_ipv6=True):
            scenarios["direct"] = (IceSettings(), IceSettings(), {})
        else:
            results["direct"] = {"skipped": "no non-loopback interface"}
        scenarios["relay-udp"] = (relay_udp, relay_udp, {})
        scenarios["relay-tcp"] = (relay_tcp, relay_tcp, {})
        scenarios["mdns-kept"] = (
            relay_udp,
            open_turn,
            {"inject_mdns": True, "strip_mdns": False},
        )
        scenarios["mdns-strip"] = (relay_udp, open_turn, {"inject_mdns": True, "strip_mdns": True})

        for name, (offerer, answerer, options) in scenarios.items():
            connected, answered, echo = [], [], []
            selected: list[str] = []
            for _ in range(runs):
                result = await connect_pair(
                    gateway_rtc_configuration(offerer, "offerer"),
                    gateway_rtc_configuration(answerer, "answerer"),
                    **options,
                )
                connected.append(result.connected)
                answered.append(result.answered)
                echo.append(result.echo_rtt)
                selected = result.selected
            results[name] = {
                "connected": summarize(connected),
                "answer_ready": summarize(answered),
                "echo_rtt": summarize(echo),
                "selected_pair": selected,
            }

        allocations = []
        for _ in range(runs):
            credential = rest_credential(coturn.secret, "bench", 60)
            allocations.append(
                await check_turn(coturn.url, credential.username, credential.password)
            )
        results["allocate"] = summarize(allocations)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/turn_connect.json"))
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(measure(args.runs))
    report = {
        "benchmark": "turn_connect",
        "runs": args.runs,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    print(
        f"{'scenario':<12} {'connected median':>17} {'p90':>9} {'answer ready':>13}"
        f" {'<250ms':>7}  pair"
    )
    for name, data in results.items():
        if name == "allocate" or "skipped" in data:
            continue
        connected = data["connected"]
        print(
            f"{name:<12} {connected['median_ms']:>14.1f} ms {connected['p90_ms']:>6.1f} ms"
            f" {data['answer_ready']['median_ms']:>10.1f} ms"
            f" {sum(v < 250 for v in connected['all_ms']):>3}/{len(connected['all_ms'])}"
            f"  {', '.join(data['selected_pair'])}"
        )
    if "skipped" in results.get("direct", {}):
        print(f"direct       skipped: {results['direct']['skipped']}")
    allocate = results["allocate"]
    print(f"allocate     {allocate['median_ms']:>14.1f} ms {allocate['p90_ms']:>5.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
