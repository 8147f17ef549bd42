"""The one error the model package raises, and the escape hatch every message ends with.

Model trouble happens at start-up, in front of an operator, so each failure is a single
exception type whose text says what failed and what to do about it; the caller (the CLI)
prints it and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["HOW_TO_BYPASS", "ModelUnavailableError"]

HOW_TO_BYPASS = (
    "Alternatively download and unpack a Vosk model yourself and pass --model PATH "
    "or set VOSK_MODEL=PATH."
)
"""Appended to every failure of the automatic download: whatever broke (network, disk,
a bad archive), bringing one's own model always works."""


class ModelUnavailableError(RuntimeError):
    """No usable model: the message says what failed and what the operator can do."""
