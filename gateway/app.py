"""The aiohttp application, assembled in one factory.

Startup and shutdown go through cleanup contexts, in order: the ICE health check, the
worker pool, the recogniser (model), the conversations (bus, directory and their outputs)
and the transports (WebRTC, WHIP). On shutdown, ``on_shutdown`` first flushes every session
(before aiohttp cancels handlers) and closes the signaling sockets; then the contexts unwind
in reverse, the pool last. A graceful drain (``gateway.observability.drain``, on SIGTERM)
runs before all this, while the server still serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from signaling.server import FACTORY_KEY, close_all_sockets, setup_signaling

from .asr.base import Recognizer
from .asr.vosk import VoskRecognizer, load_model
from .config import GatewayConfig, SessionSettings
from .conversation.admission import LocalAdmission
from .conversation.directory import LocalDirectory
from .conversation.insights import DefaultInsightsProvider, InsightsProvider
from .http import health, ice_servers, metrics, pages
from .http.keys import (
    ADMISSION_KEY,
    BUS_KEY,
    CONFIG_KEY,
    DIRECTORY_KEY,
    ICE_KEY,
    POOL_KEY,
    RECOGNIZER_KEY,
    STARTED_KEY,
    SUBSCRIPTIONS_KEY,
    WEBRTC_KEY,
)
from .http.subscriptions import Subscriptions, subscribe_handler
from .observability.drain import DRAIN_KEY, Drain
from .observability.live import LIVE_KEY, LiveSessions
from .outputs.base import SinkFactory
from .outputs.bus import LocalBus
from .outputs.relay import relay_sink_factory
from .transports.webrtc.ice import HEALTH_INTERVAL, IceProvider
from .transports.webrtc.session import SessionServices
from .transports.webrtc.transport import WebRtcTransport
from .transports.whip import routes as whip
from .transports.whip.transport import WhipTransport
from .workers import WorkerPool

log = logging.getLogger(__name__)


def create_app(
    config: GatewayConfig,
    model_path: Path | None,
    *,
    session_settings: SessionSettings | None = None,
    insights: InsightsProvider | None = None,
    recognizer: Recognizer | None = None,
) -> web.Application:
    """The gateway as an aiohttp application.

    ``recognizer`` replaces the Vosk model at ``model_path`` (unit tests pass a scripted
    one, and then ``model_path`` may be None).
    """
    if recognizer is None and model_path is None:
        raise ValueError("create_app needs a model path or a recognizer")
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG_KEY] = config
    app[STARTED_KEY] = time.time()
    ice = IceProvider.from_config(config)
    app[ICE_KEY] = ice
    settings = session_settings or SessionSettings(language=config.language)
    if insights is None and config.insights:
        insights = DefaultInsightsProvider()
    bus = LocalBus()
    app[BUS_KEY] = bus
    admission = LocalAdmission(config.max_sessions)
    app[ADMISSION_KEY] = admission
    app[SUBSCRIPTIONS_KEY] = Subscriptions(bus, admission, token=config.subscribe_token)
    live = LiveSessions()  # every transport's open sessions, for metrics and the drain
    app[LIVE_KEY] = live
    app[DRAIN_KEY] = Drain(admission, live)

    async def ice_ctx(app: web.Application) -> AsyncIterator[None]:
        # First check before serving, so the log says at once whether TURN works.
        await ice.check()
        monitor = asyncio.ensure_future(ice.monitor_after(HEALTH_INTERVAL))
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        pool = WorkerPool(config.workers or None, name="worker")
        app[POOL_KEY] = pool
        yield
        await pool.aclose()

    async def recognizer_ctx(app: web.Application) -> AsyncIterator[None]:
        if recognizer is not None:
            app[RECOGNIZER_KEY] = recognizer
        else:
            assert model_path is not None
            started = time.perf_counter()
            model = await load_model(model_path)
            log.info("model %s loaded in %.2f s; %d recognition workers", model_path,
                     time.perf_counter() - started, app[POOL_KEY].workers)
            app[RECOGNIZER_KEY] = VoskRecognizer(model, app[POOL_KEY],
                                                 partial_interval=settings.partial_interval)
        yield
        await app[RECOGNIZER_KEY].aclose()

    async def conversations_ctx(app: web.Application) -> AsyncIterator[None]:
        outputs: list[SinkFactory] = []
        if config.relay_url:
            outputs.append(relay_sink_factory(config.relay_url, token=config.relay_token))
        app[DIRECTORY_KEY] = LocalDirectory(
            bus=bus, run=app[POOL_KEY].run, outputs=outputs,
            analytics_interval=settings.analytics_interval,
            max_participants=settings.max_participants)
        yield
        await bus.aclose()

    def session_services(app: web.Application) -> SessionServices:
        return SessionServices(
            recognizer=app[RECOGNIZER_KEY], directory=app[DIRECTORY_KEY], bus=bus, ice=ice,
            insights=insights, settings=settings)

    async def webrtc_ctx(app: web.Application) -> AsyncIterator[None]:
        transport = WebRtcTransport(session_services(app), admission)
        app[WEBRTC_KEY] = transport
        app[FACTORY_KEY] = transport
        live.add("webrtc", lambda: transport.sessions.values())
        yield
        await transport.close_all()

    async def whip_ctx(app: web.Application) -> AsyncIterator[None]:
        transport = WhipTransport(session_services(app), admission)
        app[whip.WHIP_KEY] = transport
        live.add("whip", lambda: transport.sessions.values())
        yield
        await transport.close_all()

    async def on_shutdown(app: web.Application) -> None:
        # Before aiohttp cancels request handlers: flush every session's last results
        # onto its data channel, then tell each signaling client we are going away.
        admission.drain()
        closing = [app[key].close_all() for key in (WEBRTC_KEY, whip.WHIP_KEY) if key in app]
        await asyncio.gather(*closing)
        await close_all_sockets(app)
        await bus.aclose()  # consoles still waiting for a call hear that it is over

    for ctx in (ice_ctx, pool_ctx, recognizer_ctx, conversations_ctx, webrtc_ctx, whip_ctx):
        app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(on_shutdown)
    setup_signaling(app, offer_timeout=settings.offer_timeout)
    pages.setup(app, config.web_root)
    health.setup(app)
    metrics.setup(app)
    whip.setup(app, config.whip_token)
    ice_servers.setup(app)
    # Any one segment reaches the handler, which answers 400 for an id the docs do not allow
    # (aiohttp's default placeholder would answer 404 for ids with '{' or '}').
    app.router.add_get("/subscribe/{conversation_id:[^/]+}", subscribe_handler)
    return app
