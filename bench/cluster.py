"""What a cluster costs: latency Redis adds to each result, Redis memory per conversation.

    python bench/cluster.py [--conversations 20] [--seconds 10] [--rate 7]
        [--out bench/results/cluster.json]

A throwaway ``redis-server`` (Debian's package) on loopback, and two nodes' real parts in
this process, each with its own Redis connections: node ``a`` publishes the results of
``--conversations`` live conversations on its ``RedisBus`` (``--rate`` results per second
each, the mix of a real call: eight partials, a final ``recognition_result`` and a
``message_response`` per phrase), node ``b`` follows every one of them as a console on
another node would. Measured:

* latency  - from the result being built (``Result.at``) to its delivery to the console's
             output on node b, against the same for a local output on node a (the
             in-process fan-out every participant gets);
* memory   - Redis ``MEMORY USAGE`` of each key a live conversation has (its stream at
             several lengths, its lease, its participants, its sessions) and ``INFO memory``
             before and after the run.

Loopback hides network latency: this is the software cost of going through Redis.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.cluster.bus import RedisBus  # noqa: E402
from gateway.cluster.cluster import Cluster, Hosted  # noqa: E402
from gateway.cluster.config import ClusterConfig  # noqa: E402
from gateway.outputs.result import Result  # noqa: E402
from gateway.protocols.symbl.messages import recognition_result  # noqa: E402
from gateway.transcript import Speaker, Word  # noqa: E402
from tests.support.redis import redis_server  # noqa: E402

SPEAKER = Speaker(user_id="kim@example.com", name="Kim", id="2c4cf3b3-8a8a-4c1b-9d1e")
TEXT = "can you send me the quarterly report by friday afternoon please".split()


def phrase_results(n: int) -> list[tuple[dict[str, Any], str]]:
    """One phrase's results as a call produces them: (body, audience)."""
    partials = [(recognition_result(transcript=" ".join(TEXT[:i]), punctuated=" ".join(TEXT[:i]),
                                    is_final=False, speaker=SPEAKER), "participant")
                for i in range(2, 10)]
    words = tuple(Word(w, 0.3 * i, 0.3 * i + 0.25, 0.93) for i, w in enumerate(TEXT))
    final = recognition_result(transcript=" ".join(TEXT), punctuated="Can you send me the "
                               "quarterly report by Friday afternoon, please?", is_final=True,
                               speaker=SPEAKER, confidence=0.93, words=words)
    response = {"type": "message_response", "messages": [{
        "id": f"phrase-{n}", "from": SPEAKER.to_json(),
        "payload": {"content": "Can you send me the quarterly report by Friday afternoon, "
                    "please?", "contentType": "text/plain"},
        "channel": {"id": "realtime-api"},
        "duration": {"startTime": "2026-11-30T10:00:01.300Z",
                     "endTime": "2026-11-30T10:00:04.250Z"},
        "metadata": {"originalContent": " ".join(TEXT), "words": [
            {"word": w.word, "startTime": w.start, "endTime": w.end, "confidence": 0.93}
            for w in words]},
        "dismissed": False}]}
    return [*partials, (final, "participant"), (response, "conversation")]


