"""The HTTP carrier of signaling, for networks whose proxies refuse WebSocket upgrades.

The same messages as ``/ws``, moved by plain HTTP requests:

- ``POST /signal/open`` (``?resume=<sessionId>`` to resume) opens a connection: ``201``
  with ``{"connectionId", "secret", ...}``. The server's first message (``hello``, or the
  ``error`` that refused it) is the first event.
- ``GET /signal/events``: the server's messages as server-sent events (``id`` and ``data``
  per message), a keep-alive comment every 15 s, and ``event: close`` with
  ``{"code", "reason"}`` when the connection ends. ``Last-Event-ID`` resumes a broken
  stream without losing or repeating a message (the last 64 delivered are kept).
- ``GET /signal/poll?after=N&wait=S``: the same messages for long polling, as
  ``{"events": [{"id", "message"}], "closed": null | {"code", "reason"}}``.
- ``POST /signal``: one client message (a JSON object), or several (an array), handled in
  order; errors come back as ``error`` events, exactly as on ``/ws``.
- ``DELETE /signal``: the client is done (as closing the WebSocket).

Requests name their connection with the ``X-Signal-Connection`` and ``X-Signal-Secret``
headers (or ``connection`` and ``secret`` in the query, for EventSource clients, which
cannot set headers). One event stream or poll at a time: a new one replaces the old.

Pages of another origin that the entrance allows (a node of the same cluster on its own
host name, an ``--allowed-origin``) get CORS answers: every ``/signal`` response carries
the entrance's headers, and ``OPTIONS`` answers the browser's preflight (the requests carry
JSON and the ``X-Signal-*`` headers, so the browser asks first).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import protocol
from .connection import CLOSE_OK, Registry, SignalingConnection
from .entrance import admit_http, cors_for
from .http_link import HEARTBEAT, LINGER, Link, Links
from .interface import SessionFactory

LINKS_KEY = web.AppKey("signaling_http_links", Links)
MAX_BATCH = 64
MAX_BODY = 4 * protocol.MAX_MESSAGE_BYTES
MAX_POLL_WAIT = 30.0
# Some proxies hold a response back until a few KB have passed: a comment pushes them on.
PADDING = b":" + b" " * 2048 + b"\n"
GONE = 4409  # the client's Last-Event-ID is older than the events still held
ALIVE_CHECK = 1.0  # seconds between checks that an event stream's client is still there


def setup(app: web.Application, factory: Callable[[], SessionFactory], registry: Registry,
          offer_timeout: float) -> None:
    links = Links()
    app[LINKS_KEY] = links

    async def open_handler(request: web.Request) -> web.Response:
        principal, release = await admit_http(request)  # a refusal is an HTTP error
        link = links.new()
        conn = SignalingConnection(factory(), link.carrier, registry,
                                   offer_timeout=offer_timeout, remote=request.remote,
                                   resuming=bool(request.query.get("resume")),
                                   principal=principal, release=release)
        link.connection = conn
        await conn.open()  # a refusal is the first event, as on /ws
        return web.json_response(
            {"connectionId": link.id, "secret": link.secret, "send": "/signal",
             "events": "/signal/events", "poll": "/signal/poll", "heartbeat": HEARTBEAT,
             "linger": LINGER}, status=201, headers=_NO_STORE)

    async def send_handler(request: web.Request) -> web.Response:
        link = _link(request, links)
        body = await _body(request)
        texts = _messages(body)
        received = 0
        async with link.lock:
            for text in texts:
                if link.carrier.closed or link.connection is None:
                    break
                received += 1
                if not await link.connection.receive(text):
                    await link.end(CLOSE_OK, "connection ended")
                    break
        return web.json_response({"received": received, "closed": link.carrier.closed},
                                 headers=_NO_STORE)

    async def close_handler(request: web.Request) -> web.Response:
        link = _link(request, links, closed_ok=True)
        await link.end(CLOSE_OK, "closed by the client")
        return web.Response(status=204, headers=_NO_STORE)

    async def events_handler(request: web.Request) -> web.StreamResponse:
        link = _link(request, links, closed_ok=True)
        return await _stream(request, link)

    async def poll_handler(request: web.Request) -> web.Response:
        link = _link(request, links, closed_ok=True)
        return await _poll(request, link)

    app.router.add_post("/signal/open", open_handler)
    app.router.add_post("/signal", send_handler)
    app.router.add_delete("/signal", close_handler)
    app.router.add_get("/signal/events", events_handler)
    app.router.add_get("/signal/poll", poll_handler)
    for path in ("/signal/open", "/signal", "/signal/events", "/signal/poll"):
        app.router.add_route("OPTIONS", path, _preflight)
    app.on_response_prepare.append(_add_cors)


PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID, "
                                    "X-Signal-Connection, X-Signal-Secret",
    "Access-Control-Max-Age": "600",
}


async def _preflight(request: web.Request) -> web.Response:
    """The browser's question before a cross-origin ``fetch``: yes for allowed origins."""
    cors = cors_for(request)
    if not cors:
        return web.json_response(protocol.error(
            "origin_not_allowed", "pages of this origin may not signal here"), status=403)
    return web.Response(status=204, headers={**cors, **PREFLIGHT})


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    """Every ``/signal`` answer (errors and event streams too) readable by allowed pages."""
    if request.path.startswith("/signal") and request.method != "OPTIONS" \
            and "Origin" in request.headers:
        response.headers.update(cors_for(request))


