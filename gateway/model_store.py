"""Find, or fetch once and verify, the Vosk model the gateway recognises speech with.

Two ways in:

* the operator names a model directory (``--model PATH`` or ``VOSK_MODEL``; the caller
  decides which wins). We only check that it looks like a Vosk model: operators bring
  their own (bigger, other-language) models and we cannot know their sums.
* nothing is named: the default model is downloaded from its official source into a
  per-user cache, once, and every file is checked against sha256 sums embedded here.
  The sums are the trust anchor, not the transport: whatever mirror or proxy served the
  bytes, a model that does not match them is never used.

Crash and concurrency safety come from never writing in place: the archive is streamed
to a temporary file inside the cache directory, extracted into a temporary directory
beside the final one, verified there, and only then renamed into place (a rename within
one filesystem is atomic). A half-finished download therefore never has the final name,
and two processes fetching at once each work in their own temporaries; the loser of the
final rename simply verifies and uses the winner's copy.

This is blocking code: it runs once at startup, before the event loop, or in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "ModelUnavailableError",
    "ProgressCallback",
    "default_cache_dir",
    "looks_like_vosk_model",
    "resolve_model",
    "verify_model_dir",
]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while downloading."""

DOWNLOAD_TIMEOUT_S = 30.0
"""Per socket operation (connect, each read), not for the whole download: a slow but
live connection is fine, a dead one must not hang startup forever."""

_CHUNK = 256 * 1024
_MARKER = ".verified.json"
"""Written into a cached model after a full sha256 check, with each file's size and
mtime, so later starts can skip re-hashing 68 MB unless something visibly changed."""

_HOW_TO_BYPASS = (
    "Alternatively download and unpack a Vosk model yourself and pass --model PATH "
    "or set VOSK_MODEL=PATH."
)


@dataclass(frozen=True)
class ModelSpec:
    """A model we know how to fetch: where from, and what every file must hash to.

    ``sha256`` maps paths relative to the model directory (POSIX separators, no ``./``)
    to lowercase hex sums. ``name`` is also the directory name inside the cache.
    """

    name: str
    url: str
    sha256: Mapping[str, str]


# The default model's sums, copied from the SHA256SUMS published alongside it. Embedding
# them (rather than downloading a sums file next to the zip) means a compromised or
# corrupted download source cannot also supply matching sums.
_SMALL_EN_US_SHA256: dict[str, str] = {
    "README": "c0cf286e4f7783306c5f6469b37db69228fb16803b03cae661edb2d7bba64ebb",
    "am/final.mdl": "75370a0137f9daf8f469dedd7daa4513ae7a621f03240c6e512e2b50b656a7b6",
    "conf/mfcc.conf": "1e2228006d01d805ad1c267fee9f79709ca87ac51bd82b0e3f5c69ba543f0fc4",
    "conf/model.conf": "8f14cb1eeb07c762c371db648c6be688d347236155ca0f64fb13b6567a8ce81f",
    "graph/Gr.fst": "023c8b7e30704a9e37765c635c252e608a02f361235bf94abdcf2a5225d85b20",
    "graph/HCLr.fst": "5caafba3081e1646545ac6bff0dd7a318e53dcbdc86f237909ce1d2ac1293d34",
    "graph/disambig_tid.int": "9ad87cc166d0998f08f758f47a6223a120dfffcbee805c4849c3aa5e6bb3c0fc",
    "graph/phones/word_boundary.int": (
        "da199d9c991e0e84681ddbb34627b915b26302d50a8fdaa23c51e2bc3a50b5c3"
    ),
    "ivector/final.dubm": "8c5d7dd69d2122313baaf19f61f35dd3fa18b70c62ac0687e311e1c46e6daca7",
    "ivector/final.ie": "3f37faf90c375b9e4740b569398b5829ed9cc07d19be6d441f72c3b71d7efcc6",
    "ivector/final.mat": "ddd83586dc5f928cda8738b922c85ffe38fc789cb5f9151a712ca12f37265382",
    "ivector/global_cmvn.stats": (
        "33be09afcc80059847a275c3d043b51f1ab954c7c2438ddbbf4745e8ba144ff9"
    ),
    "ivector/online_cmvn.conf": "a2f3571754b64297cb7efb2e7ca3df61995c5a45fcbb97188f90613552bb2dfe",
    "ivector/splice.conf": "9f0c5f7c82d18eaf25d8bce470efa9f7741f88411fe428774bc0a9bb69a24756",
}

DEFAULT_MODEL = ModelSpec(
    name="vosk-model-small-en-us-0.15",
    url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
    sha256=MappingProxyType(_SMALL_EN_US_SHA256),
)


class ModelUnavailableError(RuntimeError):
    """No usable model: the message says what failed and what the operator can do."""


# --------------------------------------------------------------------------- locations


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


# --------------------------------------------------------------------------- checks


