"""TURN REST credentials: format, HMAC, expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from turn.credentials import (
    TurnCredential,
    parse_rest_username,
    rest_credential,
    rest_password,
)

# Computed independently with:
#   echo -n "1700000000:alice" | openssl dgst -sha1 -hmac "north-wind" -binary | base64
KNOWN_USERNAME = "1700000000:alice"
KNOWN_PASSWORD = "Oko4dt8u/EbTRjRUJWQDFm/zTCc="


def test_password_matches_known_vector() -> None:
    assert rest_password("north-wind", KNOWN_USERNAME) == KNOWN_PASSWORD


def test_credential_username_holds_expiry_not_issue_time() -> None:
    credential = rest_credential("north-wind", "alice", ttl_seconds=600, now=1_699_999_400.7)
    assert credential == TurnCredential(KNOWN_USERNAME, KNOWN_PASSWORD, 1_700_000_000)


def test_password_is_base64_hmac_sha1_of_username() -> None:
    credential = rest_credential("s3cret", "bob", 3600)
    expected = hmac.new(b"s3cret", credential.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential.password) == expected
    assert len(base64.b64decode(credential.password)) == 20


def test_expiry_is_now_plus_ttl() -> None:
    credential = rest_credential("s", "u", 86400, now=1000.0)
    assert credential.expires_at == 87400
    assert credential.username == "87400:u"
    assert not credential.expired(now=87399)
    assert credential.expired(now=87400)


def test_parse_rest_username() -> None:
    assert parse_rest_username("1700000000:alice") == (1_700_000_000, "alice")
    assert parse_rest_username("alice") is None
    assert parse_rest_username("soon:alice") is None


@pytest.mark.parametrize(
    ("secret", "user", "ttl", "message"),
    [
        ("", "u", 10, "secret"),
        ("s", "", 10, "user"),
        ("s", "a:b", 10, "must not contain"),
        ("s", "u", 0, "positive"),
        ("s", "u", -5, "positive"),
    ],
)
def test_invalid_arguments_are_rejected(secret: str, user: str, ttl: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rest_credential(secret, user, ttl)
