"""The registry of open sessions and conversations: admission, lookup, and shutdown.

Implements ``signaling.interface.SessionFactory`` so signaling can open sessions without
knowing what they contain, and the session's ``ConversationDirectory``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from signaling.interface import Notify, SessionError

from .conversation import Conversation, InsightsBuilder, Participant
from .recognizer import RecognitionEngine
from .session import IceConfigurator, InsightsProvider, Session, SessionSettings
from .sinks import ConversationInfo, Sink, SinkFactory
from .start_config import StartConfig

log = logging.getLogger(__name__)


class SessionManager:
    def __init__(
        self,
        engine: RecognitionEngine,
        *,
        settings: SessionSettings,
        max_sessions: int,
        ice: IceConfigurator,
        insights: InsightsProvider | None = None,
        conversation_sinks: Sequence[SinkFactory] = (),
        max_participants: int = 8,
        max_subscribers: int = 16,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_sessions = max_sessions
        self._ice = ice
        self._insights = insights
        self._conversation_sinks = list(conversation_sinks)
        self.max_participants = max_participants
        self.sessions: dict[str, Session] = {}
        self.conversations: dict[str, Conversation] = {}
        self.max_subscribers = max_subscribers
        # Consoles subscribed to a conversation that has not started yet.
        self.waiting: dict[str, list[Sink]] = {}
        self.accepting = True

    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        return self._ice.client_servers(session_id)

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
            conversations=self,
            ice=self._ice,
            insights=self._insights,
            on_closed=self._closed,
        )
        self.sessions[session_id] = session
        return session

    def join(
        self, participant: Participant, start: StartConfig, insights: InsightsBuilder | None
    ) -> Conversation:
        """The named conversation (created on first use) or a new private one.

        A new conversation takes its insight settings (types, threshold, trackers,
        timezone) from its first participant; later participants share them.
        """
        conversation_id = start.conversation_id or str(uuid.uuid4())
        conversation = self.conversations.get(conversation_id)
        if conversation is None or conversation.ended:
            info = ConversationInfo(conversation_id, start.meeting_title)
            conversation = Conversation(
                info,
                run=self.engine.run,
                build_insights=insights,
                sinks=[make(info) for make in self._conversation_sinks]
                + self.waiting.pop(conversation_id, []),
                analytics_interval=self.settings.analytics_interval,
                max_participants=self.max_participants,
                on_empty=self._conversation_ended,
            )
            self.conversations[conversation_id] = conversation
        conversation.join(participant)
        return conversation

    def subscribe(self, conversation_id: str, sink: Sink) -> Literal["live", "waiting"] | None:
        """``SubscriptionDirectory``: attach a console now, or when the call starts."""
        conversation = self.conversations.get(conversation_id)
        if conversation is not None and not conversation.ended:
            if conversation.sink_count >= self.max_subscribers + len(self._conversation_sinks):
                return None
            conversation.add_sink(sink)
            return "live"
        waiting = self.waiting.setdefault(conversation_id, [])
        if len(waiting) >= self.max_subscribers or not self.accepting:
            return None
        waiting.append(sink)
        return "waiting"

    def unsubscribe(self, conversation_id: str, sink: Sink) -> None:
        conversation = self.conversations.get(conversation_id)
        if conversation is not None:
            conversation.remove_sink(sink)
        waiting = self.waiting.get(conversation_id)
        if waiting is not None and sink in waiting:
            waiting.remove(sink)
            if not waiting:
                del self.waiting[conversation_id]

    def _conversation_ended(self, conversation: Conversation) -> None:
        if self.conversations.get(conversation.id) is conversation:
            del self.conversations[conversation.id]

    def _closed(self, session: Session) -> None:
        self.sessions.pop(session.id, None)

    async def close_all(self) -> None:
        """Shutdown: stop accepting, then flush and close every session concurrently."""
        self.accepting = False
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d open sessions", len(sessions))
            await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
        waiting = [sink for sinks in self.waiting.values() for sink in sinks]
        self.waiting.clear()
        await asyncio.gather(*(sink.close() for sink in waiting), return_exceptions=True)
