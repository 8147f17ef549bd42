"""The aiohttp application, assembled in one factory.

Startup and shutdown go through cleanup contexts, in order: the recognition engine (model
and worker pool) comes up first and goes down last; the session manager comes up after it
and, on shutdown, flushes and closes every open session before the pool stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from signaling.server import FACTORY_KEY, close_all_sockets, setup_signaling

from . import __version__
from .config import GatewayConfig
from .ice import HEALTH_INTERVAL, IceProvider
from .recognizer import RecognitionEngine
from .relay import relay_sink_factory
from .session import InsightsProvider, SessionSettings
from .sessions import SessionManager
from .subscribers import DIRECTORY_KEY, TOKEN_KEY, subscribe_handler

log = logging.getLogger(__name__)

CONFIG_KEY = web.AppKey("config", GatewayConfig)
ENGINE_KEY = web.AppKey("engine", RecognitionEngine)
MANAGER_KEY = web.AppKey("manager", SessionManager)
ICE_KEY = web.AppKey("ice", IceProvider)
STARTED_KEY = web.AppKey("started", float)


def create_app(
    config: GatewayConfig,
    model_path: Path,
    *,
    session_settings: SessionSettings | None = None,
    insights: InsightsProvider | None = None,
) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG_KEY] = config
    app[STARTED_KEY] = time.time()
    ice = IceProvider.from_config(config)
    app[ICE_KEY] = ice
    settings = session_settings or SessionSettings(language=config.language)
    if insights is None and config.insights:
        from .insights_provider import default_insights_provider

        insights = default_insights_provider()

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        started = time.perf_counter()
        engine = await RecognitionEngine.load(model_path, config.workers or None)
        log.info("model %s loaded in %.2f s; %d recognition workers",
                 model_path, time.perf_counter() - started, engine.workers)
        app[ENGINE_KEY] = engine
        yield
        await engine.aclose()

    async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
        manager = SessionManager(
            app[ENGINE_KEY],
            settings=settings,
            max_sessions=config.max_sessions,
            ice=ice,
            insights=insights,
            conversation_sinks=[relay_sink_factory(config.relay_url, token=config.relay_token)]
            if config.relay_url else [],
        )
        app[MANAGER_KEY] = manager
        app[FACTORY_KEY] = manager
        app[DIRECTORY_KEY] = manager
        yield
        await manager.close_all()

    async def on_shutdown(app: web.Application) -> None:
        # Before aiohttp cancels request handlers: flush every session's last results
        # onto its data channel, then tell each signaling client we are going away.
        if MANAGER_KEY in app:
            await app[MANAGER_KEY].close_all()
        await close_all_sockets(app)

    async def ice_ctx(app: web.Application) -> AsyncIterator[None]:
        # First check before serving, so the log says at once whether TURN works.
        await ice.check()
        monitor = asyncio.ensure_future(ice.monitor_after(HEALTH_INTERVAL))
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor

    app.cleanup_ctx.append(ice_ctx)
    app.cleanup_ctx.append(engine_ctx)
    app.cleanup_ctx.append(sessions_ctx)
    app.on_shutdown.append(on_shutdown)
    setup_signaling(app, offer_timeout=settings.offer_timeout)

    web_root = config.web_root
    app.router.add_get("/", _static_file(web_root / "index.html"))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/ice-servers", ice_servers)
    app.router.add_get("/subscribe/{conversation_id}", subscribe_handler)
    if config.subscribe_token:
        app[TOKEN_KEY] = config.subscribe_token
    if web_root.is_dir():
        app.router.add_static("/static/", web_root, show_index=False, follow_symlinks=False)
    return app


def _static_file(path: Path) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        # FileResponse itself answers 404 when the file is missing; no blocking stat here.
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return handler


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    manager = app[MANAGER_KEY]
    return web.json_response({
        "status": "ok",
        "version": __version__,
        "uptimeSeconds": round(time.time() - app[STARTED_KEY], 1),
        "sessions": len(manager.sessions),
        "maxSessions": manager.max_sessions,
        "recognitionWorkers": manager.engine.workers,
        "language": app[CONFIG_KEY].language,
        "insights": app[CONFIG_KEY].insights,
    })


async def ice_servers(request: web.Request) -> web.Response:
    """Fresh ICE servers for clients that want them before opening ``/ws``."""
    ice = request.app[ICE_KEY]
    user = request.query.get("user", "") or "anonymous"
    return web.json_response({
        "iceServers": ice.client_servers(user[:64]),
        "iceTransportPolicy": ice.transport_policy,
    }, headers={"Cache-Control": "no-store"})
