"""Admission: whether a new session may start here, decided before anything is built.

A refused client is told why with a stable code (``server_busy``, ``shutting_down``); an
admitted one holds a ticket until its session ends. This one counts sessions in process
memory; a shared admission across nodes implements the same protocol.

The limit is either fixed (``--max-sessions N``) or, by default, measured: the
:class:`~gateway.conversation.capacity.CapacityEstimator` turns the CPU that sessions are
seen to cost into a session count, and refuses everything while the worker pool is
saturated, so a new caller is told ``server_busy`` before every running call falls behind.
``load()`` says how close the gateway is, for ``/readyz`` and load balancers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Protocol

from gateway.observability.metrics import (
    ADMISSION_REFUSALS,
    SESSIONS_ADMITTED,
    SESSIONS_ENDED,
)

from .capacity import CapacityEstimator

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Load:
    """How close this gateway is to refusing sessions (``LocalAdmission.load()``)."""

    in_use: int
    capacity: int
    utilisation: float
    """``in_use / capacity`` (1.0 when saturated under a measured limit)."""
    limit: Literal["measured", "fixed"]
    accepting: bool
    """False when a new session would be refused now (full, saturated or shutting down)."""
    saturated: bool
    """The worker pool is busy beyond the saturation threshold (recognition is behind)."""
    cost: float | None
    """Measured CPU-seconds per session-second (None with a fixed limit and no estimator)."""
    pool_busy: float | None
    cores: float | None

    def to_json(self) -> dict[str, object]:
        """The ``/readyz`` body's ``load`` object (camelCase, like the other endpoints)."""
        return {
            "inUse": self.in_use, "capacity": self.capacity,
            "utilisation": round(self.utilisation, 3), "limit": self.limit,
            "accepting": self.accepting, "saturated": self.saturated,
            "costPerSession": None if self.cost is None else round(self.cost, 4),
            "poolBusy": None if self.pool_busy is None else round(self.pool_busy, 3),
            "cores": self.cores,
        }


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
    """Implements ``Admission`` for this process.

    ``max_sessions``: a fixed limit (the operator's word: the estimator, if any, only
    reports), or None to admit by the estimator's measured capacity and saturation.
    """

    def __init__(self, max_sessions: int | None = None, *,
                 estimator: CapacityEstimator | None = None) -> None:
        if max_sessions is None and estimator is None:
            estimator = CapacityEstimator()
        self.max_sessions = max_sessions
        self.estimator = estimator
        self.accepting = True
        self._in_use: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()

    @property
    def in_use(self) -> int:
        return sum(self._in_use.values())

    @property
    def capacity(self) -> int:
        if self.max_sessions is not None:
            return self.max_sessions
        assert self.estimator is not None
        return self.estimator.estimate().capacity

    def by_kind(self) -> dict[str, int]:
        return {kind: n for kind, n in self._in_use.items() if n}

    def load(self) -> Load:
        """In use, capacity, utilisation, and what they were measured from."""
        estimate = self.estimator.estimate() if self.estimator is not None else None
        capacity = self.max_sessions if self.max_sessions is not None else (
            estimate.capacity if estimate is not None else 0)
        saturated = estimate is not None and estimate.saturated
        refusing = saturated and self.max_sessions is None
        in_use = self.in_use
        utilisation = 1.0 if refusing else in_use / max(capacity, 1)
        return Load(
            in_use=in_use, capacity=capacity, utilisation=utilisation,
            limit="fixed" if self.max_sessions is not None else "measured",
            accepting=self.accepting and not refusing and in_use < capacity,
            saturated=saturated,
            cost=estimate.cost if estimate else None,
            pool_busy=estimate.pool_busy if estimate else None,
            cores=estimate.cores if estimate else None)

    def admit(self, kind: str) -> Ticket:
        if not self.accepting:
            self._refuse(kind, "shutting_down")
            raise Refused("shutting_down", "the gateway is shutting down")
        if self.estimator is not None:
            self.estimator.observe(self.in_use)
        load = self.load()
        if load.saturated and load.limit == "measured":
            self._refuse(kind, "server_busy")
            raise Refused("server_busy", "the gateway's recognition is fully busy "
                          f"({load.in_use} sessions); try again later")
        if load.in_use >= load.capacity:
            self._refuse(kind, "server_busy")
            what = "limit" if load.limit == "fixed" else "measured capacity"
            raise Refused("server_busy", f"the gateway is at its {what} of {load.capacity} "
                          "sessions; try again later")
        self._in_use[kind] += 1
        SESSIONS_ADMITTED.labels(kind).inc()
        if self.estimator is not None:
            self.estimator.observe(self.in_use)
        return Ticket(self, kind)

    def drain(self) -> None:
        self.accepting = False

    def _refuse(self, kind: str, code: str) -> None:
        self.refusals[code] += 1
        ADMISSION_REFUSALS.labels(kind, code).inc()
        log.info("session refused: %s (%d of %d in use)", code, self.in_use, self.capacity)

    def _release(self, ticket: Ticket) -> None:
        if self.estimator is not None:
            self.estimator.observe(self.in_use)
        self._in_use[ticket.kind] -= 1
        SESSIONS_ENDED.labels(ticket.kind).inc()
        if self.estimator is not None:
            self.estimator.observe(self.in_use)
