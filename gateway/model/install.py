"""Download, extract, verify and install a model without ever writing in place.

Crash and concurrency safety come from never writing in place: the archive is streamed
to a temporary file inside the cache directory, extracted into a temporary directory
beside the final one, verified there, and only then renamed into place (a rename within
one filesystem is atomic). A half-finished download therefore never has the final name,
and two processes fetching at once each work in their own temporaries; the loser of the
final rename simply verifies and uses the winner's copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .archive import extract
from .cache import cached_model_ok, discard, remove_stale_temporaries, write_marker
from .download import ProgressCallback, download
from .errors import HOW_TO_BYPASS, ModelUnavailableError
from .spec import ModelSpec
from .verify import verify_model_dir

__all__ = ["fetch_into"]


def fetch_into(
    spec: ModelSpec, target: Path, cache: Path, progress: ProgressCallback, *, timeout: float
) -> None:
    """Download, extract, verify and atomically install ``spec`` at ``target``."""
    remove_stale_temporaries(cache, spec)
    with _temp_file(cache, f".{spec.name}.", ".zip.part") as (archive_fh, archive_path):
        download(spec, archive_fh, progress, timeout=timeout)
        archive_fh.close()
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", suffix=".tmp", dir=cache))
        try:
            extract(spec, archive_path, staging)
            problems = verify_model_dir(staging, spec.sha256)
            if problems:
                raise ModelUnavailableError(
                    f"The model downloaded from {spec.url} failed verification: "
                    + "; ".join(problems)
                    + ". The download is corrupt or the file on the server changed; nothing "
                    f"was kept. Try again later. {HOW_TO_BYPASS}"
                )
            write_marker(staging, spec)
            _install(staging, target, spec)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _temp_file(directory: Path, prefix: str, suffix: str) -> Iterator[tuple[IO[bytes], Path]]:
    """A named temp file in ``directory`` (same filesystem as the target), always removed."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    path = Path(name)
    fh = os.fdopen(fd, "wb")
    try:
        yield fh, path
    finally:
        fh.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _install(staging: Path, target: Path, spec: ModelSpec) -> None:
    """Rename the verified staging directory to its final name.

    If another process got there first the rename fails because ``target`` is a
    non-empty directory; theirs was verified the same way, so we use it (after a
    check, in case it is a stale damaged copy rather than a fresh one).
    """
    try:
        os.rename(staging, target)
        return
    except OSError:
        if cached_model_ok(target, spec):
            return
    discard(target, target.parent)
    try:
        os.rename(staging, target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Could not move the verified model into {target}: {exc}. {HOW_TO_BYPASS}"
        ) from exc
