"""A gateway in its own process, for the crash test: the real app factory (signaling, aiortc,
insights, the store, access control) with a scripted recogniser, so a call's finals come at
known times. Prints ``ready`` once it listens; the test kills it with SIGKILL mid-call.

    python3 -m tests.access.gateway_main --port P --database URL --apps-file FILE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.auth import AuthConfig
from gateway.config import GatewayConfig, SessionSettings

# One line a second, each a final about 0.6 s long: a kill 0.3 s after a final lands while
# the next phrase is being spoken.
LINES = [ScriptedPhrase(f"line {n} of the renewal call about the price", n + 0.2, n + 0.8)
         for n in range(1, 60)]


def recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer(LINES)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--apps-file", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = GatewayConfig(host="127.0.0.1", port=args.port, database=args.database,
                           auth=AuthConfig(apps_file=args.apps_file))
    app = create_app(config, None, session_settings=SessionSettings(analytics_interval=2.0),
                     recognizer=recognizer())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main())
