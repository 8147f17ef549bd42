"""Catching one console up after a blip: replay its missed results, then go live.

A console that reconnects says which result it saw last (a stream id ``<generation>-<seq>``
or just the ``seq`` of the current conversation). Its new output is attached at once, but
held: results arriving live are buffered while the missed ones are read from the stream
(``XRANGE``) and delivered in order; then the buffer is released, minus what the replay
already covered. Only this console is replayed to; other outputs of the conversation never
see a result twice. If the stream no longer holds what was missed (trimmed, expired, or
lost with Redis), the console gets a ``messages_missed`` notice instead.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from gateway.outputs.base import Sink
from gateway.outputs.result import Result

from .cluster import Cluster
from .link import UNAVAILABLE
from .stream_reader import missed_notice, result_of
from .stream_writer import parse_id

log = logging.getLogger("gateway.cluster")

HOLD = 5000  # live results held during a replay (oldest dropped beyond, then reported)


class CatchUp:
    """Wraps a conversation-level sink while its missed results are replayed."""

    def __init__(self, inner: Sink, conversation_id: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.conversation_id = conversation_id
        self._held: deque[Result] = deque(maxlen=HOLD)
        self._holding = True
        self._last_seq: int | None = None

    def send(self, result: Result) -> None:
        if self._holding:
            self._held.append(result)
        else:
            self.inner.send(result)

    async def drain(self, timeout: float) -> None:
        await self.inner.drain(timeout)

    async def close(self) -> None:
        self.release()
        await self.inner.close()

    def replayed(self, result: Result) -> None:
        self._last_seq = result.seq
        self.inner.send(result)

    def release(self) -> None:
        """Replay done: hand over what arrived meanwhile, skipping what the replay covered."""
        if not self._holding:
            return
        self._holding = False
        last = self._last_seq
        for result in self._held:
            if last is not None and result.seq != 1 and result.seq <= last:
                continue
            if last is not None and result.kind != "lifecycle" and result.seq > last + 1 \
                    and result.seq != 1:
                self.inner.send(missed_notice(self.conversation_id, last, result.seq))
            last = result.seq
            self.inner.send(result)
        self._held.clear()


async def replay(cluster: Cluster, sink: CatchUp, after: str) -> None:
    """Deliver to ``sink`` every result after ``after`` the stream still holds, then release.

    ``after``: ``<generation>-<seq>``, or a bare ``seq`` of the conversation's current
    instance (the generation of the stream's last entry)."""
    key = cluster.keys.stream(sink.conversation_id)
    client = cluster.link.client
    try:
        if "-" not in after:
            top: Any = await client.xrevrange(key, count=1)
            generation = parse_id(top[0][0])[0] if top else 0
            after = f"{generation}-{int(after)}"
        start = parse_id(after)
        entries: Any = await client.xrange(key, min=f"({after}", max="+")
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"replaying conversation {sink.conversation_id}")
        sink.inner.send(missed_notice(sink.conversation_id, start_seq(after), None))
        sink.release()
        return
    except ValueError:
        log.info("conversation %s: ignoring catch-up position %r", sink.conversation_id, after)
        sink.release()
        return
    last_generation, last_seq = start
    for entry_id, fields in entries:
        try:
            generation = parse_id(entry_id)[0]
            result = result_of(sink.conversation_id, fields)
        except (KeyError, ValueError):
            continue
        expected = last_seq + 1 if generation == last_generation else 1
        if result.seq > expected:
            sink.inner.send(missed_notice(sink.conversation_id, expected - 1, result.seq))
        last_generation, last_seq = generation, result.seq
        sink.replayed(result)
    sink.release()


def start_seq(after: str) -> int:
    try:
        return parse_id(after)[1] if "-" in after else int(after)
    except ValueError:
        return 0
