"""aiohttp glue: the token endpoint, the app key, refusals on HTTP and on WebSockets.

``setup_access(app, access)`` is all the app factory needs: it stores the
:class:`AccessControl`, adds ``POST /oauth2/token:generate`` (and its CORS preflight),
turns an :class:`AuthError` raised by any handler into its JSON answer, and runs the
apps-file watcher for the app's lifetime. Entrances then call
``request.app[ACCESS_KEY].authenticate(request)`` (HTTP) or ``authenticate_ws`` plus
:func:`refuse_websocket` (WebSockets), and open their sockets with
:func:`websocket_response` so a token sent as a subprotocol is echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import hdrs, web

from . import errors as e
from .access import AccessControl
from .extract import token_subprotocols

log = logging.getLogger(__name__)

ACCESS_KEY = web.AppKey("access_control", AccessControl)
TOKEN_PATH = "/oauth2/token:generate"
MAX_TOKEN_BODY = 16 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_access(app: web.Application, access: AccessControl) -> None:
    app[ACCESS_KEY] = access
    app.middlewares.append(auth_error_middleware)
    app.router.add_post(TOKEN_PATH, token_generate)
    app.router.add_route(hdrs.METH_OPTIONS, TOKEN_PATH, token_preflight)

    async def watcher_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.ensure_future(access.watch_apps())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(watcher_ctx)


@web.middleware
async def auth_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An :class:`AuthError` escaping a handler becomes its JSON refusal, nothing else."""
    try:
        return await handler(request)
    except e.AuthError as exc:
        log.info("refused %s %s from %s: %s", request.method, request.path, request.remote,
                 exc.code)
        response = exc.response()
        response.headers.update(cors_headers(request, request.app[ACCESS_KEY]))
        return response


async def token_generate(request: web.Request) -> web.Response:
    """Symbl's ``POST /oauth2/token:generate``: ``{"accessToken", "expiresIn"}``."""
    access = request.app[ACCESS_KEY]
    cors = cors_headers(request, access)
    try:
        access.origins.check(request)
        body = await _json_body(request)
        issued = await access.issue_token(body, request.remote)
    except e.AuthError as exc:
        log.info("token request refused from %s: %s", request.remote, exc.code)
        response = exc.response()
        response.headers.update(cors)
        return response
    # RFC 6749 s. 5.1: token answers must not be cached.
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **cors}
    return web.json_response({"accessToken": issued.token, "expiresIn": issued.expires_in},
                             headers=headers)


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_TOKEN_BODY:
        raise e.bad_request(e.INVALID_REQUEST, "the body is too large")
    raw = bytearray()
    while chunk := await request.content.read(MAX_TOKEN_BODY + 1 - len(raw)):
        raw += chunk  # read() may return part of what was sent: read to the end
        if len(raw) > MAX_TOKEN_BODY:
            raise e.bad_request(e.INVALID_REQUEST, "the body is too large")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise e.bad_request(e.INVALID_REQUEST, "the body must be JSON") from None


def cors_headers(request: web.Request, access: AccessControl) -> dict[str, str]:
    """CORS answer headers for a cross-origin browser request from an allowed origin.

    Browser pages that call the gateway's HTTP API from another origin (Symbl's browser
    samples fetch their token that way) can read the answer only with these. The tokens
    travel in headers, never cookies, so credentials mode is not enabled.
    """
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or not access.origins.is_allowed(origin, request.headers.get(hdrs.HOST)):
        return {}
    return {
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
        hdrs.VARY: "Origin",
        hdrs.ACCESS_CONTROL_EXPOSE_HEADERS: "Retry-After, WWW-Authenticate, Location, "
                                            "Link, ETag",
    }


async def token_preflight(request: web.Request) -> web.Response:
    """The CORS preflight of a browser's JSON POST; 403 for an origin not allowed."""
    access = request.app[ACCESS_KEY]
    cors = cors_headers(request, access)
    if not cors:
        return e.forbidden(e.ORIGIN_NOT_ALLOWED, "this origin may not use the gateway",
                           bearer=False).response()
    cors.update({
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: "POST, GET, DELETE, OPTIONS",
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Authorization, Content-Type, x-api-key",
        hdrs.ACCESS_CONTROL_MAX_AGE: "600",
    })
    return web.Response(status=204, headers=cors)


def websocket_response(request: web.Request, **kwargs: Any) -> web.WebSocketResponse:
    """A WebSocketResponse that echoes a token sent as the subprotocol.

    Symbl's JS SDK in a browser sends its token as the only requested subprotocol; a
    browser fails the handshake when the server does not select one it requested.
    """
    protocols = tuple(kwargs.pop("protocols", ())) + token_subprotocols(request)
    return web.WebSocketResponse(protocols=protocols, **kwargs)


async def refuse_websocket(request: web.Request, error: e.AuthError, *,
                           message: Mapping[str, Any] | None = None) -> web.StreamResponse:
    """Answer a refused WebSocket handshake.

    An Origin refusal is a plain HTTP 403: a foreign page gets no socket at all. Any other
    refusal is accepted, told in one JSON frame (``message``, by default
    ``{"type": "error", "code", "message"}``), and closed cleanly with 1008 (identity,
    permission) or 1013 (limits): browsers show nothing of an HTTP refusal to scripts, and
    Symbl's SDK retries unclean closes in a loop, a clean close with a reason it does not.
    """
    if error.code == e.ORIGIN_NOT_ALLOWED:
        return error.response()
    ws = websocket_response(request)
    await ws.prepare(request)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json(dict(message) if message is not None else dict(error.ws_message()))
    await ws.close(code=error.ws_close_code(), message=error.code.encode("ascii"))
    return ws
