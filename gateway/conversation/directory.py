"""The conversation directory: which conversations are live here, found or created by id.

A participant joins a named conversation (created on first use) or a new private one. The
directory builds each new conversation with its conversation-level outputs (relays, the
store) attached to the bus, and forgets it when it ends. This one lives in process memory;
a directory shared between nodes implements the same protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from gateway import logs
from gateway.outputs.base import ConversationInfo, SinkFactory
from gateway.outputs.bus import ResultBus
from gateway.transcript import Speaker

from .conversation import Conversation, Runner
from .insights import InsightsBuilder
from .member import Member
from .start_config import StartConfig


class ConversationElsewhere(Exception):
    """The conversation is hosted on another node: its participants must join it there.

    Raised by ``place`` in a cluster; the transport sends the participant to ``url``."""

    def __init__(self, conversation_id: str, node_id: str, url: str) -> None:
        super().__init__(f"conversation {conversation_id} is hosted on node {node_id}")
        self.conversation_id = conversation_id
        self.node_id = node_id
        self.url = url


class ConversationDirectory(Protocol):
    async def place(self, conversation_id: str | None) -> None:
        """Before ``join``: make sure the conversation can be joined on this node.

        Raises ``ConversationElsewhere`` when another node hosts it. Always succeeds for a
        single process.
        """
        ...

    def join(self, speaker: Speaker, start: StartConfig,
             insights: InsightsBuilder | None, *, accepts_peer: bool = False) -> Member:
        """Join ``start.conversation_id`` (or a new private conversation) as ``speaker``
        (``accepts_peer``: see ``Participant``).

        Raises ``ConversationFull`` when it cannot take another participant.
        """
        ...

    def get(self, conversation_id: str) -> Conversation | None: ...

    def live(self) -> list[Conversation]: ...


class LocalDirectory:
    """Implements ``ConversationDirectory`` for one process."""

    def __init__(
        self,
        *,
        bus: ResultBus,
        run: Runner,
        outputs: Sequence[SinkFactory] = (),
        analytics_interval: float = 10.0,
        max_participants: int = 2,
    ) -> None:
        self._bus = bus
        self._run = run
        self._outputs = list(outputs)
        self.analytics_interval = analytics_interval
        self.max_participants = max_participants
        self.conversations: dict[str, Conversation] = {}

    async def place(self, conversation_id: str | None) -> None:
        """One process hosts every conversation."""

    def join(self, speaker: Speaker, start: StartConfig,
             insights: InsightsBuilder | None, *, accepts_peer: bool = False) -> Member:
        """A new conversation takes its insight settings (types, threshold, trackers,
        timezone) from its first participant; later participants share them."""
        conversation_id = start.conversation_id or str(uuid.uuid4())
        # The joining session's records (and its tasks from here on) name the conversation.
        logs.bind(conversation_id=conversation_id)
        conversation = self.conversations.get(conversation_id)
        if conversation is None or conversation.ended:
            info = ConversationInfo(conversation_id, start.meeting_title,
                                    connection_id=start.connection_id)
            conversation = Conversation(
                info,
                bus=self._bus,
                run=self._run,
                build_insights=insights,
                analytics_interval=self.analytics_interval,
                max_participants=self.max_participants,
                on_ended=self._ended,
                tenant=start.tenant,
            )
            # Conversation-level outputs belong to no session: their logs say so.
            with logs.scope(session_id=None):
                for make in self._outputs:
                    self._bus.attach(conversation_id, make(info))
            self.conversations[conversation_id] = conversation
        return conversation.join(speaker, accepts_peer=accepts_peer)

    def get(self, conversation_id: str) -> Conversation | None:
        return self.conversations.get(conversation_id)

    def live(self) -> list[Conversation]:
        return [c for c in self.conversations.values() if not c.ended]

    def _ended(self, conversation: Conversation) -> None:
        if self.conversations.get(conversation.id) is conversation:
            del self.conversations[conversation.id]
