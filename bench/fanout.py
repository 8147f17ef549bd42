"""Fan-out: one conversation's results to 100 watching consoles without slowing the call.

One participant streams over WebRTC to a gateway in its own process
(``bench/scripted_gateway.py``: a scripted phrase every second, insights on); its own data
channel's final-result latency is measured with no console, then with ``--consoles``
subscribers on ``/subscribe/{conversationId}`` (in worker processes). Latency of a final:
its arrival on the participant's data channel minus the moment the phrase's last audio left
the client (stream start + the phrase's scripted end). Consoles report when each final
reached them; their delay is measured against the participant's arrival of the same final.

    python bench/fanout.py [--consoles 100] [--seconds 30]

Prints both runs side by side; writes bench/results/fanout-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc.mediastreams import AudioStreamTrack

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.scripted_gateway import cpu_seconds, launch, raise_fd_limit, stop  # noqa: E402
from tests.ops.scrape import scrape, value  # noqa: E402
from tests.rtc_client import GatewayClient  # noqa: E402

PHRASE_EVERY = 1.0
PHRASE = re.compile(r"phrase number (\d+)")
CONVERSATION = "fanout"


def phrase_index(message: dict[str, Any]) -> int | None:
    if message.get("type") != "message_response":
        return None
    text = message["messages"][0]["payload"]["content"].lower()
    match = PHRASE.search(text)
    return int(match.group(1)) if match else None


class StampedTrack(AudioStreamTrack):
    """Silence paced in real time, noting when the first frame left (the stream's start)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        if self.started is None:
            self.started = time.time()
        return frame  # type: ignore[return-value]


class Stamped(list[dict[str, Any]]):
    """The client's result list, noting when each message arrived on the data channel."""

    def append(self, message: dict[str, Any]) -> None:
        message["_arrived"] = time.time()
        super().append(message)


# -- console worker: N subscribers, each noting when every final reached it ----------------

async def consoles(url: str, count: int) -> None:
    raise_fd_limit()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets = [await http.ws_connect(
            url.replace("http", "ws", 1) + f"/subscribe/{CONVERSATION}") for _ in range(count)]
        print("ready", flush=True)
        arrivals: list[tuple[int, float]] = []

        async def watch(ws: aiohttp.ClientWebSocketResponse) -> int:
            received = 0
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                message = json.loads(msg.data)
                index = phrase_index(message)
                if index is not None:
                    arrivals.append((index, time.time()))
                received += 1
                if message.get("type") == "conversation_ended":
                    break
            return received

        counts = await asyncio.gather(*(watch(ws) for ws in sockets))
    print(json.dumps({"arrivals": arrivals, "messages": counts}), flush=True)


# -- the bench ------------------------------------------------------------------------------

def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


async def one_run(console_count: int, seconds: float, workers: int) -> dict[str, Any]:
    proc, url = await launch("--phrase-every", str(PHRASE_EVERY), "--max-sessions", "50",
                             "--max-subscribers", str(max(16, console_count)))
    watchers: list[asyncio.subprocess.Process] = []
    try:
        for i in range(workers if console_count else 0):
            share = console_count // workers + (1 if i < console_count % workers else 0)
            watcher = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__)), "--consoles", url, str(share),
                stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT)
            assert watcher.stdout is not None
            assert (await asyncio.wait_for(watcher.stdout.readline(), 60)).strip() == b"ready"
            watchers.append(watcher)
        before = await scrape(url)
        cpu_start = cpu_seconds(proc.pid)
        track = StampedTrack()
        client = GatewayClient(url)
        client.results = Stamped()
        await client.connect()
        client.peer(track)
        try:
            await client.offer({"conversationId": CONVERSATION})
            await asyncio.sleep(seconds)
            await client.bye()
        finally:
            await client.close()
        arrived: dict[int, float] = {}
        for message in client.results:
            index = phrase_index(message)
            if index is not None:
                arrived.setdefault(index, message["_arrived"])
        gateway_cpu = cpu_seconds(proc.pid) - cpu_start
        after = await scrape(url)
        assert track.started is not None
        own = [arrived[i] - (track.started + i * PHRASE_EVERY + 0.8 * PHRASE_EVERY)
               for i in sorted(arrived)]
        extra: list[float] = []
        delivered = 0
        for watcher in watchers:
            assert watcher.stdout is not None
            report = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 60))
            delivered += sum(report["messages"])
            extra += [t - arrived[i] for i, t in report["arrivals"] if i in arrived]
            await watcher.wait()
    finally:
        for watcher in watchers:
            if watcher.returncode is None:
                watcher.kill()
        await stop(proc)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    return {
        "consoles": console_count, "finals": len(own),
        "participant_final_latency": stats(own),
        "console_delay_after_participant": stats(extra),
        "console_messages_delivered": delivered,
        "subscriber_sent": grew("gateway_output_sent_total", output="subscriber"),
        "subscriber_dropped": grew("gateway_output_dropped_total", output="subscriber"),
        "datachannel_dropped": grew("gateway_output_dropped_total", output="datachannel"),
        "gateway_cpu_seconds": round(gateway_cpu, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    runs = [await one_run(0, args.seconds, args.workers),
            await one_run(args.consoles, args.seconds, args.workers)]
    print(f"\n{'':38}{'no consoles':>14}{f'{args.consoles} consoles':>14}")
    rows = [
        ("participant final latency p50 (ms)", "participant_final_latency", "p50_ms"),
        ("participant final latency p95 (ms)", "participant_final_latency", "p95_ms"),
        ("console delay after it p50 (ms)", "console_delay_after_participant", "p50_ms"),
        ("console delay after it p95 (ms)", "console_delay_after_participant", "p95_ms"),
    ]
    for label, key, stat in rows:
        print(f"{label:38}" + "".join(f"{r[key].get(stat, '-'):>14}" for r in runs))
    for label, key in (("finals on the data channel", "finals"),
                       ("subscriber messages sent", "subscriber_sent"),
                       ("subscriber messages dropped", "subscriber_dropped"),
                       ("gateway CPU seconds", "gateway_cpu_seconds")):
        print(f"{label:38}" + "".join(f"{r[key]:>14}" for r in runs))
    return {"bench": "fanout", "seconds": args.seconds, "runs": runs}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--consoles":
        asyncio.run(consoles(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consoles", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2, help="console worker processes")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = REPO_ROOT / "bench" / "results" / f"fanout-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
