"""The gateway under load: N concurrent real-speech calls, end to end.

Starts ``python -m gateway`` as a subprocess (so its CPU can be measured alone), then for
each concurrency level plays the pocketsphinx human recordings, concatenated into one
~45 s call, from N aiortc clients at once, in real time, over real WebRTC (Opus, SRTP,
loopback). Measures:

* CPU-seconds the gateway process used per second of audio per stream (decode, resample,
  recognition, insights, transport): the inverse is how many live calls one core carries;
* word error rate through the gateway, corpus-level, per level;
* final-result latency: arrival of a phrase's final result minus the moment its last word
  was sent (stream time of the last word's end + the client's stream start);
* dropped audio chunks (the gateway's overload signal, from its log) and connect time.

Usage::

    python bench/gateway_streams.py [--model DIR] [--levels 1 4 8]

Prints a table; writes ``bench/results/gateway_streams-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402
from tests.support.wer import WerStats  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def build_call(folder: Path) -> tuple[Path, str, float]:
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed (apt-get install it)")
    gap = np.zeros(int(0.8 * 16000), dtype=np.int16)
    parts, refs = [], []
    for utt in corpus:
        sample = SpeechSample.read(utt.path).to(16000)
        parts += [sample.samples, gap]
        refs.append(utt.transcript)
    joined = SpeechSample(np.concatenate(parts), 16000)
    path = joined.write(folder / "call.wav")
    return path, " ".join(refs), len(joined.samples) / 16000


async def one_call(url: str, samples: np.ndarray, latencies: list[float]) -> GatewayClient:
    client = GatewayClient(url)
    await client.connect()
    track = WavTrack(samples)
    client.peer(track)
    seen = 0
    try:
        await client.offer({"speaker": {"name": "bench"}})
        while not track.finished.is_set():
            await asyncio.sleep(0.05)
            now = time.monotonic()
            for message in client.results[seen:]:
                if message.get("type") == "message_response" and track._start is not None:
                    end = message["messages"][0]["metadata"]["words"][-1]["endTime"]
                    latencies.append(now - (track._start + end))
            seen = len(client.results)
        await client.bye()
    finally:
        await client.close()
    return client


async def run_level(url: str, pid: int, n: int, samples: np.ndarray, reference: str,
                    audio_seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    cpu_before, wall_before = process_cpu_seconds(pid), time.monotonic()
    clients = await asyncio.gather(*(one_call(url, samples, latencies) for _ in range(n)))
    cpu = process_cpu_seconds(pid) - cpu_before
    wall = time.monotonic() - wall_before
    stats = WerStats()
    for client in clients:
        stats.add(reference, client.final_text())
    connects = [c.connected_after for c in clients if c.connected_after is not None]
    return {
        "streams": n,
        "audio_seconds_per_stream": round(audio_seconds, 2),
        "wall_seconds": round(wall, 2),
        "gateway_cpu_seconds": round(cpu, 2),
        "cpu_per_stream_audio_second": round(cpu / (n * audio_seconds), 4),
        "wer": round(stats.wer, 4),
        "final_latency_median_s": round(statistics.median(latencies), 3) if latencies else None,
        "final_latency_p95_s": round(float(np.percentile(latencies, 95)), 3)
        if latencies else None,
        "connect_median_s": round(statistics.median(connects), 3) if connects else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    folder = REPO_ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    wav, reference, audio_seconds = build_call(folder)
    samples = read_wav_48k(wav)
    cmd = [sys.executable, "-m", "gateway", "--port", "0", "--log-level", "warning",
           "--max-sessions", str(max(args.levels) + 1)]
    if args.model:
        cmd += ["--model", args.model]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=REPO_ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    match = re.search(r"(http://\S+?)/?$", line.strip())
    if not match:
        raise SystemExit(f"gateway did not start: {line!r}")
    url = match.group(1)
    rows = []
    try:
        for n in args.levels:
            row = await run_level(url, proc.pid, n, samples, reference, audio_seconds)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        _, err = await proc.communicate()
    dropped = len(re.findall(r"dropped \d+ chunks", err.decode()))
    return {"rows": rows, "overload_warnings": dropped, "cores": os.cpu_count(),
            "time": datetime.now(UTC).isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"))
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(f"\n{'streams':>7} {'CPU s/stream-s':>15} {'WER':>7} {'final p50':>10} "
          f"{'final p95':>10} {'connect':>8}")
    for r in result["rows"]:
        print(f"{r['streams']:>7} {r['cpu_per_stream_audio_second']:>15.4f} {r['wer']:>7.1%} "
              f"{r['final_latency_median_s']!s:>10} {r['final_latency_p95_s']!s:>10} "
              f"{r['connect_median_s']!s:>8}")
    print(f"overload warnings in the gateway log: {result['overload_warnings']}")
    out = REPO_ROOT / "bench" / "results" / f"gateway_streams-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
