"""Errors on Symbl's streaming socket: one exception type, one JSON shape.

Symbl's documentation never prints a streaming error, but its clients show what they read:
the Go SDK unmarshals a top-level ``{"type": "error", "details", "message"}``
(``pkg/api/streaming/v1/types.go``) and the web SDK throws ``data.details`` for a top-level
``type == "error"`` (``src/connection/BaseConnection.ts``). So every error is that shape,
with our stable ``code`` added for programs (unknown keys are ignored by every client).

``fatal`` tells the transport what Symbl's service did with the socket afterwards: a bad
message costs that message only (the socket stays usable) unless the error says otherwise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RealtimeError", "error_body"]


def error_body(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    """The error as sent: ``message`` says what failed, ``details`` what to change."""
    return {"type": "error", "code": code, "message": message, "details": details or message}


class RealtimeError(ValueError):
    """A client message the gateway cannot honour.

    ``code`` is stable and machine-readable (``bad_json``, ``invalid_start_request``, …);
    ``field`` is the JSON path at fault when there is one; ``fatal`` is True when the socket
    must be closed after the error is sent (with ``close_code``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: str | None = None,
        field: str | None = None,
        fatal: bool = False,
        close_code: int = 1008,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or message
        self.field = field
        self.fatal = fatal
        self.close_code = close_code

    def body(self) -> dict[str, Any]:
        """The JSON object to send to the client."""
        return error_body(self.code, self.message, self.details)
