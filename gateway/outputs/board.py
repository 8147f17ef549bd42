"""The board of conversations a console lists: the live ones and the recently ended ones.

Summary sinks report here (started, changed, ended); the listing endpoint reads it and the
console's live feed watches it. Watchers are told *which* summary changed, not what changed:
each watcher keeps at most one pending entry per conversation and reads the summary when it
sends, so a busy call costs a slow watcher nothing but one dict entry.

Ended conversations go to a ``RecentConversations``: in memory and bounded here, or the
conversation store (``gateway.store.recent.StoreRecent``), which keeps them across restarts.
Readers pass the ``ConversationFilter`` of who is asking, so each sees only its tenant's
(or its token's) conversations.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.auth.policy import ConversationFilter

from .summary import ConversationSummary

log = logging.getLogger(__name__)

RECENT = 50


class RecentConversations(Protocol):
    """Where ended conversations' summaries go, newest first when read."""

    def remember(self, summary: Mapping[str, Any]) -> None:
        """Keep an ended conversation's summary; never blocks (a database queues it)."""
        ...

    async def recent(self, limit: int,
                     visible: ConversationFilter | None = None) -> list[Mapping[str, Any]]:
        """Up to ``limit`` ended conversations ``visible`` admits (None: all), the most
        recently ended first."""
        ...


class RecentInMemory:
    """The last ``capacity`` ended conversations of this process."""

    def __init__(self, capacity: int = RECENT) -> None:
        self.capacity = capacity
        self._items: deque[Mapping[str, Any]] = deque(maxlen=capacity)

    def remember(self, summary: Mapping[str, Any]) -> None:
        self._items.appendleft(summary)

    async def recent(self, limit: int,
                     visible: ConversationFilter | None = None) -> list[Mapping[str, Any]]:
        return [s for s in self._items if summary_visible(visible, s.get("conversationId"),
                                                          s.get("tenantId"))][:limit]


class BoardWatcher(Protocol):
    def notify(self, summary: ConversationSummary) -> None:
        """``summary`` changed or ended (``summary.ended``); never blocks, never raises."""
        ...


class ConversationBoard:
    """Live summaries by conversation id, the recent list, and who watches them."""

    def __init__(self, recent: RecentConversations | None = None) -> None:
        self.recent_store: RecentConversations = recent or RecentInMemory()
        # By serial, not id: a new call may start under an id whose last call is still ending.
        self._live: dict[int, ConversationSummary] = {}
        self._watchers: set[BoardWatcher] = set()

    # -- from summary sinks ---------------------------------------------------------------

    def started(self, summary: ConversationSummary) -> None:
        self._live[summary.serial] = summary
        self._notify(summary)

    def changed(self, summary: ConversationSummary) -> None:
        if summary.serial in self._live:
            self._notify(summary)

    def ended(self, summary: ConversationSummary) -> None:
        """Move to the recent list once, however many paths report the end."""
        if self._live.pop(summary.serial, None) is None:
            return
        try:
            self.recent_store.remember(summary.to_json())
        except Exception:
            log.exception("conversation %s: the recent list refused its summary", summary.id)
        self._notify(summary)

    # -- for readers ----------------------------------------------------------------------

    def get(self, conversation_id: str) -> ConversationSummary | None:
        """The live call under this id (the newest, while an older one is still ending)."""
        found = [s for s in self._live.values() if s.id == conversation_id]
        return max(found, key=lambda s: s.serial) if found else None

    def live(self, visible: ConversationFilter | None = None) -> list[ConversationSummary]:
        """Live conversations ``visible`` admits, the most recently started first."""
        return sorted((s for s in self._live.values()
                       if summary_visible(visible, s.id, s.tenant)),
                      key=lambda s: (s.start_time, s.serial), reverse=True)

    async def recent(self, limit: int = RECENT,
                     visible: ConversationFilter | None = None) -> list[Mapping[str, Any]]:
        return await self.recent_store.recent(limit, visible)

    def watch(self, watcher: BoardWatcher) -> None:
        self._watchers.add(watcher)

    def unwatch(self, watcher: BoardWatcher) -> None:
        self._watchers.discard(watcher)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def _notify(self, summary: ConversationSummary) -> None:
        for watcher in tuple(self._watchers):
            try:
                watcher.notify(summary)
            except Exception:  # one broken watcher must not starve the others
                log.exception("a conversation-list watcher failed")


def summary_visible(visible: ConversationFilter | None, conversation_id: Any,
                    tenant: Any) -> bool:
    """Whether a summary may be listed to whoever ``visible`` describes.

    A summary whose tenant is not known yet (its ``conversation_started`` not seen) is
    listed only to those who see every tenant.
    """
    if visible is None or (visible.tenant is None and visible.ids is None):
        return True
    if not isinstance(conversation_id, str) or not isinstance(tenant, str):
        return False
    return visible.admits(conversation_id, tenant)
