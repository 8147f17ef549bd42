"""What a node tells the others about itself, and where a participant is sent to reach it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node as its last heartbeat described it."""

    id: str
    url: str  # public base URL (``--node-url``)
    capacity: int  # its --max-sessions
    in_use: int
    accepting: bool  # False while draining for shutdown
    beat: float  # time.time() of that heartbeat

    @property
    def room(self) -> int:
        return max(0, self.capacity - self.in_use) if self.accepting else 0

    def to_hash(self) -> dict[str, str]:
        return {"url": self.url, "capacity": str(self.capacity), "in_use": str(self.in_use),
                "accepting": "1" if self.accepting else "0", "beat": f"{self.beat:.3f}"}

    @classmethod
    def from_hash(cls, node_id: str, data: Mapping[str, str]) -> NodeInfo | None:
        """None for a record that is missing or malformed (never trust another writer)."""
        try:
            return cls(node_id, data["url"], int(data["capacity"]), int(data["in_use"]),
                       data.get("accepting") == "1", float(data.get("beat", "0")))
        except (KeyError, ValueError):
            return None

    def ws_url(self, path: str = "/ws") -> str:
        """The node's WebSocket URL for ``path``: http(s) becomes ws(s), the path is appended
        to the base path, and the query (e.g. ``?node=b`` for load-balancer routing) kept."""
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, ""))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "capacity": self.capacity,
                "inUse": self.in_use, "accepting": self.accepting}


def least_loaded(nodes: list[NodeInfo], *, exclude: str | None = None) -> NodeInfo | None:
    """The accepting node with the most free sessions (ties: lowest id, so it is stable)."""
    candidates = [n for n in nodes if n.id != exclude and n.room > 0]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (-n.room, n.id))
