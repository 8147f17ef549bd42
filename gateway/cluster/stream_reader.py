"""Following conversations hosted on other nodes: their Redis streams into local outputs.

One task reads every followed stream with one blocking ``XREAD``. A follow starts at the
stream's top when it begins (what a console attaching mid-call would see on the owning
node; ``catchup.py`` replays older results to one console). The reader remembers the last id per
stream, so after Redis goes away and returns it continues exactly where it stopped; when
``seq`` jumps (results trimmed away, or dropped by a publisher whose outbox overflowed) it
delivers a ``messages_missed`` notice before the next result. Entries this node wrote itself
are skipped: local outputs already got them from the local fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.outputs.result import Result

from .keys import Keys
from .link import UNAVAILABLE, RedisLink, execute
from .stream_writer import parse_id

log = logging.getLogger("gateway.cluster")

BLOCK_MS = 500  # new follows wait at most this long; results arrive as soon as written
COUNT = 500
START = "0-0"


@dataclass(slots=True)
class Follow:
    conversation_id: str
    last_id: str | None  # None until resolved to the stream's top
    last_seq: int | None = None
    last_generation: int | None = None  # the ms part of ids: one per conversation instance
    publisher: str | None = None  # the node whose results it last delivered


def result_of(conversation_id: str, fields: Mapping[str, str]) -> Result:
    """Rebuild a result from its stream entry; ValueError/KeyError if malformed."""
    text = fields["b"]
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("entry body is not an object")
    kind = fields.get("k", "symbl")
    audience = fields.get("a", "conversation")
    return Result(conversation_id, body, text, int(fields["s"]), fields.get("o") or None,
                  "participant" if audience == "participant" else "conversation",
                  "lifecycle" if kind == "lifecycle" else "symbl", float(fields.get("t", 0)))


def missed_notice(conversation_id: str, after_seq: int, next_seq: int | None) -> Result:
    """Told to outputs instead of the results a gap swallowed (a lifecycle result);
    ``next_seq`` None: how many is unknown (Redis could not be read)."""
    return Result.of(conversation_id, {
        "type": "messages_missed", "conversationId": conversation_id,
        "missed": None if next_seq is None else next_seq - after_seq - 1,
        "afterSeq": after_seq, "nextSeq": next_seq,
    }, after_seq, kind="lifecycle")


class StreamReader:
    def __init__(self, link: RedisLink, keys: Keys, node_id: str, *,
                 deliver: Callable[[Result], None], ended: Callable[[str], None],
                 block_ms: int = BLOCK_MS) -> None:
        self._link = link
        self._keys = keys
        self._node = node_id
        self._deliver = deliver
        self._ended = ended
        self._block_ms = block_ms
        self._follows: dict[str, Follow] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.missed = 0

    def follow(self, conversation_id: str) -> None:
        """Start following at the stream's current top (no-op if already following)."""
        if conversation_id in self._follows:
            return
        self._follows[conversation_id] = Follow(conversation_id, None)
        self._changed.set()

    def unfollow(self, conversation_id: str) -> None:
        self._follows.pop(conversation_id, None)

    def following(self, conversation_id: str) -> bool:
        return conversation_id in self._follows

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while True:
            if not self._follows:
                self._changed.clear()
                await self._changed.wait()
                continue
            try:
                await self._resolve_starts()
                streams = {self._keys.stream(f.conversation_id): f.last_id or START
                           for f in self._follows.values()}
                reply: Any = await self._link.client.xread(
                    streams, count=COUNT, block=self._block_ms)  # type: ignore[arg-type]
            except UNAVAILABLE as exc:
                self._link.lost(exc, "reading other nodes' results")
                await self._link.pause(attempt)
                attempt += 1
                continue
            attempt = 0
            self._link.ok()
            for key, entries in _stream_items(reply):
                follow = self._follows.get(self._keys.conversation_of_stream(key))
                for entry_id, fields in entries:
                    if follow is None or self._follows.get(follow.conversation_id) is not follow:
                        break  # unfollowed while delivering (the conversation ended)
                    self._entry(follow, entry_id, fields)

    def publishers(self) -> dict[str, str]:
        """Conversation id -> the node whose results it last delivered (remote ones only)."""
        return {f.conversation_id: f.publisher for f in self._follows.values()
                if f.publisher is not None}

    async def end_lost(self, conversation_id: str, node_id: str) -> None:
        """Its node died: deliver what its stream still holds, then end the conversation
        for local outputs (``conversation_ended`` with ``reason: node_lost``) unless the
        stream already ended it. A console should not wait for ever on a dead node."""
        follow = self._follows.get(conversation_id)
        if follow is None or follow.last_id is None:
            return
        try:
            entries: Any = await self._link.client.xrange(
                self._keys.stream(conversation_id), min=f"({follow.last_id}", max="+")
        except UNAVAILABLE:
            return  # Redis is away too: decide when it is back
        for entry_id, fields in entries:
            if self._follows.get(conversation_id) is not follow:
                return
            self._entry(follow, entry_id, fields)
        if self._follows.get(conversation_id) is not follow or follow.publisher != node_id:
            return  # ended by its own last result, or another node continues it
        log.warning("conversation %s: its node %s is gone; ending it for this node's "
                    "consoles", conversation_id, node_id)
        self.unfollow(conversation_id)
        self._deliver(Result.of(conversation_id, {
            "type": "conversation_ended", "conversationId": conversation_id,
            "reason": "node_lost", "nodeId": node_id}, follow.last_seq or 0, kind="lifecycle"))
        self._ended(conversation_id)

    async def _resolve_starts(self) -> None:
        """New follows start at the current top of their stream (or its very start)."""
        new = [f for f in self._follows.values() if f.last_id is None]
        if not new:
            return
        pipe = self._link.client.pipeline(transaction=False)
        for f in new:
            pipe.xrevrange(self._keys.stream(f.conversation_id), count=1)
        tops = await execute(pipe)
        for f, top in zip(new, tops, strict=True):
            f.last_id = top[0][0] if top else START

    def _entry(self, follow: Follow, entry_id: str, fields: Mapping[str, str]) -> None:
        follow.last_id = entry_id
        try:
            position = parse_id(entry_id)
            seq = int(fields["s"])
            if fields.get("n") == self._node:  # local outputs had it from the local fan-out
                follow.last_seq, follow.last_generation = seq, position[0]
                return
            result = result_of(follow.conversation_id, fields)
        except (KeyError, ValueError) as exc:
            log.warning("conversation %s: skipping malformed stream entry %s: %s",
                        follow.conversation_id, entry_id, exc)
            return
        last = follow.last_seq
        if follow.last_generation is not None and position[0] != follow.last_generation:
            last = 0  # a new instance of the conversation (restarted or taken over)
        if last is not None:
            if seq <= last:
                return  # already delivered
            if seq > last + 1:
                self.missed += seq - last - 1
                self._deliver(missed_notice(follow.conversation_id, last, seq))
        follow.last_seq, follow.last_generation = seq, position[0]
        follow.publisher = fields.get("n") or None
        self.delivered += 1
        self._deliver(result)
        if result.kind == "lifecycle" and result.type == "conversation_ended":
            self.unfollow(follow.conversation_id)
            self._ended(follow.conversation_id)


def _stream_items(reply: Any) -> list[tuple[str, list[tuple[str, Mapping[str, str]]]]]:
    """XREAD's reply as (key, entries) pairs, for RESP2 (a list) and RESP3 (a map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(str(k), list(v[0] if v and isinstance(v[0], list) else v))
                for k, v in reply.items()]
    return [(str(k), list(v)) for k, v in reply]
