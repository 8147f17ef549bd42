"""Ephemeral TURN credentials (the "TURN REST API" scheme that coturn calls ``use-auth-secret``).

The gateway and coturn share one secret and never store per-user passwords: the gateway mints a
credential per client on demand, and coturn recomputes the password from the username alone.

* username: ``"<expiry unix time>:<user>"``. The number is the moment the credential *expires*,
  not when it was issued; coturn rejects the credential (401) once that moment has passed.
* password: ``base64(HMAC-SHA1(secret, username))``.

coturn also ends an allocation made with such a credential when the credential expires, so the
time-to-live must cover the longest call, not just the time needed to connect (see docs/turn.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

SEPARATOR = ":"


@dataclass(frozen=True)
class TurnCredential:
    """A username/password pair for one TURN client, valid until ``expires_at`` (unix time)."""

    username: str
    password: str
    expires_at: int

    def expired(self, now: float | None = None) -> bool:
        """True once coturn would reject this credential."""
        return (time.time() if now is None else now) >= self.expires_at


def rest_password(secret: str, username: str) -> str:
    """The password coturn expects for ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def rest_credential(
    secret: str, user: str, ttl_seconds: int, now: float | None = None
) -> TurnCredential:
    """Mint a credential for ``user`` that expires ``ttl_seconds`` from ``now``.

    ``user`` is only an accounting label (it shows up in coturn's logs and quotas); it must not
    contain ``:`` because coturn splits the username at the first separator to find the expiry.
    """
    if not secret:
        raise ValueError("TURN secret must not be empty")
    if not user:
        raise ValueError("TURN user must not be empty")
    if SEPARATOR in user:
        raise ValueError(f"TURN user {user!r} must not contain {SEPARATOR!r}")
    if ttl_seconds <= 0:
        raise ValueError(f"TURN credential time-to-live must be positive, got {ttl_seconds}")
    issued = time.time() if now is None else now
    expires_at = int(issued) + int(ttl_seconds)
    username = f"{expires_at}{SEPARATOR}{user}"
    return TurnCredential(username, rest_password(secret, username), expires_at)


def parse_rest_username(username: str) -> tuple[int, str] | None:
    """Split a REST username into ``(expires_at, user)``; ``None`` if it is not one.

    Used to explain a 401 from the TURN server: an expired timestamp is the likely cause and
    deserves its own message rather than "wrong secret".
    """
    stamp, sep, user = username.partition(SEPARATOR)
    if not sep or not stamp.isdigit():
        return None
    return int(stamp), user
