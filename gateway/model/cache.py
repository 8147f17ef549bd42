"""The per-user model cache: where it is, whether a cached copy is intact, and cleanup.

Re-hashing the whole model on every start would read it in full each time, so after a
full check passes a marker records each file's size and mtime, and later starts trust the
copy while those are unchanged. Damaged copies are renamed away before removal so no other
process half-sees them; temporaries a killed process left behind are swept after a day.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from .spec import ModelSpec
from .verify import verify_model_dir

__all__ = [
    "cached_model_ok",
    "default_cache_dir",
    "discard",
    "remove_stale_temporaries",
    "write_marker",
]

_MARKER = ".verified.json"
"""Written into a cached model after a full sha256 check, with each file's size and
mtime, so later starts can skip re-hashing 68 MB unless something visibly changed."""

_STALE_AFTER_S = 24 * 3600


def default_cache_dir() -> Path:
    """Where downloaded models live: ``$GATEWAY_CACHE_DIR``, else the XDG cache.

    A per-user cache (not the working directory) so that every checkout and every
    container run with the same home shares one 40 MB download.
    """
    explicit = os.environ.get("GATEWAY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "conversation-gateway"


def _file_stamps(path: Path, sha256: Mapping[str, str]) -> dict[str, list[int]] | None:
    """Size and mtime of each listed file, or None if one is missing."""
    stamps: dict[str, list[int]] = {}
    for rel in sha256:
        try:
            st = path.joinpath(*PurePosixPath(rel).parts).stat()
        except OSError:
            return None
        stamps[rel] = [st.st_size, st.st_mtime_ns]
    return stamps


def write_marker(path: Path, spec: ModelSpec) -> None:
    """Record that ``path`` just passed a full check of ``spec``'s sums."""
    stamps = _file_stamps(path, spec.sha256)
    if stamps is None:  # pragma: no cover - only after a successful full verification
        return
    data = {"name": spec.name, "sha256": dict(spec.sha256), "stamps": stamps}
    tmp = path / (_MARKER + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path / _MARKER)


def _marker_matches(path: Path, spec: ModelSpec) -> bool:
    """True if a previous full check of exactly these sums still describes the files.

    Size and mtime catch every ordinary change (a replaced, truncated, deleted or
    re-extracted file); anything subtler than that gets caught by the full check
    that runs whenever the marker is absent or stale.
    """
    try:
        data = json.loads((path / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("sha256") != dict(spec.sha256):
        return False
    return data.get("stamps") == _file_stamps(path, spec.sha256)


def cached_model_ok(path: Path, spec: ModelSpec) -> bool:
    """Whether ``path`` holds ``spec`` intact: by its marker, else by a full check."""
    if not path.is_dir():
        return False
    if _marker_matches(path, spec):
        return True
    if verify_model_dir(path, spec.sha256):
        return False
    with contextlib.suppress(OSError):  # a read-only cache still works, just re-hashes
        write_marker(path, spec)
    return True


def remove_stale_temporaries(cache: Path, spec: ModelSpec) -> None:
    """Delete temporaries a killed process left behind (a day old: surely not in use).

    Temporaries are hidden, named after the model, and never mistaken for a model, so
    leaving them is harmless except for the disk space a half download occupies.
    """
    now = time.time()
    for pattern in (f".{spec.name}.*", ".discard.*"):
        for leftover in cache.glob(pattern):
            try:
                if now - leftover.lstat().st_mtime < _STALE_AFTER_S:
                    continue
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink()
            except OSError:
                pass


def discard(path: Path, cache: Path) -> None:
    """Remove a damaged cached model; rename it away first so nobody half-sees it."""
    try:
        graveyard = Path(tempfile.mkdtemp(prefix=".discard.", dir=cache))
        os.rename(path, graveyard / path.name)
    except OSError:
        graveyard = path
    if graveyard.is_dir() and not graveyard.is_symlink():
        shutil.rmtree(graveyard, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            graveyard.unlink()
