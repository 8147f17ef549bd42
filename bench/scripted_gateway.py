"""A gateway process with a scripted recogniser, for benchmarks of everything but recognition.

The soak, capacity and fan-out benches measure the gateway's own costs (sessions, sockets,
outputs); the model would only add noise and 160 MB. This runs the real application
(``gateway.app.create_app``) with ``ScriptedRecognizer`` in its own process, so its memory,
descriptors and CPU are measured alone (through its ``/metrics`` and ``/proc``).

    python bench/scripted_gateway.py [--max-sessions N] [--offer-timeout S]
                                     [--heartbeat S] [--phrase-every S]

Prints ``gateway listening on http://HOST:PORT/`` once serving; stops on SIGTERM/SIGINT.
``--heartbeat`` overrides the signaling WebSocket's 20 s ping interval (to compress an
hour of heartbeats into minutes); nothing else differs from ``python -m gateway``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway.app import create_app  # noqa: E402
from gateway.asr.scripted import ScriptedPhrase  # noqa: E402
from gateway.config import GatewayConfig, SessionSettings  # noqa: E402
from gateway.http.keys import SUBSCRIPTIONS_KEY  # noqa: E402
from gateway.logs import setup_logging  # noqa: E402
from tests.ops.resources import ForgetfulRecognizer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def launch(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start this script as a child process; return it and its base URL once serving."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__)), *args, stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith("gateway listening on "):
        raise RuntimeError(f"the gateway did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].rstrip("/")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def trim_heap() -> None:
    """SIGUSR1: give freed heap pages back to the system (glibc ``malloc_trim``), so the
    soak can tell memory the allocator merely kept from memory still in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def raise_fd_limit() -> int:
    """Soft descriptor limit up to the hard one (10,000 sockets need more than 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def override_heartbeat(seconds: float) -> None:
    """Signaling builds ``web.WebSocketResponse(heartbeat=20.0)``; swap the class it finds
    in aiohttp for one with another interval (this process only)."""
    original = web.WebSocketResponse

    class Heartbeat(original):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("heartbeat") is not None:
                kwargs["heartbeat"] = seconds
            super().__init__(*args, **kwargs)

    web.WebSocketResponse = Heartbeat  # type: ignore[misc]


def script(every: float, minutes: float = 60) -> list[ScriptedPhrase]:
    """A short phrase every ``every`` seconds (partials while it is spoken)."""
    count = int(minutes * 60 / every)
    return [ScriptedPhrase(f"phrase number {i} goes here", i * every + 0.05,
                           i * every + every * 0.8) for i in range(count)]


async def serve(args: argparse.Namespace) -> None:
    config = GatewayConfig(host="127.0.0.1", port=args.port, max_sessions=args.max_sessions,
                           insights=not args.no_insights,
                           max_participants=args.max_participants)
    settings = SessionSettings(offer_timeout=args.offer_timeout)
    app = create_app(config, None, session_settings=settings,
                     recognizer=ForgetfulRecognizer(script(args.phrase_every)))
    # The console limit per conversation (16) is a constant, not a flag: raised here for
    # the fan-out bench.
    app[SUBSCRIPTIONS_KEY].max_per_conversation = args.max_subscribers
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers before the startup line: SIGUSR1's default action would kill the process.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, trim_heap)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=4096)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"gateway listening on http://{host}:{port}/", flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-sessions", type=int, default=1000)
    parser.add_argument("--max-participants", type=int, default=8)
    parser.add_argument("--offer-timeout", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=None)
    parser.add_argument("--phrase-every", type=float, default=1.0)
    parser.add_argument("--no-insights", action="store_true")
    parser.add_argument("--max-subscribers", type=int, default=16)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    setup_logging(args.log_level)
    raise_fd_limit()
    if args.heartbeat is not None:
        override_heartbeat(args.heartbeat)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
