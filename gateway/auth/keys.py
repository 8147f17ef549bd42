"""The HS256 signing key: read from ``--jwt-key-file``, or made once and kept there.

The key file holds the key material as text (its bytes, trailing whitespace removed, are
the HMAC key), so an operator can provide one with ``openssl rand -base64 48 > key``. It
must hold at least 32 bytes: RFC 7518 s. 3.2 requires a key at least as long as the hash
output for HS256. When the file does not exist, a 384-bit key is generated and written
with mode 0600 through a temporary file and ``link()``, which never overwrites: of two
gateways starting at once on shared storage, one writes and both read the same key.
A key file readable by group or others is used but logged as a warning (mounted secrets
in containers are often 0644; refusing them would only push people to weaker setups).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32


def ephemeral_key() -> bytes:
    """A key for this process only (open mode: its tokens are never checked)."""
    return secrets.token_bytes(MIN_KEY_BYTES)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().rstrip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path}: a signing key needs at least {MIN_KEY_BYTES} bytes")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("signing key %s is readable by others (mode %o); chmod 600 it", path, mode)
    return key


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; creates the file (0600) with a new key when it is missing.

    Blocking file I/O: call it at startup, before the event loop serves requests.
    """
    path = path.expanduser()
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("generated a new token signing key in %s", path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _read_key(path)
