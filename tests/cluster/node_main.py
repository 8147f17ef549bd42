"""One cluster node in its own process, for the multi-process tests.

``gateway/__main__.py`` needs the Vosk model; the tests want a scripted recogniser (exact
transcripts in seconds), so this runs the same app factory with the same config, prints
``node ready`` once it listens, and shuts down gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from aiohttp import web

from gateway.app import create_app
from tests.cluster.nodes import SETTINGS, node_config, recognizer


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--max-sessions", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"[{args.node_id}] %(name)s: %(message)s")
    config = node_config(args.redis_url, args.node_id, args.port, args.prefix,
                         max_sessions=args.max_sessions)
    app = create_app(config, None, session_settings=SETTINGS, recognizer=recognizer())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("node ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    print("node stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
