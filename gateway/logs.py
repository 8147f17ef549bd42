"""Logging set-up for the command line: a quiet default that says what matters, as text for
people or JSON lines for a log pipeline, every record tagged with the session and
conversation it belongs to.

aioice logs every ICE candidate-pair state change at INFO (dozens of lines per call), which
buried the gateway's own lines; libraries' chatter is shown only at ``--log-level debug``.

Ids travel in context variables rather than in each message: a session's handler binds its
id once (``bind``), and every task started from there (aiortc's, the media stream's, the
data channel writer's) inherits a copy of the context, so their records carry the id too
without any logger knowing about sessions.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

CHATTY_LIBRARIES = ("aioice", "aiortc", "aiohttp.access", "alembic")
LOG_FORMATS = ("text", "json")

SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)
CONVERSATION_ID: ContextVar[str | None] = ContextVar("conversation_id", default=None)

_UNSET: Any = object()


def bind(*, session_id: str | None = _UNSET, conversation_id: str | None = _UNSET) -> None:
    """Tag every later record of the current task (and tasks it starts) with these ids."""
    if session_id is not _UNSET:
        SESSION_ID.set(session_id)
    if conversation_id is not _UNSET:
        CONVERSATION_ID.set(conversation_id)


@contextlib.contextmanager
def scope(*, session_id: str | None = _UNSET,
          conversation_id: str | None = _UNSET) -> Iterator[None]:
    """Like ``bind``, undone on exit: for work done on behalf of another owner (a
    conversation-level output built while a participant's session is joining)."""
    tokens = []
    if session_id is not _UNSET:
        tokens.append((SESSION_ID, SESSION_ID.set(session_id)))
    if conversation_id is not _UNSET:
        tokens.append((CONVERSATION_ID, CONVERSATION_ID.set(conversation_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (``session_id``, ``conversation_id``).

    Attached to the handler, so it sees records of every logger, libraries' included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.session_id = SESSION_ID.get()
        record.conversation_id = CONVERSATION_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [session=… conversation=…]`` (ids only when bound)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = [f"{key}={value}" for key, value in (
            ("session", getattr(record, "session_id", None)),
            ("conversation", getattr(record, "conversation_id", None))) if value]
        if not ids:
            return text
        # Keep a traceback's last line the traceback's: ids go on the first line.
        first, newline, rest = text.partition("\n")
        return f"{first} [{' '.join(ids)}]{newline}{rest}"


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time (ISO-8601 UTC), level, logger, message, the ids when
    bound, any ``extra=`` fields, and ``exc_info`` as text."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}", style="{", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in ("session_id", "conversation_id"):
            if log_data.get(key) is None:
                log_data.pop(key, None)


def make_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler with the ids filter and the chosen format."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    return handler


def setup_logging(level: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Configure the root logger once for the process (replacing earlier handlers)."""
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, handlers=[make_handler(fmt, stream)], force=True)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
