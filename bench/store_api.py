"""Conversation store benchmark: write throughput and Conversation API latency.

    python bench/store_api.py [--conversations 1000] [--requests 200]
                              [--backends sqlite,postgresql] [--out bench/results/store_api.json]

For each backend (a SQLite file; a throwaway PostgreSQL cluster with fsync on):

* **write**: 1,000 two-person calls (10 phrases each, every result a live call publishes,
  partials included: ~50 results per call) fed through the StoreSink as fast as it takes
  them (the feeder drains whenever 5,000 results are pending, so nothing is dropped);
  results per second = all results / time until the last one is committed.
* **final latency**: on an idle store, time from handing a final ``message_response`` to
  the sink until it is committed (the crash-loss window), 50 times.
* **API**: with the 1,000 conversations stored, sequential requests over loopback HTTP
  (aiohttp client -> real server): the list (first page, a deep page, a participant
  filter) and one conversation's messages with ``sentiment=true&verbose=true``.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from gateway.http.conversations import setup_conversation_api  # noqa: E402
from gateway.store import Store, StoreConfig  # noqa: E402
from tests.store.stream import Conversation, build_conversation, with_id  # noqa: E402
from tests.support.postgres import PostgresUnavailable, postgres_cluster  # noqa: E402

HIGH_WATER = 5_000


def calls(count: int) -> list[Conversation]:
    now = datetime.now(UTC)
    template = build_conversation("template", started=now - timedelta(days=6), lines=10)
    step = timedelta(days=6) / count
    return [with_id(template, f"bench-{n:05d}", started=now - timedelta(days=6) + n * step)
            for n in range(count)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "n": len(ordered)}


async def write(store: Store, conversations: list[Conversation]) -> dict[str, Any]:
    sink = store.sink
    total = sum(len(c.results) for c in conversations)
    started = time.perf_counter()
    sent = 0
    for conversation in conversations:
        for result in conversation.results:
            sink.send(result)
            sent += 1
            if sink.pending >= HIGH_WATER:
                await sink.drain(600)  # the feeder is far faster than any database
    await sink.drain(600)
    elapsed = time.perf_counter() - started
    stats = store.stats()
    assert stats["dropped"] == 0 and stats["rejected"] == 0, stats
    return {"results": total, "seconds": round(elapsed, 2),
            "results_per_second": round(total / elapsed), "commits": stats["commits"],
            "stored": stats["stored"], "skipped_transient": stats["skipped"]}


async def final_latency(store: Store, template: Conversation) -> dict[str, float]:
    finals = [r for r in template.results if r.body.get("type") == "message_response"]
    samples = []
    for n in range(50):
        result = finals[n % len(finals)]
        probe = with_id(template, f"latency-{n}", started=template.started)
        store.sink.send(probe.results[0])  # conversation_started
        await store.sink.drain(10)
        moved = type(result).of(f"latency-{n}", result.body, 1000 + n, at=result.at)
        begin = time.perf_counter()
        store.sink.send(moved)
        await store.sink.drain(10)
        samples.append(time.perf_counter() - begin)
    return percentiles(samples)


async def api_latency(store: Store, ids: list[str], requests: int) -> dict[str, Any]:
    app = web.Application()
    setup_conversation_api(app, store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/conversations"
    rng = random.Random(7)
    cases = {
        "list_first_page": lambda: (base, {}),
        "list_deep_page": lambda: (base, {"offset": str(len(ids) - 20), "limit": "20"}),
        "list_participant": lambda: (base, {"participant": "alex@example.com",
                                            "order": "desc"}),
        "messages_verbose": lambda: (f"{base}/{rng.choice(ids)}/messages",
                                     {"sentiment": "true", "verbose": "true"}),
        "insights": lambda: (f"{base}/{rng.choice(ids)}/insights", {}),
    }
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for name, make in cases.items():
                samples = []
                size = 0
                for n in range(requests + 5):
                    url, params = make()
                    begin = time.perf_counter()
                    async with session.get(url, params=params) as response:
                        body = await response.read()
                        assert response.status == 200, (url, response.status, body[:200])
                    if n >= 5:  # warm-up excluded
                        samples.append(time.perf_counter() - begin)
                        size = len(body)
                out[name] = {**percentiles(samples), "bytes": size}
    finally:
        await runner.cleanup()
    return out


async def run_backend(name: str, database: str, conversations: list[Conversation],
                      requests: int) -> dict[str, Any]:
    store = await Store.open(StoreConfig(database))
    try:
        result = {"write": await write(store, conversations)}
        result["final_to_commit"] = await final_latency(store, conversations[0])
        result["api"] = await api_latency(store, [c.id for c in conversations], requests)
    finally:
        await store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/store_api.json")
    args = parser.parse_args()
    conversations = calls(args.conversations)
    report: dict[str, Any] = {"conversations": args.conversations,
                              "results_per_conversation": len(conversations[0].results),
                              "taken_at": datetime.now(UTC).isoformat(), "backends": {}}
    with ExitStack() as stack:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                folder = stack.enter_context(tempfile.TemporaryDirectory())
                database = f"sqlite:///{folder}/bench.db"
            else:
                try:
                    cluster = stack.enter_context(postgres_cluster(fsync=True))
                except PostgresUnavailable as exc:
                    print(f"postgresql: skipped ({exc})")
                    continue
                database = cluster.create_database("bench")
            report["backends"][backend] = asyncio.run(
                run_backend(backend, database, conversations, args.requests))
    for backend, r in report["backends"].items():
        w = r["write"]
        print(f"\n{backend}: write {w['results']} results in {w['seconds']} s = "
              f"{w['results_per_second']} results/s ({w['commits']} commits); "
              f"final->commit p50 {r['final_to_commit']['p50_ms']} ms, "
              f"p95 {r['final_to_commit']['p95_ms']} ms")
        for case, s in r["api"].items():
            print(f"  {case:18s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "
                  f"max {s['max_ms']:7.2f} ms  ({s['bytes']} bytes)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
