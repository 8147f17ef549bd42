"""What a WebSocket entrance does with access control, in one call.

Every socket the gateway accepts (``/ws``, ``/subscribe/{id}``, the console's feed, and the
other helpers' Symbl and WHIP entrances) goes through :func:`admit_socket`: authenticate the
handshake (origin, token, app, request rate), run the entrance's own permission check, and
take a slot of the token's concurrent sessions for as long as the socket's handler runs.
A refusal is answered here (an error frame and a clean close, or a plain 403 for a foreign
origin) and handed back as the response to return, so an entrance needs two lines::

    admitted = await admit_socket(request)
    if isinstance(admitted, web.StreamResponse):
        return admitted          # refused and already answered
    principal = admitted

The session slot is released when the handler's task ends, however it ends (return, error,
cancellation at shutdown): aiohttp runs each request's handler in a task of its own, so a
done-callback on it is exactly the socket's lifetime, and no entrance can forget to give the
slot back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .access import AccessControl
from .errors import AuthError
from .principal import Principal
from .quotas import SessionLease
from .routes import ACCESS_KEY, cors_headers, refuse_websocket

log = logging.getLogger(__name__)

Check = Callable[[Principal], Awaitable[None]]
"""An entrance's own permission check (e.g. may watch this conversation); raises AuthError."""


def hold_session(access: AccessControl, principal: Principal) -> SessionLease:
    """Take one of ``principal``'s concurrent sessions until the current request's handler
    ends; 429 ``too_many_sessions`` when none is free."""
    return bind_to_handler(access.open_session(principal))


def bind_to_handler(lease: SessionLease) -> SessionLease:
    """Tie ``lease`` to the current request's handler: released when the handler ends, and
    the handler cancelled (its socket ends) when the lease's app is revoked, unless the
    entrance's own session ended it first, with a message in its wire format."""
    task = asyncio.current_task()
    if task is None:  # not inside a handler: the caller must release the lease itself
        return lease
    task.add_done_callback(lambda _task: lease.release())
    lease.on_revoke = task.cancel
    return lease


async def admit_socket(request: web.Request, check: Check | None = None, *,
                       message: Callable[[AuthError], Mapping[str, Any]] | None = None
                       ) -> Principal | web.StreamResponse:
    """Authenticate a WebSocket handshake, run ``check``, hold a session slot.

    Returns the principal, or the response that already refused the socket. ``message``
    builds the refusal frame for entrances with a wire format of their own (Symbl's
    endpoints); by default it is ``{"type": "error", "code", "message"}``.
    """
    access = request.app[ACCESS_KEY]
    admitted = await access.authenticate_ws(request)
    try:
        if isinstance(admitted, AuthError):
            raise admitted
        if check is not None:
            await check(admitted)
        hold_session(access, admitted)
    except AuthError as exc:
        log.info("refused socket %s from %s: %s", request.path, request.remote, exc.code)
        return await refuse_websocket(request, exc,
                                      message=message(exc) if message is not None else None)
    return admitted


class SignalingEntrance:
    """Implements ``signaling.entrance.Entrance``: who is connecting to ``/ws`` or opening
    an HTTP signaling connection. The conversation is named later, in the offer; the WebRTC
    session checks it then (``ConversationAccess.join``)."""

    async def websocket(self, request: web.Request) -> Principal | web.StreamResponse:
        return await admit_socket(request)

    def cors(self, request: web.Request) -> Mapping[str, str]:
        """Pages of allowed origins (``--allowed-origin``, the cluster's other nodes) may
        use the HTTP carrier from their own origin."""
        return cors_headers(request, request.app[ACCESS_KEY])

    async def http(self, request: web.Request) -> tuple[Principal, Callable[[], None]]:
        """The HTTP carrier's connection outlives the request that opens it: its session
        slot is released when the connection ends. Refusals are ``AuthError``s, answered
        as JSON by the access middleware."""
        access = request.app[ACCESS_KEY]
        principal = await access.authenticate(request)
        lease = access.open_session(principal)
        return principal, lease.release
