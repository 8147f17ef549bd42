"""Where does latency accumulate under overload? Every queue of the media path, sampled.

Runs the gateway in this process (so its internals can be read) with the real model, and N
caller processes (``tests/rtc_client.py``), each playing the pocketsphinx recordings as one
dense call in real time over real WebRTC. Once a second it samples, per session:

* ``track``: frames waiting in aiortc's per-track queue (decoded, not yet read), and
  ``decoder``: packets waiting for aiortc's decoder thread;
* ``queued``: chunks waiting in the media stream's backlog;
* ``lag``: how far behind real time the recogniser is: wall time since the stream's first
  chunk minus the stream time of the chunk it is being fed (all queues before it, summed);

and for the process: the worker pool's queue and the event loop's lag. The queue whose wait
grows with ``lag`` is the one to bound. Prints a table; writes JSON to ``bench/results/``.

    python bench/overload_probe.py --calls 8 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aiohttp import web  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.config import GatewayConfig, SessionSettings  # noqa: E402
from gateway.http.keys import ADMISSION_KEY, POOL_KEY, WEBRTC_KEY  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402

CALLER = """
import asyncio, sys
from pathlib import Path
from tests.rtc_client import stream_wav
async def main():
    client = await stream_wav(sys.argv[1], Path(sys.argv[2]))
    print(len(client.of_type("message_response")), flush=True)
asyncio.run(main())
"""


def dense_call(folder: Path) -> Path:
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed")
    gap = np.zeros(int(0.8 * 16000), dtype=np.int16)
    parts: list[np.ndarray] = []
    for utt in corpus:
        parts += [SpeechSample.read(utt.path).to(16000).samples, gap]
    return SpeechSample(np.concatenate(parts), 16000).write(folder / "dense.wav")


def session_state(session: Any, now: float) -> dict[str, Any] | None:
    stream = getattr(session, "stream", None)
    pc = getattr(session, "pc", None)
    if stream is None or pc is None or stream.started_at is None:
        return None
    track_q = decoder_q = None
    for receiver in pc.getReceivers():
        track = receiver.track
        if track is not None and track.kind == "audio":
            track_q = track._queue.qsize()
            decoder_q = receiver._RTCRtpReceiver__decoder_queue.qsize()
    fed = getattr(stream.recognizer, "probe_fed_until", None)
    started = getattr(stream, "probe_t0", None)
    lag = None if fed is None or started is None else (now - started) - fed
    return {"track": track_q, "decoder": decoder_q, "queued": stream.queued,
            "dropped": stream.dropped_chunks, "lag": lag}


class ProbeStream:
    """Wraps a recogniser stream to remember the stream time of the audio it was fed."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.speaker = inner.speaker
        self.probe_fed_until = 0.0

    async def accept(self, chunk: Any) -> Any:
        self.probe_fed_until = chunk.end_seconds
        return await self._inner.accept(chunk)

    async def endpoint(self) -> Any:
        return await self._inner.endpoint()

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument(app: web.Application) -> None:
    """Wrap each new session's recogniser stream; note when each stream's audio began."""
    from gateway.pipeline import stream as stream_module

    original_push = stream_module.MediaStream.push

    def push(self: Any, chunk: Any) -> None:
        if getattr(self, "probe_t0", None) is None:
            self.probe_t0 = time.monotonic() - chunk.end_seconds
            if not isinstance(self.recognizer, ProbeStream):
                self.recognizer = ProbeStream(self.recognizer)
        original_push(self, chunk)

    stream_module.MediaStream.push = push  # type: ignore[method-assign]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = REPO_ROOT / ".cache" / "overload"
    folder.mkdir(parents=True, exist_ok=True)
    wav = dense_call(folder)
    config = replace(GatewayConfig(), max_sessions=args.max_sessions, database=None)
    settings = SessionSettings()
    app = create_app(config, Path(os.environ["VOSK_MODEL"]), session_settings=settings)
    instrument(app)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    callers = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", CALLER, url, str(wav), cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(args.calls)]
    pool = app[POOL_KEY]
    samples: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < args.seconds and any(c.returncode is None for c in callers):
        before = loop.time()
        await asyncio.sleep(1.0)
        loop_lag = loop.time() - before - 1.0
        now = time.monotonic()
        sessions = [s for s in (session_state(x, now) for x in
                                list(app[WEBRTC_KEY].sessions.values())) if s]
        load = app[ADMISSION_KEY].load()
        row = {"t": round(loop.time() - started, 1), "loop_lag": round(loop_lag, 3),
               "pool_queue": pool._executor._work_queue.qsize(), "sessions": sessions,
               "load": load.to_json()}
        samples.append(row)
        lags = [s["lag"] for s in sessions if s["lag"] is not None]
        print(f"t={row['t']:5.1f} loop_lag={loop_lag:6.3f} pool_q={row['pool_queue']:3d} "
              f"track_q max={max((s['track'] or 0 for s in sessions), default=0):4d} "
              f"decoder_q max={max((s['decoder'] or 0 for s in sessions), default=0):4d} "
              f"stream_q max={max((s['queued'] for s in sessions), default=0):4d} "
              f"dropped={sum(s['dropped'] for s in sessions):5d} "
              f"lag max={max(lags, default=0):6.2f} s  in_use={load.in_use} "
              f"capacity={load.capacity} cost={load.cost:.3f} busy={load.pool_busy:.2f}",
              flush=True)
    for c in callers:
        if c.returncode is None:
            c.kill()
        await c.wait()
    await runner.cleanup()
    return {"calls": args.calls, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-sessions", type=int, default=1000,
                        help="a fixed limit (default: high, to overload on purpose)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = REPO_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = out / f"overload_probe-{args.calls}-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
