"""The console's conversation-list feed (``GET /api/console/feed``, docs/console.md).

``snapshot`` first (the live and recent lists and how the gateway is protected), then
``update`` whenever a live conversation starts or its summary changes (at most once per
conversation per interval) and ``ended`` when one moves to the recent list. Every message
carries whole summaries, so a client never patches: it replaces the entry by its key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from gateway.outputs.result import to_json

Access = Literal["open", "token"]


def snapshot(live: Iterable[Mapping[str, Any]], recent: Iterable[Mapping[str, Any]], *,
             access: Access, recent_limit: int, interval: float) -> str:
    return to_json({"type": "snapshot", "access": access, "live": list(live),
                    "recent": list(recent), "recentLimit": recent_limit,
                    "interval": interval})


def update(summary: Mapping[str, Any]) -> str:
    kind = "ended" if summary.get("state") == "ended" else "update"
    return to_json({"type": kind, "conversation": summary})


def error(code: str, message: str) -> str:
    return to_json({"type": "error", "code": code, "message": message})
