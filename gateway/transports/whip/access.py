"""WHIP under the gateway's access control: who may publish, and who may change a resource.

WHIP's only credential is the bearer token (RFC 9725 section 4.7), which is exactly what
the gateway's tokens are: ``POST /whip`` authenticates it like every other entrance (origin,
token, app, request rate; in open mode everyone is the anonymous service principal, so an
open gateway still takes publishers without a token), joins the conversation through the
same join check as ``/ws`` (caller scope, the conversation's tenant; the new conversation
carries the publisher's tenant), and takes one of the token's concurrent sessions for as
long as the resource lives. ``PATCH``/``DELETE`` on a resource are for the token that made
it (or a service): RFC 9725 section 6 warns that anyone who learns a resource URL could
otherwise end or redirect someone else's session.

Refusals keep WHIP's own error form (RFC 9457 problem details with the stable ``code`` of
the refusal, and RFC 6750's ``WWW-Authenticate`` / RFC 6585's ``Retry-After``), so a WHIP
client reads them like any other WHIP error.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from aiohttp import web
from multidict import CIMultiDict

from gateway.auth import ACCESS_KEY, AuthError, Principal, Role
from gateway.auth import errors as auth_errors
from gateway.auth.conversations import CONVERSATION_ACCESS_KEY, JoinGrant
from gateway.auth.extract import find_token
from gateway.auth.quotas import SessionLease

from .responses import problem

log = logging.getLogger(__name__)

RETIRED_WHIP_TOKEN = (
    "--whip-token (GATEWAY_WHIP_TOKEN) is retired: WHIP publishers now present a token of "
    "the gateway's access control, like every other client. Register an app with "
    "--apps-file, fetch a token from POST /oauth2/token:generate and give it to the encoder "
    "as its Bearer Token (docs/whip.md, docs/access-control.md)")


def refusal(request: web.Request, exc: AuthError) -> web.Response:
    """An access-control refusal as a WHIP problem document, with its auth headers."""
    log.info("whip: refused %s %s from %s: %s", request.method, request.path,
             request.remote, exc.code)
    return problem(exc.status, exc.code, exc.message,
                   extra=CIMultiDict(exc.headers()))


async def authenticate(request: web.Request) -> Principal | web.Response:
    """The request's principal, or the refusal to send (401/403/429)."""
    try:
        return await request.app[ACCESS_KEY].authenticate(request)
    except AuthError as exc:
        return refusal(request, exc)


async def admit_publisher(request: web.Request, principal: Principal,
                          conversation_id: str | None
                          ) -> tuple[JoinGrant, SessionLease] | web.Response:
    """May ``principal`` publish into ``conversation_id`` (None: it named none)? The grant
    (which conversation, its tenant) and the session slot the resource holds, or the
    refusal. Join the directory with the grant before awaiting anything else."""
    try:
        grant = await request.app[CONVERSATION_ACCESS_KEY].join(principal, conversation_id)
        lease = request.app[ACCESS_KEY].open_session(principal)
    except AuthError as exc:
        return refusal(request, exc)
    return grant, lease


def token_digest(request: web.Request) -> str | None:
    """A digest of the token the request presents (the token itself is never kept)."""
    raw = find_token(request)
    return None if raw is None else hashlib.sha256(raw.encode()).hexdigest()


def ends_own_session(request: web.Request, exc: AuthError, digest: str | None) -> bool:
    """DELETE with the very token that created the session, expired since: allowed.

    The token was verified when the session was created; a session outlives its token
    (nothing is re-checked while media flows), and ending it is never a risk, so an
    encoder whose token expired mid-session can still hang up cleanly instead of waiting
    for ICE consent to run out. Only the exact token (its digest) counts, only for DELETE.
    """
    if request.method != "DELETE" or exc.code != auth_errors.TOKEN_EXPIRED or digest is None:
        return False
    presented = token_digest(request)
    return presented is not None and hmac.compare_digest(presented, digest)


def may_change(owner: Principal, principal: Principal) -> bool:
    """PATCH/DELETE of a resource: the token that created it, or a service."""
    if principal.role is Role.SERVICE:
        return True
    return owner.token_id is not None and principal.token_id == owner.token_id


def not_yours(request: web.Request) -> web.Response:
    """403 for a resource another token created (the resource is left untouched)."""
    return refusal(request, auth_errors.forbidden(
        auth_errors.FORBIDDEN, "this WHIP session was created with another token; only "
        "that token (or a service token) may change or end it", bearer=False))
