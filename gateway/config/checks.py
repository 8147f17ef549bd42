"""Validation of option values, shared by the flags and the code that takes URLs at run time."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit


def check_ws_url(url: str) -> str:
    """``url`` if it is a usable ws:// or wss:// URL, else ValueError saying why."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"is not a valid URL: {url!r}") from None
    if parts.scheme.lower() not in ("ws", "wss"):
        raise ValueError(f"must be a ws:// or wss:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"has no host: {url!r}")
    return url


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("port must be between 0 and 65535")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_seconds(text: str) -> float:
    """A finite duration in seconds, 0 or more."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
    return value
