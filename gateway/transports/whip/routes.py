"""WHIP's HTTP endpoints (RFC 9725): ``/whip`` creates sessions, ``/whip/{id}`` is one.

| request | answer |
|---|---|
| ``POST /whip`` (``application/sdp``) | 201 + SDP answer, ``Location``, ``ETag``, ``Link`` |
| ``PATCH /whip/{id}`` (``application/trickle-ice-sdpfrag``, ``If-Match``) | 204 |
| ``DELETE /whip/{id}`` | 200 |
| ``OPTIONS`` | 200 + ``Accept-Post``/``Accept-Patch`` and CORS |
| ``GET`` | 204 (the resources have no representation) |

Which conversation and speaker a publisher is comes from the endpoint URL's query
(``conversationId``, ``meetingTitle``, ``languageCode``, ``name``, ``userId``), as an
encoder can only be configured with a URL and a token. Who it is comes from that token,
checked by the gateway's access control (:mod:`.access`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from gateway import logs
from gateway.auth import ACCESS_KEY, AuthError
from gateway.conversation.start_config import (
    UnsupportedLanguage,
    check_language,
    parse_start_config,
)

from .access import (
    RETIRED_WHIP_TOKEN,
    admit_publisher,
    authenticate,
    ends_own_session,
    may_change,
    not_yours,
    refusal,
    token_digest,
)
from .offer import OfferError, check_whip_offer
from .responses import (
    ENDPOINT_METHODS,
    PREFLIGHT,
    SDP,
    SDPFRAG,
    SESSION_METHODS,
    etag_matches,
    headers,
    ice_server_links,
    problem,
)
from .sdpfrag import FragmentError, parse_fragment
from .session import IceRestartUnsupported, WhipSession
from .transport import RETRY_AFTER, WhipTransport

log = logging.getLogger(__name__)

WHIP_KEY = web.AppKey("whip", WhipTransport)
QUERY_FIELDS = ("conversationId", "meetingTitle", "languageCode")
SPEAKER_FIELDS = ("name", "userId")


def query_config(query: Mapping[str, str]) -> dict[str, Any]:
    """The endpoint URL's query as a start config (the shape /ws clients send)."""
    config: dict[str, Any] = {key: query[key] for key in QUERY_FIELDS if key in query}
    speaker = {key: query[key] for key in SPEAKER_FIELDS if key in query}
    if speaker:
        config["speaker"] = speaker
    return config


