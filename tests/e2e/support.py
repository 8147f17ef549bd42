"""Helpers shared by the browser tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def insights_available() -> bool:
    try:
        from gateway.insights import InsightsEngine  # noqa: F401
    except ImportError:
        return False
    return True


class Browser:
    """One Chromium with a fresh profile; ``page`` is its first tab."""

    def __init__(self, context: Any, page: Any, profile: Path) -> None:
        self.context = context
        self.page = page
        self.profile = profile
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))


LaunchBrowser = Callable[..., Awaitable[Browser]]
MakeSpeech = Callable[..., Path]