def looks_like_vosk_model(path: Path) -> list[str]:
    """Return what is missing for ``path`` to be a Vosk model directory (empty if fine).

    Vosk itself fails on a wrong directory with a terse Kaldi log line, or aborts the
    process; checking the landmark files first lets us say which file is missing.
    """
    missing: list[str] = []
    if not (path / "am" / "final.mdl").is_file():
        missing.append("am/final.mdl")
    if not (path / "conf" / "model.conf").is_file():
        missing.append("conf/model.conf")
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst)")
    return missing


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify_model_dir(path: Path, sha256: Mapping[str, str]) -> list[str]:
    """Hash every listed file under ``path``; return human-readable problems (empty = ok)."""
    problems: list[str] = []
    for rel, expected in sorted(sha256.items()):
        file = path.joinpath(*PurePosixPath(rel).parts)
        if not file.is_file():
            problems.append(f"{rel}: missing")
            continue
        actual = _sha256_file(file)
        if actual != expected.lower():
            problems.append(f"{rel}: sha256 mismatch (expected {expected}, got {actual})")
    return problems


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


def _write_marker(path: Path, spec: ModelSpec) -> None:
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


def _cached_model_ok(path: Path, spec: ModelSpec) -> bool:
    if not path.is_dir():
        return False
    if _marker_matches(path, spec):
        return True
    if verify_model_dir(path, spec.sha256):
        return False
    with contextlib.suppress(OSError):  # a read-only cache still works, just re-hashes
        _write_marker(path, spec)
    return True


# --------------------------------------------------------------------------- public entry


def resolve_model(
    path: str | None,
    *,
    spec: ModelSpec = DEFAULT_MODEL,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Return a directory holding a usable Vosk model, downloading the default if needed.

    ``path`` is the operator's explicit choice (``--model`` or ``VOSK_MODEL``, already
    resolved by the caller); when given it must exist and look like a Vosk model, and
    nothing is downloaded. Otherwise ``spec`` is looked up in ``cache_dir`` (default
    :func:`default_cache_dir`), fetched from ``spec.url`` if absent or damaged, and
    verified against ``spec.sha256``. ``progress`` defaults to a one-line bar on stderr.

    An empty ``path`` counts as none given (``VOSK_MODEL=`` is how shells unset things).

    Raises :class:`ModelUnavailableError` with an actionable message on any failure.
    """
    if path:
        return _check_explicit(Path(path).expanduser())

    cache = (cache_dir if cache_dir is not None else default_cache_dir()).expanduser()
    target = cache / spec.name
    if _cached_model_ok(target, spec):
        return target
    if target.exists() or target.is_symlink():
        print(
            f"Cached model {target} failed verification; downloading it again.",
            file=sys.stderr,
        )
        _discard(target, cache)

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Cannot create the model cache directory {cache}: {exc}. Set GATEWAY_CACHE_DIR "
            f"to a writable directory. {_HOW_TO_BYPASS}"
        ) from exc

    bar: _StderrProgress | None = None
    if progress is None:
        progress = bar = _StderrProgress(spec.name)
    try:
        _fetch_into(spec, target, cache, progress, timeout=timeout)
    finally:
        if bar is not None:
            bar.close()
    return target


def _check_explicit(path: Path) -> Path:
    if not path.exists():
        raise ModelUnavailableError(
            f"Vosk model path {path} does not exist. Pass --model PATH or set VOSK_MODEL "
            "to an unpacked Vosk model directory (one containing am/ and conf/), or leave "
            f"both unset to download the default model ({DEFAULT_MODEL.name})."
        )
    if not path.is_dir():
        hint = " Unzip it first." if path.suffix.lower() == ".zip" else ""
        raise ModelUnavailableError(
            f"Vosk model path {path} is a file, not a directory.{hint} --model / VOSK_MODEL "
            "must name an unpacked Vosk model directory."
        )
    missing = looks_like_vosk_model(path)
    if missing:
        # A common slip: pointing at the folder the zip was unpacked into.
        try:
            nested = [sub for sub in sorted(path.iterdir()) if sub.is_dir()]
        except OSError:
            nested = []
        models = [sub for sub in nested if not looks_like_vosk_model(sub)]
        hint = f" Did you mean {models[0]}?" if models else ""
        raise ModelUnavailableError(
            f"{path} does not look like a Vosk model: missing {', '.join(missing)}.{hint} "
            "--model / VOSK_MODEL must name an unpacked Vosk model directory."
        )
    return path.resolve()


# --------------------------------------------------------------------------- download


_STALE_AFTER_S = 24 * 3600


def _remove_stale_temporaries(cache: Path, spec: ModelSpec) -> None:
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


def _fetch_into(
    spec: ModelSpec, target: Path, cache: Path, progress: ProgressCallback, *, timeout: float
) -> None:
    """Download, extract, verify and atomically install ``spec`` at ``target``."""
    _remove_stale_temporaries(cache, spec)
    with _temp_file(cache, f".{spec.name}.", ".zip.part") as (archive_fh, archive_path):
        _download(spec, archive_fh, progress, timeout=timeout)
        archive_fh.close()
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", suffix=".tmp", dir=cache))
        try:
            _extract(spec, archive_path, staging)
            problems = verify_model_dir(staging, spec.sha256)
            if problems:
                raise ModelUnavailableError(
                    f"The model downloaded from {spec.url} failed verification: "
                    + "; ".join(problems)
                    + ". The download is corrupt or the file on the server changed; nothing "
                    f"was kept. Try again later. {_HOW_TO_BYPASS}"
                )
            _write_marker(staging, spec)
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


def _download(
    spec: ModelSpec, out: IO[bytes], progress: ProgressCallback, *, timeout: float
) -> None:
    def fail(why: str, exc: BaseException | None = None) -> ModelUnavailableError:
        err = ModelUnavailableError(
            f"Could not download the Vosk model {spec.name} from {spec.url}: {why}. "
            f"Check network access to that host, or set GATEWAY_CACHE_DIR to a cache that "
            f"already holds it. {_HOW_TO_BYPASS}"
        )
        err.__cause__ = exc
        return err

    request = urllib.request.Request(spec.url, headers={"User-Agent": "conversation-gateway"})
    done = 0
    total: int | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress(done, total)
            while block := response.read(_CHUNK):
                out.write(block)
                done += len(block)
                progress(done, total)
    except urllib.error.HTTPError as exc:
        raise fail(f"HTTP {exc.code} {exc.reason}", exc) from exc
    except urllib.error.URLError as exc:
        raise fail(str(exc.reason), exc) from exc
    except http.client.IncompleteRead as exc:
        raise fail(
            f"connection closed early, download truncated after {done + len(exc.partial)} "
            f"of {total} bytes",
            exc,
        ) from exc
    except TimeoutError as exc:
        raise fail(f"no data for {timeout:g} s (timed out)", exc) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise fail(f"{type(exc).__name__}: {exc}", exc) from exc
    if total is None:
        progress(done, done)  # the size is known now: lets a progress display finish
    elif done != total:
        raise fail(f"download truncated: received {done} of {total} bytes")


def _member_path(name: str) -> PurePosixPath:
    """Validate one archive member name; reject anything that could escape the target."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError(name)
    parts = PurePosixPath(name).parts
    if not parts or any(part in ("..", "") for part in parts):
        raise ValueError(name)
    return PurePosixPath(*parts)


