"""Admission: whether a new session may start here, decided before anything is built.

A refused client is told why with a stable code (``server_busy``, ``shutting_down``); an
admitted one holds a ticket until its session ends. This one counts sessions in process
memory; a shared admission across nodes implements the same protocol.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Protocol

from gateway.observability.metrics import (
    ADMISSION_REFUSALS,
    SESSIONS_ADMITTED,
    SESSIONS_ENDED,
)

log = logging.getLogger(__name__)


class Refused(Exception):
    """Admission said no; ``code`` is the stable error code clients see."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Ticket:
    """One admitted session's place; ``release`` gives it back (idempotent)."""

    def __init__(self, owner: LocalAdmission, kind: str) -> None:
        self._owner = owner
        self.kind = kind
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._owner._release(self)


class Admission(Protocol):
    def admit(self, kind: str) -> Ticket:
        """A ticket for a new session of transport ``kind``; raises ``Refused``."""
        ...

    def drain(self) -> None:
        """Stop admitting (shutdown); sessions already in keep their tickets."""
        ...

    @property
    def accepting(self) -> bool: ...

    @property
    def in_use(self) -> int: ...

    @property
    def capacity(self) -> int: ...


class LocalAdmission:
    """Implements ``Admission`` with a fixed session limit for this process."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self.accepting = True
        self._in_use: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()

    @property
    def in_use(self) -> int:
        return sum(self._in_use.values())

    @property
    def capacity(self) -> int:
        return self.max_sessions

    def by_kind(self) -> dict[str, int]:
        return {kind: n for kind, n in self._in_use.items() if n}

    def admit(self, kind: str) -> Ticket:
        if not self.accepting:
            self._refuse(kind, "shutting_down")
            raise Refused("shutting_down", "the gateway is shutting down")
        if self.in_use >= self.max_sessions:
            self._refuse(kind, "server_busy")
            raise Refused("server_busy", f"the gateway is at its limit of {self.max_sessions} "
                          "sessions; try again later")
        self._in_use[kind] += 1
        SESSIONS_ADMITTED.labels(kind).inc()
        return Ticket(self, kind)

    def drain(self) -> None:
        self.accepting = False

    def _refuse(self, kind: str, code: str) -> None:
        self.refusals[code] += 1
        ADMISSION_REFUSALS.labels(kind, code).inc()
        log.info("session refused: %s (%d of %d in use)", code, self.in_use, self.max_sessions)

    def _release(self, ticket: Ticket) -> None:
        self._in_use[ticket.kind] -= 1
        SESSIONS_ENDED.labels(ticket.kind).inc()
