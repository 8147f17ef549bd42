"""Soak: hundreds of sessions opened, streamed and closed in waves against one gateway process;
its memory, descriptors, tasks and threads must come back to their baseline.

The gateway runs in its own process (``bench/scripted_gateway.py``: the real application
with a scripted recogniser, or ``python -m gateway --model DIR`` with ``--model``) and is
measured through its own ``/metrics`` (``process_resident_memory_bytes``,
``process_open_fds``, ``gateway_asyncio_tasks``, ``gateway_threads``). Each wave opens
``--wave`` sessions at once, half WebRTC calls over ``/ws`` (data channel) and half WHIP
publishes (with an "insights" data channel); each streams until its first final result
(scripted) or for ``--seconds`` (model), then ends with bye / DELETE.

    python bench/soak.py [--sessions 500] [--wave 25] [--model DIR]

Prints a table per wave and the before/after numbers; writes bench/results/soak-<time>.json.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

from bench.scripted_gateway import launch, raise_fd_limit, stop  # noqa: E402
from tests.ops.scrape import Samples, scrape, total, value  # noqa: E402
from tests.rtc_client import GatewayClient  # noqa: E402
from tests.whip.client import WhipClient  # noqa: E402


def holdings(samples: Samples) -> dict[str, float]:
    return {
        "rss_mb": round(value(samples, "process_resident_memory_bytes") / 2**20, 1),
        "fds": value(samples, "process_open_fds"),
        "tasks": value(samples, "gateway_asyncio_tasks"),
        "threads": value(samples, "gateway_threads"),
        "sessions": total(samples, "gateway_sessions"),
        "conversations": total(samples, "gateway_conversations"),
        "ended": total(samples, "gateway_sessions_ended_total"),
    }


def is_final(message: dict[str, Any]) -> bool:
    return message.get("type") == "message_response"


async def call(url: str, name: str, seconds: float, scripted: bool) -> None:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    try:
        await client.offer({"conversationId": name})
        if scripted:
            await client.wait_result(is_final, timeout=30)
        else:
            await asyncio.sleep(seconds)
        await client.bye(timeout=30)
    finally:
        await client.close()


async def publish(url: str, name: str, seconds: float, scripted: bool) -> None:
    client = WhipClient(f"{url}/whip?conversationId={name}")
    try:
        await client.publish(data_channel=True)
        if scripted:
            await client.wait_result(is_final, timeout=30)
        else:
            await asyncio.sleep(seconds)
        if await client.delete() != 200:
            raise RuntimeError("DELETE failed")
    finally:
        await client.close()


async def wave(url: str, number: int, size: int, seconds: float,
               scripted: bool) -> tuple[int, float]:
    started = time.monotonic()
    outcomes = await asyncio.gather(*(
        (call if i % 2 else publish)(url, f"soak-{number}-{i}", seconds, scripted)
        for i in range(size)), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    for failure in failures[:3]:
        print(f"  wave {number}: {type(failure).__name__}: {failure}", file=sys.stderr)
    return len(failures), time.monotonic() - started


async def settled(url: str, seconds: float = 3.0) -> Samples:
    await asyncio.sleep(seconds)
    return await scrape(url)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    scripted = args.model is None
    if scripted:
        proc, url = await launch("--max-sessions", str(args.wave * 2),
                                 "--phrase-every", "1.0")
    else:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "--port", "0", "--model", args.model,
            "--max-sessions", str(args.wave * 2), "--log-level", "warning",
            stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = line.strip().rsplit(" ", 1)[1].rstrip("/")
    try:
        failures, _ = await wave(url, 0, args.wave, args.seconds, scripted)  # warm-up
        if scripted:
            proc.send_signal(signal.SIGUSR1)  # the baseline, too, without allocator slack
        baseline = holdings(await settled(url))
        print(f"baseline after a warm-up wave of {args.wave}: {baseline}")
        rows = []
        waves = max(1, args.sessions // args.wave)
        started = time.monotonic()
        for number in range(1, waves + 1):
            failed, took = await wave(url, number, args.wave, args.seconds, scripted)
            failures += failed
            row = {"wave": number, "seconds": round(took, 2), "failed": failed,
                   **holdings(await scrape(url))}
            rows.append(row)
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        elapsed = time.monotonic() - started
        after = holdings(await settled(url))
        peak_rss = max(r["rss_mb"] for r in rows)
        trimmed = None
        if scripted:  # ask the allocator to return what it kept (SIGUSR1: malloc_trim)
            proc.send_signal(signal.SIGUSR1)
            trimmed = holdings(await settled(url, 1.0))
    finally:
        await stop(proc)
    delta = {k: round(after[k] - baseline[k], 1) for k in baseline}
    result = {
        "bench": "soak", "recognizer": "scripted" if scripted else args.model,
        "sessions": waves * args.wave, "wave": args.wave, "waves": waves,
        "elapsed_seconds": round(elapsed, 1), "failures": failures,
        "baseline": baseline, "after": after, "delta": delta, "peak_rss_mb": peak_rss,
        "after_malloc_trim": trimmed,
        "waves_detail": rows,
    }
    print(f"\n{waves * args.wave} sessions in {elapsed:.0f} s, {failures} failed")
    print(f"{'':10}{'rss MB':>10}{'fds':>8}{'tasks':>8}{'threads':>9}{'sessions':>10}")
    for label, h in (("baseline", baseline), ("after", after), ("delta", delta)):
        print(f"{label:10}{h['rss_mb']:>10}{h['fds']:>8}{h['tasks']:>8}{h['threads']:>9}"
              f"{h['sessions']:>10}")
    print(f"peak RSS during the run: {peak_rss} MB")
    if trimmed is not None:
        print(f"RSS after malloc_trim: {trimmed['rss_mb']} MB "
              f"({trimmed['rss_mb'] - baseline['rss_mb']:+.1f} MB against the baseline)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--wave", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="audio per session with --model (scripted: until a final)")
    parser.add_argument("--model", default=None, help="a Vosk model: the real recogniser")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = REPO_ROOT / "bench" / "results" / f"soak-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
