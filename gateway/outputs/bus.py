"""The result bus: every conversation's results, published once, fanned out to its outputs.

Outputs attach by conversation id, whether or not the conversation has started yet (a
console may subscribe before the call), so the bus, not the conversation, is the directory
of who listens. A participant's own client attaches with its participant id and gets only
what is meant for it (``Result.for_participant``); conversation-level outputs (relays,
consoles, the store) get everything and are finished (drained, closed) when the
conversation ends. This in-memory bus serves one process; a Redis-backed bus implements the
same protocol for several.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from gateway.observability.metrics import OUTPUT_FAILURES, RESULTS_PUBLISHED

from .base import Sink
from .result import Result

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 2.0


class ResultBus(Protocol):
    def publish(self, result: Result) -> None:
        """Hand ``result`` to every output attached to its conversation; never blocks."""
        ...

    def attach(self, conversation_id: str, sink: Sink, *, participant: str | None = None) -> None:
        """Add an output. With ``participant`` it is that participant's own client: filtered,
        and left for its owner to close."""
        ...

    def detach(self, conversation_id: str, sink: Sink) -> None: ...

    def attach_all(self, sink: Sink) -> None:
        """An output for every conversation's results (the store, metrics); its owner
        closes it."""
        ...

    def detach_all(self, sink: Sink) -> None: ...

    def count(self, conversation_id: str, name: str | None = None) -> int:
        """Outputs attached to a conversation (only those called ``name`` if given)."""
        ...

    async def finish(self, conversation_id: str) -> None:
        """The conversation ended: drain and close its conversation-level outputs."""
        ...

    async def aclose(self) -> None:
        """Shutdown: finish every conversation's outputs, waiting ones included."""
        ...


@dataclass(frozen=True, slots=True)
class _Attachment:
    sink: Sink
    participant: str | None


class LocalBus:
    """Implements ``ResultBus`` in this process's memory."""

    def __init__(self) -> None:
        self._outputs: dict[str, list[_Attachment]] = {}
        self._everywhere: list[Sink] = []

    def publish(self, result: Result) -> None:
        RESULTS_PUBLISHED.labels(result.kind).inc()
        for sink in tuple(self._everywhere):
            self._send(sink, result)
        for attachment in tuple(self._outputs.get(result.conversation_id, ())):
            if attachment.participant is not None and not result.for_participant(
                    attachment.participant):
                continue
            self._send(attachment.sink, result)

    @staticmethod
    def _send(sink: Sink, result: Result) -> None:
        try:
            sink.send(result)
        except Exception:  # each output on its own: one broken one must not starve others
            OUTPUT_FAILURES.labels(getattr(sink, "name", "other")).inc()
            log.exception("conversation %s: output %s failed", result.conversation_id,
                          getattr(sink, "name", sink))

    def attach(self, conversation_id: str, sink: Sink, *, participant: str | None = None) -> None:
        self._outputs.setdefault(conversation_id, []).append(_Attachment(sink, participant))

    def detach(self, conversation_id: str, sink: Sink) -> None:
        outputs = self._outputs.get(conversation_id)
        if outputs is None:
            return
        outputs[:] = [a for a in outputs if a.sink is not sink]
        if not outputs:
            del self._outputs[conversation_id]

    def attach_all(self, sink: Sink) -> None:
        self._everywhere.append(sink)

    def detach_all(self, sink: Sink) -> None:
        if sink in self._everywhere:
            self._everywhere.remove(sink)

    def count(self, conversation_id: str, name: str | None = None) -> int:
        return sum(1 for a in self._outputs.get(conversation_id, ())
                   if name is None or getattr(a.sink, "name", None) == name)

    def conversations(self) -> list[str]:
        """Conversation ids with outputs attached (live or waiting for their call)."""
        return list(self._outputs)

    def outputs(self, conversation_id: str) -> list[Sink]:
        return [a.sink for a in self._outputs.get(conversation_id, ())]

    async def finish(self, conversation_id: str) -> None:
        outputs = self._outputs.get(conversation_id, [])
        ending = [a.sink for a in outputs if a.participant is None]
        remaining = [a for a in outputs if a.participant is not None]
        if remaining:
            self._outputs[conversation_id] = remaining
        else:
            self._outputs.pop(conversation_id, None)
        # Concurrently: one slow relay or console must not hold up the others' goodbyes.
        await asyncio.gather(*(finish_sink(sink) for sink in ending))

    async def aclose(self) -> None:
        await asyncio.gather(*(self.finish(cid) for cid in list(self._outputs)))


async def finish_sink(sink: Sink, timeout: float = DRAIN_TIMEOUT) -> None:
    """Drain (bounded), then always close, even if the drain was cancelled."""
    try:
        await sink.drain(timeout=timeout)
    except Exception:
        log.exception("draining output %s failed", getattr(sink, "name", sink))
    finally:
        try:
            await asyncio.shield(sink.close())
        except Exception:
            log.exception("closing output %s failed", getattr(sink, "name", sink))
