"""Access tokens: HS256 JWTs made and checked with PyJWT, pinned to one algorithm.

Claims: ``iss`` (this gateway), ``sub`` (the appId), ``role``, ``tenant``, ``scope``,
``iat``, ``exp``, ``jti``. ``scope`` is an RFC 8693-style space-separated string:
``conversation:<id> ...`` for a caller (the ids it may join), ``tenant:<tenant>`` for an
agent, ``*`` for a service. The header's ``typ`` is ``at+jwt`` (RFC 9068), so a JWT made
with the same key for another purpose is never taken for an access token.

Verification trusts nothing in the token before the signature: the algorithm is pinned to
HS256 (``none``, HS512 and RS256 tokens are refused before any key is used), PyJWT checks
the signature, then ``exp``/``iat``/``iss``, then every claim is type-checked here. Each
failure maps to one stable error code (gateway/auth/errors.py).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from . import errors as e
from .b64safe import AtobSafeEncoder
from .principal import IDENTIFIER, MAX_CONVERSATIONS_PER_TOKEN, Principal, Role

ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"
ISSUER = "conversation-gateway"
LEEWAY_SECONDS = 10
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("iss", "sub", "role", "tenant", "scope", "iat", "exp", "jti")
_SHORT_NAME = re.compile(r"^[A-Za-z0-9+._-]{1,16}$")


@dataclass(frozen=True, slots=True)
class Grant:
    """What a new token says: who, which role, which tenant, which conversations."""

    subject: str
    role: Role
    tenant: str
    conversations: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    principal: Principal


def scope_string(role: Role, tenant: str, conversations: Iterable[str]) -> str:
    if role is Role.SERVICE:
        return "*"
    if role is Role.AGENT:
        return f"tenant:{tenant}"
    return " ".join(f"conversation:{c}" for c in sorted(conversations))


def _parse_scope(role: Role, tenant: str, scope: str) -> frozenset[str]:
    """The caller's conversation ids; ValueError when scope does not fit the role."""
    if role is Role.SERVICE:
        if scope != "*":
            raise ValueError("a service token's scope is '*'")
        return frozenset()
    if role is Role.AGENT:
        if scope != f"tenant:{tenant}":
            raise ValueError("an agent token's scope is its tenant")
        return frozenset()
    items = scope.split(" ")
    if not 1 <= len(items) <= MAX_CONVERSATIONS_PER_TOKEN:
        raise ValueError("a caller token names 1 to 100 conversations")
    ids = set()
    for item in items:
        kind, _, value = item.partition(":")
        if kind != "conversation" or not IDENTIFIER.match(value):
            raise ValueError("a caller token's scope lists conversation:<id> items")
        ids.add(value)
    return frozenset(ids)


class TokenCodec:
    """Issues and verifies tokens with one HS256 key. Cheap: no I/O, microseconds each."""

    def __init__(self, key: bytes, *, leeway: float = LEEWAY_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._leeway = leeway
        self._clock = clock

    def issue(self, grant: Grant, ttl: int) -> IssuedToken:
        now = int(self._clock())
        jti = secrets.token_hex(16)
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": grant.subject, "role": grant.role.value,
            "tenant": grant.tenant,
            "scope": scope_string(grant.role, grant.tenant, grant.conversations),
            "iat": now, "exp": now + ttl, "jti": jti,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM,
                           headers={"typ": TOKEN_TYPE}, json_encoder=AtobSafeEncoder)
        principal = Principal(subject=grant.subject, role=grant.role, tenant=grant.tenant,
                              conversations=grant.conversations if grant.role is Role.CALLER
                              else frozenset(), token_id=jti, expires_at=now + ttl)
        return IssuedToken(token=token, expires_in=ttl, principal=principal)

    def verify(self, token: str) -> Principal:
        """The token's principal, or a 401 :class:`AuthError` with a stable code."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise e.unauthorized(e.MALFORMED_TOKEN, "the token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise e.unauthorized(e.MALFORMED_TOKEN, "the token is not a JWT") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            shown = alg if isinstance(alg, str) and _SHORT_NAME.match(alg) else "unknown"
            raise e.unauthorized(e.UNSUPPORTED_ALGORITHM,
                                 f"tokens must be signed with {ALGORITHM}, not {shown}")
        if header.get("typ") != TOKEN_TYPE:
            raise e.unauthorized(e.WRONG_TOKEN_TYPE, "this is not an access token of this "
                                 "gateway (typ must be at+jwt)")
        claims = self._decode(token)
        return self._principal(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, self._key, algorithms=[ALGORITHM], issuer=ISSUER,
                leeway=self._leeway, options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidSignatureError:
            raise e.unauthorized(e.INVALID_SIGNATURE, "the token's signature does not "
                                 "verify") from None
        except jwt.ExpiredSignatureError:
            raise e.unauthorized(e.TOKEN_EXPIRED, "the token has expired; get a new one "
                                 "from /oauth2/token:generate") from None
        except jwt.ImmatureSignatureError:
            raise e.unauthorized(e.TOKEN_NOT_YET_VALID, "the token is not valid yet "
                                 "(issued in the future: check the clocks)") from None
        except jwt.InvalidAlgorithmError:
            raise e.unauthorized(e.UNSUPPORTED_ALGORITHM,
                                 f"tokens must be signed with {ALGORITHM}") from None
        except (jwt.MissingRequiredClaimError, jwt.InvalidIssuerError,
                jwt.InvalidIssuedAtError, InvalidSubjectError, InvalidJTIError):
            raise e.unauthorized(e.INVALID_CLAIMS, "the token's claims are missing or "
                                 "invalid") from None
        except jwt.DecodeError:
            raise e.unauthorized(e.MALFORMED_TOKEN, "the token is not a JWT") from None
        except jwt.PyJWTError:
            raise e.unauthorized(e.INVALID_CLAIMS, "the token's claims are missing or "
                                 "invalid") from None

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        invalid = e.unauthorized(e.INVALID_CLAIMS, "the token's claims are missing or invalid")
        exp, iat = claims["exp"], claims["iat"]
        if type(exp) is not int or type(iat) is not int or exp <= iat:
            raise invalid
        sub, tenant, jti = claims["sub"], claims["tenant"], claims["jti"]
        if not all(isinstance(v, str) and IDENTIFIER.match(v) for v in (sub, tenant, jti)):
            raise invalid
        try:
            role = Role(claims["role"])
            scope = claims["scope"]
            if not isinstance(scope, str):
                raise ValueError("scope must be a string")
            conversations = _parse_scope(role, tenant, scope)
        except ValueError:
            raise invalid from None
        return Principal(subject=sub, role=role, tenant=tenant, conversations=conversations,
                         token_id=jti, expires_at=exp)
