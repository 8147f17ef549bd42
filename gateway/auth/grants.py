"""What ``POST /oauth2/token:generate`` asks for, and what an app may be granted.

Symbl's request is ``{"type": "application", "appId": ..., "appSecret": ...}`` and gets a
token with the app's full rights. An app may also ask for less, with optional fields that
Symbl clients never send (so they change nothing for them):

- ``role``: its own role or a lower one (a service or agent backend minting a caller token
  for a browser page);
- ``conversationIds``: for a caller token, the conversations it may join (required when
  the role is caller; for a caller app, a subset of the app's own ids);
- ``tenant``: only a service app may name a tenant other than its own;
- ``expiresIn``: a shorter lifetime than the gateway's ``--token-ttl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import errors as e
from .apps import App
from .config import MIN_TOKEN_TTL
from .principal import IDENTIFIER, MAX_CONVERSATIONS_PER_TOKEN, Role
from .tokens import Grant

MAX_SECRET_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class TokenRequest:
    app_id: str
    app_secret: str
    role: Role | None = None
    conversations: frozenset[str] | None = None
    tenant: str | None = None
    expires_in: int | None = None


def _invalid(message: str) -> e.AuthError:
    return e.bad_request(e.INVALID_REQUEST, message)


def parse_token_request(body: Any) -> TokenRequest:
    """Validate the JSON body; 400 with a message naming the field (never its value)."""
    if not isinstance(body, Mapping):
        raise _invalid("the body must be a JSON object")
    kind = body.get("type")
    if kind != "application":
        raise e.bad_request(e.UNSUPPORTED_GRANT_TYPE, "'type' must be \"application\"")
    app_id, secret = body.get("appId"), body.get("appSecret")
    if not isinstance(app_id, str) or not app_id:
        raise _invalid("'appId' is required (a string)")
    if not isinstance(secret, str) or not secret:
        raise _invalid("'appSecret' is required (a string)")
    if len(app_id) > 128 or len(secret) > MAX_SECRET_LENGTH:
        # An unknown id or an impossible secret: same answer as wrong credentials.
        raise e.unauthorized(e.INVALID_CREDENTIALS, "appId and appSecret do not match an app")
    role = None
    if body.get("role") is not None:
        try:
            role = Role(body["role"])
        except ValueError:
            raise _invalid("'role' must be caller, agent or service") from None
    conversations = None
    if body.get("conversationIds") is not None:
        ids = body["conversationIds"]
        if (not isinstance(ids, list) or not 1 <= len(ids) <= MAX_CONVERSATIONS_PER_TOKEN
                or not all(isinstance(c, str) and IDENTIFIER.match(c) for c in ids)):
            raise _invalid(f"'conversationIds' must list 1 to {MAX_CONVERSATIONS_PER_TOKEN} "
                           "conversation ids")
        conversations = frozenset(ids)
    tenant = body.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not IDENTIFIER.match(tenant)):
        raise _invalid("'tenant' must be 1-128 letters, digits, '.', '_', ':' or '-'")
    expires_in = body.get("expiresIn")
    if expires_in is not None and (type(expires_in) is not int or expires_in < MIN_TOKEN_TTL):
        raise _invalid(f"'expiresIn' must be a whole number of seconds >= {MIN_TOKEN_TTL}")
    return TokenRequest(app_id=app_id, app_secret=secret, role=role,
                        conversations=conversations, tenant=tenant, expires_in=expires_in)


def grant_for(app: App, request: TokenRequest) -> Grant:
    """The token an authenticated ``app`` gets for ``request``; 403 when it asks too much."""
    role = request.role or app.role
    if not app.role.may_grant(role):
        raise e.forbidden(e.ROLE_NOT_ALLOWED, f"a {app.role.value} app may not get "
                          f"{role.value} tokens", bearer=False)
    tenant = request.tenant or app.tenant
    if tenant != app.tenant and app.role is not Role.SERVICE:
        raise e.forbidden(e.TENANT_NOT_ALLOWED, "only a service app may name another tenant",
                          bearer=False)
    conversations: frozenset[str] = frozenset()
    if role is Role.CALLER:
        conversations = request.conversations or app.conversations
        if not conversations:
            raise _invalid("a caller token needs 'conversationIds'")
        if app.role is Role.CALLER and not conversations <= app.conversations:
            raise e.forbidden(e.CONVERSATION_NOT_IN_SCOPE, "this app may not name those "
                              "conversations", bearer=False)
    elif request.conversations is not None:
        raise _invalid("'conversationIds' applies to caller tokens only")
    return Grant(subject=app.app_id, role=role, tenant=tenant, conversations=conversations)


def ttl_for(request: TokenRequest, configured: int) -> int:
    return configured if request.expires_in is None else min(request.expires_in, configured)
