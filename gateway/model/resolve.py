"""The one entry point: turn the operator's choice (or none) into a usable model directory.

An explicit path is the operator's own model and is only checked for shape; no path means
the default model, from the cache if intact, else fetched once. Either way a problem ends
in a :class:`ModelUnavailableError` that says what to do, never in Vosk's own abort.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cache import cached_model_ok, default_cache_dir, discard
from .download import DOWNLOAD_TIMEOUT_S, ProgressCallback
from .errors import HOW_TO_BYPASS, ModelUnavailableError
from .install import fetch_into
from .progress import StderrProgress
from .spec import DEFAULT_MODEL, ModelSpec
from .verify import looks_like_vosk_model

__all__ = ["resolve_model"]


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
    if cached_model_ok(target, spec):
        return target
    if target.exists() or target.is_symlink():
        print(
            f"Cached model {target} failed verification; downloading it again.",
            file=sys.stderr,
        )
        discard(target, cache)

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Cannot create the model cache directory {cache}: {exc}. Set GATEWAY_CACHE_DIR "
            f"to a writable directory. {HOW_TO_BYPASS}"
        ) from exc

    bar: StderrProgress | None = None
    if progress is None:
        progress = bar = StderrProgress(spec.name)
    try:
        fetch_into(spec, target, cache, progress, timeout=timeout)
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