async def read_body(request: web.Request) -> str | web.Response:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        return problem(413, "body_too_large", str(exc.text or "the body is too large"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "bad_encoding", "the body must be UTF-8 text")


async def create_session(request: web.Request) -> web.Response:
    app = request.app
    principal = await authenticate(request)
    if isinstance(principal, web.Response):
        return principal
    if request.content_type != SDP:
        return problem(415, "unsupported_media_type",
                       f"POST an SDP offer as {SDP}, not {request.content_type or 'nothing'}",
                       extra=CIMultiDict({"Accept-Post": SDP}))
    body = await read_body(request)
    if isinstance(body, web.Response):
        return body
    transport = app[WHIP_KEY]
    services = transport.services
    try:
        start = parse_start_config(query_config(request.query))
        build = services.insights.prepare(start) if services.insights is not None else None
        check_language(start, services.settings.language)
        ice = check_whip_offer(body)
    except UnsupportedLanguage as exc:
        return problem(422, "unsupported_language", str(exc))
    except OfferError as exc:
        return problem(exc.status, exc.code, exc.message)
    except ValueError as exc:  # ConfigError: a query parameter, named
        return problem(400, "invalid_config", str(exc))
    admitted = await admit_publisher(request, principal, start.conversation_id)
    if isinstance(admitted, web.Response):
        return admitted
    grant, lease = admitted
    # No await from the grant to the directory's join (session.start joins first thing).
    start = dataclasses.replace(start, conversation_id=grant.conversation_id,
                                tenant=grant.tenant)
    try:
        session = transport.open(principal, lease, token_digest(request))
    except OfferError as exc:
        lease.release()
        retry = str(RETRY_AFTER.get(exc.code, 5))
        return problem(503, exc.code, exc.message, extra=CIMultiDict({"Retry-After": retry}))
    logs.bind(session_id=session.id)  # this request's records, and the session's tasks
    try:
        answer = await session.start(body, ice, start, build)
    except OfferError as exc:
        extra = CIMultiDict({"Retry-After": "30"}) if exc.status == 503 else None
        return problem(exc.status, exc.code, exc.message, extra=extra)
    log.info("whip %s: publishing to conversation %s", session.id, session.conversation_id)
    out = headers(Location=f"/whip/{session.id}", ETag=session.etag,
                  Accept_Patch=SDPFRAG, Conversation_Id=session.conversation_id or "")
    for link in ice_server_links(services.ice.client_servers(session.id)):
        out.add("Link", link)
    return web.Response(status=201, text=answer, content_type=SDP, headers=out)


async def patch_session(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if isinstance(session, web.Response):
        return session
    if request.content_type != SDPFRAG:
        return problem(415, "unsupported_media_type", f"PATCH a {SDPFRAG} body",
                       extra=CIMultiDict({"Accept-Patch": SDPFRAG}))
    if_match = request.headers.get("If-Match")
    if if_match is None:
        return problem(428, "precondition_required",
                       f"send If-Match: {session.etag} (the ETag of the 201 response)")
    if not etag_matches(if_match, session.etag):
        return problem(412, "precondition_failed",
                       "If-Match does not name this session's current ICE session")
    body = await read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        await session.add_fragment(parse_fragment(body))
    except FragmentError as exc:
        return problem(400, "invalid_sdpfrag", str(exc))
    except IceRestartUnsupported:
        return problem(422, "ice_restart_unsupported",
                       "this server supports trickle ICE but not ICE restarts; the current "
                       "ICE session goes on (DELETE and POST again to start over)")
    return web.Response(status=204, headers=headers())


async def delete_session(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if isinstance(session, web.Response):
        return session
    await session.stop()
    return web.Response(status=200, headers=headers())


async def _owned_session(request: web.Request) -> WhipSession | web.Response:
    """The resource a PATCH/DELETE names, if the request's token may change it: 401 first
    (whether the resource exists is not told), then 404 for no such resource, 403 for
    another token's (the creating token may still DELETE after it expired)."""
    sessions = request.app[WHIP_KEY]
    resource = request.match_info["resource"]
    try:
        principal = await request.app[ACCESS_KEY].authenticate(request)
    except AuthError as exc:
        expired_own = sessions.get(resource)  # the one refusal with an exception
        if expired_own is not None and ends_own_session(request, exc,
                                                        expired_own.token_digest):
            return expired_own
        return refusal(request, exc)
    session = sessions.get(resource)  # after the await: it may have ended meanwhile
    if session is None:
        return problem(404, "unknown_session", "no such WHIP session (it may have ended)")
    if not may_change(session.principal, principal):
        return not_yours(request)
    return session


async def options(request: web.Request) -> web.Response:
    is_session = "resource" in request.match_info
    out = headers(**PREFLIGHT)
    if is_session:
        out["Accept-Patch"] = SDPFRAG
        out["Allow"] = SESSION_METHODS
    else:
        out["Accept-Post"] = SDP
        out["Allow"] = ENDPOINT_METHODS
        if "Access-Control-Request-Method" not in request.headers \
                and not isinstance(await authenticate(request), web.Response):
            # Not a CORS preflight: a client that configures ICE before its offer may ask,
            # with its token (TURN credentials are for those who may publish).
            servers = request.app[WHIP_KEY].services.ice.client_servers("whip-options")
            for link in ice_server_links(servers):
                out.add("Link", link)
    return web.Response(status=200, headers=out)


async def get_resource(request: web.Request) -> web.Response:
    """RFC 9725 section 4.1: the resources have no representation; 2xx with no content."""
    if "resource" in request.match_info and \
            request.app[WHIP_KEY].get(request.match_info["resource"]) is None:
        return problem(404, "unknown_session", "no such WHIP session (it may have ended)")
    return web.Response(status=204, headers=headers())


def setup(app: web.Application, token: str | None = None) -> None:
    """Mount the routes; the transport itself is built in the app's cleanup context.

    ``token`` is the retired ``--whip-token``: given, the gateway refuses to start
    (ValueError, the app factory's way of naming what to fix) rather than run WHIP less
    protected than the operator configured it.
    """
    if token:
        raise ValueError(RETIRED_WHIP_TOKEN)
    app.router.add_route("POST", "/whip", create_session)
    app.router.add_route("OPTIONS", "/whip", options)
    app.router.add_route("GET", "/whip", get_resource)
    app.router.add_route("PATCH", "/whip/{resource}", patch_session)
    app.router.add_route("DELETE", "/whip/{resource}", delete_session)
    app.router.add_route("OPTIONS", "/whip/{resource}", options)
    app.router.add_route("GET", "/whip/{resource}", get_resource)
