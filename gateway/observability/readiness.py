"""Whether this gateway should receive new calls now (``/readyz`` and ``gateway_ready``).

Liveness (``/healthz``) says the process answers; readiness says a new call would succeed
here: the recogniser is loaded, admission has room (and, under the measured limit,
recognition is not saturated), the node is not draining, and, under a
relay-only ICE policy, TURN works (without it no call can connect). A load balancer takes
the node out of rotation while any of these fails, and puts it back by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.conversation.admission import Load
from gateway.http.keys import ADMISSION_KEY, ICE_KEY, RECOGNIZER_KEY

from .drain import DRAIN_KEY


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str | None  # stable code when not ready: starting, draining, at_capacity, ...
    message: str | None
    in_use: int
    capacity: int
    load: Load

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ready" if self.ready else "not_ready"}
        if self.reason is not None:
            body["reason"] = self.reason
            body["message"] = self.message
        body["sessions"] = self.in_use
        body["maxSessions"] = self.capacity
        body["load"] = self.load.to_json()
        return body


def readiness(app: web.Application) -> Readiness:
    admission = app[ADMISSION_KEY]
    load = admission.load()
    in_use, capacity = load.in_use, load.capacity

    def no(reason: str, message: str) -> Readiness:
        return Readiness(False, reason, message, in_use, capacity, load)

    drain = app.get(DRAIN_KEY)
    if (drain is not None and drain.draining) or not admission.accepting:
        return no("draining", "the gateway is draining before shutdown; send new calls "
                  "elsewhere")
    if RECOGNIZER_KEY not in app:
        return no("starting", "the recogniser is not loaded yet")
    if in_use >= capacity:
        return no("at_capacity", f"all {capacity} sessions are in use")
    if load.saturated and load.limit == "measured":
        return no("saturated", "recognition is fully busy (worker pool "
                  f"{(load.pool_busy or 0) * 100:.0f} % busy); new sessions are refused")
    blocked = app[ICE_KEY].unusable()
    if blocked is not None:
        return no("turn_unavailable", f"relay-only and TURN is unusable: {blocked}")
    return Readiness(True, None, None, in_use, capacity, load)