def _extract(spec: ModelSpec, archive: Path, dest: Path) -> None:
    """Safely extract ``archive`` into ``dest``, stripping a single top-level directory.

    The official zips wrap everything in ``<model-name>/``; zips built by hand often do
    not. Absolute paths, ``..`` components and symlinks are rejected outright rather
    than sanitised: a model archive never legitimately contains them, so their presence
    means the archive is not what we asked for.
    """

    def bad(why: str) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"The archive downloaded from {spec.url} is not a usable model: {why}. "
            f"Nothing was kept. {_HOW_TO_BYPASS}"
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
                    shutil.copyfileobj(src, dst, _CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise bad(f"cannot extract {info.filename!r} ({exc})") from exc

    missing = [rel for rel in sorted(spec.sha256) if not dest.joinpath(rel).is_file()]
    if missing:
        raise bad(f"expected files missing from the archive: {', '.join(missing)}")


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
        if _cached_model_ok(target, spec):
            return
    _discard(target, target.parent)
    try:
        os.rename(staging, target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Could not move the verified model into {target}: {exc}. {_HOW_TO_BYPASS}"
        ) from exc


def _discard(path: Path, cache: Path) -> None:
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


# --------------------------------------------------------------------------- progress


class _StderrProgress:
    """One self-overwriting line on stderr: ``name [#####.....]  45%  18.2/40.0 MB``.

    Redraws only when the shown percentage changes, so a log file captured from a
    non-terminal stderr gets ~100 updates rather than one per 256 KiB block.
    """

    def __init__(self, label: str, width: int = 30) -> None:
        self._label = label
        self._width = width
        self._last: object = None
        self._open = False

    def __call__(self, done: int, total: int | None) -> None:
        mb = done / 1e6
        if total:
            frac = min(done / total, 1.0)
            pct = int(frac * 100)
            key: object = pct
            filled = int(frac * self._width)
            bar = "#" * filled + "." * (self._width - filled)
            line = f"Downloading {self._label} [{bar}] {pct:3d}%  {mb:.1f}/{total / 1e6:.1f} MB"
            finished = done >= total
        else:
            key = int(mb)
            line = f"Downloading {self._label} ... {mb:.1f} MB"
            finished = False
        if key == self._last and not finished:
            return
        self._last = key
        self._open = not finished
        end = "\n" if finished else ""
        print(f"\r{line}", end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        """End a bar left open by a failed download, so the error starts on its own line."""
        if self._open:
            print(file=sys.stderr, flush=True)
            self._open = False
