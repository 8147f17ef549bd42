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


# Headless Chromium on a machine with no route out: without the background-networking
# flags it keeps trying (and failing) to reach Google's services.
HEADLESS_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Loopback addresses are candidates too (the gateway and coturn listen on 127.0.0.1).
    "--allow-loopback-in-peer-connection",
]
