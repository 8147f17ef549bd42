"""Logging set-up for the command line: a quiet default that says what matters.

aioice logs every ICE candidate-pair state change at INFO (dozens of lines per call), which
buried the gateway's own lines; libraries' chatter is shown only at ``--log-level debug``.
"""

from __future__ import annotations

import logging

CHATTY_LIBRARIES = ("aioice", "aiortc", "aiohttp.access", "alembic")


def setup_logging(level: str) -> None:
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
