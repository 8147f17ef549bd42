"""Safe extraction of a downloaded model zip.

A downloaded archive is untrusted input until its files match the sums, and extraction
happens *before* that check, so the archive must not be able to write outside the
staging directory: absolute paths, ``..`` components and symlinks are rejected outright.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .errors import HOW_TO_BYPASS, ModelUnavailableError
from .spec import ModelSpec

__all__ = ["extract"]

_COPY_BLOCK = 256 * 1024
"""Bytes per copy step while inflating a member: bounded memory for any member size."""


def _member_path(name: str) -> PurePosixPath:
    """Validate one archive member name; reject anything that could escape the target."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError(name)
    parts = PurePosixPath(name).parts
    if not parts or any(part in ("..", "") for part in parts):
        raise ValueError(name)
    return PurePosixPath(*parts)


def extract(spec: ModelSpec, archive: Path, dest: Path) -> None:
    """Safely extract ``archive`` into ``dest``, stripping a single top-level directory.

    The official zips wrap everything in ``<model-name>/``; zips built by hand often do
    not. Absolute paths, ``..`` components and symlinks are rejected outright rather
    than sanitised: a model archive never legitimately contains them, so their presence
    means the archive is not what we asked for.
    """

    def bad(why: str) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"The archive downloaded from {spec.url} is not a usable model: {why}. "
            f"Nothing was kept. {HOW_TO_BYPASS}"
        )

    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise bad(f"not a valid zip file ({exc})") from exc
    with zf:
        members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in zf.infolist():
            try:
                rel = _member_path(info.filename)
            except ValueError:
                raise bad(f"unsafe path {info.filename!r} in archive (path traversal)") from None
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise bad(f"archive member {info.filename!r} is a symbolic link")
            members.append((info, rel))

        files = [(info, rel) for info, rel in members if not info.is_dir()]
        if not files:
            raise bad("the archive is empty")
        tops = {rel.parts[0] for _, rel in members}
        spec_tops = {PurePosixPath(rel).parts[0] for rel in spec.sha256}
        strip = (
            len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in files) and not tops & spec_tops
        )

        root = dest.resolve()
        for info, rel in files:
            parts = rel.parts[1:] if strip else rel.parts
            out = root.joinpath(*parts)
            if root not in out.resolve().parents:  # belt and braces after _member_path
                raise bad(f"unsafe path {info.filename!r} in archive")
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _COPY_BLOCK)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise bad(f"cannot extract {info.filename!r} ({exc})") from exc

    missing = [rel for rel in sorted(spec.sha256) if not dest.joinpath(rel).is_file()]
    if missing:
        raise bad(f"expected files missing from the archive: {', '.join(missing)}")
