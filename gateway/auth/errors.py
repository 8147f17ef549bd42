"""Refusals: one exception type with a stable machine-readable code, and its wire forms.

Every refusal a client can meet at an entrance is an :class:`AuthError`. Its ``code`` is
part of the public contract (clients branch on it, docs/access-control.md lists them), so
codes are constants here and never built from exception text. The wire forms follow what
clients already parse: Symbl's REST errors carry a ``message`` field; RFC 6750 says a
bearer-token refusal carries ``WWW-Authenticate``; RFC 6585 lets a 429 say ``Retry-After``.
Nothing here ever includes a token, a secret or a stack trace.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

# 400: the request itself is malformed.
INVALID_REQUEST = "invalid_request"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
CONFLICTING_TOKENS = "conflicting_tokens"
# 401: no usable identity.
MISSING_TOKEN = "missing_token"
MALFORMED_TOKEN = "malformed_token"
UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
WRONG_TOKEN_TYPE = "wrong_token_type"
INVALID_SIGNATURE = "invalid_signature"
TOKEN_EXPIRED = "token_expired"
TOKEN_NOT_YET_VALID = "token_not_yet_valid"
INVALID_CLAIMS = "invalid_claims"
APP_REVOKED = "app_revoked"
INVALID_CREDENTIALS = "invalid_credentials"
# 403: known identity, not allowed.
ORIGIN_NOT_ALLOWED = "origin_not_allowed"
FORBIDDEN = "forbidden"
CONVERSATION_NOT_IN_SCOPE = "conversation_not_in_scope"
OTHER_TENANT = "conversation_of_other_tenant"
ROLE_NOT_ALLOWED = "role_not_allowed"
TENANT_NOT_ALLOWED = "tenant_not_allowed"
# 429: over a limit; Retry-After says when to come back.
RATE_LIMITED = "rate_limited"
TOO_MANY_SESSIONS = "too_many_sessions"
TOO_MANY_FAILURES = "too_many_failures"
# 503: the check itself could not be made (the store that knows a conversation's tenant is
# unreachable); refused rather than guessed, Retry-After says when to try again.
STORE_UNAVAILABLE = "store_unavailable"

# WebSocket close codes (RFC 6455 s. 7.4.1 and the IANA registry): 1008 "policy
# violation" for identity and permission refusals, 1013 "try again later" for limits.
WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013

_HTTP_EXCEPTIONS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable,
}
_RFC6750_ERROR = {401: "invalid_token", 403: "insufficient_scope", 400: "invalid_request"}


class AuthError(Exception):
    """A refusal with an HTTP status, a stable ``code`` and a human ``message``.

    ``retry_after`` (seconds) is set on 429s. ``bearer`` marks refusals that concern the
    bearer token, so the HTTP form carries RFC 6750's ``WWW-Authenticate`` challenge.
    """

    def __init__(self, status: int, code: str, message: str, *,
                 retry_after: float | None = None, bearer: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))
        self.bearer = bearer

    def body(self) -> dict[str, Any]:
        """The JSON body: ``message`` first because Symbl clients print that field."""
        out: dict[str, Any] = {"message": self.message, "code": self.code,
                               "status": self.status}
        if self.retry_after is not None:
            out["retryAfter"] = self.retry_after
        return out

    def headers(self) -> dict[str, str]:
        headers = {"Cache-Control": "no-store"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.bearer and self.status in (401, 403):
            # The description is a constant-free sentence of ours: no client input in it
            # except what we validated, and quotes cannot occur in our messages.
            error = _RFC6750_ERROR[self.status]
            headers["WWW-Authenticate"] = (
                f'Bearer realm="gateway", error="{error}", '
                f'error_description="{self.message.replace(chr(34), chr(39))}"'
            )
        return headers

    def response(self) -> web.Response:
        """The HTTP answer (JSON, never a stack trace)."""
        return web.json_response(self.body(), status=self.status, headers=self.headers())

    def http_exception(self) -> web.HTTPException:
        """The same answer as an aiohttp exception, for handlers that prefer ``raise``."""
        cls = _HTTP_EXCEPTIONS[self.status]
        return cls(text=json.dumps(self.body()), content_type="application/json",
                   headers=self.headers())

    def ws_close_code(self) -> int:
        return WS_TRY_AGAIN_LATER if self.status in (429, 503) else WS_POLICY_VIOLATION

    def ws_message(self) -> Mapping[str, Any]:
        """The error frame sent before closing a refused WebSocket (signaling's shape)."""
        body: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retryAfter"] = self.retry_after
        return body


def bad_request(code: str, message: str) -> AuthError:
    return AuthError(400, code, message, bearer=False)


def unauthorized(code: str, message: str) -> AuthError:
    return AuthError(401, code, message)


def forbidden(code: str, message: str, *, bearer: bool = True) -> AuthError:
    return AuthError(403, code, message, bearer=bearer)


def too_many(code: str, message: str, retry_after: float) -> AuthError:
    return AuthError(429, code, message, retry_after=retry_after, bearer=False)


def unavailable(code: str, message: str, retry_after: float = 5) -> AuthError:
    return AuthError(503, code, message, retry_after=retry_after, bearer=False)
