"""Tokens: real PyJWT tokens, made right and made wrong, against the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import errors as e
from gateway.auth.b64safe import atob_safe
from gateway.auth.principal import Role
from gateway.auth.tokens import ISSUER, Grant, TokenCodec

KEY = b"0123456789abcdef" * 4  # 64 bytes: no short-key warning even for HS512


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "sub": "app1", "role": "agent", "tenant": "acme",
                            "scope": "tenant:acme", "iat": now, "exp": now + 600,
                            "jti": "abc123"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = KEY, alg: str = "HS256",
         typ: str | None = "at+jwt") -> str:
    headers = {"typ": typ} if typ else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def refused(token: str, codec: TokenCodec | None = None) -> str:
    with pytest.raises(e.AuthError) as info:
        (codec or TokenCodec(KEY)).verify(token)
    assert info.value.status == 401
    return info.value.code


def test_issued_tokens_verify_to_the_same_principal() -> None:
    codec = TokenCodec(KEY)
    issued = codec.issue(Grant("app1", Role.CALLER, "acme", frozenset({"A", "B:2"})), 900)
    p = codec.verify(issued.token)
    assert (p.subject, p.role, p.tenant, p.conversations) == ("app1", Role.CALLER, "acme",
                                                              frozenset({"A", "B:2"}))
    assert p.token_id == issued.principal.token_id and p.expires_at == issued.principal.expires_at
    body = jwt.decode(issued.token, KEY, algorithms=["HS256"], issuer=ISSUER)
    assert body["scope"] == "conversation:A conversation:B:2"
    assert body["exp"] - body["iat"] == 900
    assert jwt.get_unverified_header(issued.token) == {"alg": "HS256", "typ": "at+jwt"}
    assert codec.issue(Grant("app1", Role.SERVICE, "acme"), 900).principal.token_id != p.token_id


def test_expired_token_is_refused() -> None:
    now = int(time.time())
    assert refused(sign(claims(iat=now - 700, exp=now - 60))) == e.TOKEN_EXPIRED


def test_token_from_the_future_is_refused() -> None:
    now = int(time.time())
    assert refused(sign(claims(iat=now + 3600, exp=now + 7200))) == e.TOKEN_NOT_YET_VALID


def test_tampered_payload_is_refused() -> None:
    token = TokenCodec(KEY).issue(Grant("app1", Role.CALLER, "acme", frozenset({"A"})), 900).token
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(role="service", scope="*")
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert refused(f"{header}.{forged}.{signature}") == e.INVALID_SIGNATURE


def test_token_signed_with_another_key_is_refused() -> None:
    assert refused(sign(claims(), key=b"x" * 40)) == e.INVALID_SIGNATURE


def test_alg_none_is_refused() -> None:
    token = jwt.encode(claims(), "", algorithm="none", headers={"typ": "at+jwt"})
    assert token.endswith(".")
    assert refused(token) == e.UNSUPPORTED_ALGORITHM
    # Also with a signature part glued on, and with the alg spelled differently.
    assert refused(token + "c2ln") == e.UNSUPPORTED_ALGORITHM
    head = base64.urlsafe_b64encode(b'{"alg":"None","typ":"at+jwt"}').rstrip(b"=").decode()
    assert refused(head + "." + token.split(".")[1] + ".") == e.UNSUPPORTED_ALGORITHM


def test_hs512_with_the_right_key_is_refused() -> None:
    assert refused(sign(claims(), alg="HS512")) == e.UNSUPPORTED_ALGORITHM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_rs256_and_the_key_confusion_attack_are_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(sign(claims(), key=private, alg="RS256")) == e.UNSUPPORTED_ALGORITHM
    # The classic confusion: HS256 "signed" with a public key PEM as the HMAC secret,
    # hoping the server verifies with its public key as the secret (PyJWT will not even
    # make such a token, so it is made by hand). The gateway has no public key: the
    # signature simply does not verify.
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (_b64(b'{"alg":"HS256","typ":"at+jwt"}') + "."
                     + _b64(json.dumps(claims()).encode()))
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert refused(f"{signing_input}.{_b64(mac)}") == e.INVALID_SIGNATURE


def test_wrong_token_type_is_refused() -> None:
    assert refused(sign(claims(), typ="JWT")) == e.WRONG_TOKEN_TYPE
    assert refused(sign(claims(), typ=None)) == e.WRONG_TOKEN_TYPE


@pytest.mark.parametrize("missing", ["iss", "sub", "role", "tenant", "scope", "iat", "exp",
                                     "jti"])
def test_missing_claims_are_refused(missing: str) -> None:
    payload = claims()
    del payload[missing]
    assert refused(sign(payload)) == e.INVALID_CLAIMS


@pytest.mark.parametrize("change", [
    {"iss": "someone-else"}, {"role": "admin"}, {"role": 1}, {"tenant": "a b"},
    {"scope": "tenant:other"}, {"scope": "*"}, {"exp": "9999999999"},
    {"iat": 1.5}, {"jti": 7}, {"sub": ""},
    {"role": "caller", "scope": "conversation:A conversation:"},
    {"role": "caller", "scope": "room:A"},
    {"role": "service", "scope": "tenant:acme"},
])
def test_ill_typed_or_inconsistent_claims_are_refused(change: dict[str, Any]) -> None:
    assert refused(sign(claims(**change))) == e.INVALID_CLAIMS


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c.d", "....", "é.é.é",
                                     "eyJhbGciOiJIUzI1NiJ9.e30", "x" * 9000])
def test_garbage_is_malformed(garbage: str) -> None:
    assert refused(garbage) == e.MALFORMED_TOKEN


def _atob_decodes(segment: str) -> bool:
    """What a browser's atob accepts: standard base64 alphabet, padding optional."""
    if any(c not in string.ascii_letters + string.digits + "+/" for c in segment):
        return False
    base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True)
    return True


def test_payload_decodes_with_atob_as_symbls_web_sdk_does() -> None:
    codec = TokenCodec(KEY)
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "._:-"
    for _ in range(500):
        ids = frozenset("".join(rng.choices(alphabet, k=rng.randint(1, 40)))
                        for _ in range(rng.randint(1, 5)))
        tenant = "".join(rng.choices(alphabet, k=rng.randint(1, 20)))
        token = codec.issue(Grant("".join(rng.choices(alphabet, k=64)), Role.CALLER, tenant,
                                  ids), 3600).token
        payload = token.split(".")[1]
        assert _atob_decodes(payload), payload
        decoded = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        assert decoded["exp"] > time.time() and decoded["tenant"] == tenant
        assert codec.verify(token).conversations == ids


def test_atob_safe_keeps_the_json_value() -> None:
    text = json.dumps({"o/O?_~>": ["oooo", "////", "~~~~", "????"], "n": -1.5e3,
                       "t": [True, False, None]}, separators=(",", ":"))
    for shift in range(3):
        shifted = "{" + '"p":"' + "x" * shift + '",' + text[1:]
        safe = atob_safe(shifted)
        assert json.loads(safe) == json.loads(shifted)
        encoded = base64.urlsafe_b64encode(safe.encode()).decode().rstrip("=")
        assert "-" not in encoded and "_" not in encoded
