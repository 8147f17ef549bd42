"""The registry of open sessions: admission, lookup for health, and shutdown.

Implements ``signaling.interface.SessionFactory`` so signaling can open sessions without
knowing what they contain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from signaling.interface import Notify, SessionError

from .recognizer import RecognitionEngine
from .session import IceConfigurator, InsightsProvider, Session, SessionSettings

log = logging.getLogger(__name__)


class SessionManager:
    def __init__(
        self,
        engine: RecognitionEngine,
        *,
        settings: SessionSettings,
        max_sessions: int,
        ice: IceConfigurator,
        ice_servers: Callable[[str], list[dict[str, Any]]],
        insights: InsightsProvider | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_sessions = max_sessions
        self._ice = ice
        self._ice_servers = ice_servers
        self._insights = insights
        self.sessions: dict[str, Session] = {}
        self.accepting = True

    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        return self._ice_servers(session_id)

    def open(self, session_id: str, notify: Notify) -> Session:
        if not self.accepting:
            raise SessionError("shutting_down", "the gateway is shutting down", fatal=True)
        if len(self.sessions) >= self.max_sessions:
            raise SessionError(
                "server_busy",
                f"the gateway is at its limit of {self.max_sessions} sessions; try again later",
                fatal=True,
            )
        session = Session(
            session_id,
            engine=self.engine,
            settings=self.settings,
            notify=notify,
            ice=self._ice,
            insights=self._insights,
            on_closed=self._closed,
        )
        self.sessions[session_id] = session
        return session

    def _closed(self, session: Session) -> None:
        self.sessions.pop(session.id, None)

    async def close_all(self) -> None:
        """Shutdown: stop accepting, then flush and close every session concurrently."""
        self.accepting = False
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d open sessions", len(sessions))
            await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
