"""The Conversation API and the console's lists through the wired gateway, with tokens.

    python bench/access_api.py [--conversations 1000] [--requests 200]
                               [--backends sqlite,postgresql] [--out bench/results/access_api.json]

bench/store_api.py measures the store's API on a bare application; this measures what a
client of a running gateway gets: the full application (``create_app``) with access control
on (token verification, request limits, the store's per-principal filters) and the console's
recent list rebuilt from the store. ``--conversations`` stored calls (half tenant ``acme``,
half ``globex``: ~50 results each, written through the store's sink), then sequential
requests over loopback HTTP, each after 5 warm-ups:

* ``list`` / ``messages``: ``GET /v1/conversations`` (first page) and one call's
  ``/messages?sentiment=true&verbose=true``, as a service (every tenant) and as an agent
  (its tenant: the filter is in the SQL);
* ``console_recent``: ``GET /api/conversations?state=recent`` (50 summaries from the store);
* ``refused``: a caller asking for a conversation its token does not name (403, no query).

Prints a table and writes JSON. Numbers taken on a shared 2-core machine are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.asr.scripted import ScriptedRecognizer  # noqa: E402
from gateway.auth import AuthConfig, Role  # noqa: E402
from gateway.config import GatewayConfig  # noqa: E402
from gateway.store import STORE_KEY  # noqa: E402
from tests.access.support import Apps, bearer, token  # noqa: E402
from tests.store.stream import build_conversation, with_id  # noqa: E402
from tests.support.postgres import PostgresUnavailable, postgres_cluster  # noqa: E402

TENANTS = ("acme", "globex")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "n": len(ordered)}


async def timed(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                params: dict[str, str], requests: int, status: int = 200) -> dict[str, Any]:
    samples, size = [], 0
    for n in range(requests + 5):
        begin = time.perf_counter()
        async with http.get(url, params=params, headers=headers) as response:
            body = await response.read()
            assert response.status == status, (url, response.status, body[:200])
        if n >= 5:
            samples.append(time.perf_counter() - begin)
            size = len(body)
    return {**percentiles(samples), "bytes": size}


async def run_backend(database: str, folder: Path, count: int,
                      requests: int) -> dict[str, Any]:
    apps = Apps.create(folder)
    service, agent_app = await apps.add(Role.SERVICE), await apps.add(Role.AGENT, tenant="acme")
    # The request limit is a real one, raised above what the benchmark sends per minute.
    config = replace(GatewayConfig(database=database),
                     auth=AuthConfig(apps_file=apps.path, rate_limit="100000/minute"))
    app = create_app(config, None, recognizer=ScriptedRecognizer([]))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    now = datetime.now(UTC)
    template = build_conversation("template", started=now - timedelta(days=6), lines=10)
    step = timedelta(days=6) / count
    ids = []
    try:
        sink = app[STORE_KEY].sink
        started = time.perf_counter()
        for n in range(count):
            call = with_id(template, f"bench-{n:05d}", started=template.started + n * step,
                           tenant=TENANTS[n % 2])
            ids.append(call.id)
            for result in call.results:
                sink.send(result)
            if sink.pending >= 5000:
                await sink.drain(600)
        await sink.drain(600)
        wrote = time.perf_counter() - started
        rng = random.Random(7)
        acme_ids = [i for n, i in enumerate(ids) if n % 2 == 0]
        async with aiohttp.ClientSession() as http:
            as_service = bearer(await token(http, url, service))
            as_agent = bearer(await token(http, url, agent_app))
            caller = bearer(await token(http, url, agent_app, role="caller",
                                        conversationIds=[acme_ids[0]]))
            out: dict[str, Any] = {"write_results_per_second": round(
                count * len(template.results) / wrote)}
            for who, headers, pool in (("service", as_service, ids),
                                       ("agent", as_agent, acme_ids)):
                out[f"list_{who}"] = await timed(http, f"{url}/v1/conversations", headers,
                                                 {"limit": "20"}, requests)
                out[f"messages_{who}"] = await timed(
                    http, f"{url}/v1/conversations/{rng.choice(pool)}/messages", headers,
                    {"sentiment": "true", "verbose": "true"}, requests)
            out["console_recent_agent"] = await timed(http, f"{url}/api/conversations",
                                                      as_agent, {"state": "recent"}, requests)
            out["refused_caller"] = await timed(
                http, f"{url}/v1/conversations/{acme_ids[1]}/messages", caller, {}, requests,
                status=403)
    finally:
        await runner.cleanup()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/access_api.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"conversations": args.conversations,
                              "taken_at": datetime.now(UTC).isoformat(), "backends": {}}
    with ExitStack() as stack:
        for backend in args.backends.split(","):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            if backend == "sqlite":
                database = f"sqlite:///{folder}/bench.db"
            else:
                try:
                    cluster = stack.enter_context(postgres_cluster(fsync=True))
                except PostgresUnavailable as exc:
                    print(f"postgresql: skipped ({exc})")
                    continue
                database = cluster.create_database("bench")
            report["backends"][backend] = asyncio.run(
                run_backend(database, folder, args.conversations, args.requests))
    for backend, r in report["backends"].items():
        print(f"\n{backend} ({args.conversations} conversations; written at "
              f"{r['write_results_per_second']} results/s):")
        for case, s in r.items():
            if isinstance(s, dict):
                print(f"  {case:22s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "
                      f"max {s['max_ms']:7.2f} ms  ({s['bytes']} bytes)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
