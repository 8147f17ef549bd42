"""Fetching a model archive over HTTP(S): bounded waits, progress, and plain-words errors.

Startup must never hang on a dead connection, and "download failed" is not actionable,
so every failure mode urllib has (HTTP status, DNS/refused, a connection closed early, a
stalled socket, a short body) is turned into a :class:`ModelUnavailableError` that names
it and says what to try.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import IO

from .errors import HOW_TO_BYPASS, ModelUnavailableError
from .spec import ModelSpec

__all__ = ["DOWNLOAD_TIMEOUT_S", "ProgressCallback", "download"]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while downloading."""

DOWNLOAD_TIMEOUT_S = 30.0
"""Per socket operation (connect, each read), not for the whole download: a slow but
live connection is fine, a dead one must not hang startup forever."""

_READ_BLOCK = 256 * 1024
"""Bytes per read: one progress callback and one write per block, memory bounded."""


def download(
    spec: ModelSpec, out: IO[bytes], progress: ProgressCallback, *, timeout: float
) -> None:
    """Stream ``spec.url`` into ``out``, reporting progress; raise if it is not complete."""

    def fail(why: str, exc: BaseException | None = None) -> ModelUnavailableError:
        err = ModelUnavailableError(
            f"Could not download the Vosk model {spec.name} from {spec.url}: {why}. "
            f"Check network access to that host, or set GATEWAY_CACHE_DIR to a cache that "
            f"already holds it. {HOW_TO_BYPASS}"
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
            while block := response.read(_READ_BLOCK):
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