async def close_all(app: web.Application) -> None:
    await app[LINKS_KEY].close_all()


_NO_STORE = {"Cache-Control": "no-store"}


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 410: web.HTTPGone}


def _refuse(status: int, code: str, message: str) -> web.HTTPException:
    """An HTTP error whose body is the protocol's ``error`` message."""
    body = json.dumps(protocol.error(code, message))
    if status == 413:
        return web.HTTPRequestEntityTooLarge(MAX_BODY, MAX_BODY + 1, text=body,
                                             content_type="application/json")
    return _ERRORS[status](text=body, content_type="application/json", headers=_NO_STORE)


def _link(request: web.Request, links: Links, *, closed_ok: bool = False) -> Link:
    """The link a request names, or the HTTP error that says why not."""
    link_id = request.headers.get("X-Signal-Connection") or request.query.get("connection")
    secret = request.headers.get("X-Signal-Secret") or request.query.get("secret")
    if not link_id or not secret:
        raise _refuse(400, "missing_connection", "name the connection with the "
                      "X-Signal-Connection and X-Signal-Secret headers from /signal/open")
    link = links.get(link_id)
    if link is None:
        raise _refuse(404, "unknown_connection", "no such signaling connection (it ended, "
                      "or never existed): open a new one")
    if not link.check(secret):
        raise _refuse(403, "bad_secret", "the secret does not match this connection")
    if link.carrier.closed and not closed_ok:
        raise _refuse(410, "connection_closed", "this signaling connection has ended")
    return link


async def _body(request: web.Request) -> str:
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > MAX_BODY:
            raise _refuse(413, "message_too_large",
                          f"a request body is limited to {MAX_BODY} bytes")
    return data.decode("utf-8", errors="replace")


def _messages(body: str) -> list[str]:
    """The texts a body holds: each element of an array, or the body as one message (so a
    bad message gets the same error event as on /ws)."""
    if body.lstrip().startswith("["):
        try:
            items = json.loads(body)
        except (ValueError, RecursionError):
            return [body]
        if isinstance(items, list):
            if len(items) > MAX_BATCH:
                raise _refuse(400, "batch_too_large",
                              f"at most {MAX_BATCH} messages per request")
            return [json.dumps(item) for item in items]
    return [body]


def _last_event_id(request: web.Request) -> int | None:
    value = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _stream(request: web.Request, link: Link) -> web.StreamResponse:
    """Server-sent events until the connection closes or a newer reader takes over."""
    events = link.carrier.events
    after = _last_event_id(request)
    if after is not None:
        events.ack(after)
    else:
        after = events.delivered
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store, no-transform",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    epoch = link.attach_reader()
    try:
        await response.write(PADDING + b"retry: 2000\n\n")
        while True:
            pending = events.since(after)
            if pending is None:
                await response.write(_close_event(GONE, "events lost: open a new connection"))
                break
            for event_id, message in pending:
                data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
                await response.write(f"id: {event_id}\ndata: {data}\n\n".encode())
                events.ack(event_id)
                after = event_id
            closed = link.carrier.close_event()
            if closed is not None and events.last_id <= after:
                await response.write(_close_event(closed["code"], closed["reason"]))
                break
            if link.epoch != epoch:
                break
            quiet = time.monotonic()
            # Woken by a message, a close or a newer reader; each second, look whether the
            # client is still there (aiohttp does not cancel a handler whose client left).
            while not await events.wait_after(after, ALIVE_CHECK) and not link.carrier.closed \
                    and link.epoch == epoch:
                if request.transport is None or request.transport.is_closing():
                    return response
                if time.monotonic() - quiet >= HEARTBEAT:
                    await response.write(b": keep-alive\n\n")
                    quiet = time.monotonic()
    except (ConnectionError, RuntimeError):
        pass  # the client went away; the link notices when no reader returns
    finally:
        link.detach_reader()
    return response


def _close_event(code: int, reason: str) -> bytes:
    return f"event: close\ndata: {json.dumps({'code': code, 'reason': reason})}\n\n".encode()


async def _poll(request: web.Request, link: Link) -> web.Response:
    events = link.carrier.events
    try:
        after = int(request.query.get("after", events.delivered))
        wait = min(MAX_POLL_WAIT, max(0.0, float(request.query.get("wait", 25))))
    except ValueError:
        raise _refuse(400, "invalid_field", "'after' must be an event id and 'wait' a "
                      "number of seconds") from None
    events.ack(after)
    epoch = link.attach_reader()
    try:
        deadline = time.monotonic() + wait
        while events.last_id <= after and not link.carrier.closed and link.epoch == epoch:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or request.transport is None or request.transport.is_closing():
                break
            await events.wait_after(after, min(remaining, ALIVE_CHECK))
        pending = events.since(after)
    finally:
        link.detach_reader()
    body: dict[str, Any]
    if pending is None:
        body = {"events": [], "closed": {"code": GONE, "reason": "events lost"}}
    else:
        closed = link.carrier.close_event()
        body = {"events": [{"id": i, "message": m} for i, m in pending],
                "closed": closed if closed is not None and (
                    not pending or pending[-1][0] >= events.last_id) else None}
    return web.json_response(body, headers=_NO_STORE)
