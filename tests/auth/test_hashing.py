"""Secret hashing with real Argon2id."""

from __future__ import annotations

from gateway.auth.hashing import SecretHasher


async def test_verify_right_wrong_unknown_and_odd_input() -> None:
    hasher = SecretHasher()
    stored = hasher.hash("s3cret-with-ünïcode")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert stored != hasher.hash("s3cret-with-ünïcode")  # a fresh salt each time
    assert await hasher.verify("app", stored, "s3cret-with-ünïcode")
    assert not await hasher.verify("app", stored, "s3cret-with-unicode")
    assert not await hasher.verify("app", None, "s3cret-with-ünïcode")  # unknown app
    assert not await hasher.verify("app", stored, "\ud800 lone surrogate")
    assert not await hasher.verify("app", "$argon2id$garbage", "x")


class CountingHasher(SecretHasher):
    """The real hasher, counting how often the KDF runs."""

    def __init__(self) -> None:
        super().__init__()
        self.kdf_runs = 0

    def verify_blocking(self, stored_hash: str | None, secret: str) -> bool:
        self.kdf_runs += 1
        return super().verify_blocking(stored_hash, secret)


async def test_success_is_cached_per_stored_hash_failures_never() -> None:
    hasher = CountingHasher()
    stored = hasher.hash("secret")
    for _ in range(20):
        assert await hasher.verify("app", stored, "secret")
    assert hasher.kdf_runs == 1
    assert not await hasher.verify("app", stored, "secreT")  # a near miss is not cached
    assert not await hasher.verify("app", stored, "secreT")
    assert hasher.kdf_runs == 3
    rotated = hasher.hash("new")
    assert not await hasher.verify("app", rotated, "secret")  # old entry not reused
    assert await hasher.verify("app", rotated, "new")
    assert hasher.kdf_runs == 5
