"""One caller, in its own process: ``python -m bench.load_harness.caller --target … --url …``.

Real callers are separate processes (their Opus encoding, DTLS and event loops do not share
one interpreter), so every caller of the benchmark is one too. The orchestrator talks to it
over stdin/stdout, one line each way:

1. the caller connects (signaling, ICE, DTLS) while sending silence, then prints
   ``READY {"connect_seconds": …}``;
2. on ``GO`` from stdin it plays its script's recording in real time, then mutes and waits
   until results stop coming (``--idle`` seconds without one, at most ``--drain`` seconds),
   then ends the call as that server's client does;
3. it prints ``RESULT {…}``: its arrival log and the send time of each utterance's start and
   end, all in seconds from the moment its first recording frame left (see
   :func:`result_of`), and its own CPU time while streaming (the load generator's cost).

A refused or failed call prints ``RESULT {"ok": false, "error": …}`` and exits 0: a refusal
(``server_busy``) is a measurement, not a harness failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.rtc_client import read_wav_48k

from .adapters import Adapter, adapter_for
from .script import load_script
from .track import ScriptTrack, opus_packets


async def wait_quiet(adapter: Adapter, idle: float, limit: float) -> None:
    """Return once no result arrived for ``idle`` s (the server caught up), or after
    ``limit`` s (it did not: what is still missing then counts as lost)."""
    started = time.monotonic()
    deadline = started + limit
    while True:
        last = max(started, adapter.events[-1][0] if adapter.events else started)
        now = time.monotonic()
        if now - last >= idle or now >= deadline:
            return
        await asyncio.sleep(min(0.1, max(0.0, deadline - now)))


def result_of(adapter: Adapter, track: ScriptTrack, utterances: list[tuple[float, float]],
              marks: dict[str, float], cpu_seconds: float) -> dict[str, Any]:
    """The caller's report, times relative to its first recording frame (``t0``)."""
    t0 = track.t0
    late = np.asarray(track.lateness or [0.0])
    return {
        "ok": True,
        "connect_seconds": adapter.connect_seconds,
        "events": [[round(t - t0, 4), kind, text] for t, kind, text in adapter.events
                   if t >= t0],
        "sent": [[round(track.sent_at(a) - t0, 4), round(track.sent_at(b) - t0, 4)]
                 for a, b in utterances],
        "packets": len(track.emitted),
        "lateness": {"p50": float(np.percentile(late, 50)), "p99": float(np.percentile(late, 99)),
                     "max": float(late.max())},
        "marks": {k: round(v - t0, 4) for k, v in marks.items()},
        "cpu_seconds": round(cpu_seconds, 3),
    }


async def call(args: argparse.Namespace) -> dict[str, Any]:
    data, utterances = load_script(Path(args.script))
    track = ScriptTrack(*opus_packets(read_wav_48k(Path(data["wav"]))))
    adapter = adapter_for(args.target, args.url)
    loop = asyncio.get_running_loop()
    try:
        try:
            await adapter.connect(track, args.name)
        except Exception as exc:  # refused or failed: reported, not raised
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print("READY " + json.dumps({"connect_seconds": adapter.connect_seconds}), flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != "GO":
            return {"ok": False, "error": f"no GO from the orchestrator: {line!r}"}
        cpu_before = time.process_time()
        track.go()
        await asyncio.wait_for(track.finished.wait(), track.duration + 60)
        marks = {"finished": time.monotonic()}
        await wait_quiet(adapter, args.idle, args.drain)
        marks["drained"] = time.monotonic()
        cpu_seconds = time.process_time() - cpu_before
        try:
            await asyncio.wait_for(adapter.finish(), 20)
        except Exception as exc:  # a late goodbye is noted; the measurement stands
            marks["finish_failed"] = time.monotonic()
            logging.warning("finish: %s: %s", type(exc).__name__, exc)
        marks["ended"] = time.monotonic()
        return result_of(adapter, track, [(u.onset, u.offset) for u in utterances], marks,
                         cpu_seconds)
    finally:
        await adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["gateway", "peer"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--script", required=True, help="caller-<k>.json from script.py")
    parser.add_argument("--name", default="caller")
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--drain", type=float, default=30.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        result = asyncio.run(call(args))
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
