"""``RedisBus``: the result bus of a node in a cluster.

It is the in-memory bus (``LocalBus``) plus Redis Streams. Every result published here is
first fanned out locally, exactly as in one process (a participant's own client never waits
on, or depends on, Redis), then queued for its conversation's stream. Conversation-level
outputs attached here for a conversation hosted on another node (a console watching it)
are fed from that stream instead. The store and other ``attach_all`` outputs see only this
node's conversations: each node stores what it hosts, so nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.outputs.base import Sink
from gateway.outputs.bus import LocalBus
from gateway.outputs.result import Result

from .catchup import CatchUp, replay
from .cluster import Cluster
from .stream_reader import StreamReader
from .stream_writer import StreamWriter

log = logging.getLogger("gateway.cluster")

FLUSH_TIMEOUT = 2.0


class RedisBus(LocalBus):
    """Implements ``ResultBus`` for a node of a cluster (see the module docstring)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        cfg = cluster.config
        self.writer = StreamWriter(cluster.link, cluster.keys, cluster.node_id,
                                   maxlen=cfg.stream_maxlen, ttl=cfg.stream_ttl,
                                   capacity=cfg.outbox)
        self.reader = StreamReader(cluster.link, cluster.keys, cluster.node_id,
                                   deliver=self._deliver_remote, ended=self._remote_ended)
        # Set by the cluster directory: whether a conversation is live on this node.
        self.is_local: Callable[[str], bool] = lambda conversation_id: False
        self._cluster = cluster
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: dict[int, CatchUp] = {}  # consoles catching up, by their own sink
        self._ending: set[str] = set()
        cluster.on_view.append(self._nodes_alive)

    def start(self) -> None:
        self.writer.start()
        self.reader.start()

    async def stop(self) -> None:
        """Flush what is queued for Redis (bounded), then stop both tasks."""
        if not await self.writer.flush(FLUSH_TIMEOUT):
            log.warning("shutdown: results not yet in redis were dropped")
        await self.writer.stop()
        await self.reader.stop()
        for task in list(self._tasks):
            task.cancel()

    # -- ResultBus ----------------------------------------------------------------------------

    def publish(self, result: Result) -> None:
        super().publish(result)  # local outputs first, whatever Redis is doing
        self.writer.put(result)

    def attach(self, conversation_id: str, sink: Sink, *, participant: str | None = None) -> None:
        super().attach(conversation_id, sink, participant=participant)
        if participant is None and not self.is_local(conversation_id):
            self.reader.follow(conversation_id)

    def detach(self, conversation_id: str, sink: Sink) -> None:
        held = self._held.pop(id(sink), None)
        super().detach(conversation_id, held if held is not None else sink)
        if not self._conversation_outputs(conversation_id):
            self.reader.unfollow(conversation_id)

    async def finish(self, conversation_id: str) -> None:
        for sink in self._conversation_outputs(conversation_id):
            if isinstance(sink, CatchUp):
                self._held.pop(id(sink.inner), None)
        await super().finish(conversation_id)
        self.reader.unfollow(conversation_id)

    # -- remote subscription ---------------------------------------------------------------

    def follow(self, conversation_id: str, sink: Sink, *, after: str | None = None) -> None:
        """Attach a conversation-level output wherever the conversation is hosted; with
        ``after`` (a stream id ``<generation>-<seq>``, or the ``seq`` of the last result the
        console saw) it first catches up on everything the stream holds after that.

        For the subscribe endpoint: a console reconnecting after a blip misses nothing the
        stream still holds, or is told with a ``messages_missed`` notice how many it missed.
        Without ``after`` this is ``attach``.
        """
        if after is None:
            self.attach(conversation_id, sink)
            return
        held = CatchUp(sink, conversation_id)
        self._held[id(sink)] = held
        self.attach(conversation_id, held)
        self._spawn(replay(self._cluster, held, after))

    def stream_id(self, conversation_id: str) -> str | None:
        """The stream id of the last result this node published for ``conversation_id``."""
        return self.writer.last_id(conversation_id)

    def _conversation_outputs(self, conversation_id: str) -> list[Sink]:
        return [a.sink for a in self._outputs.get(conversation_id, ()) if a.participant is None]

    def _deliver_remote(self, result: Result) -> None:
        """A result from another node: to this node's conversation-level outputs only (its
        participants, if any, are on the owning node; the store is the owner's business)."""
        for sink in self._conversation_outputs(result.conversation_id):
            self._send(sink, result)

    def _nodes_alive(self) -> None:
        for conversation_id, node_id in self.reader.publishers().items():
            if self._cluster.dead(node_id) and conversation_id not in self._ending:
                self._ending.add(conversation_id)
                self._spawn(self._end_lost(conversation_id, node_id))

    async def _end_lost(self, conversation_id: str, node_id: str) -> None:
        try:
            await self.reader.end_lost(conversation_id, node_id)
        finally:
            self._ending.discard(conversation_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remote_ended(self, conversation_id: str) -> None:
        self._spawn(self.finish(conversation_id))
