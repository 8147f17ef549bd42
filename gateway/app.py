"""The aiohttp application, assembled in one factory.

Startup and shutdown go through cleanup contexts, in order: the ICE health check, the worker
pool, the conversation store, the cluster node (with ``--redis-url``), the recogniser, the
conversations (bus, directory and their outputs) and the transports (WebRTC, WHIP, Symbl's
WebSocket API). On shutdown ``on_shutdown`` first flushes every session of every transport
(before aiohttp cancels handlers) and closes the signaling sockets; then the contexts unwind
in reverse, the pool last. A graceful drain (``gateway.observability.drain``, on SIGTERM)
runs before all this, while the server still serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from signaling.entrance import ENTRANCE_KEY
from signaling.interface import SessionFactory
from signaling.server import FACTORY_KEY, close_all_sockets, setup_signaling

from .asr.base import Recognizer
from .asr.remote import RemoteVoskRecognizer
from .asr.vosk import VoskRecognizer, load_model
from .auth import AccessControl, setup_access
from .auth.conversations import CONVERSATION_ACCESS_KEY, ConversationAccess
from .auth.entrances import SignalingEntrance
from .cluster.directory import ClusterDirectory
from .cluster.parts import CLUSTER_KEY, ClusterNode
from .config import GatewayConfig, SessionSettings
from .conversation.admission import LocalAdmission
from .conversation.capacity import CapacityEstimator
from .conversation.directory import LocalDirectory
from .conversation.insights import DefaultInsightsProvider, InsightsProvider
from .http import console, conversations_live, health, ice_servers, metrics, pages
from .http.conversations import access_hook, setup_conversation_api
from .http.keys import (
    ADMISSION_KEY,
    BOARD_KEY,
    BUS_KEY,
    CONFIG_KEY,
    DIRECTORY_KEY,
    ICE_KEY,
    POOL_KEY,
    RECOGNIZER_KEY,
    STARTED_KEY,
    SUBSCRIPTIONS_KEY,
    SYMBL_KEY,
    WEBRTC_KEY,
)
from .http.subscriptions import Subscriptions, subscribe_handler
from .observability.drain import DRAIN_KEY, Drain
from .observability.live import LIVE_KEY, LiveSessions
from .outputs.base import SinkFactory
from .outputs.board import ConversationBoard
from .outputs.bus import LocalBus
from .outputs.relay import relay_sink_factory
from .outputs.summary import summary_sink_factory
from .pipeline.gate import SpeechGate
from .relays.manager import RELAYS_KEY, Relays
from .store import STORE_KEY, StoreConfig, store_cleanup_context
from .store.recent import StoreRecent
from .transports.revocation import end_revoked_sessions
from .transports.symbl.routes import setup_symbl
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
    one, and then ``model_path`` may be None); so does ``--asr`` (a vosk-server pool).
    """
    settings = session_settings or SessionSettings(language=config.language)
    remote: RemoteVoskRecognizer | None = None
    if recognizer is None and config.relays.asr:
        remote = RemoteVoskRecognizer(
            config.relays.asr, endpoint=config.relays.asr_endpoint,
            partial_interval=settings.partial_interval)
        log.info("speech recognition on %s (%s)", ", ".join(config.relays.asr),
                 config.relays.asr_endpoint)
    if recognizer is None and remote is None and model_path is None:
        raise ValueError("create_app needs a model path or a recognizer")
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG_KEY] = config
    app[STARTED_KEY] = time.time()
    ice = IceProvider.from_config(config)
    app[ICE_KEY] = ice
    if insights is None and config.insights:
        insights = DefaultInsightsProvider()
    # Several nodes share their state on Redis; without --redis-url, one process in memory.
    estimator = CapacityEstimator()  # what sessions cost here: admission's measured limit
    node = ClusterNode.build(config.cluster, config.max_sessions, estimator=estimator) \
        if config.cluster.enabled else None
    bus = node.bus if node is not None else LocalBus()
    app[BUS_KEY] = bus
    relays = Relays(config.relays, bus=bus)
    app[RELAYS_KEY] = relays
    admission = node.admission if node is not None else LocalAdmission(
        config.max_sessions, estimator=estimator)
    app[ADMISSION_KEY] = admission
    board = ConversationBoard()  # what consoles list: live and recent conversations
    app[BOARD_KEY] = board
    access = AccessControl.from_config(config.auth)  # ValueError names what to fix
    setup_access(app, access)
    if node is not None:  # pages redirected between nodes come from another node's origin
        cluster = node.cluster
        access.origins.trust(lambda: [n.url for n in cluster.nodes()])
    log.info("%s", access.startup_line(config.host))
    live = LiveSessions()  # every transport's open sessions, for metrics and the drain
    # A revoked app's calls and streams end at once (docs/access-control.md).
    access.on_revoked(functools.partial(end_revoked_sessions, live))
    app[LIVE_KEY] = live
    app[DRAIN_KEY] = Drain(admission, live)
    app[ENTRANCE_KEY] = SignalingEntrance()  # /ws and /signal: who connects, first of all
    conversation_access = _conversation_access(app, access, stored=bool(config.database))
    app[CONVERSATION_ACCESS_KEY] = conversation_access  # join/watch checks of every entrance
    app[SUBSCRIPTIONS_KEY] = Subscriptions(bus, admission, board=board,
                                           access=conversation_access)

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
        estimator.watch_pool(pool.stats)
        monitor = asyncio.ensure_future(estimator.monitor(lambda: admission.in_use))
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        await pool.aclose()

    async def recognizer_ctx(app: web.Application) -> AsyncIterator[None]:
        if recognizer is not None:  # as given (tests): no gate unless the caller added one
            app[RECOGNIZER_KEY] = recognizer
        elif remote is not None:  # the gate spares the servers silence, ends sentences
            app[RECOGNIZER_KEY] = SpeechGate(remote, config.recognition.gate(),
                                             run=app[POOL_KEY].run)
        else:
            assert model_path is not None
            started = time.perf_counter()
            recognition = config.recognition
            model = await load_model(model_path, decoder=recognition.decoder(),
                                     overlay_dir=recognition.overlay_path())
            pool = app[POOL_KEY]
            gate = SpeechGate(VoskRecognizer(model, pool,
                                             partial_interval=settings.partial_interval),
                              recognition.gate(), run=pool.run)
            app[RECOGNIZER_KEY] = gate
            endpointer = gate.config.endpointer
            log.info("model %s loaded in %.2f s; %d recognition workers; voice detection %s, "
                     "phrases end after %d ms of silence; decoder max-active %s; capacity %s",
                     model_path, time.perf_counter() - started, pool.workers, gate.config.vad,
                     endpointer.endpoint_silence_ms, recognition.decoder_max_active or "model's",
                     f"{config.max_sessions} sessions (fixed)" if config.max_sessions else
                     f"{admission.capacity} sessions (measured, from "
                     f"{estimator.cost:.2f} CPU-s per session-second on "
                     f"{estimator.cores:g} cores)")
        yield
        await app[RECOGNIZER_KEY].aclose()

    async def conversations_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app.get(STORE_KEY)
        if store is not None:  # opened by its own context, before this one
            bus.attach_all(store.sink)
            board.recent_store = StoreRecent(store)  # the recent list survives restarts
        outputs: list[SinkFactory] = [summary_sink_factory(board)]
        if config.relay_url:
            outputs.append(relay_sink_factory(config.relay_url, token=config.relay_token))
        if relays.active:
            outputs.append(relays.conversation_output)
            log.info("%s", relays.startup_line())
        parts = dict(run=app[POOL_KEY].run, outputs=outputs,
                     analytics_interval=settings.analytics_interval,
                     max_participants=config.max_participants)
        directory = app[DIRECTORY_KEY] = node.directory(**parts) if node is not None \
            else LocalDirectory(bus=bus, **parts)  # type: ignore[arg-type]
        if store is not None:  # a killed gateway's open conversations get their end
            store.keep_alive(lambda: [c.id for c in directory.live()])
        yield
        await bus.aclose()
        await relays.aclose()  # after the conversations' outputs were finished
        if store is not None:
            bus.detach_all(store.sink)  # the store's own context drains and closes it

    def session_services(app: web.Application) -> SessionServices:
        return SessionServices(
            recognizer=app[RECOGNIZER_KEY], directory=app[DIRECTORY_KEY], bus=bus, ice=ice,
            insights=insights, settings=settings, relays=relays,
            resume_grace=config.resume_grace, access=conversation_access)

    async def webrtc_ctx(app: web.Application) -> AsyncIterator[None]:
        transport = WebRtcTransport(session_services(app), admission)
        app[WEBRTC_KEY] = transport
        directory = app[DIRECTORY_KEY]
        factory: SessionFactory = node.session_factory(transport, directory) \
            if node is not None and isinstance(directory, ClusterDirectory) else transport
        app[FACTORY_KEY] = factory
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
        await asyncio.gather(*(app[key].close_all() for key in (WEBRTC_KEY, whip.WHIP_KEY,
                                                                  SYMBL_KEY) if key in app))
        await close_all_sockets(app)
        await bus.aclose()  # consoles still waiting for a call hear that it is over

    app.cleanup_ctx.append(ice_ctx)
    app.cleanup_ctx.append(pool_ctx)
    if config.database:
        # Opens before the conversations and closes after them, so the last results of the
        # sessions flushed at shutdown are committed.
        app.cleanup_ctx.append(store_cleanup_context(StoreConfig(
            database=config.database, retention_days=config.retention_days,
            abandoned_after=config.abandoned_after)))
    if node is not None:  # joins before the conversations start, leaves after they end
        app[CLUSTER_KEY] = node
        app.cleanup_ctx.append(node.context)
    for ctx in (recognizer_ctx, conversations_ctx, webrtc_ctx, whip_ctx):
        app.cleanup_ctx.append(ctx)
    setup_symbl(app, insights=insights, settings=settings)  # Symbl's WebSocket API
    app.on_shutdown.append(on_shutdown)
    setup_signaling(app, offer_timeout=settings.offer_timeout)
    pages.setup(app, config.web_root)
    health.setup(app)
    metrics.setup(app)
    whip.setup(app)
    ice_servers.setup(app)
    # Any one segment reaches the handler, which answers 400 for an id the docs do not allow
    # (aiohttp's default placeholder would answer 404 for ids with '{' or '}').
    app.router.add_get("/subscribe/{conversation_id:[^/]+}", subscribe_handler)
    # Without a store it answers 503 store_unavailable.
    setup_conversation_api(app, authorize=access_hook)
    console.setup(app, config.web_root)
    conversations_live.setup(app)
    return app


def _conversation_access(app: web.Application, access: AccessControl, *,
                         stored: bool) -> ConversationAccess:
    """Join and watch checks, with a conversation's tenant read from what is live here,
    then from the store (which keeps it after the call, and for other nodes' calls)."""

    def live(conversation_id: str) -> tuple[bool, str | None]:
        directory = app.get(DIRECTORY_KEY)
        conversation = directory.get(conversation_id) if directory is not None else None
        if conversation is None or conversation.ended:
            return False, None
        return True, conversation.tenant

    async def from_store(conversation_id: str) -> tuple[bool, str | None]:
        store = app.get(STORE_KEY)
        return (False, None) if store is None else \
            await store.conversation_tenant(conversation_id)

    return ConversationAccess(access, live, from_store if stored else None)
