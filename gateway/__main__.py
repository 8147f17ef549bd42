"""``python -m gateway``: resolve the model, then serve until SIGINT/SIGTERM.

SIGTERM (what orchestrators send before a rolling restart) drains first: no new sessions,
``/readyz`` 503, open calls may go on for ``--drain-timeout`` seconds; then the ordinary
shutdown flushes and closes what is left. A second SIGTERM ends the drain at once. SIGINT
(Ctrl-C, a person at a terminal) shuts down at once, flushing; a second one forces exit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from .app import create_app
from .auth.cli import main as apps_main
from .config import GatewayConfig, parse_config
from .logs import setup_logging
from .model import DEFAULT_MODEL, ModelUnavailableError, resolve_model
from .observability.drain import DRAIN_KEY
from .store import StoreUnavailable
from .transports.webrtc.ice import IceProvider

log = logging.getLogger("gateway")


async def serve(config: GatewayConfig, model_path: Path | None) -> int:
    try:
        app = create_app(config, model_path)
    except ValueError as exc:  # e.g. an unreadable apps file or signing key, a bad option
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    draining: asyncio.Task[None] | None = None

    def on_interrupt() -> None:
        if stop.is_set():
            # A second Ctrl-C during a slow shutdown: the operator means it.
            print("forced exit: open sessions were not flushed", file=sys.stderr, flush=True)
            os._exit(130)
        stop.set()

    async def drain_then_stop() -> None:
        try:
            await app[DRAIN_KEY].run(config.drain_timeout)
        finally:
            stop.set()

    def on_terminate() -> None:
        nonlocal draining
        if draining is None and not stop.is_set():
            draining = asyncio.ensure_future(drain_then_stop())
        elif not stop.is_set():
            log.info("second SIGTERM: ending the drain, closing sessions now")
            stop.set()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    loop.add_signal_handler(signal.SIGTERM, on_terminate)
    try:
        try:
            await runner.setup()
        except StoreUnavailable as exc:  # the database cannot be opened or migrated
            print(f"error: {exc}", file=sys.stderr)
            return 2
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            print(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        for address in runner.addresses:
            host, port = address[:2]
            shown = f"[{host}]" if ":" in host else host
            print(f"gateway listening on http://{shown}:{port}/", flush=True)
        await stop.wait()
        log.info("shutting down: closing sessions and flushing final results")
    finally:
        if draining is not None and not draining.done():
            draining.cancel()
        await runner.cleanup()
    log.info("shut down cleanly")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["apps"]:  # gateway apps create|list|revoke (docs/access-control.md)
        return apps_main(args)
    config = parse_config(args)
    setup_logging(config.log_level, config.log_format)
    try:
        IceProvider.from_config(config)  # bad STUN/TURN flags fail before the model download
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model_path: Path | None = None
    if not config.relays.asr:  # with --asr a vosk-server pool recognises: no local model
        try:
            spec = DEFAULT_MODEL
            if config.model_url:
                spec = dataclasses.replace(DEFAULT_MODEL, url=config.model_url)
            model_path = resolve_model(config.model, spec=spec)
        except ModelUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return asyncio.run(serve(config, model_path))


if __name__ == "__main__":
    sys.exit(main())
