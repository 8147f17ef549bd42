"""Finding things across nodes: where a conversation lives, who is in it, where a session was.

These are the cluster directory's questions, asked of Redis with short timeouts. Each
answers ``None`` for "here, or nobody knows", so a caller that cannot reach Redis simply
serves locally (calls keep working; only cross-node routing waits for Redis to return).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from .cluster import CLAIM_TIMEOUT, Cluster
from .link import UNAVAILABLE
from .nodes import NodeInfo

log = logging.getLogger("gateway.cluster")


async def node_info(cluster: Cluster, node_id: str) -> NodeInfo | None:
    """A node's record: from the heartbeat view, else fresh from Redis (it may be new)."""
    known = cluster.node(node_id)
    if known is not None:
        return known
    record: Any = await cluster.link.client.hgetall(cluster.keys.node(node_id))
    return NodeInfo.from_hash(node_id, record) if record else None


async def claim(cluster: Cluster, conversation_id: str) -> NodeInfo | None:
    """Own ``conversation_id`` here, or return the live node that owns it.

    ``None``: join here (claimed, taken over from a dead or draining node, or Redis is away
    and this node serves on its own until it is back).
    """
    try:
        for _ in range(3):
            result = await asyncio.wait_for(cluster.ownership.claim(conversation_id),
                                            CLAIM_TIMEOUT)
            if result.status != "elsewhere":
                if result.status == "taken":
                    log.warning("conversation %s taken over from node %s (dead or draining)",
                                conversation_id, result.other)
                cluster.pending(conversation_id)
                cluster.link.ok()
                return None
            assert result.other is not None
            owner = await asyncio.wait_for(node_info(cluster, result.other), CLAIM_TIMEOUT)
            if owner is not None and owner.accepting:
                cluster.link.ok()
                return owner
            # The owner vanished between the claim and the look-up: claim again.
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"locating conversation {conversation_id}")
    return None


async def owner_of(cluster: Cluster, conversation_id: str) -> NodeInfo | None:
    """The live node hosting ``conversation_id`` (possibly this one), or None."""
    try:
        owner = await asyncio.wait_for(cluster.ownership.owner(conversation_id), CLAIM_TIMEOUT)
        if owner is None:
            return None
        info = await asyncio.wait_for(node_info(cluster, owner), CLAIM_TIMEOUT)
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"locating conversation {conversation_id}")
        return None
    return info if info is not None and info.accepting else None


async def lookup_session_owner(cluster: Cluster, session_id: str) -> NodeInfo | None:
    """Where a reconnecting client of ``session_id`` belongs now (possibly this node).

    The node now hosting the session's conversation comes first (after a node died, its
    conversation may have been taken over elsewhere); then the node the session was on, if
    it is still alive; None if neither is known (start a new session here).
    """
    try:
        record: Any = await asyncio.wait_for(
            cluster.link.client.hgetall(cluster.keys.session(session_id)), CLAIM_TIMEOUT)
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"locating session {session_id}")
        return None
    if not record:
        return None
    conversation = record.get("conversation") or ""
    if conversation:
        owner = await owner_of(cluster, conversation)
        if owner is not None:
            return owner
    try:
        info = await asyncio.wait_for(node_info(cluster, record.get("node", "")), CLAIM_TIMEOUT)
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"locating session {session_id}")
        return None
    return info if info is not None and info.accepting else None


async def session_conversation(cluster: Cluster, session_id: str) -> str | None:
    """The conversation a (possibly ended) session was in, within the resume window."""
    try:
        value: Any = await asyncio.wait_for(
            cluster.link.client.hget(cluster.keys.session(session_id), "conversation"),
            CLAIM_TIMEOUT)
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"locating session {session_id}")
        return None
    return str(value) if value else None


async def participants(cluster: Cluster, conversation_id: str) -> list[dict[str, Any]]:
    """The participants of a conversation on whichever node hosts it (as of its last beat)."""
    try:
        members: Any = await asyncio.wait_for(
            cluster.link.client.hgetall(cluster.keys.members(conversation_id)), CLAIM_TIMEOUT)
    except UNAVAILABLE as exc:
        cluster.link.lost(exc, f"listing conversation {conversation_id}")
        return []
    out = []
    for value in members.values():
        try:
            out.append(json.loads(value))
        except ValueError:
            continue
    return sorted(out, key=lambda p: str(p.get("id")))
