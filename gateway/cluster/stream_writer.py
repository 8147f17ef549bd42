"""Publishing a node's results to Redis Streams: in order, once each, through outages.

Each result of a conversation becomes one stream entry whose id is ``<generation>-<seq>``:
the generation (milliseconds, fixed when the conversation instance publishes its first
result) and the result's ``seq``. Deterministic ids make retries idempotent: after a lost
reply the same ``XADD`` is refused as "equal or smaller than the top item", which tells the
writer it was already written, so nothing is ever published twice. A new instance of a
conversation id (restarted, or taken over after its node died) gets a later generation, so
stream ids keep growing and readers stay in order.

Local outputs never wait for any of this: results are queued here after local fan-out, in a
bounded queue that keeps the newest ``capacity`` results while Redis is away and flushes
them, in order, when it is back. Only what overflowed is lost, and readers see the gap in
``seq`` and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from gateway.outputs.result import Result

from .keys import Keys
from .link import UNAVAILABLE, RedisLink, execute

log = logging.getLogger("gateway.cluster")

BATCH = 256
WARN_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class Pending:
    result: Result
    generation: int  # identifies the conversation instance; normally also its id's ms part


def entry_fields(result: Result, node_id: str) -> dict[str, str]:
    """The stream entry of a result (``stream_reader.result_of`` reads it back)."""
    return {"n": node_id, "s": str(result.seq), "k": result.kind, "a": result.audience,
            "o": result.origin or "", "t": f"{result.at:.3f}", "b": result.text}


def parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def is_id_clash(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and "equal or smaller" in str(exc)


class StreamWriter:
    def __init__(self, link: RedisLink, keys: Keys, node_id: str, *, maxlen: int,
                 ttl: float, capacity: int) -> None:
        self._link = link
        self._keys = keys
        self._node = node_id
        self._maxlen = maxlen
        self._ttl_ms = int(ttl * 1000)
        self._capacity = capacity
        self._queue: deque[Pending] = deque()
        self._generations: dict[str, tuple[int, int]] = {}  # id -> (generation, last seq)
        self._effective: dict[tuple[str, int], int] = {}  # (id, generation) -> ms in ids
        self._event = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._warned = float("-inf")
        self.written = 0
        self.duplicates = 0
        self.dropped = 0

    # -- producer side (event loop, never blocks) -------------------------------------------

    def put(self, result: Result) -> None:
        generation = self._generation(result)
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self._dropped(1)
        self._queue.append(Pending(result, generation))
        self._idle.clear()
        self._event.set()

    def last_id(self, conversation_id: str) -> str | None:
        """The stream id of the last result of ``conversation_id`` handed to this writer."""
        known = self._generations.get(conversation_id)
        if known is None:
            return None
        generation, seq = known
        return f"{self._effective.get((conversation_id, generation), generation)}-{seq}"

    def _generation(self, result: Result) -> int:
        cid = result.conversation_id
        known = self._generations.get(cid)
        if known is None or result.seq <= known[1]:  # a new instance of this conversation
            generation = max(int(time.time() * 1000), known[0] + 1 if known else 0)
        else:
            generation = known[0]
        self._generations[cid] = (generation, result.seq)
        if result.kind == "lifecycle" and result.type == "conversation_ended":
            del self._generations[cid]
        return generation

    def _dropped(self, n: int) -> None:
        self.dropped += n
        now = time.monotonic()
        if now - self._warned > WARN_EVERY:
            self._warned = now
            log.warning("redis outbox full (%d results): oldest cross-node results dropped "
                        "(%d so far); consoles on other nodes will be told they missed them",
                        self._capacity, self.dropped)

    # -- writer task ------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def flush(self, timeout: float) -> bool:
        """Wait until everything queued is written (False if Redis did not allow it)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        return self._idle.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while True:
            if not self._queue:
                self._idle.set()
                self._event.clear()
                await self._event.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                await self._write(batch)
            except UNAVAILABLE as exc:
                self._link.lost(exc, "publishing results")
                self._requeue(batch)
                await self._link.pause(attempt)
                attempt += 1
                continue
            except Exception:
                log.exception("publishing %d results failed; dropped", len(batch))
                self._dropped(len(batch))
                continue
            attempt = 0
            self._link.ok()

    def _requeue(self, batch: list[Pending]) -> None:
        self._queue.extendleft(reversed(batch))
        excess = len(self._queue) - self._capacity
        for _ in range(max(0, excess)):
            self._queue.popleft()
        if excess > 0:
            self._dropped(excess)

    def _id(self, pending: Pending) -> str:
        cid, generation = pending.result.conversation_id, pending.generation
        return f"{self._effective.get((cid, generation), generation)}-{pending.result.seq}"

    async def _write(self, batch: list[Pending]) -> None:
        client = self._link.client
        pipe = client.pipeline(transaction=False)
        for pending in batch:
            pipe.xadd(self._keys.stream(pending.result.conversation_id),
                      entry_fields(pending.result, self._node),  # type: ignore[arg-type]
                      id=self._id(pending), maxlen=self._maxlen, approximate=True)
        streams = sorted({self._keys.stream(p.result.conversation_id) for p in batch})
        for key in streams:  # every write pushes the expiry on: it runs from the last result
            pipe.pexpire(key, self._ttl_ms)
        replies = await execute(pipe, raise_on_error=False)
        for pending, reply in zip(batch, replies, strict=False):
            if isinstance(reply, BaseException):
                if is_id_clash(reply):
                    await self._resolve(pending)
                else:
                    log.error("conversation %s: result %d not published: %s",
                              pending.result.conversation_id, pending.result.seq, reply)
                    self._dropped(1)
            else:
                self.written += 1
            result = pending.result
            if result.kind == "lifecycle" and result.type == "conversation_ended":
                self._effective.pop((result.conversation_id, pending.generation), None)

    async def _resolve(self, pending: Pending) -> None:
        """An id was refused: already written (a retried batch) or another instance's stream
        is ahead (clocks differ between nodes after a take-over): move this generation on."""
        client = self._link.client
        key = self._keys.stream(pending.result.conversation_id)
        for _ in range(4):
            current = parse_id(self._id(pending))
            top: Any = await client.xrevrange(key, count=1)
            top_ms, top_seq = parse_id(top[0][0]) if top else (0, 0)
            if top_ms == current[0] and top_seq >= current[1]:
                self.duplicates += 1
                return
            if top_ms >= current[0]:
                self._effective[(pending.result.conversation_id, pending.generation)] = \
                    top_ms + 1
            try:
                await client.xadd(key, entry_fields(pending.result, self._node),  # type: ignore[arg-type]
                                  id=self._id(pending), maxlen=self._maxlen, approximate=True)
            except ResponseError as exc:
                if not is_id_clash(exc):
                    raise
                continue
            self.written += 1
            return
        log.error("conversation %s: result %d could not be placed in its stream",
                  pending.result.conversation_id, pending.result.seq)
        self._dropped(1)
