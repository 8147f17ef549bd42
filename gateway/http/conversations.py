"""Symbl's Conversation API over the conversation store: ``/v1/conversations…``.

Routes, parameters and answer shapes follow Symbl's API reference (see
docs/conversation-api.md for each, with examples and every difference). A live
conversation answers with what it has so far: the store is written as results happen.

Access: every request first goes through an injectable ``authorize(request, action,
conversation_id)`` hook (``action`` is ``"list"``, ``"read"`` or ``"delete"``) that returns
the :class:`~gateway.store.Principal` the request acts as, or raises (:class:`ApiError`, or
an aiohttp ``HTTPException`` such as 401/403/429, answered as JSON). The store then narrows
every query to that principal, so a conversation the principal may not see answers 404,
exactly like one that does not exist. The default hook lets everyone read everything (a
bare application); the gateway installs :func:`access_hook`, which asks the access control
(docs/access-control.md): a caller reads only the conversations its token names, an agent
its tenant's, a service everything; only a service deletes.

Errors are JSON ``{"message": …, "code": …}``: Symbl's ``message`` plus a stable
machine-readable ``code``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from gateway.auth import ACCESS_KEY, Action, AuthError, Role, cors_headers
from gateway.auth import Principal as Caller
from gateway.auth.routes import token_preflight
from gateway.store import OPEN, STORE_KEY, Principal, Store
from gateway.store import reader as answers
from gateway.store.listing import InvalidParameter, parse_flag, parse_list_query
from gateway.store.queries import connection_of

log = logging.getLogger(__name__)

PREFIX = "/v1/conversations"
CONVERSATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
DELETED = "successfully deleted the conversation"
NOT_FOUND_ON_DELETE = "The conversationId is either invalid or does not exist."
Authorize = Callable[[web.Request, str, str | None], Awaitable[Principal]]
_AUTHORIZE: web.AppKey[Authorize] = web.AppKey("conversation_api_authorize")
_STORE: web.AppKey[Store | None] = web.AppKey("conversation_api_store")
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "request_too_large",
                 429: "too_many_requests"}


class ApiError(Exception):
    """An error answer: HTTP status, stable ``code`` and a message for people."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


async def allow_all(request: web.Request, action: str, conversation_id: str | None) -> Principal:
    """The default hook: everyone may list, read and delete everything."""
    return OPEN


async def access_hook(request: web.Request, action: str,
                      conversation_id: str | None) -> Principal:
    """The gateway's hook: the request's token decides what it reaches.

    A caller asking for an id its token does not name is refused from the token alone (403
    ``conversation_not_in_scope``, which tells nothing about the id); everything else a
    principal may not see (another tenant's conversations) is filtered in the queries and
    answers 404, like an id that does not exist.
    """
    access = request.app[ACCESS_KEY]
    try:
        who = await access.authenticate(request)
        if action == "delete":
            access.authorize(who, Action.DELETE, conversation_id or "")
        elif conversation_id is not None:
            aliases = await _connection_named(request, who, conversation_id)
            access.authorize(who, Action.READ, conversation_id, aliases=aliases)
    except AuthError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.headers()) from None
    return store_principal(who)


async def _connection_named(request: web.Request, who: Caller,
                            conversation_id: str) -> tuple[str, ...]:
    """The Symbl ``connectionId`` a conversation was opened under, when ``who`` is a caller
    whose token names that connection rather than the conversation (a Symbl client reads
    the conversation it streamed with the token it streamed with). Asked of the store only
    then: it tells the caller nothing about conversations of connections it does not name.
    """
    if who.role is not Role.CALLER or conversation_id in who.conversations:
        return ()
    store = request.app.get(_STORE) or request.app.get(STORE_KEY)
    if store is None:
        return ()  # the handler answers store_unavailable
    connection = await store.read(connection_of, conversation_id)
    return (connection,) if connection is not None and connection in who.conversations else ()


def store_principal(who: Caller) -> Principal:
    """What the store lets a principal see (its queries apply it as WHERE clauses)."""
    if who.role is Role.SERVICE:
        return Principal(subject=who.subject)
    if who.role is Role.AGENT:
        return Principal(subject=who.subject, tenant=who.tenant)
    return Principal(subject=who.subject, tenant=who.tenant,
                     conversation_ids=frozenset(who.conversations))


