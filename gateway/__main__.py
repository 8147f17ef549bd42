"""``python -m gateway``: resolve the model, then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from .app import create_app
from .config import GatewayConfig, parse_config
from .ice import IceProvider
from .model_store import ModelUnavailableError, resolve_model

log = logging.getLogger("gateway")


async def serve(config: GatewayConfig, model_path: Path) -> None:
    app = create_app(config, model_path)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    for address in runner.addresses:
        host, port = address[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"gateway listening on http://{shown}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: closing sessions and flushing final results")
    await runner.cleanup()
    log.info("shut down cleanly")


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        IceProvider.from_config(config)  # bad STUN/TURN flags fail before the model download
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        model_path = resolve_model(config.model)
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(config, model_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
