"""The conversations a console lists: ``GET /api/conversations`` and its live feed.

``GET /api/conversations?state=live|recent`` answers the summaries (who is in each call and
since when, the latest line, the sentiment trend, questions and action items so far).
``GET /api/console/feed`` is a WebSocket that sends the same lists once and then each
change; docs/console.md says why it is pushed rather than polled.

Both need a token that may watch (docs/access-control.md): the list reveals who is talking
and what they said last, exactly what a subscriber would see. Each principal sees the
conversations it could watch: an agent its tenant's, a caller those its token names, a
service all. Refusals: HTTP JSON with a stable code for the list; on the feed, an error frame
and close (a browser cannot read a refused handshake's status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from gateway.auth import ACCESS_KEY, ConversationFilter, list_filter, websocket_response
from gateway.auth.entrances import admit_socket
from gateway.outputs.board import RECENT, ConversationBoard, summary_visible
from gateway.outputs.result import to_json
from gateway.outputs.summary import ConversationSummary
from gateway.protocols import conversation_feed as feed

from .keys import BOARD_KEY

log = logging.getLogger(__name__)

MAX_LIMIT = 200
FEED_INTERVAL = 1.0  # at most one batch of changes per watcher per second
MAX_WATCHERS = 64  # open feeds per gateway
MAX_PENDING = 1000  # conversations waiting to be sent to one watcher before it is dropped
SEND_TIMEOUT = 10.0  # a watcher that takes longer to take one message is gone


def _json_error(status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=to_json({"code": code, "message": message}),
                        content_type="application/json",
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return RECENT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_LIMIT):
        raise ValueError(f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}")
    return int(raw)


def _access(request: web.Request) -> feed.Access:
    return "open" if request.app[ACCESS_KEY].open else "token"


async def list_conversations(request: web.Request) -> web.Response:
    # An AuthError here becomes its JSON answer (401/403/429 with its code) in the
    # access-control middleware.
    visible = list_filter(await request.app[ACCESS_KEY].authenticate(request))
    state = request.query.get("state", "live")
    try:
        limit = _limit(request)
        if state not in ("live", "recent"):
            raise ValueError(f"state: expected live or recent, got {state[:20]!r}")
    except ValueError as exc:
        return _json_error(400, "invalid_parameter", str(exc))
    board = request.app[BOARD_KEY]
    conversations: list[Any] = (
        [s.to_json() for s in board.live(visible)[:limit]] if state == "live"
        else await board.recent(limit, visible))
    return web.Response(
        text=to_json({"state": state, "access": _access(request),
                      "conversations": conversations}),
        content_type="application/json", headers={"Cache-Control": "no-store"})


class FeedWatcher:
    """One console's feed: at most one pending entry per conversation, one batch a second.

    ``notify`` only records *which* summary changed; the writer reads it when it sends, so
    however fast a call produces results, a watcher holds one entry for it. A watcher that
    falls ``MAX_PENDING`` conversations behind is dropped (it reconnects and gets a fresh
    snapshot), so memory per watcher is bounded too.
    """

    def __init__(self, ws: web.WebSocketResponse, *, interval: float = FEED_INTERVAL,
                 visible: ConversationFilter | None = None) -> None:
        self.ws = ws
        self.visible = visible  # what its principal may see; None: everything
        self.interval = interval
        self.sent = 0
        self.overflowed = False
        self._pending: dict[int, ConversationSummary] = {}
        self._wake = asyncio.Event()

    def notify(self, summary: ConversationSummary) -> None:
        if self.overflowed or not summary_visible(self.visible, summary.id, summary.tenant):
            return
        self._pending[summary.serial] = summary
        if len(self._pending) > MAX_PENDING:
            self.overflowed = True
            self._pending.clear()
        self._wake.set()

    async def run(self) -> None:
        """Send batches until cancelled; a watcher that cannot keep up is closed."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.overflowed:
                    break
                batch, self._pending = self._pending, {}
                for summary in batch.values():
                    await asyncio.wait_for(self.ws.send_str(feed.update(summary.to_json())),
                                           SEND_TIMEOUT)
                    self.sent += 1
                await asyncio.sleep(self.interval)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            log.info("console feed closed: %s", exc or type(exc).__name__)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=1013, message=b"too far behind"), 2.0)


async def feed_handler(request: web.Request) -> web.StreamResponse:
    board: ConversationBoard = request.app[BOARD_KEY]
    # Refusals are told on an open socket: a browser cannot read a refused handshake's status.
    admitted = await admit_socket(request)
    if isinstance(admitted, web.StreamResponse):
        return admitted
    visible = list_filter(admitted)
    ws = websocket_response(request, heartbeat=20.0, max_msg_size=4096)
    await ws.prepare(request)
    if board.watchers >= MAX_WATCHERS:
        await ws.send_str(feed.error("too_many_watchers",
                                     "this gateway has its maximum of console feeds"))
        await ws.close(code=1013, message=b"too many watchers")
        return ws
    watcher = FeedWatcher(ws, visible=visible)
    feeds = request.app[FEEDS_KEY]
    feeds.add(watcher)
    # Watch first, then read: a change during the read is sent after the snapshot (entries
    # are whole summaries, so a repeat is harmless), never lost.
    board.watch(watcher)
    writer: asyncio.Task[None] | None = None
    try:
        recent = await board.recent(RECENT, visible)
        await ws.send_str(feed.snapshot(
            [s.to_json() for s in board.live(visible)], recent, access=_access(request),
            recent_limit=RECENT, interval=watcher.interval))
        writer = asyncio.ensure_future(watcher.run())
        async for msg in ws:  # the feed only talks; what a console sends is ignored
            if msg.type == WSMsgType.ERROR:
                break
    except (ConnectionError, RuntimeError, TimeoutError):
        pass  # the console went away mid-send
    finally:
        board.unwatch(watcher)
        feeds.discard(watcher)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
    return ws


FEEDS_KEY: web.AppKey[set[FeedWatcher]] = web.AppKey("console_feeds")


async def close_feeds(app: web.Application) -> None:
    """At shutdown, before aiohttp waits for handlers: consoles hear "going away" (1001)
    and reconnect to the next gateway, instead of holding the shutdown up."""
    feeds: set[FeedWatcher] = app[FEEDS_KEY]
    watchers = list(feeds)
    await asyncio.gather(*(asyncio.wait_for(w.ws.close(code=1001, message=b"shutting down"),
                                            2.0) for w in watchers), return_exceptions=True)


def setup(app: web.Application) -> None:
    app[FEEDS_KEY] = set()
    app.on_shutdown.append(close_feeds)
    app.router.add_get("/api/conversations", list_conversations)
    app.router.add_get("/api/console/feed", feed_handler)
