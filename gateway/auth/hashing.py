"""App secrets: hashed with Argon2id (argon2-cffi), verified off the event loop.

Why Argon2id through argon2-cffi: it is the password-hashing competition winner and the
first choice of RFC 9106 and OWASP, the library is the maintained binding of the reference
implementation, and its PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) carry
their own random salt and parameters, so parameters can be raised later without breaking
stored hashes. Generated secrets have 512 bits of entropy and would be safe under any
hash; the KDF is for imported secrets (``apps create --secret-stdin``, for moving Symbl
credentials over unchanged), which may be weaker.

Parameters are OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): ~45 ms here. A
slow hash on the request path is a denial-of-service lever, so: verifications run in a
thread, at most ``MAX_PARALLEL`` at once (bounded memory: 19 MiB each), unknown app ids
cost the same as known ones (no timing oracle for ids), and a successful verification is
remembered for ``CACHE_SECONDS`` as an HMAC under a per-process random key, so a backend
minting many tokens pays the KDF once. Failed attempts are never cached and are rate
limited by the token endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
MAX_PARALLEL = 2
CACHE_SECONDS = 600.0
CACHE_SIZE = 1024


def _encode(secret: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); strict UTF-8 would raise on them.
    return secret.encode("utf-8", "surrogatepass")


class SecretHasher:
    """Hashes and verifies app secrets; one per gateway process."""

    def __init__(self, *, time_cost: int = TIME_COST, memory_cost: int = MEMORY_COST_KIB,
                 parallelism: int = PARALLELISM, cache_seconds: float = CACHE_SECONDS) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                      parallelism=parallelism)
        # A hash of a random secret: verifying an unknown app id costs what a real one does.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        self._slots = asyncio.Semaphore(MAX_PARALLEL)
        self._cache_key = secrets.token_bytes(32)
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    def hash(self, secret: str) -> str:
        """A PHC string for ``secret`` (blocking: the CLI, or a thread)."""
        return self._hasher.hash(_encode(secret))

    def verify_blocking(self, stored_hash: str | None, secret: str) -> bool:
        """Constant-shape check; ``stored_hash`` None (unknown app) always fails."""
        try:
            self._hasher.verify(stored_hash or self._dummy_hash, _encode(secret))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored_hash is not None

    async def verify(self, app_id: str, stored_hash: str | None, secret: str) -> bool:
        """Verify in a thread (bounded), with the success cache in front."""
        digest = hmac.new(self._cache_key, _encode(secret), hashlib.sha256).digest()
        if stored_hash is not None and self._cached(app_id, stored_hash, digest):
            return True
        async with self._slots:
            ok = await asyncio.to_thread(self.verify_blocking, stored_hash, secret)
        if ok and stored_hash is not None:
            self._remember(app_id, stored_hash, digest)
        return ok

    def _cached(self, app_id: str, stored_hash: str, digest: bytes) -> bool:
        # Keyed by the stored hash too: a rotated or re-created app never hits old entries.
        entry = self._cache.get((app_id, stored_hash))
        if entry is None:
            return False
        cached_digest, until = entry
        if until < time.monotonic():
            del self._cache[(app_id, stored_hash)]
            return False
        return hmac.compare_digest(cached_digest, digest)

    def _remember(self, app_id: str, stored_hash: str, digest: bytes) -> None:
        key = (app_id, stored_hash)
        self._cache[key] = (digest, time.monotonic() + self._cache_seconds)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
