"""This node's membership in the cluster: registration, heartbeats, leases, the node view.

Every ``heartbeat`` seconds the node writes, in one transaction, its record (URL, capacity,
sessions in use, whether it accepts), the leases of the conversations it hosts with their
participants, and its sessions (for resume), all with TTLs; then it reads every node's
record. Writing everything each beat (instead of only changes) is what makes recovery
automatic: after Redis restarts empty, the first successful beat puts this node's whole
state back. The view of other nodes is at most one beat old; admission and redirects use
it without waiting on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.tasks import TaskSet

from .config import ClusterConfig, default_node_id
from .keys import Keys
from .link import UNAVAILABLE, RedisLink, execute
from .nodes import NodeInfo
from .ownership import Ownership

log = logging.getLogger("gateway.cluster")

CLAIM_TIMEOUT = 1.0  # a join waits at most this long on Redis, then goes on locally
PENDING_CLAIM = 30.0  # a claim whose participant never joined is let go after this
STOP_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Hosted:
    """A conversation live on this node, as the heartbeat publishes it."""

    conversation_id: str
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Load:
    capacity: int
    in_use: int
    accepting: bool


class Cluster:
    def __init__(self, config: ClusterConfig, *, link: RedisLink | None = None) -> None:
        redis_url, node_url = config.redis_url, config.node_url
        if not redis_url or not node_url:
            raise ValueError("a cluster node needs a Redis URL and its public URL")
        if not config.node_id:
            config = dataclasses.replace(config, node_id=default_node_id())
        self.config = config
        self.node_id = config.node_id
        self.node_url = node_url
        self.link = link or RedisLink(redis_url)
        self.keys = Keys(config.prefix)
        self.ownership = Ownership(self.link, self.keys, self.node_id, lease=config.node_ttl)
        # Set by the admission and the directory that report through this node.
        self.load: Callable[[], Load] = lambda: Load(0, 0, True)
        self.hosted: Callable[[], Iterable[Hosted]] = tuple
        # Called after every fresh view (the bus ends conversations whose node died).
        self.on_view: list[Callable[[], None]] = []
        self._seen: dict[str, float] = {}  # node id -> monotonic time of the last view with it
        self._view: dict[str, NodeInfo] = {}
        self._view_at = float("-inf")
        self._pending: dict[str, float] = {}  # conversation id -> monotonic claim time
        self._sessions: dict[str, str | None] = {}  # live session id -> conversation id
        self._ended_sessions: dict[str, str | None] = {}  # to write once with the resume TTL
        self._conflicts: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background = TaskSet("cluster")  # lease releases on the side
        self.beats = 0
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Register now if Redis answers; otherwise serve locally and keep trying."""
        try:
            await self._beat()
            self.link.ok()
        except UNAVAILABLE as exc:
            self.link.lost(exc, "registering this node")
        self._task = asyncio.ensure_future(self._run())
        log.info("cluster node %s (%s) on redis %s; %d node(s) live", self.node_id,
                 self.node_url, self.link.where, len(self._view))

    async def stop(self) -> None:
        """Leave the cluster: the record goes at once, so nobody is sent here any more."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._background.cancel_all()
        try:
            pipe = self.link.client.pipeline(transaction=False)
            pipe.delete(self.keys.node(self.node_id))
            pipe.srem(self.keys.nodes, self.node_id)
            await asyncio.wait_for(execute(pipe), STOP_TIMEOUT)
        except UNAVAILABLE:
            pass  # the record expires by itself
        await self.link.aclose()

    def wake(self) -> None:
        """Beat soon: load or membership changed, others should see it within ms."""
        self._wake.set()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
            # arrives as the event is set (a wake at shutdown), and the loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.heartbeat):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._beat()
            except UNAVAILABLE as exc:
                self.link.lost(exc, "sending the heartbeat")
                await self.link.pause(attempt, cap=self.config.heartbeat)
                attempt += 1
                continue
            except Exception:
                log.exception("cluster heartbeat failed")
                continue
            attempt = 0
            self.link.ok()

    # -- the heartbeat ----------------------------------------------------------------------

    async def _beat(self) -> None:
        cfg, keys = self.config, self.keys
        load = self.load()
        me = NodeInfo(self.node_id, self.node_url, load.capacity, load.in_use, load.accepting,
                      time.time())
        hosted = list(self.hosted())
        now = time.monotonic()
        live_ids = {h.conversation_id for h in hosted}
        self._pending = {c: t for c, t in self._pending.items()
                         if c not in live_ids and now - t < PENDING_CLAIM}
        owned = sorted(live_ids | set(self._pending))
        ttl_ms, resume_ms = int(cfg.node_ttl * 1000), int(cfg.resume_window * 1000)
        pipe = self.link.client.pipeline(transaction=True)
        pipe.hset(keys.node(self.node_id), mapping=me.to_hash())  # type: ignore[arg-type]
        pipe.pexpire(keys.node(self.node_id), ttl_ms)
        pipe.sadd(keys.nodes, self.node_id)
        for cid in owned:
            await self.ownership.refresh(pipe, cid)
        for h in hosted:
            pipe.delete(keys.members(h.conversation_id))
            if h.participants:
                pipe.hset(keys.members(h.conversation_id), mapping={
                    pid: json.dumps({**p, "node": self.node_id})
                    for pid, p in h.participants.items()})
                pipe.pexpire(keys.members(h.conversation_id), ttl_ms)
        ended = dict(self._ended_sessions)
        for sid, in_conversation in [*self._sessions.items(), *ended.items()]:
            record: dict[Any, Any] = {"node": self.node_id, "conversation": in_conversation or ""}
            pipe.hset(keys.session(sid), mapping=record)
            pipe.pexpire(keys.session(sid), resume_ms)
        pipe.smembers(keys.nodes)
        replies = await execute(pipe)
        for sid in ended:
            self._ended_sessions.pop(sid, None)
        refreshes = replies[3:3 + len(owned)]
        self._note_conflicts(dict(zip(owned, refreshes, strict=True)))
        # A conversation released while this beat was on its way had its lease re-created by
        # the beat's refresh (REFRESH re-creates a lease Redis lost, e.g. after a restart):
        # release it again now rather than leave it to the lease TTL.
        still = {h.conversation_id for h in self.hosted()} | set(self._pending)
        for cid in owned:
            if cid not in still:
                self.spawn(self._release(cid))
        await self._read_view({str(n) for n in replies[-1]})
        self.beats += 1

    def _note_conflicts(self, refreshes: dict[str, Any]) -> None:
        for cid, other in refreshes.items():
            if other and cid not in self._conflicts:
                self._conflicts.add(cid)
                log.warning("conversation %s is also owned by node %s (Redis lost its record "
                            "during an outage and both nodes took it); each goes on with its "
                            "own participants", cid, other)
            elif not other:
                self._conflicts.discard(cid)

    async def _read_view(self, ids: set[str]) -> None:
        ordered = sorted(ids)
        pipe = self.link.client.pipeline(transaction=False)
        for node_id in ordered:
            pipe.hgetall(self.keys.node(node_id))
        records = await execute(pipe) if ordered else []
        view: dict[str, NodeInfo] = {}
        gone = []
        for node_id, record in zip(ordered, records, strict=True):
            info = NodeInfo.from_hash(node_id, record) if record else None
            if info is None:
                gone.append(node_id)
            else:
                view[node_id] = info
        if gone:
            await self.link.client.srem(self.keys.nodes, *gone)
        self._view, self._view_at = view, time.monotonic()
        for node_id in view:
            self._seen[node_id] = self._view_at
        for callback in list(self.on_view):
            callback()

    # -- the view -------------------------------------------------------------------------

    @property
    def view_fresh(self) -> bool:
        return self.link.up and time.monotonic() - self._view_at < self.config.node_ttl

    def nodes(self) -> list[NodeInfo]:
        """Live nodes, this one included; empty while Redis is away (decide locally then)."""
        return list(self._view.values()) if self.view_fresh else []

    def node(self, node_id: str) -> NodeInfo | None:
        return self._view.get(node_id) if self.view_fresh else None

    def dead(self, node_id: str) -> bool:
        """Whether ``node_id`` has been missing from every view for longer than a node TTL
        and a beat, while Redis was reachable all that time: after Redis itself comes back
        empty, nodes get that long to register again before anyone calls them dead."""
        now = time.monotonic()
        grace = self.config.node_ttl + self.config.heartbeat
        if not self.view_fresh or now - self.link.up_since < grace:
            return False
        return now - self._seen.setdefault(node_id, now) > grace

    def others_in_use(self) -> int:
        return sum(n.in_use for n in self.nodes() if n.id != self.node_id)

    # -- sessions and conversations ---------------------------------------------------------

    def pending(self, conversation_id: str) -> None:
        """A claim succeeded: keep its lease until the participant has joined."""
        self._pending[conversation_id] = time.monotonic()

    def session_started(self, session_id: str, conversation_id: str | None) -> None:
        self._sessions[session_id] = conversation_id
        self.wake()

    def session_ended(self, session_id: str) -> None:
        if session_id in self._sessions:
            self._ended_sessions[session_id] = self._sessions.pop(session_id)
            self.wake()

    def released(self, conversation_id: str) -> None:
        """The conversation ended here: drop its lease now (not a TTL later)."""
        self._pending.pop(conversation_id, None)
        self.spawn(self._release(conversation_id))
        self.wake()

    async def _release(self, conversation_id: str) -> None:
        try:
            await asyncio.wait_for(self.ownership.release(conversation_id), CLAIM_TIMEOUT)
        except UNAVAILABLE:
            pass  # the lease lapses by itself within the node TTL

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._background.spawn(coro)