def setup_conversation_api(app: web.Application, store: Store | None = None, *,
                           authorize: Authorize = allow_all) -> None:
    """Add the routes (and a JSON error middleware for them) to ``app``.

    ``store``: an opened store, or ``None`` for the one ``store_cleanup_context`` puts at
    ``app[STORE_KEY]`` when the application starts.
    """
    app[_AUTHORIZE] = authorize
    app[_STORE] = store
    app.middlewares.append(_json_errors)
    # Browser pages of allowed origins call the API with an Authorization header, which
    # needs a CORS preflight (answered like token:generate's) on each route.
    app.router.add_get(PREFIX, list_conversations)
    app.router.add_route("OPTIONS", PREFIX, token_preflight)
    app.router.add_get(PREFIX + "/{conversationId}", get_conversation)
    app.router.add_delete(PREFIX + "/{conversationId}", delete_conversation)
    app.router.add_route("OPTIONS", PREFIX + "/{conversationId}", token_preflight)
    for tail, handler in _SUBRESOURCES.items():
        app.router.add_get(f"{PREFIX}/{{conversationId}}/{tail}", handler)
        app.router.add_route("OPTIONS", f"{PREFIX}/{{conversationId}}/{tail}", token_preflight)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _answer(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> web.Response:
    return _answer(_json({"message": message, "code": code}), status, headers)


@web.middleware
async def _json_errors(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    response = await _answer_json(request, handler)
    access = request.app.get(ACCESS_KEY)
    if access is not None and request.method != "OPTIONS":
        response.headers.update(cors_headers(request, access))
    return response


async def _answer_json(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message, exc.headers)
    except InvalidParameter as exc:
        return _error(400, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        keep = {k: v for k, v in exc.headers.items()
                if k.lower() in ("allow", "www-authenticate", "retry-after")}
        message = exc.text if exc.text and exc.content_type == "text/plain" else exc.reason
        return _error(exc.status, _STATUS_CODES.get(exc.status, "error"), message or "", keep)
    except DBAPIError as exc:
        log.warning("conversation API: store unavailable: %s",
                    str(exc.orig or exc).strip().splitlines()[0][:300])
        return _error(503, "store_unavailable",
                      "The conversation store is unavailable; try again shortly.",
                      {"Retry-After": "5"})
    except Exception:  # noqa: BLE001 - a bug must answer JSON, never a stack trace
        log.exception("conversation API: %s %s failed", request.method, request.path)
        return _error(500, "internal_error", "Something went wrong; it has been logged.")


def _store(request: web.Request) -> Store:
    store = request.app[_STORE]
    if store is None:
        store = request.app.get(STORE_KEY)
    if not isinstance(store, Store):
        raise ApiError(503, "store_unavailable", "The conversation store is not enabled.")
    return store


def _conversation_id(request: web.Request) -> str:
    cid = request.match_info["conversationId"]
    if not CONVERSATION_ID.fullmatch(cid):
        raise ApiError(400, "invalid_conversation_id",
                       "conversationId must be 1-128 letters, digits, '.', '_', ':' or '-'")
    return cid


async def _principal(request: web.Request, action: str, cid: str | None) -> Principal:
    return await request.app[_AUTHORIZE](request, action, cid)


async def _render(request: web.Request, work: Callable[..., Any], *args: Any,
                  **kwargs: Any) -> web.Response:
    """Run a store answer in a reader thread, JSON-encoded there too (large transcripts).

    ``work(connection, principal, …)`` returns ``None`` for a conversation that does not
    exist for the principal: 404.
    """
    def encoded(connection: Any) -> str | None:
        data = work(connection, *args, **kwargs)
        return None if data is None else _json(data)

    text = await _store(request).read(encoded)
    if text is None:
        raise ApiError(404, "not_found",
                       f"Conversation {request.match_info.get('conversationId')!r} not found.")
    return _answer(text)


async def list_conversations(request: web.Request) -> web.Response:
    """``GET /v1/conversations``: paged, filtered by time window and participant."""
    principal = await _principal(request, "list", None)
    query = parse_list_query(request.query)
    return await _render(request, answers.conversations_page, principal, query)


async def get_conversation(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    return await _render(request, answers.conversation,
                         await _principal(request, "read", cid), cid)


async def delete_conversation(request: web.Request) -> web.Response:
    """``DELETE /v1/conversations/{id}``: everything stored goes; the delete is logged."""
    cid = _conversation_id(request)
    principal = await _principal(request, "delete", cid)
    removed = await _store(request).delete(cid, principal=principal)
    if removed is None:
        raise ApiError(404, "not_found", NOT_FOUND_ON_DELETE)
    return _answer(_json({"message": DELETED}))


def _subresource(work: Callable[..., Any], **fixed: Any) -> Callable[[web.Request],
                                                                      Awaitable[web.Response]]:
    flags = fixed.pop("flags", {})

    async def handler(request: web.Request) -> web.Response:
        cid = _conversation_id(request)
        principal = await _principal(request, "read", cid)
        options = {name: parse_flag(request.query, param) for name, param in flags.items()}
        return await _render(request, work, principal, cid, **fixed, **options)

    return handler


_SUBRESOURCES = {
    "messages": _subresource(answers.messages,
                             flags={"sentiment": "sentiment", "verbose": "verbose"}),
    "insights": _subresource(answers.insights),
    "questions": _subresource(answers.insights, key="questions", types=("question",)),
    "action-items": _subresource(answers.insights, key="actionItems", types=("action_item",)),
    "follow-ups": _subresource(answers.insights, key="followUps", types=("follow_up",)),
    "topics": _subresource(answers.topics,
                           flags={"sentiment": "sentiment", "parent_refs": "parentRefs"}),
    "trackers-detected": _subresource(answers.trackers),
    "analytics": _subresource(answers.analytics),
    "members": _subresource(answers.members),
}

__all__ = ["ApiError", "Authorize", "access_hook", "allow_all", "setup_conversation_api",
           "store_principal"]
