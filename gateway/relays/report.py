"""What a downstream stream tells the client: its answers and its own state, as messages.

Two message types reach the data channel (a participant's streams: that participant; a
conversation's streams: everyone in it) and console subscribers, through the bus:

* ``downstream_message``: something the downstream sent, tagged with its origin (built by
  the protocol: ``ProtocolBase.tag``);
* ``downstream_status``: the gateway's news about the stream, same origin fields plus
  ``status``: ``connected``, ``disconnected``, ``audio_dropped``, ``refused``, ``ended``,
  ``closed``.

Publishing is deferred to the next loop iteration (``call_soon``): a report raised while the
bus is delivering a result must not overtake that result on the outputs not reached yet.
A chatty downstream is held to a rate (token bucket); what exceeds it is counted, not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.protocols.downstream import ProtocolBase

log = logging.getLogger(__name__)

STATUS_TYPE = "downstream_status"
Publish = Callable[[Mapping[str, Any]], None]


def status_body(protocol: ProtocolBase, status: str, **fields: Any) -> dict[str, Any]:
    info = protocol.info
    return {"type": STATUS_TYPE, "protocol": protocol.name, "downstream": protocol.label,
            "conversationId": info.conversation_id, "participantId": info.participant_id,
            "status": status, **fields}


class RateLimit:
    """A token bucket: ``rate`` per second, bursts up to twice that."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self._tokens = self.capacity
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Reporter:
    """Publishes one stream's messages soon, never synchronously, never raising."""

    def __init__(self, publish: Publish, *, reply_rate: float) -> None:
        self._publish = publish
        self._limit = RateLimit(reply_rate)
        self.replies_limited = 0  # answers over the rate, not forwarded

    def reply(self, message: Mapping[str, Any]) -> None:
        if not self._limit.take():
            self.replies_limited += 1
            if self.replies_limited % 100 == 1:
                log.warning("downstream %s: answers faster than %.0f/s; %d not forwarded",
                            message.get("downstream"), self._limit.rate, self.replies_limited)
            return
        self._soon(message)

    def status(self, protocol: ProtocolBase, status: str, **fields: Any) -> None:
        self._soon(status_body(protocol, status, **fields))

    def _soon(self, message: Mapping[str, Any]) -> None:
        try:
            asyncio.get_running_loop().call_soon(self._deliver, message)
        except RuntimeError:  # no loop (closing): nobody is listening any more
            pass

    def _deliver(self, message: Mapping[str, Any]) -> None:
        try:
            self._publish(message)
        except Exception:
            log.exception("downstream %s: could not publish a %s", message.get("downstream"),
                          message.get("type"))


class LossReport:
    """Audio (or results) a stream gave up on, reported at most every ``interval``: a
    warning in the log and a ``downstream_status`` (``audio_dropped`` / ``results_dropped``)
    with the amount since the last report and the total."""

    def __init__(self, reporter: Reporter, protocol: ProtocolBase, *, label: str, unit: str,
                 bound: float, interval: float) -> None:
        self._reporter = reporter
        self._protocol = protocol
        self._label = label
        self._unit = unit
        self._bound = bound
        self._interval = interval
        self._unreported = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._last = float("-inf")

    def note(self, amount: float, total: Callable[[], float]) -> None:
        """``amount`` more was lost; ``total()`` says how much in all when reported."""
        self._unreported += amount
        if self._timer is None:
            delay = max(0.0, self._last + self._interval - time.monotonic())
            with contextlib.suppress(RuntimeError):  # no loop: reported at the end
                self._timer = asyncio.get_running_loop().call_later(
                    delay, self.report, total)

    def report(self, total: Callable[[], float], extra: float = 0.0) -> None:
        """Report what is unreported (plus ``extra``) now, if anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        amount, self._unreported = self._unreported + extra, 0.0
        if not amount:
            return
        self._last = time.monotonic()
        log.warning("downstream %s: %.2f %s dropped (%.2f in total): the downstream is slow "
                    "or unreachable (buffer %.0f %s)", self._label, amount, self._unit,
                    total(), self._bound, self._unit)
        unit = self._unit.title()
        status = "results_dropped" if self._unit == "results" else "audio_dropped"
        self._reporter.status(self._protocol, status, **{f"dropped{unit}": round(amount, 3),
                                                         f"totalDropped{unit}": round(total(), 3)})