class Timing:
    """A sink recording how long after its creation each result arrived."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delays: list[float] = []

    def send(self, result: Result) -> None:
        self.delays.append(time.time() - result.at)

    async def drain(self, timeout: float) -> None:
        pass

    async def close(self) -> None:
        pass


def summarize(delays: list[float]) -> dict[str, float]:
    ms = sorted(d * 1000 for d in delays)
    if not ms:
        return {}
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {"count": len(ms), "p50_ms": round(q[49], 3), "p95_ms": round(q[94], 3),
            "p99_ms": round(q[98], 3), "max_ms": round(ms[-1], 3)}


async def node(url: str, node_id: str) -> tuple[Cluster, RedisBus]:
    cluster = Cluster(ClusterConfig(redis_url=url, node_id=node_id, prefix="bench:",
                                    node_url=f"http://{node_id}.example.com"))
    bus = RedisBus(cluster)
    bus.start()
    await cluster.start()
    return cluster, bus


async def run(url: str, conversations: int, seconds: float, rate: float) -> dict[str, Any]:
    (ca, a), (cb, b) = await node(url, "a"), await node(url, "b")
    client = ca.link.client
    before = int((await client.info("memory"))["used_memory"])
    ids = [f"bench-{i}" for i in range(conversations)]
    local, remote = Timing("local"), Timing("subscriber")
    for cid in ids:
        a.attach(cid, local, participant=SPEAKER.id)
        b.attach(cid, remote)
    await asyncio.sleep(0.6)  # the follows have started at their streams' tops
    # The conversations are live on a: leases, participants and sessions as in a call.
    ca.hosted = lambda: [Hosted(cid, {"p1": {"id": "p1", "name": "Kim"},
                                      "p2": {"id": "p2", "name": "Lee"}}) for cid in ids]
    for cid in ids:
        ca.session_started(f"{cid}-s1", cid)
        ca.session_started(f"{cid}-s2", cid)
    mix = phrase_results(0)
    seq = dict.fromkeys(ids, 0)
    interval = 1.0 / (rate * conversations)
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        cid = ids[n % conversations]
        body, audience = mix[(n // conversations) % len(mix)]
        seq[cid] += 1
        a.publish(Result.of(cid, body, seq[cid], origin=SPEAKER.id,
                            audience=audience))  # type: ignore[arg-type]
        n += 1
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    for _ in range(200):  # up to 10 s for the last results to arrive
        if len(remote.delays) >= n:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(3 * ca.config.heartbeat)  # leases and sessions written
    after = int((await client.info("memory"))["used_memory"])
    keys = ca.keys
    sample = ids[0]
    usage = {
        "stream_per_result_bytes": round(
            int(await client.memory_usage(keys.stream(sample)) or 0) / max(1, seq[sample]), 1),
        "stream_results": seq[sample],
        "lease_bytes": int(await client.memory_usage(keys.conversation(sample)) or 0),
        "participants_bytes": int(await client.memory_usage(keys.members(sample)) or 0),
        "session_bytes": int(await client.memory_usage(keys.session(f"{sample}-s1")) or 0),
        "node_record_bytes": int(await client.memory_usage(keys.node("a")) or 0),
    }
    streams = await stream_sizes(a, ca, (100, 1000, 3000))
    for bus in (a, b):
        await bus.stop()
    for cluster in (ca, cb):
        await cluster.stop()
    return {
        "results_published": n,
        "results_delivered_remote": len(remote.delays),
        "rate_per_conversation": rate,
        "local_fanout": summarize(local.delays),
        "through_redis": summarize(remote.delays),
        "memory": {**usage, "used_memory_delta_bytes": after - before,
                   "used_memory_delta_per_conversation_bytes": (after - before) // conversations,
                   "stream_bytes_by_length": streams},
    }


async def stream_sizes(bus: RedisBus, cluster: Cluster, lengths: tuple[int, ...]) -> dict[str, int]:
    """MEMORY USAGE of one conversation's stream after this many results of the mix."""
    out = {}
    mix = phrase_results(0)
    for length in lengths:
        cid = f"size-{length}"
        for i in range(length):
            body, audience = mix[i % len(mix)]
            bus.publish(Result.of(cid, body, i + 1, audience=audience))  # type: ignore[arg-type]
        await bus.writer.flush(30)
        out[str(length)] = int(await cluster.link.client.memory_usage(
            cluster.keys.stream(cid), samples=0) or 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=7.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cluster.json")
    args = parser.parse_args()
    with redis_server() as server:
        report = asyncio.run(run(server.url, args.conversations, args.seconds, args.rate))
    report["machine"] = {"python": platform.python_version(), "cpus": _cpus()}
    report["conversations"] = args.conversations
    local, remote = report["local_fanout"], report["through_redis"]
    print(f"{report['results_published']} results from {args.conversations} conversations "
          f"at {args.rate}/s each; {report['results_delivered_remote']} delivered on the other "
          "node")
    print(f"local fan-out      p50 {local['p50_ms']:.3f} ms  p95 {local['p95_ms']:.3f} ms  "
          f"p99 {local['p99_ms']:.3f} ms")
    print(f"through redis      p50 {remote['p50_ms']:.3f} ms  p95 {remote['p95_ms']:.3f} ms  "
          f"p99 {remote['p99_ms']:.3f} ms  max {remote['max_ms']:.3f} ms")
    memory = report["memory"]
    print(f"redis memory: stream {memory['stream_per_result_bytes']} B per result "
          f"(by length: {memory['stream_bytes_by_length']}), lease {memory['lease_bytes']} B, "
          f"participants {memory['participants_bytes']} B, session {memory['session_bytes']} B,"
          f" node {memory['node_record_bytes']} B; used_memory +"
          f"{memory['used_memory_delta_per_conversation_bytes']} B per conversation "
          f"({memory['stream_results']} results each)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
