"""Where the cluster's state lives in Redis: one place that names every key.

All keys share a prefix (``gw:`` by default) so several deployments can share one Redis.
Everything a node writes expires by itself (node records, conversation leases, session
records, streams after their conversation ended), so a node that dies leaves nothing behind
for long and Redis needs no clean-up job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "gw:"

    @property
    def nodes(self) -> str:
        """Set of node ids that registered (members whose record expired are pruned)."""
        return f"{self.prefix}nodes"

    @property
    def node_prefix(self) -> str:
        return f"{self.prefix}node:"

    def node(self, node_id: str) -> str:
        """Hash: url, capacity, in_use, accepting, beat (TTL: the node TTL)."""
        return f"{self.node_prefix}{node_id}"

    def conversation(self, conversation_id: str) -> str:
        """Hash: node (the owner), since (lease, refreshed by the owner's heartbeat)."""
        return f"{self.prefix}conv:{conversation_id}"

    def members(self, conversation_id: str) -> str:
        """Hash: participant id -> JSON {id, name, userId, node} (same lease)."""
        return f"{self.prefix}members:{conversation_id}"

    def session(self, session_id: str) -> str:
        """Hash: node, conversation (kept for the resume window after the session ends)."""
        return f"{self.prefix}session:{session_id}"

    def stream(self, conversation_id: str) -> str:
        """Stream of the conversation's results, ids ``<generation ms>-<seq>``."""
        return f"{self.prefix}results:{conversation_id}"

    def conversation_of_stream(self, key: str) -> str:
        return key[len(f"{self.prefix}results:"):]
